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

Backends: on TensorFlow the log-likelihood is TFP's (the default, as before); on JAX and PyTorch
it is the same formula in ``keras.ops`` (:func:`dirichlet_multinomial_log_prob`), equal to TFP's
within float32 rounding (``tests/test_backends.py`` checks both against stored TFP values).

Under ``tf.distribute`` the per-example losses must be summed and divided by the *global* batch
size. :class:`DirichletMultinomialLoss` (``reduction='sum_over_batch_size'``) gets that from
Keras inside ``model.fit``; custom training loops use :func:`average_over_global_batch`.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = [
    "DirichletMultinomialLoss",
    "SmoothedSparseCrossentropy",
    "average_over_global_batch",
    "dirichlet_loss",
    "dirichlet_loss_per_question",
    "dirichlet_multinomial_log_prob",
    "validate_question_index_groups",
]

#: ``implementation`` values of :func:`dirichlet_loss_per_question`
IMPLEMENTATIONS = ("auto", "tfp", "ops")


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


def _lgamma(x):
    """Log-gamma of the active backend: ``keras.ops`` has none, each backend has a differentiable one."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.math.lgamma(x)
    if backend == "jax":
        import jax

        return jax.lax.lgamma(x)
    if backend == "torch":
        import torch

        return torch.lgamma(x)
    if backend == "numpy":
        from scipy.special import gammaln

        return gammaln(x)
    raise NotImplementedError(f"no log-gamma for the Keras backend {backend!r}")


def _lbeta(x):
    """``sum(lgamma(x)) - lgamma(sum(x))`` over the last axis, in ``tf.math.lbeta``'s order."""
    return ops.sum(_lgamma(x), axis=-1) - _lgamma(ops.sum(x, axis=-1))


def dirichlet_multinomial_log_prob(votes, concentrations, total=None):
    """``log DirichletMultinomial(total, concentrations).prob(votes)`` in ``keras.ops``, any backend.

    TFP's formula, grouped as TFP groups it so that float32 rounding matches:
    ``lbeta(alpha + x) - lbeta(alpha) + lgamma(n + 1) - sum(lgamma(x + 1))``.

    Parameters
    ----------
    votes, concentrations : tensors, shape (..., n_answers)
    total : tensor, shape (...), optional
        ``sum(votes)`` (computed when not given).
    """
    total = ops.sum(votes, axis=-1) if total is None else total
    ordered = _lbeta(concentrations + votes) - _lbeta(concentrations)
    return ordered + (_lgamma(total + 1.0) - ops.sum(_lgamma(votes + 1.0), axis=-1))


def _tfp_log_prob(votes, concentrations, total):
    import tensorflow_probability as tfp

    return tfp.distributions.DirichletMultinomial(total_count=total, concentration=concentrations).log_prob(votes)


def _resolve(implementation):
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    if implementation == "auto":
        return "tfp" if keras.backend.backend() == "tensorflow" else "ops"
    if implementation == "tfp" and keras.backend.backend() != "tensorflow":
        raise ValueError(f"implementation='tfp' needs the TensorFlow backend, not {keras.backend.backend()!r}")
    return implementation


def dirichlet_loss_per_question(labels, concentrations, question_index_groups, implementation="auto", dtype="float32"):
    """Negative log-likelihood of each question's votes, shape ``(batch, n_questions)``.

    Parameters
    ----------
    labels : array-like, shape (batch, n_answers)
        Vote counts per answer (non-negative; need not be integers).
    concentrations : array-like, shape (batch, n_answers)
        Positive Dirichlet concentrations predicted by the model.
    question_index_groups : iterable of (int, int) or Schema
        Inclusive answer range of each question.
    implementation : {'auto', 'tfp', 'ops'}
        ``'tfp'``: TensorFlow Probability (TensorFlow backend only); ``'ops'``:
        :func:`dirichlet_multinomial_log_prob` (any backend); ``'auto'``: TFP on TensorFlow,
        ``'ops'`` elsewhere.
    dtype : str
        Precision of the computation: float32 (training) or float64 (checks; on JAX it needs
        ``JAX_ENABLE_X64=1``). float32 log-gammas of ~100s carry ~1e-4 absolute error whichever
        library computes them.

    Returns
    -------
    tensor of the backend, ``dtype``
        ``-log DirichletMultinomial(total, concentrations).prob(votes)`` per question; exactly 0
        (and zero gradient) where a question received no votes.
    """
    log_prob = _tfp_log_prob if _resolve(implementation) == "tfp" else dirichlet_multinomial_log_prob
    labels = ops.cast(ops.convert_to_tensor(labels), dtype)
    concentrations = ops.cast(ops.convert_to_tensor(concentrations), dtype)
    groups = _check_shapes(labels, concentrations, question_index_groups)
    per_question = []
    # one question at a time, not a (answers x questions) matmul: sums of log-gammas of ~100s
    # cancel, and a GPU's TF32 matmul would lose the loss to that rounding
    for start, end in groups:
        votes = labels[:, start : end + 1]
        alpha = concentrations[:, start : end + 1]
        total = ops.sum(votes, axis=-1)
        answered = total > 0
        # Feed benign concentrations into the unanswered rows, so that no NaN/inf from a wild
        # prediction can leak into the gradient through where (0 * NaN = NaN).
        alpha = ops.where(answered[:, None], alpha, ops.ones_like(alpha))
        nll = -log_prob(votes, alpha, total)
        per_question.append(ops.where(answered, nll, ops.zeros_like(nll)))
    return ops.stack(per_question, axis=-1)


def dirichlet_loss(labels, concentrations, question_index_groups, implementation="auto", dtype="float32"):
    """Per-galaxy loss: the sum over questions of :func:`dirichlet_loss_per_question`.

    Returns
    -------
    tensor of the backend, shape (batch,), ``dtype``
    """
    per_question = dirichlet_loss_per_question(labels, concentrations, question_index_groups, implementation, dtype)
    return ops.sum(per_question, axis=-1)


def _global_batch_size(batch_size):
    """All-reduce the local batch size inside a ``tf.distribute`` replica context (TF only)."""
    if keras.backend.backend() != "tensorflow":
        return batch_size
    import tensorflow as tf

    replica_context = tf.distribute.get_replica_context()
    if tf.distribute.has_strategy() and replica_context is not None:
        batch_size = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, batch_size)
    return batch_size


def average_over_global_batch(per_example_loss, sample_weight=None):
    """Sum per-example losses and divide by the *global* batch size, for custom training steps.

    Inside ``strategy.run`` (TensorFlow) the per-replica batch sizes are all-reduced, so that an
    uneven final batch (e.g. 4 + 3 examples on two replicas) is still averaged over its 7
    examples; the replicas' gradients then simply sum (the default for ``tf.distribute``).
    Outside a distribution strategy, and on other backends, this is the plain mean.

    Parameters
    ----------
    per_example_loss : tensor, shape (batch,)
    sample_weight : tensor, shape (batch,), optional
        Multiplies each example's loss (the divisor stays the number of examples, as in Keras).

    Returns
    -------
    tensor, scalar
    """
    per_example_loss = ops.convert_to_tensor(per_example_loss)
    if len(per_example_loss.shape) != 1:
        raise ValueError(f"per_example_loss must have shape (batch,), got {per_example_loss.shape}")
    if sample_weight is not None:
        per_example_loss = per_example_loss * ops.cast(sample_weight, per_example_loss.dtype)
    batch_size = _global_batch_size(ops.cast(ops.shape(per_example_loss)[0], per_example_loss.dtype))
    return ops.divide_no_nan(ops.sum(per_example_loss), batch_size)


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
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), y_pred.shape[-1], dtype=y_pred.dtype)
        return self._crossentropy(one_hot, y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
