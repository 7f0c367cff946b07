"""ConvNeXt (Liu et al. 2022) laid out as timm's ``convnext_*`` with ``num_classes=0``.

Every Keras layer is named after the timm module it mirrors (``stem.0``, ``stages.1.downsample.1``,
``stages.2.blocks.3.conv_dw``, ``head.norm``, ...), so a timm / zoobot state dict maps onto it
key by key (:mod:`zoobot_tf.models.pretrained`). Output: global average pool, then timm's head
LayerNorm (kept by timm when ``num_classes=0``), as zoobot's encoders give.

Numerics follow timm: LayerNorm eps 1e-6 over channels, exact (erf) GELU, 7x7 depthwise conv
with symmetric zero padding 3, layer scale, stochastic depth only in training (rate 0 by default).
"""

from __future__ import annotations

import keras

from zoobot_tf.models.convnext.configs import CONVNEXT_CONFIGS
from zoobot_tf.models.convnext.layers import LayerScale
from zoobot_tf.models.dat.layers import DropPath
from zoobot_tf.models.registry import register_architecture

__all__ = ["convnext_backbone"]

LAYER_NORM_EPS = 1e-6


def _layer_norm(name):
    return keras.layers.LayerNormalization(axis=-1, epsilon=LAYER_NORM_EPS, name=name)


def _block(x, dim, prefix, drop_path_rate, ls_init_value, conv_mlp):
    # timm's conv_mlp: 1x1 convolutions (weights (out, in, 1, 1)); otherwise Linear ((out, in))
    linear = (lambda n, name: keras.layers.Conv2D(n, 1, name=name)) if conv_mlp else (
        lambda n, name: keras.layers.Dense(n, name=name))
    shortcut = x
    x = keras.layers.ZeroPadding2D(3, name=f"{prefix}.pad")(x)
    x = keras.layers.DepthwiseConv2D(7, name=f"{prefix}.conv_dw")(x)
    x = _layer_norm(f"{prefix}.norm")(x)
    x = linear(4 * dim, f"{prefix}.mlp.fc1")(x)
    x = keras.layers.Activation(keras.activations.gelu, name=f"{prefix}.mlp.act")(x)
    x = linear(dim, f"{prefix}.mlp.fc2")(x)
    if ls_init_value is not None:
        x = LayerScale(ls_init_value, name=f"{prefix}.gamma")(x)
    if drop_path_rate > 0:
        x = DropPath(drop_path_rate, name=f"{prefix}.drop_path")(x)
    return keras.layers.Add(name=f"{prefix}.add")([shortcut, x])


def convnext_backbone(
    input_shape,
    variant="nano",
    drop_path_rate=0.0,
    ls_init_value=1e-6,
    name="encoder",
):
    """ConvNeXt encoder: ``(batch, H, W, C)`` images in [0, 1] -> pooled, normalised features.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``, any ``C``; H and W at least 32 (the network downsamples by 32).
    variant : {'atto', 'femto', 'pico', 'nano', 'tiny', 'small', 'base', 'large'}
        timm's presets (:data:`~zoobot_tf.models.convnext.configs.CONVNEXT_CONFIGS`).
    drop_path_rate : float
        Stochastic depth, rising linearly from 0 to this over the blocks, training only.
    ls_init_value : float or None
        Layer-scale initial value (None: no layer scale; timm checkpoints have it).
    name : str
        Name of the returned model.
    """
    if variant not in CONVNEXT_CONFIGS:
        raise KeyError(f"unknown ConvNeXt variant {variant!r}; choose from {', '.join(CONVNEXT_CONFIGS)}")
    if not 0.0 <= float(drop_path_rate) < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}")
    height, width, _ = input_shape
    if min(height, width) < 32:
        raise ValueError(f"ConvNeXt needs images of at least 32x32 pixels, got input_shape {tuple(input_shape)}")
    config = CONVNEXT_CONFIGS[variant]
    depths, dims = config["depths"], config["dims"]
    n_blocks = sum(depths)

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Conv2D(dims[0], 4, strides=4, name="stem.0")(inputs)
    x = _layer_norm("stem.1")(x)
    block_index = 0
    for stage, (depth, dim) in enumerate(zip(depths, dims)):
        if stage > 0:
            x = _layer_norm(f"stages.{stage}.downsample.0")(x)
            x = keras.layers.Conv2D(dim, 2, strides=2, name=f"stages.{stage}.downsample.1")(x)
        for b in range(depth):
            rate = float(drop_path_rate) * block_index / max(n_blocks - 1, 1)
            x = _block(x, dim, f"stages.{stage}.blocks.{b}", rate, ls_init_value, config["conv_mlp"])
            block_index += 1
    x = keras.layers.GlobalAveragePooling2D(name="head.global_pool")(x)
    outputs = _layer_norm("head.norm")(x)
    return keras.Model(inputs, outputs, name=name)


for _variant in CONVNEXT_CONFIGS:

    def _builder(input_shape, name="encoder", _variant=_variant, **kwargs):
        return convnext_backbone(input_shape, variant=_variant, name=name, **kwargs)

    register_architecture(f"convnext_{_variant}")(_builder)
