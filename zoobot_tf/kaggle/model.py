"""The Galaxy Zoo Kaggle model: a backbone, 37 sigmoid outputs, the decision-tree re-weighting,
trained on RMSE (the challenge's score) - the model of the Galaxy Zoo course lab.

Built on :func:`zoobot_tf.models.get_model` with a linear (``'regression'``) head, so the encoder
and head stay the usual nested ``'encoder'`` / ``'head'`` models (fine-tuning and
:func:`zoobot_tf.models.get_encoder` work unchanged).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from zoobot_tf.kaggle.reweighting import DecisionTreeReweighting

__all__ = ["RootMeanSquaredErrorLoss", "build_kaggle_model", "mean_baseline", "rmse"]


def build_kaggle_model(schema="gz_kaggle37", input_shape=(64, 64, 3), architecture="efficientnet_b0",
                       dropout_rate=0.2, head=None, name=None, **backbone_kwargs):
    """Backbone -> dense -> sigmoid -> :class:`DecisionTreeReweighting`.

    The signature matches :func:`zoobot_tf.models.get_model` (``head`` is ignored: the head is
    always this one), so it serves as the ``build_model`` of :func:`zoobot_tf.training.train`.

    Parameters
    ----------
    schema : str or Schema
        The tree whose dependencies are applied (``'gz_kaggle37'``).
    input_shape : tuple of int
    architecture : str
    dropout_rate : float
        Head dropout (MC dropout, on at prediction time, as every zoobot_tf head).
    name : str, optional
    **backbone_kwargs

    Returns
    -------
    keras.Model
        Outputs ``(batch, n_answers)`` dependency-weighted fractions in [0, 1].
    """
    from zoobot_tf.models import get_model
    from zoobot_tf.schemas import get_schema

    schema = get_schema(schema)
    base = get_model(schema, input_shape, architecture=architecture, dropout_rate=dropout_rate, head="regression",
                     name=name or f"kaggle_{architecture}", **backbone_kwargs)
    scores = keras.layers.Activation("sigmoid", dtype="float32", name="sigmoid")(base.output)
    outputs = DecisionTreeReweighting.from_schema(schema, dtype="float32", name="decision_tree_reweighting")(scores)
    return keras.Model(base.input, outputs, name=base.name)


@keras.saving.register_keras_serializable(package="zoobot_tf")
class RootMeanSquaredErrorLoss(keras.losses.Loss):
    """RMSE over every galaxy and answer of the batch (the Kaggle score), as a training loss.

    Keras reduces a loss to the batch mean; RMSE needs the square root *after* that mean, so
    ``__call__`` takes the mean squared error from Keras and returns its root. Under a
    multi-replica strategy each replica's batch gets its own root (Keras then averages them).
    """

    def __init__(self, name="rmse", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.square(tf.cast(y_pred, self.dtype) - tf.cast(y_true, self.dtype)), axis=-1)

    def __call__(self, y_true, y_pred, sample_weight=None):
        mse = super().__call__(y_true, y_pred, sample_weight)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        # Keras divided the replica's mean by the number of replicas; undo that around the root
        return tf.sqrt(mse * replicas + 1e-12) / replicas


def rmse(labels, predictions) -> float:
    """RMSE over all galaxies and answers (the challenge's leaderboard score)."""
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    return float(np.sqrt(np.mean((labels - predictions) ** 2)))


def mean_baseline(train_labels, n_galaxies) -> np.ndarray:
    """The "predict the training mean" baseline: every galaxy gets the mean training target.

    The mean of dependency-weighted targets is itself consistent with the tree (each question's
    mean answers sum to the mean of its parent), so the baseline obeys the same constraints.
    """
    train_labels = np.asarray(train_labels, dtype=np.float64)
    if train_labels.ndim != 2 or len(train_labels) == 0:
        raise ValueError(f"train_labels must be a non-empty (N, n_answers) array, got shape {train_labels.shape}")
    return np.broadcast_to(train_labels.mean(axis=0), (int(n_galaxies), train_labels.shape[1])).copy()
