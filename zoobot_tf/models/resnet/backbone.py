"""ResNet (He et al. 2016) laid out as timm's ``resnet18/50/101`` with ``num_classes=0``.

Layers are named after timm's modules (``conv1``, ``bn1``, ``layer2.0.conv2``,
``layer3.0.downsample.1``, ...), so a timm / zoobot state dict maps onto it key by key
(:mod:`zoobot_tf.models.pretrained`). As in timm: 7x7 stride-2 stem, 3x3 stride-2 max pool,
stride on the 3x3 conv of a Bottleneck, PyTorch's symmetric zero padding (explicit
``ZeroPadding2D``, not TF ``"same"``, which pads asymmetrically at stride 2), BatchNorm eps 1e-5,
global average pool out.
"""

from __future__ import annotations

import keras

from zoobot_tf.models.registry import register_architecture
from zoobot_tf.models.resnet.configs import RESNET_CONFIGS

__all__ = ["resnet_backbone"]

BATCH_NORM_EPS = 1e-5


def _conv_bn(x, filters, kernel, stride, prefix, conv, bn, momentum):
    """PyTorch ``Conv2d(padding=kernel // 2, bias=False)`` then ``BatchNorm2d``."""
    if kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{prefix}{conv}.pad")(x)
    x = keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=False, name=f"{prefix}{conv}")(x)
    return keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPS, momentum=momentum, name=f"{prefix}{bn}")(x)


def _shortcut(x, filters, stride, prefix, momentum):
    if stride == 1 and x.shape[-1] == filters:
        return x
    return _conv_bn(x, filters, 1, stride, f"{prefix}downsample.", "0", "1", momentum)


def _basic_block(x, planes, stride, prefix, momentum):
    shortcut = _shortcut(x, planes, stride, prefix, momentum)
    x = _conv_bn(x, planes, 3, stride, prefix, "conv1", "bn1", momentum)
    x = keras.layers.ReLU(name=f"{prefix}act1")(x)
    x = _conv_bn(x, planes, 3, 1, prefix, "conv2", "bn2", momentum)
    x = keras.layers.Add(name=f"{prefix}add")([x, shortcut])
    return keras.layers.ReLU(name=f"{prefix}act2")(x)


def _bottleneck(x, planes, stride, prefix, momentum):
    shortcut = _shortcut(x, planes * 4, stride, prefix, momentum)
    x = _conv_bn(x, planes, 1, 1, prefix, "conv1", "bn1", momentum)
    x = keras.layers.ReLU(name=f"{prefix}act1")(x)
    x = _conv_bn(x, planes, 3, stride, prefix, "conv2", "bn2", momentum)
    x = keras.layers.ReLU(name=f"{prefix}act2")(x)
    x = _conv_bn(x, planes * 4, 1, 1, prefix, "conv3", "bn3", momentum)
    x = keras.layers.Add(name=f"{prefix}add")([x, shortcut])
    return keras.layers.ReLU(name=f"{prefix}act3")(x)


def resnet_backbone(input_shape, depth="50", batchnorm_momentum=0.9, name="encoder"):
    """ResNet encoder: ``(batch, H, W, C)`` images in [0, 1] -> pooled features (512 or 2048).

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``, any ``C``; H and W at least 32 (the network downsamples by 32).
    depth : {'18', '50', '101'}
    batchnorm_momentum : float
        Keras momentum of the BatchNorm moving statistics; 0.9 is PyTorch's default 0.1.
    name : str
        Name of the returned model.
    """
    depth = str(depth)
    if depth not in RESNET_CONFIGS:
        raise KeyError(f"unknown ResNet depth {depth!r}; choose from {', '.join(RESNET_CONFIGS)}")
    if not 0.0 <= float(batchnorm_momentum) < 1.0:
        raise ValueError(f"batchnorm_momentum must be in [0, 1), got {batchnorm_momentum!r}")
    height, width, _ = input_shape
    if min(height, width) < 32:
        raise ValueError(f"ResNet needs images of at least 32x32 pixels, got input_shape {tuple(input_shape)}")
    config = RESNET_CONFIGS[depth]
    block = _basic_block if config["block"] == "basic" else _bottleneck
    momentum = float(batchnorm_momentum)

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv_bn(inputs, 64, 7, 2, "", "conv1", "bn1", momentum)
    x = keras.layers.ReLU(name="act1")(x)
    # PyTorch pads the max pool with -inf; after a ReLU, zeros are equivalent
    x = keras.layers.ZeroPadding2D(1, name="maxpool.pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    for stage, n_blocks in enumerate(config["layers"]):
        planes = 64 * 2**stage
        for b in range(n_blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            x = block(x, planes, stride, f"layer{stage + 1}.{b}.", momentum)
    outputs = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.Model(inputs, outputs, name=name)


for _depth in RESNET_CONFIGS:

    def _builder(input_shape, name="encoder", _depth=_depth, **kwargs):
        return resnet_backbone(input_shape, depth=_depth, name=name, **kwargs)

    register_architecture(f"resnet{_depth}")(_builder)
