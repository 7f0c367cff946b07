"""A small convolutional backbone: fast on a CPU, for tests, demos and quick experiments.

Each block is (conv 3x3 -> BatchNorm -> ReLU) x ``convs_per_block`` -> 2x2 max-pool; global average
pooling at the end. One conv per block is the fastest; two (VGG-style) see larger structures
(spiral arms, bars) per block at about twice the cost.
Same contract as the EfficientNet backbones (images in [0, 1], pooled features out).
"""

from __future__ import annotations

import keras

from zoobot_tf.models.registry import register_architecture

__all__ = ["small_cnn_backbone"]


@register_architecture("small_cnn")
def small_cnn_backbone(input_shape, filters=(16, 32, 64), batchnorm_momentum=0.99, convs_per_block=1, name="encoder"):
    """Small CNN encoder.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``; H and W at least ``2 ** len(filters)``.
    filters : sequence of int
        Channels of each block; the feature dimension is ``filters[-1]``.
    batchnorm_momentum : float
        Momentum of the BatchNorm moving statistics (lower for short runs).
    convs_per_block : int
        Conv -> BatchNorm -> ReLU layers before each pooling (default 1).
    """
    filters = tuple(int(f) for f in filters)
    if not filters or min(filters) < 1:
        raise ValueError(f"filters must be a non-empty sequence of positive ints, got {filters!r}")
    if int(convs_per_block) < 1:
        raise ValueError(f"convs_per_block must be a positive int, got {convs_per_block!r}")
    if min(input_shape[:2]) < 2 ** len(filters):
        raise ValueError(f"input_shape {tuple(input_shape)} is too small for {len(filters)} pooling blocks")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, n in enumerate(filters):
        for j in range(int(convs_per_block)):
            suffix = "" if j == 0 else f"_{j + 1}"  # the first conv keeps its name: old models still load
            x = keras.layers.Conv2D(n, 3, padding="same", use_bias=False, name=f"block{i}_conv{suffix}")(x)
            x = keras.layers.BatchNormalization(momentum=batchnorm_momentum, name=f"block{i}_bn{suffix}")(x)
            x = keras.layers.Activation("relu", name=f"block{i}_relu{suffix}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, outputs, name=name)
