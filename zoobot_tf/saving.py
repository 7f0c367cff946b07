"""Load a saved model: the one place that knows which modules register Keras objects.

A ``.keras`` file names its custom layers, losses and schedules (``"zoobot_tf>MCDropout"``);
Keras finds them only if the module defining each was imported. Loading a model should not
depend on what the caller happened to import, and the model layer must not import the
applications built on it, so the modules are listed here *by name* and imported on load.
``tests/test_layering.py`` checks that every module registering a Keras object is listed.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

__all__ = ["KERAS_OBJECT_MODULES", "OPTIONAL_KERAS_OBJECT_MODULES", "load_model"]

#: modules whose Keras objects any saved morphology / classification model may reference
KERAS_OBJECT_MODULES = (
    "zoobot_tf.losses",  # DirichletMultinomialLoss, SmoothedSparseCrossentropy
    "zoobot_tf.optimizers",  # LayerDecayAdamW (fine-tuning)
    "zoobot_tf.models.layers",  # MCDropout, DirichletConcentration
    "zoobot_tf.models.dat.layers",
    "zoobot_tf.models.linformer.layers",
    "zoobot_tf.models.convnext.layers",  # LayerScale
    "zoobot_tf.classification.losses",  # class-weighted / MixUp losses
    "zoobot_tf.classification.schedules",  # warm-up + cosine schedule
    "zoobot_tf.kaggle.model",  # RMSE loss
    "zoobot_tf.kaggle.reweighting",  # decision-tree re-weighting layer
)

#: modules with heavy optional dependencies (the ``[detection]`` extra): imported only when the
#: saved file names one of their classes
OPTIONAL_KERAS_OBJECT_MODULES = {
    "zoobot_tf.detection.model.mask_rcnn": ("zoobot_tf>MaskRCNN",),
}


def _saved_config_text(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read("config.json").decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        return ""  # not a .keras zip (e.g. .h5): keras reports the problem itself


def load_model(path, compile=True):
    """Load a ``.keras`` model with ``safe_mode=True`` (no arbitrary code runs on load).

    Parameters
    ----------
    path : path
        A ``.keras`` file saved by this package (or plain Keras).
    compile : bool
        Restore the loss and optimizer too (needed only to continue training).
    """
    import keras

    path = Path(path)
    for module in KERAS_OBJECT_MODULES:
        importlib.import_module(module)
    config_text = None
    for module, registered_names in OPTIONAL_KERAS_OBJECT_MODULES.items():
        config_text = _saved_config_text(path) if config_text is None else config_text
        if any(name in config_text for name in registered_names):
            importlib.import_module(module)
    return keras.saving.load_model(path, compile=compile, safe_mode=True)
