"""The trainable heads of Mask R-CNN: RPN, box/class head and mask head (small Keras models).

keras-cv 0.9 ships none of them for Keras 3, so they are written here in the standard
FPN Mask R-CNN form (He et al. 2017): the RPN is a 3x3 conv shared by all pyramid levels with
1x1 objectness and box outputs; the box head is two fully connected layers on 7x7 RoI features
with class logits (background = 0) and per-class box deltas; the mask head is four 3x3 convs on
14x14 RoI features and a stride-2 deconvolution to 28x28 logits, one channel per class.
"""

from __future__ import annotations

import keras

__all__ = ["build_box_head", "build_mask_head", "build_rpn_head"]


def _small_normal(stddev):
    return keras.initializers.RandomNormal(stddev=stddev)


def build_rpn_head(channels, anchors_per_location, name="rpn_head"):
    """``[n, H, W, channels] -> (objectness logits [n, H, W, A], deltas [n, H, W, 4 A])``."""
    inputs = keras.Input(shape=(None, None, int(channels)))
    x = keras.layers.Conv2D(int(channels), 3, padding="same", activation="relu",
                            kernel_initializer=_small_normal(0.01), name="conv")(inputs)
    logits = keras.layers.Conv2D(anchors_per_location, 1, kernel_initializer=_small_normal(0.01),
                                 name="objectness")(x)
    deltas = keras.layers.Conv2D(4 * anchors_per_location, 1, kernel_initializer=_small_normal(0.001),
                                 name="deltas")(x)
    return keras.Model(inputs, [logits, deltas], name=name)


def build_box_head(channels, num_classes, pool_size=7, fc_dim=1024, name="box_head"):
    """``[n, 7, 7, channels] -> (class logits [n, K + 1], deltas [n, K + 1, 4])``."""
    inputs = keras.Input(shape=(pool_size, pool_size, int(channels)))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(int(fc_dim), activation="relu", name="fc1")(x)
    x = keras.layers.Dense(int(fc_dim), activation="relu", name="fc2")(x)
    logits = keras.layers.Dense(num_classes + 1, kernel_initializer=_small_normal(0.01), name="class_logits")(x)
    deltas = keras.layers.Dense(4 * (num_classes + 1), kernel_initializer=_small_normal(0.001), name="deltas")(x)
    deltas = keras.layers.Reshape((num_classes + 1, 4))(deltas)
    return keras.Model(inputs, [logits, deltas], name=name)


def build_mask_head(channels, num_classes, pool_size=14, conv_channels=256, num_convs=4, name="mask_head"):
    """``[n, 14, 14, channels] -> mask logits [n, 28, 28, K]`` (one channel per class)."""
    inputs = keras.Input(shape=(pool_size, pool_size, int(channels)))
    x = inputs
    for i in range(int(num_convs)):
        x = keras.layers.Conv2D(int(conv_channels), 3, padding="same", activation="relu",
                                kernel_initializer="he_normal", name=f"conv{i + 1}")(x)
    x = keras.layers.Conv2DTranspose(int(conv_channels), 2, strides=2, activation="relu",
                                     kernel_initializer="he_normal", name="deconv")(x)
    logits = keras.layers.Conv2D(num_classes, 1, kernel_initializer=_small_normal(0.001), name="mask_logits")(x)
    return keras.Model(inputs, logits, name=name)
