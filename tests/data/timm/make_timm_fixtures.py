"""Write the timm-equality fixtures: per architecture, timm's state-dict keys and shapes, a seed,
and timm's pooled features (``num_classes=0``) for numpy-drawn weights on fixed images.

Needs torch + timm, so it runs once in a scratch environment, never in CI::

    python -m venv /tmp/timmvenv
    /tmp/timmvenv/bin/pip install torch torchvision timm numpy
    /tmp/timmvenv/bin/python tests/data/timm/make_timm_fixtures.py [ARCH ...]

``tests/test_pretrained_encoders.py`` then draws the same weights in numpy (``tests/timm_weights.py``),
writes them as safetensors, imports them into the Keras encoder and compares the features.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import timm
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for timm_weights
from timm_weights import draw_images, draw_state_dict  # noqa: E402

ARCHITECTURES = (
    "convnext_atto", "convnext_femto", "convnext_pico", "convnext_nano",
    "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    "resnet18", "resnet50", "resnet101",
    "efficientnet_b0_timm",
    "maxvit_tiny_rw_224", "maxvit_rmlp_tiny_rw_224", "maxvit_rmlp_small_rw_224",
    "maxvit_rmlp_base_rw_224", "maxvit_large_tf_224",
)
#: our registered name -> (timm's model name, timm.create_model keywords) where they differ
TIMM_MODELS = {
    "efficientnet_b0_timm": ("efficientnet_b0", {}),
    # zoobot's repo name; timm has the layout as maxvit_rmlp_tiny_rw_256 (the MLP bias has no size)
    "maxvit_rmlp_tiny_rw_224": ("maxvit_rmlp_tiny_rw_256", {"img_size": 224}),
}
CHANNELS = (3, 1)
SIZES = (32, 64)
#: MaxViT's partition is the image side / 32: zoobot's checkpoints (and the table biases) are 224
ARCHITECTURE_SIZES = {"maxvit_rmlp_tiny_rw_224": (64, 224)}
SEED = 12


def _sizes(architecture):
    if architecture in ARCHITECTURE_SIZES:
        return ARCHITECTURE_SIZES[architecture]
    return (224,) if architecture.startswith("maxvit_") else SIZES


def fixture(architecture, seed=SEED):
    torch.manual_seed(0)
    keys, outputs = {}, {}
    timm_name, timm_kwargs = TIMM_MODELS.get(architecture, (architecture, {}))
    for channels in CHANNELS:
        model = timm.create_model(
            timm_name, pretrained=False, num_classes=0, in_chans=channels, **timm_kwargs
        ).eval()
        listed = [(key, list(value.shape)) for key, value in model.state_dict().items()]
        state = {key: torch.from_numpy(value) for key, value in draw_state_dict(listed, seed).items()}
        model.load_state_dict(state, strict=True)
        keys[str(channels)] = listed
        for size in _sizes(architecture):
            if timm_name.startswith("maxvit_") and size != model.img_size[0]:
                model.set_input_size(img_size=(size, size))  # timm's partitions follow the image size
            images = draw_images(seed, size, channels)
            with torch.no_grad():
                features = model(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))))
            outputs[f"c{channels}_s{size}"] = features.numpy().astype(np.float32)
    meta = {
        "architecture": architecture,
        "timm_model": timm_name,
        "seed": seed,
        "channels": list(CHANNELS),
        "sizes": list(_sizes(architecture)),
        "timm": timm.__version__,
        "torch": torch.__version__,
        "keys": keys,
    }
    return meta, outputs


def main(argv):
    for architecture in argv or ARCHITECTURES:
        meta, outputs = fixture(architecture)
        (HERE / f"{architecture}.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")
        np.savez_compressed(HERE / f"{architecture}.npz", **outputs)
        scale = max(float(np.abs(v).max()) for v in outputs.values())
        print(f"{architecture}: {len(meta['keys']['3'])} keys, max |feature| {scale:.3g}")


if __name__ == "__main__":
    main(sys.argv[1:])
