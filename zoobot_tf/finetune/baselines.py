"""The baselines a fine-tune must beat, scored on the same held-out galaxies as the fine-tuned model.

Why inside ``finetune``: on a small new survey a fine-tune can look reasonable and still lose to
a linear model on the frozen encoder's features (issue 21), and nothing says so unless the
simple answers are computed beside it. Two per head:

* classifier: a **linear probe** (multinomial logistic regression on the frozen encoder's
  pooled features, as zoobot's ``run_linear_sanity_check``) and the **majority class** of the
  training split;
* regressor: a **ridge probe** of the targets and the **training mean**;
* decision tree (Dirichlet head): a ridge probe of the vote fractions and the training mean
  fractions, scored by vote-fraction RMSE like the fine-tuned model.

The probe's encoder is the source encoder, frozen, with its BatchNorm statistics re-estimated
on the training images when fine-tuning does so (``batchnorm='adapt'`` or ``'fixed'``): the fine-tune's own
starting point. Its regularisation is chosen on the validation split by log-loss (RMSE for
ridge), a less noisy criterion than accuracy on a few hundred galaxies.

The logistic regression is a small L-BFGS fit with :func:`scipy.optimize.minimize` rather than
scikit-learn's ``LogisticRegression``, because scikit-learn is not a dependency of the package
and scipy already is; for a few thousand galaxies and a few hundred features it takes seconds.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy.optimize import minimize

__all__ = [
    "LogisticProbe",
    "RidgeProbe",
    "BLEND_WEIGHTS",
    "baseline_metrics",
    "blend_with_probe",
    "encoder_features",
    "finetune_baselines",
    "init_head_from_probe",
    "probe_verdict",
    "probe_wins",
    "use_probe",
]

logger = logging.getLogger(__name__)

#: L2 strengths tried (mean loss + strength/2 |W|^2 on standardised features), strongest first
STRENGTHS = tuple(np.logspace(1, -4, 11))


def encoder_features(encoder, dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, D), labels)`` of the encoder in inference mode over ``(images, labels)`` batches."""
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(np.asarray(encoder(images, training=False), dtype=np.float64).reshape(len(images), -1))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(features), np.concatenate(labels)


class _Standardiser:
    def __init__(self, x):
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-6

    def __call__(self, x):
        return (x - self.mean) / self.std


class LogisticProbe:
    """Multinomial logistic regression, L2 strength chosen on validation log-loss.

    ``fit(x, y, val_x, val_y)`` then ``predict_proba(x)``; ``sample_weight`` per training galaxy
    (e.g. class weights). Without validation data the strength is ``1 / n_train`` (scikit-learn's
    ``C=1``).
    """

    def __init__(self, n_classes: int, strengths=STRENGTHS, max_iter: int = 500):
        self.n_classes = int(n_classes)
        self.strengths = tuple(float(s) for s in strengths)
        self.max_iter = int(max_iter)
        self.strength = None
        self.val_loss = None  # mean cross-entropy on the validation split, when there is one

    def _fit_one(self, x, onehot, weights, strength, start):
        n, d = x.shape
        k = self.n_classes

        def objective(theta):
            w, b = theta[: d * k].reshape(d, k), theta[d * k:]
            logits = x @ w + b
            logits -= logits.max(axis=1, keepdims=True)
            log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            loss = -(weights * (onehot * log_p).sum(axis=1)).sum() / n + 0.5 * strength * (w ** 2).sum()
            residual = (np.exp(log_p) - onehot) * weights[:, None] / n
            grad = np.concatenate([(x.T @ residual + strength * w).ravel(), residual.sum(axis=0)])
            return loss, grad

        result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        return result.x

    def _log_loss(self, theta, x, y):
        p = self._proba(theta, x)
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    def _proba(self, theta, x):
        d = x.shape[1]
        logits = x @ theta[: d * self.n_classes].reshape(d, self.n_classes) + theta[d * self.n_classes:]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def fit(self, x, y, val_x=None, val_y=None, sample_weight=None) -> "LogisticProbe":
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)
        if len(x) == 0:
            raise ValueError("linear probe: no training galaxies")
        self.scale = _Standardiser(x)
        x = self.scale(x)
        onehot = np.eye(self.n_classes)[y]
        weights = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        theta = np.zeros(x.shape[1] * self.n_classes + self.n_classes)
        if val_x is None or len(val_x) == 0:
            self.strength = 1.0 / len(x)
            self.theta = self._fit_one(x, onehot, weights, self.strength, theta)
            return self
        val_x, val_y = self.scale(np.asarray(val_x, dtype=np.float64)), np.asarray(val_y, dtype=np.int64)
        best = (np.inf, None, None)
        for strength in self.strengths:  # strongest first, each fit warm-started from the previous one
            theta = self._fit_one(x, onehot, weights, strength, theta)
            loss = self._log_loss(theta, val_x, val_y)
            if loss < best[0]:
                best = (loss, strength, theta.copy())
        self.val_loss, self.strength, self.theta = best
        return self

    def predict_proba(self, x) -> np.ndarray:
        return self._proba(self.theta, self.scale(np.asarray(x, dtype=np.float64)))


class RidgeProbe:
    """Ridge regression of (N, T) targets on standardised features, strength chosen on validation RMSE."""

    def __init__(self, strengths=STRENGTHS):
        self.strengths = tuple(float(s) for s in strengths)
        self.strength = None
        self.val_loss = None  # mean squared error on the validation split, when there is one

    def _solve(self, x, y, strength):
        gram = x.T @ x / len(x) + strength * np.eye(x.shape[1])
        return np.linalg.solve(gram, x.T @ (y - self.offset) / len(x))

    def fit(self, x, y, val_x=None, val_y=None) -> "RidgeProbe":
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64).reshape(len(x), -1)
        if len(x) == 0:
            raise ValueError("ridge probe: no training galaxies")
        self.scale = _Standardiser(x)
        x = self.scale(x)
        self.offset = y.mean(axis=0)
        if val_x is None or len(val_x) == 0:
            self.strength = 1.0
            self.weights = self._solve(x, y, self.strength)
            return self
        val_x = self.scale(np.asarray(val_x, dtype=np.float64))
        val_y = np.asarray(val_y, dtype=np.float64).reshape(len(val_x), -1)
        best = (np.inf, None, None)
        for strength in self.strengths:
            weights = self._solve(x, y, strength)
            rmse = float(np.sqrt(((val_x @ weights + self.offset - val_y) ** 2).mean()))
            if rmse < best[0]:
                best = (rmse, strength, weights)
        rmse, self.strength, self.weights = best
        self.val_loss = rmse ** 2  # the mean squared error a regressor's validation loss is
        return self

    def predict(self, x) -> np.ndarray:
        return self.scale(np.asarray(x, dtype=np.float64)) @ self.weights + self.offset


def _classifier_baselines(task, features, class_weight):
    from zoobot_tf.evaluation.classification import classifier_metrics

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = features
    n_classes = len(task.outputs)
    weights = None if not class_weight else np.array([class_weight.get(int(c), 1.0) for c in train_y])
    probe = LogisticProbe(n_classes).fit(train_x, train_y, val_x, val_y, sample_weight=weights)
    counts = np.bincount(train_y.astype(np.int64), minlength=n_classes)
    majority = np.zeros((len(test_y), n_classes))
    majority[:, int(np.argmax(counts))] = 1.0
    keep = ("n", "accuracy", "balanced_accuracy", "macro_f1", "intervals", "confusion_matrix")

    def scored(probabilities):
        metrics = classifier_metrics(test_y, probabilities, task.outputs)
        return {k: metrics[k] for k in keep if k in metrics}

    return probe, {
        "linear_probe": {**scored(probe.predict_proba(test_x)), "l2_strength": probe.strength,
                         "features": int(train_x.shape[1])},
        "majority_class": {**scored(majority), "class": task.outputs[int(np.argmax(counts))]},
    }


def _regressor_baselines(task, features):
    from zoobot_tf.evaluation.classification import regressor_metrics

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = features
    probe = RidgeProbe().fit(train_x, train_y, val_x, val_y)
    mean = np.broadcast_to(np.asarray(train_y, dtype=np.float64).mean(axis=0), np.shape(test_y))
    return probe, {
        "ridge_probe": {**regressor_metrics(test_y, probe.predict(test_x).reshape(np.shape(test_y)), task.outputs),
                        "l2_strength": probe.strength, "features": int(train_x.shape[1])},
        "training_mean": regressor_metrics(test_y, mean, task.outputs),
    }


def _tree_baselines(task, features):
    from zoobot_tf.evaluation.metrics import mean_fractions, vote_fraction_rmse

    schema = task.schema
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = features

    def rmse(fractions):
        table = vote_fraction_rmse(fractions, schema.vote_fractions(test_y), schema, votes=test_y, min_votes=1)
        return {"n": int(len(test_y)), "vote_fraction_rmse": float(table.loc["overall", "rmse"])}

    def per_question(fractions):  # clip and renormalise within each question
        fractions = np.clip(fractions, 1e-6, None)
        for s, e in schema.question_index_groups:
            fractions[:, s: e + 1] /= fractions[:, s: e + 1].sum(axis=1, keepdims=True)
        return fractions

    probe = RidgeProbe().fit(train_x, schema.vote_fractions(train_y), val_x,
                             None if val_y is None or not len(val_y) else schema.vote_fractions(val_y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a question nobody answered gets uniform fractions
        mean = np.broadcast_to(mean_fractions(train_y, schema), (len(test_y), schema.n_answers))
    return None, {  # fractions are not the Dirichlet head's parameters: no probe to start it from
        "ridge_probe": {**rmse(per_question(probe.predict(test_x))), "l2_strength": probe.strength,
                        "features": int(train_x.shape[1])},
        "training_mean": rmse(np.array(mean)),
    }


def baseline_metrics(task, encoder, datasets: dict, eval_split: str, class_weight=None):
    """The baselines of ``task`` on ``datasets[eval_split]``, fitted on ``datasets['train']``.

    ``datasets``: split name -> evaluation-recipe batches ``(images, labels)``; ``encoder``: the
    frozen encoder whose features the probe reads. Returns ``(probe, {baseline: metrics, "split":
    eval_split})``; the probe (None for a decision tree) can start the new head
    (:func:`init_head_from_probe`).
    """
    features = {name: encoder_features(encoder, ds) for name, ds in datasets.items()}
    empty = (np.zeros((0, 1)), None)
    parts = (features["train"], features.get("val", empty), features[eval_split])
    if task.kind == "classifier":
        probe, out = _classifier_baselines(task, parts, class_weight)
    elif task.kind == "regressor":
        probe, out = _regressor_baselines(task, parts)
    else:
        probe, out = _tree_baselines(task, parts)
    out["split"] = eval_split
    return probe, out


def init_head_from_probe(model, probe) -> bool:
    """Start the new head's dense layer as the fitted ``probe`` (linear probing, then fine-tuning).

    Why: a randomly initialised head sends large, random gradients into the pretrained encoder
    during the first steps and distorts the features it came for ("LP-FT", Kumar et al. 2022);
    starting from the probe, fine-tuning begins where the linear probe ends. The probe's
    standardisation is folded into the weights. Returns False (head untouched) when there is no
    probe or the head's shape differs.
    """
    from zoobot_tf.models import get_head

    if probe is None:
        return False
    dense = get_head(model).get_layer("head_dense")
    kernel, bias = (probe.theta[:-probe.n_classes].reshape(-1, probe.n_classes), probe.theta[-probe.n_classes:]) \
        if isinstance(probe, LogisticProbe) else (probe.weights, probe.offset)
    kernel = kernel / probe.scale.std[:, None]
    bias = bias - probe.scale.mean @ kernel
    if tuple(dense.kernel.shape) != kernel.shape:
        return False
    dense.kernel.assign(kernel.astype("float32"))
    dense.bias.assign(bias.astype("float32"))
    return True


#: the headline metric of each head kind and whether higher is better
HEADLINE = {"classifier": ("accuracy", True), "regressor": ("rmse", False), "dirichlet": ("vote_fraction_rmse", False)}


def probe_verdict(kind: str, metrics: dict) -> str | None:
    """A warning when the fine-tuned ``metrics`` do not beat the probe in ``metrics['baselines']``, else None."""
    name, higher = HEADLINE[kind]
    baselines = metrics.get("baselines") or {}
    probe_name = "linear_probe" if kind == "classifier" else "ridge_probe"
    probe = baselines.get(probe_name)
    if not probe or name not in metrics or name not in probe:
        return None
    mine, theirs = float(metrics[name]), float(probe[name])
    if (mine > theirs) if higher else (mine < theirs):
        return None
    return (f"the fine-tuned model ({name} {mine:.3f}) does not beat a {probe_name.replace('_', ' ')} on the frozen "
            f"encoder's features ({theirs:.3f}) on the {baselines.get('split', 'held-out')} split: use the probe, or "
            "revisit the image recipe, the learning rate and the number of labels")


def finetune_baselines(task, source_encoder, input_shape, splits: dict, eval_split: str, *, recipe, seed: int,
                       batch_size: int, batchnorm: str, class_weight=None, encoder=None):
    """:func:`baseline_metrics` as :func:`~zoobot_tf.finetune.finetune` runs them, every split
    through the evaluation recipe, on ``encoder`` (the fine-tune's own, before training) or else
    a frozen copy of the source encoder with BatchNorm re-estimated as fine-tuning does.

    Returns ``(probe, metrics, encoder weights)``: with the weights and the probe,
    :func:`use_probe` turns the fine-tuned model back into the probe."""
    from zoobot_tf.finetune.data import image_read_errors, make_dataset
    from zoobot_tf.finetune.finetuning import copy_encoder
    from zoobot_tf.finetune.freezing import recalibrate_batchnorm
    from zoobot_tf.finetune.modes import REESTIMATED

    names = [name for name in ("train", "val", eval_split) if name in splits and len(splits[name])]
    datasets = {name: make_dataset(splits[name], batch_size, recipe=recipe, training=False, seed=seed)
                for name in dict.fromkeys(names)}
    with image_read_errors():
        if encoder is None:
            encoder = copy_encoder(source_encoder, input_shape)
            if batchnorm in REESTIMATED:
                recalibrate_batchnorm(encoder, datasets["train"])
        probe, metrics = baseline_metrics(task, encoder, datasets, eval_split, class_weight)
    return probe, metrics, encoder.get_weights()


def use_probe(model, probe, encoder_weights) -> bool:
    """Make ``model`` the linear probe: the frozen encoder it was fitted on plus the probe as its head.

    What fine-tuning keeps when no epoch reached a lower validation loss than the probe: on a
    small survey the frozen features can be the better model, and then the package should hand
    that model over rather than a worse fine-tune (issue 21). False when there is no probe.
    """
    from zoobot_tf.models import get_encoder

    if probe is None:
        return False
    get_encoder(model).set_weights(encoder_weights)
    return init_head_from_probe(model, probe)


#: weights of the fine-tune in the candidate blends with the probe (0: the probe, 1: the fine-tune)
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def blend_with_probe(model, probe, encoder_weights, val_ds, weights=BLEND_WEIGHTS):
    """Keep, in ``model``, the blend ``w * fine-tuned + (1 - w) * probe`` of every weight with the
    lowest loss on ``val_ds``; returns ``(w, {w: validation loss})`` (``(1.0, {})`` without a probe).

    Why: on a small survey the frozen features with a linear head (the probe) generalise well and
    a fine-tune fits the new images better; the weights in between often beat both (WiSE-FT,
    Wortsman et al. 2022), and the two ends are the probe fallback and the plain fine-tune. Every
    weight is blended, BatchNorm statistics included: both ends were re-estimated on the new
    survey. The losses are ``model.evaluate``'s, so every candidate is scored the same way.
    """
    if probe is None:
        return 1.0, {}
    tuned = model.get_weights()
    if not use_probe(model, probe, encoder_weights):
        model.set_weights(tuned)
        return 1.0, {}
    start = model.get_weights()

    def set_blend(w):
        model.set_weights([(w * t + (1.0 - w) * s).astype(t.dtype) for t, s in zip(tuned, start)])

    losses = {}
    for w in weights:
        set_blend(w)
        losses[float(w)] = float(model.evaluate(val_ds, verbose=0, return_dict=True)["loss"])
    finite = {w: loss for w, loss in losses.items() if np.isfinite(loss)}
    best = min(finite, key=lambda w: (finite[w], -w)) if finite else 1.0  # ties: the more fine-tuned
    set_blend(best)
    return best, losses


def probe_wins(probe, history: dict, keep: str) -> bool:
    """True when the probe's validation loss is below that of the epoch fine-tuning keeps."""
    losses = [v for v in history.get("val_loss", []) if np.isfinite(v)]
    if probe is None or probe.val_loss is None or not losses:
        return False
    kept = min(losses) if keep == "best" else losses[-1]
    return float(probe.val_loss) < float(kept)
