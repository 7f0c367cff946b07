"""Dirichlet-multinomial loss over the questions of a Galaxy Zoo decision tree.

Volunteers answer each question a different number of times for each galaxy, so the model
predicts Dirichlet *concentrations* per answer rather than fractions, and each question's vote
counts are scored as one draw of a Dirichlet-multinomial with ``total_count`` = the votes that
question received (Walmsley et al. 2022). The loss of a galaxy is the sum over questions of
``-log p(votes | concentrations)``; a question nobody answered carries no information and
contributes exactly 0 with exactly zero gradient.

``tfp.distributions.DirichletMultinomial.log_prob`` *includes* the multinomial coefficient
``log(n! / prod(x_k!))``. It does not depend on the model, so it changes the loss value but not
the gradients; it is kept so that the loss is a true negative log-likelihood.

Under ``tf.distribute`` the per-example losses must be summed and divided by the *global* batch
size. :class:`DirichletMultinomialLoss` (``reduction='sum_over_batch_size'``) gets that from
Keras inside ``model.fit``; custom training loops use :func:`average_over_global_batch`.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = [
    "DirichletMultinomialLoss",
    "SmoothedSparseCrossentropy",
    "average_over_global_batch",
    "dirichlet_loss",
    "dirichlet_loss_per_question",
    "validate_question_index_groups",
]


def validate_question_index_groups(question_index_groups, n_outputs=None):
    """Check and normalise ``question_index_groups`` to a tuple of ``(start, end)`` int pairs.

    Parameters
    ----------
    question_index_groups : iterable of (int, int) or Schema
        Inclusive answer-index range of each question (``Schema.question_index_groups``); a
        :class:`~zoobot_tf.schemas.Schema` is accepted and its groups used.
    n_outputs : int, optional
        Number of label columns; every range must lie inside it.

    Returns
    -------
    tuple of tuple of int
    """
    groups = getattr(question_index_groups, "question_index_groups", question_index_groups)
    try:
        groups = tuple((int(start), int(end)) for start, end in groups)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"question_index_groups must be (start, end) pairs of ints, got {question_index_groups!r}"
        ) from err
    if not groups:
        raise ValueError("question_index_groups is empty: the loss needs at least one question")
    for q, (start, end) in enumerate(groups):
        if start < 0 or end < start:
            raise ValueError(f"question {q}: answer range ({start}, {end}) is not a valid inclusive range")
        if n_outputs is not None and end >= n_outputs:
            raise ValueError(
                f"question {q}: answer range ({start}, {end}) lies outside the {n_outputs} label columns"
            )
    return groups


def _check_shapes(labels, concentrations, groups):
    n_labels, n_conc = labels.shape[-1], concentrations.shape[-1]
    if n_labels is not None and n_conc is not None and n_labels != n_conc:
        raise ValueError(
            f"labels have {n_labels} columns but the model predicts {n_conc} concentrations"
        )
    return validate_question_index_groups(groups, n_conc if n_conc is not None else n_labels)


def dirichlet_loss_per_question(labels, concentrations, question_index_groups):
    """Negative log-likelihood of each question's votes, shape ``(batch, n_questions)``.

    Parameters
    ----------
    labels : array-like, shape (batch, n_answers)
        Vote counts per answer (non-negative; need not be integers).
    concentrations : array-like, shape (batch, n_answers)
        Positive Dirichlet concentrations predicted by the model.
    question_index_groups : iterable of (int, int) or Schema
        Inclusive answer range of each question.

    Returns
    -------
    tf.Tensor, float32
        ``-log DirichletMultinomial(total, concentrations).prob(votes)`` per question; exactly 0
        (and zero gradient) where a question received no votes.
    """
    labels = tf.cast(tf.convert_to_tensor(labels), tf.float32)
    concentrations = tf.cast(tf.convert_to_tensor(concentrations), tf.float32)
    groups = _check_shapes(labels, concentrations, question_index_groups)
    per_question = []
    for start, end in groups:
        votes = labels[:, start : end + 1]
        alpha = concentrations[:, start : end + 1]
        total = tf.reduce_sum(votes, axis=-1)
        answered = total > 0
        # Feed benign concentrations into the unanswered rows, so that no NaN/inf from a wild
        # prediction can leak into the gradient through tf.where (0 * NaN = NaN).
        alpha = tf.where(answered[:, None], alpha, tf.ones_like(alpha))
        distribution = tfp.distributions.DirichletMultinomial(total_count=total, concentration=alpha)
        nll = -distribution.log_prob(votes)
        per_question.append(tf.where(answered, nll, tf.zeros_like(nll)))
    return tf.stack(per_question, axis=-1)


def dirichlet_loss(labels, concentrations, question_index_groups):
    """Per-galaxy loss: the sum over questions of :func:`dirichlet_loss_per_question`.

    Returns
    -------
    tf.Tensor, shape (batch,), float32
    """
    return tf.reduce_sum(dirichlet_loss_per_question(labels, concentrations, question_index_groups), axis=-1)


def average_over_global_batch(per_example_loss, sample_weight=None):
    """Sum per-example losses and divide by the *global* batch size, for custom training steps.

    Inside ``strategy.run`` the per-replica batch sizes are all-reduced, so that an uneven final
    batch (e.g. 4 + 3 examples on two replicas) is still averaged over its 7 examples; the
    replicas' gradients then simply sum (the default for ``tf.distribute``). Outside a
    distribution strategy this is the plain mean.

    Parameters
    ----------
    per_example_loss : tf.Tensor, shape (batch,)
    sample_weight : tf.Tensor, shape (batch,), optional
        Multiplies each example's loss (the divisor stays the number of examples, as in Keras).

    Returns
    -------
    tf.Tensor, scalar
    """
    per_example_loss = tf.convert_to_tensor(per_example_loss)
    if per_example_loss.shape.rank != 1:
        raise ValueError(f"per_example_loss must have shape (batch,), got {per_example_loss.shape}")
    if sample_weight is not None:
        per_example_loss = per_example_loss * tf.cast(sample_weight, per_example_loss.dtype)
    batch_size = tf.cast(tf.shape(per_example_loss)[0], per_example_loss.dtype)
    replica_context = tf.distribute.get_replica_context()
    if tf.distribute.has_strategy() and replica_context is not None:
        batch_size = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, batch_size)
    return tf.math.divide_no_nan(tf.reduce_sum(per_example_loss), batch_size)


@keras.saving.register_keras_serializable(package="zoobot_tf")
class DirichletMultinomialLoss(keras.losses.Loss):
    """Keras loss for ``model.compile``: :func:`dirichlet_loss` reduced over the batch.

    With the default ``reduction='sum_over_batch_size'`` Keras divides by the local batch size
    and by the number of replicas, i.e. by the global batch size when the replicas' batches are
    equal (use ``drop_remainder=True`` under a multi-replica strategy to keep them equal).

    Parameters
    ----------
    question_index_groups : iterable of (int, int) or Schema
        Inclusive answer range of each question.
    """

    def __init__(
        self,
        question_index_groups,
        name="dirichlet_multinomial",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.question_index_groups = validate_question_index_groups(question_index_groups)

    def call(self, y_true, y_pred):
        return dirichlet_loss(y_true, y_pred, self.question_index_groups)

    def get_config(self):
        config = super().get_config()
        config["question_index_groups"] = [list(group) for group in self.question_index_groups]
        return config


@keras.saving.register_keras_serializable(package="zoobot_tf")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of softmax probabilities against integer labels with label smoothing.

    Keras' ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; this one-hots the
    labels and uses ``CategoricalCrossentropy(label_smoothing=...)`` (the target puts
    ``1 - s + s/K`` on the true class and ``s/K`` on each other).
    """

    def __init__(self, label_smoothing=0.0, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self._crossentropy = keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing,
                                                                   reduction=None)

    def call(self, y_true, y_pred):
        n_classes = tf.shape(y_pred)[-1]
        one_hot = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), n_classes, dtype=y_pred.dtype)
        return self._crossentropy(one_hot, y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
