"""Named configurations of the verbs, as data: ``zoobot-tf train --preset decals_b0``.

Why presets, as keras-hub names its configurations: a survey's full-size settings are a handful of
option values, not a program; as data they are listed by ``--help``, checked against the verb's
options by a test, and any option given on the command line still wins over the preset's. Values
are the argparse destinations of the verb's options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PRESETS", "Preset", "presets_for"]


@dataclass(frozen=True)
class Preset:
    """``verb``'s option values (argparse destinations) under a name, and why."""

    verb: str
    description: str
    options: dict = field(default_factory=dict)


#: Zoobot's full-size morphology training (Walmsley et al. 2022): EfficientNet-B0 at 224 px, global
#: batch 128, early stopping with patience 8, Dirichlet-multinomial loss over every question
_ZOOBOT_FULL_SIZE = {"architecture": "efficientnet_b0", "image_size": 224, "batch_size": 128, "epochs": 200,
                     "patience": 8}

PRESETS = {
    "decals_b0": Preset("train", "GZ DECaLS, Zoobot's full-size settings: EfficientNet-B0, 224 px, batch 128",
                        dict(_ZOOBOT_FULL_SIZE)),
    "gz2_b0": Preset("train", "GZ2 (Hart et al. 2016 votes), as decals_b0 in greyscale: SDSS colours differ from "
                              "DECaLS'", {**_ZOOBOT_FULL_SIZE, "greyscale": True}),
    "hubble_dat": Preset("train-classifier", "Hubble types from 5-band FITS, the DAT study's recipe: DAT-Tiny, "
                                             "batch 18, AdamW 4e-4 with 10 warm-up epochs then cosine, 300 epochs",
                         {"architecture": "dat_tiny", "optimizer": "dat", "batch_size": 18, "epochs": 300}),
    "gz2_8class_linformer": Preset("train-classifier", "GZ2 eight classes, the Linformer study's recipe: Linformer "
                                                       "ViT, batch 64, Adam 3e-4 x0.9 every 5 epochs, 100 epochs",
                                   {"architecture": "linformer_vit", "optimizer": "linformer", "batch_size": 64,
                                    "epochs": 100}),
    "kaggle_b0": Preset("train-kaggle", "The Galaxy Zoo Kaggle model at full size: EfficientNet-B0, 128 px stored, "
                                        "batch 64, 50 epochs",
                        {"architecture": "efficientnet_b0", "size": 128, "batch_size": 64, "epochs": 50}),
    "hsc_resnet50": Preset("train-detection", "Mask R-CNN as the HSC study: ResNet-50, 2000 synthetic 256 px g, r, i "
                                              "fields, 10 epochs heads then 30 all, batch 4",
                           {"backbone": "resnet50", "n_train": 2000, "n_val": 200, "size": 256, "epochs_heads": 10,
                            "epochs_all": 30, "batch_size": 4}),
    "new_survey": Preset("finetune", "A few hundred labels on a new survey, with a longer budget than the "
                                     "defaults: 100 epochs, patience 15, batch 64",
                         {"epochs": 100, "patience": 15, "batch_size": 64}),
    "survey_gpu": Preset("predict", "A whole survey on a GPU: batch 128, 5 MC samples",
                         {"batch_size": 128, "n_samples": 5}),
}


def presets_for(verb: str) -> dict:
    """The presets of one verb, by name."""
    return {name: preset for name, preset in PRESETS.items() if preset.verb == verb}
