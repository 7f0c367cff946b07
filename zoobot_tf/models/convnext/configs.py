"""timm's ConvNeXt presets as data: depths and widths per stage, and whether the MLP is 1x1 convs.

The small models (atto to nano) use ``conv_mlp=True`` in timm: the block's MLP is two 1x1
convolutions on a channels-first map after a LayerNorm2d, so their checkpoints hold
``mlp.fc1.weight`` as ``(out, in, 1, 1)``; the others use ``nn.Linear`` on channels-last
(``(out, in)``). The Keras encoders mirror that (``Conv2D`` 1x1 or ``Dense``), so every
checkpoint tensor has exactly one Keras counterpart of the same kind.
"""

from __future__ import annotations

__all__ = ["CONVNEXT_CONFIGS"]

CONVNEXT_CONFIGS = {
    "atto": {"depths": (2, 2, 6, 2), "dims": (40, 80, 160, 320), "conv_mlp": True},
    "femto": {"depths": (2, 2, 6, 2), "dims": (48, 96, 192, 384), "conv_mlp": True},
    "pico": {"depths": (2, 2, 6, 2), "dims": (64, 128, 256, 512), "conv_mlp": True},
    "nano": {"depths": (2, 2, 8, 2), "dims": (80, 160, 320, 640), "conv_mlp": True},
    "tiny": {"depths": (3, 3, 9, 3), "dims": (96, 192, 384, 768), "conv_mlp": False},
    "small": {"depths": (3, 3, 27, 3), "dims": (96, 192, 384, 768), "conv_mlp": False},
    "base": {"depths": (3, 3, 27, 3), "dims": (128, 256, 512, 1024), "conv_mlp": False},
    "large": {"depths": (3, 3, 27, 3), "dims": (192, 384, 768, 1536), "conv_mlp": False},
}
