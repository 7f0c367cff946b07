"""EfficientNet-B0 (Tan & Le 2019) laid out as timm's ``efficientnet_b0`` with ``num_classes=0``.

zoobot publishes its EfficientNet-B0 encoder (the network of the GZ DECaLS and GZ DESI papers) as
this timm model; ``keras.applications``' EfficientNetB0 (:mod:`zoobot_tf.models.efficientnet`,
registered as ``efficientnet_b0``) has other layer names, TensorFlow padding and BatchNorm eps
1e-3, so those weights do not fit it. This one is registered as ``efficientnet_b0_timm`` and
:mod:`zoobot_tf.models.pretrained` maps timm's name ``efficientnet_b0`` onto it.

Layers are named after timm's modules (``conv_stem``, ``bn1``, ``blocks.1.0.conv_pw``,
``blocks.1.0.se.conv_reduce``, ``conv_head``, ``bn2``). As in timm: SiLU, BatchNorm eps 1e-5,
symmetric padding, squeeze-excite reduced to a quarter of the block's *input* channels, a
residual where stride is 1 and the width is kept, global average pool out (1280 features).
"""

from __future__ import annotations

import keras

from zoobot_tf.models.dat.layers import DropPath
from zoobot_tf.models.efficientnet_timm.blocks import batch_norm, conv, squeeze_excite
from zoobot_tf.models.registry import register_architecture

__all__ = ["EFFICIENTNET_B0_STAGES", "efficientnet_timm_backbone"]

#: timm's ``efficientnet_b0`` arch_def as data: (block, repeats, kernel, stride, expansion, out channels)
EFFICIENTNET_B0_STAGES = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)
STEM_WIDTH = 32
HEAD_WIDTH = 1280
SE_RATIO = 0.25


def _residual(x, shortcut, prefix, drop_path_rate):
    if drop_path_rate > 0:
        x = DropPath(drop_path_rate, name=f"{prefix}.drop_path")(x)
    return keras.layers.Add(name=f"{prefix}.add")([shortcut, x])


def _depthwise_separable(x, out, kernel, stride, prefix, momentum, drop_path_rate):
    """timm's ``DepthwiseSeparableConv``: dw conv, BN+SiLU, SE, 1x1 conv, BN."""
    shortcut, in_chs = x, int(x.shape[-1])
    x = conv(x, in_chs, kernel, f"{prefix}.conv_dw", stride=stride, depthwise=True)
    x = batch_norm(x, f"{prefix}.bn1", momentum=momentum, act="silu")
    x = squeeze_excite(x, max(1, int(in_chs * SE_RATIO)), f"{prefix}.se")
    x = conv(x, out, 1, f"{prefix}.conv_pw")
    x = batch_norm(x, f"{prefix}.bn2", momentum=momentum)
    return _residual(x, shortcut, prefix, drop_path_rate) if stride == 1 and in_chs == out else x


def _inverted_residual(x, out, kernel, stride, expansion, prefix, momentum, drop_path_rate):
    """timm's ``InvertedResidual``: 1x1 expand, BN+SiLU, dw conv, BN+SiLU, SE, 1x1 project, BN."""
    shortcut, in_chs = x, int(x.shape[-1])
    x = conv(x, in_chs * expansion, 1, f"{prefix}.conv_pw")
    x = batch_norm(x, f"{prefix}.bn1", momentum=momentum, act="silu")
    x = conv(x, in_chs * expansion, kernel, f"{prefix}.conv_dw", stride=stride, depthwise=True)
    x = batch_norm(x, f"{prefix}.bn2", momentum=momentum, act="silu")
    x = squeeze_excite(x, max(1, int(in_chs * SE_RATIO)), f"{prefix}.se")
    x = conv(x, out, 1, f"{prefix}.conv_pwl")
    x = batch_norm(x, f"{prefix}.bn3", momentum=momentum)
    return _residual(x, shortcut, prefix, drop_path_rate) if stride == 1 and in_chs == out else x


def efficientnet_timm_backbone(input_shape, drop_path_rate=0.0, batchnorm_momentum=0.9, name="encoder"):
    """timm-layout EfficientNet-B0: ``(batch, H, W, C)`` images in [0, 1] -> 1280 pooled features.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``, any ``C``; H and W at least 32 (the network downsamples by 32).
    drop_path_rate : float
        Stochastic depth, rising linearly over the blocks to this (timm's ``drop_path_rate``).
    batchnorm_momentum : float
        Keras momentum of the BatchNorm moving statistics (0.9 is PyTorch's 0.1).
    name : str
        Name of the returned model.
    """
    if not 0.0 <= float(drop_path_rate) < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}")
    if not 0.0 <= float(batchnorm_momentum) < 1.0:
        raise ValueError(f"batchnorm_momentum must be in [0, 1), got {batchnorm_momentum!r}")
    if min(input_shape[:2]) < 32:
        raise ValueError(f"EfficientNet needs images of at least 32x32 pixels, got input_shape {tuple(input_shape)}")
    momentum = float(batchnorm_momentum)
    n_blocks = sum(stage[1] for stage in EFFICIENTNET_B0_STAGES)

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = conv(inputs, STEM_WIDTH, 3, "conv_stem", stride=2)
    x = batch_norm(x, "bn1", momentum=momentum, act="silu")
    index = 0
    for stage, (kind, repeats, kernel, stride, expansion, out) in enumerate(EFFICIENTNET_B0_STAGES):
        for b in range(repeats):
            rate = float(drop_path_rate) * index / n_blocks
            prefix, block_stride = f"blocks.{stage}.{b}", stride if b == 0 else 1
            if kind == "ds":
                x = _depthwise_separable(x, out, kernel, block_stride, prefix, momentum, rate)
            else:
                x = _inverted_residual(x, out, kernel, block_stride, expansion, prefix, momentum, rate)
            index += 1
    x = conv(x, HEAD_WIDTH, 1, "conv_head")
    x = batch_norm(x, "bn2", momentum=momentum, act="silu")
    outputs = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.Model(inputs, outputs, name=name)


@register_architecture("efficientnet_b0_timm")
def _efficientnet_b0_timm(input_shape, name="encoder", **kwargs):
    return efficientnet_timm_backbone(input_shape, name=name, **kwargs)
