"""Cross-entropy and top-k accuracy that take integer labels *or* MixUp's mixed label vectors.

Why one module for a loss and a metric: MixUp turns the training labels into convex
combinations of one-hot vectors while the validation labels stay integers; both the loss and
the metrics of one compiled model must accept either, and must agree on how.

* :class:`ClassWeightedCrossEntropy` - ``w . y`` times the cross-entropy, where ``y`` is the
  (one-hot or mixed) label vector and ``w`` the class weights: a galaxy of class ``c`` counts
  ``w_c`` times, and a mixed one the same mixture of its classes' weights.
* :class:`TopKAccuracy` - the true class (the larger-weight class of a mixed label) is among the
  ``k`` most probable predictions.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["ClassWeightedCrossEntropy", "TopKAccuracy", "label_vectors"]

_EPSILON = 1e-7


def label_vectors(y_true, n_classes, dtype="float32"):
    """``(B,)`` integer labels -> ``(B, K)`` one-hot; ``(B, K)`` label vectors pass through."""
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank == 2 and y_true.shape[-1] == n_classes:
        return tf.cast(y_true, dtype)
    labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
    return tf.one_hot(labels, n_classes, dtype=dtype)


@keras.saving.register_keras_serializable(package="zoobot_tf")
class ClassWeightedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of softmax probabilities, each galaxy weighted by its class weight.

    Parameters
    ----------
    class_weights : sequence of float, optional
        One weight per class (e.g. :func:`zoobot_tf.classification.imbalance.class_weights`);
        None: all 1 (plain cross-entropy). The batch loss is ``sum_i w_{y_i} CE_i / B``.
    """

    def __init__(self, class_weights=None, name="class_weighted_crossentropy", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
            if not class_weights or min(class_weights) < 0:
                raise ValueError(f"class_weights must be non-negative, one per class, got {class_weights!r}")
        self.class_weights = class_weights

    def call(self, y_true, y_pred):
        n_classes = y_pred.shape[-1]
        if self.class_weights is not None and len(self.class_weights) != n_classes:
            raise ValueError(f"{len(self.class_weights)} class weights for a model with {n_classes} classes")
        y = label_vectors(y_true, n_classes, y_pred.dtype)
        probabilities = tf.clip_by_value(y_pred, _EPSILON, 1.0 - _EPSILON)
        cross_entropy = -tf.reduce_sum(y * tf.math.log(probabilities), axis=-1)
        if self.class_weights is None:
            return cross_entropy
        weights = tf.constant(self.class_weights, dtype=y_pred.dtype)
        return cross_entropy * tf.reduce_sum(y * weights, axis=-1)

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}


def top_k_hits(y_true, y_pred, k=1):
    """1.0 where the true class (argmax of a label vector) is among the top ``k`` predictions."""
    y = label_vectors(y_true, y_pred.shape[-1], y_pred.dtype)
    return tf.cast(tf.math.in_top_k(tf.argmax(y, axis=-1, output_type=tf.int32), y_pred, k), y_pred.dtype)


@keras.saving.register_keras_serializable(package="zoobot_tf")
class TopKAccuracy(keras.metrics.MeanMetricWrapper):
    """Fraction of galaxies whose true class is among the ``k`` most probable (integer or mixed labels)."""

    def __init__(self, k=1, name=None, dtype=None):
        self.k = int(k)
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        name = name or ("accuracy" if self.k == 1 else f"top{self.k}_accuracy")
        super().__init__(fn=top_k_hits, name=name, dtype=dtype, k=self.k)

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}
