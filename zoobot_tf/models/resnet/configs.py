"""timm's ResNet presets as data: block kind and blocks per stage (``layer1`` ... ``layer4``)."""

from __future__ import annotations

__all__ = ["RESNET_CONFIGS"]

RESNET_CONFIGS = {
    "18": {"block": "basic", "layers": (2, 2, 2, 2)},
    "50": {"block": "bottleneck", "layers": (3, 4, 6, 3)},
    "101": {"block": "bottleneck", "layers": (3, 4, 23, 3)},
}
