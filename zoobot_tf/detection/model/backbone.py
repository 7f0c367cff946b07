"""Backbone and feature pyramid of the detector: keras-cv ResNets from explicit configs.

keras-cv's named presets need a model-hub download, which this package never makes, so the
ResNets are built from their ``stackwise_*`` arguments here (nothing here touches the network). The backbone is
randomly initialised; pass ``backbone_weights`` to :func:`~zoobot_tf.detection.build_mask_rcnn`
to start from a saved one. Notes from probing keras-cv 0.9 under Keras 3: ``ResNetBackbone`` with
``block_type="basic_block"`` needs 64 filters in its first stack (its first stack has no
projection shortcut after the 64-channel stem); ``ResNetV2Backbone`` needs at least 2 blocks per
stack (layer names collide otherwise).
"""

from __future__ import annotations

import keras
import keras_cv

from zoobot_tf.detection.model.config import BACKBONES

__all__ = ["BACKBONES", "RPN_LEVELS", "ROI_LEVELS", "build_backbone", "build_fpn", "resolve_backbone"]

#: Pyramid levels the RPN runs on (P6 is a stride-2 subsample of P5) and RoIs pool from.
RPN_LEVELS = (2, 3, 4, 5, 6)
ROI_LEVELS = (2, 3, 4, 5)



def resolve_backbone(backbone):
    """A backbone name or config dict -> a full config dict (a copy), validated."""
    if isinstance(backbone, str):
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)} or pass a config dict")
        return {**BACKBONES[backbone], "filters": list(BACKBONES[backbone]["filters"]),
                "blocks": list(BACKBONES[backbone]["blocks"])}
    if not isinstance(backbone, dict):
        raise TypeError(f"backbone must be a name or a config dict, got {type(backbone).__name__}")
    missing = {"filters", "blocks"} - set(backbone)
    if missing:
        raise ValueError(f"backbone config {backbone} lacks {sorted(missing)}")
    config = {"version": "v1", "block_type": "block", **backbone}
    config["filters"] = [int(f) for f in config["filters"]]
    config["blocks"] = [int(b) for b in config["blocks"]]
    if len(config["filters"]) != 4 or len(config["blocks"]) != 4:
        raise ValueError(f"backbone config needs 4 stacks (P2..P5), got {config}")
    if config["version"] not in ("v1", "v2") or config["block_type"] not in ("block", "basic_block"):
        raise ValueError(f"backbone version must be v1/v2 and block_type block/basic_block, got {config}")
    return config


def build_backbone(config, num_bands, image_size=None):
    """keras-cv ResNet as a Keras model ``images -> [C2, C3, C4, C5]`` (strides 4 to 32).

    Parameters
    ----------
    config : dict from :func:`resolve_backbone`.
    num_bands : int, input channels.
    image_size : (H, W) or None for any size.
    """
    height, width = (None, None) if image_size is None else (int(image_size[0]), int(image_size[1]))
    cls = keras_cv.models.ResNetBackbone if config["version"] == "v1" else keras_cv.models.ResNetV2Backbone
    resnet = cls(
        stackwise_filters=config["filters"],
        stackwise_blocks=config["blocks"],
        stackwise_strides=[1, 2, 2, 2],
        include_rescaling=False,
        input_shape=(height, width, int(num_bands)),
        block_type=config["block_type"],
    )
    outputs = [resnet.get_layer(resnet.pyramid_level_inputs[f"P{level}"]).output for level in ROI_LEVELS]
    return keras.Model(resnet.input, outputs, name="backbone")


def build_fpn(backbone, channels):
    """keras-cv ``FeaturePyramid`` on the backbone's C2..C5, plus P6 (stride-2 subsample of P5).

    Returns a Keras model ``[C2, C3, C4, C5] -> [P2, P3, P4, P5, P6]``, all with ``channels``.
    """
    inputs = [keras.Input(shape=(None, None, int(t.shape[-1])), name=f"C{lvl}")
              for lvl, t in zip(ROI_LEVELS, backbone.outputs)]
    pyramid = keras_cv.layers.FeaturePyramid(min_level=ROI_LEVELS[0], max_level=ROI_LEVELS[-1],
                                             num_channels=int(channels), name="feature_pyramid")
    levels = pyramid(dict(zip(ROI_LEVELS, inputs)))
    p6 = keras.layers.MaxPooling2D(pool_size=1, strides=2, name="P6")(levels[ROI_LEVELS[-1]])
    return keras.Model(inputs, [levels[level] for level in ROI_LEVELS] + [p6], name="fpn")
