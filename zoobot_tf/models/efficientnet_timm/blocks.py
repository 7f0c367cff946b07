"""Building blocks shared by the timm-layout EfficientNet and MaxViT encoders.

Every layer is named after the timm module it mirrors, so a timm state dict maps onto it key by
key (:mod:`zoobot_tf.models.pretrained.mapping`). Padding is PyTorch's symmetric ``kernel // 2``
(an explicit ``ZeroPadding2D``; Keras ``"same"`` pads (0, 1) at stride 2) unless ``same=True``,
which is TensorFlow's padding, as the ``*_tf`` timm models (ported from TensorFlow) use.
Convolutions start as timm's EfficientNet / MaxViT do (normal, variance 2 / fan-out), not with
Keras' Glorot default: with Glorot the sixteen blocks of a fresh EfficientNet shrink its
features to ~1e-17 at inference, where training from scratch starts from nothing. Only
``keras.layers`` / ``keras.ops``: the blocks run on any Keras backend.
"""

from __future__ import annotations

import keras

__all__ = ["ACTIVATIONS", "CONV_INIT", "activation", "batch_norm", "conv", "squeeze_excite"]

#: timm's ``_init_weight_goog`` / ``_init_conv`` for convolutions: N(0, 2 / (k * k * out / groups))
CONV_INIT = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")

#: timm activation names -> Keras activation functions (Keras' ``gelu`` is exact by default)
ACTIVATIONS = {
    "silu": keras.activations.silu,
    "gelu": keras.activations.gelu,
    "relu": keras.activations.relu,
    "sigmoid": keras.activations.sigmoid,
    "tanh": keras.activations.tanh,
}


def activation(x, kind, name):
    """``kind`` (a name in :data:`ACTIVATIONS`, or a registered function), as a named layer."""
    return keras.layers.Activation(ACTIVATIONS.get(kind, kind), name=name)(x)


def conv(x, filters, kernel, name, stride=1, depthwise=False, bias=False, same=False):
    """PyTorch ``Conv2d`` (or depthwise, ``groups=channels``) with timm's padding.

    ``same=False``: symmetric zero padding ``kernel // 2``; ``same=True``: TensorFlow ``"same"``.
    """
    padding = "same" if same else "valid"
    if kernel > 1 and not same:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}.pad")(x)
    if depthwise:
        return keras.layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=bias,
                                            depthwise_initializer=CONV_INIT, name=name)(x)
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=bias,
                               kernel_initializer=CONV_INIT, name=name)(x)


def batch_norm(x, name, eps=1e-5, momentum=0.9, act=None):
    """timm's ``BatchNormAct2d``: BatchNorm (PyTorch momentum 0.1 is Keras 0.9), then ``act``."""
    x = keras.layers.BatchNormalization(epsilon=eps, momentum=momentum, name=name)(x)
    return x if act is None else activation(x, act, f"{name}.act")


def squeeze_excite(x, reduced, prefix, names=("conv_reduce", "conv_expand"), act="silu"):
    """Squeeze-and-excitation: mean over the image, 1x1 conv down, ``act``, 1x1 conv up, sigmoid gate.

    ``names``: the two convs' timm names (``conv_reduce``/``conv_expand`` in EfficientNet,
    ``fc1``/``fc2`` in MaxViT).
    """
    channels = int(x.shape[-1])
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}.pool")(x)
    s = keras.layers.Conv2D(int(reduced), 1, kernel_initializer=CONV_INIT, name=f"{prefix}.{names[0]}")(s)
    s = activation(s, act, f"{prefix}.act")
    s = keras.layers.Conv2D(channels, 1, kernel_initializer=CONV_INIT, name=f"{prefix}.{names[1]}")(s)
    s = activation(s, "sigmoid", f"{prefix}.gate")
    return keras.layers.Multiply(name=f"{prefix}.scale")([x, s])
