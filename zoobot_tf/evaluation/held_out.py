"""The metric a run reports on its held-out galaxies, computed the way ``predict`` + ``evaluate`` do.

Why here: a number a run prints must be what a user gets back from ``zoobot-tf predict`` and
``zoobot-tf evaluate`` on the same galaxies. So the run draws the same MC samples (the prediction
:class:`~zoobot_tf.predictions.sampling.Sampler`, :data:`EVAL_SAMPLES` passes seeded like
``predict --seed 0``) from images prepared by the model's recipe, and scores them with the
functions ``evaluate`` uses: classifiers on the mean probability over samples, regressors on the
mean output, Dirichlet heads on the expected vote fractions averaged over samples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from zoobot_tf.atomic import atomic_write_text
from zoobot_tf.evaluation.classification import classifier_metrics, dirichlet_metrics, regressor_metrics

__all__ = ["EVAL_SAMPLES", "evaluate_split", "eval_samples", "sample_dataset", "task_metrics", "write_metrics"]

#: MC-dropout samples per galaxy of a run's held-out evaluation (``predict``'s default)
EVAL_SAMPLES = 5
METRICS_NAME = "metrics.json"


def eval_samples(model) -> int:
    """:data:`EVAL_SAMPLES` for a model with always-on (MC) dropout, 1 for a deterministic one."""
    from zoobot_tf.models.layers import MCDropout

    def layers(layer):
        for child in getattr(layer, "layers", ()):
            yield child
            yield from layers(child)

    stochastic = any(isinstance(layer, MCDropout) and layer.always_on and layer.rate > 0 for layer in layers(model))
    return EVAL_SAMPLES if stochastic else 1


def sample_dataset(model, dataset, *, n_samples: int | None = None, seed: int = 0, progress: bool = True,
                   desc: str = "evaluating"):
    """MC samples of a model over a dataset of ``(images, labels[, ids])`` batches.

    Returns ``(labels, samples (N, A, n_samples) float32, ids or None)``; ``n_samples`` defaults
    to :func:`eval_samples`.
    """
    from zoobot_tf.predictions.sampling import Sampler, resolve_fast_path

    n_samples = n_samples or eval_samples(model)
    sampler = Sampler(model, n_samples, resolve_fast_path(model, "auto"), seed=seed)
    labels, samples, ids = [], [], []
    for batch in tqdm(dataset, desc=desc, unit="batch", disable=None if progress else True):
        labels.append(np.asarray(batch[1]))
        samples.append(sampler(batch[0]))
        if len(batch) > 2:
            ids += [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in np.asarray(batch[2])]
    return np.concatenate(labels), np.concatenate(samples), (ids or None)


def task_metrics(head: str, labels, samples, outputs, schema=None) -> dict:
    """Held-out metrics of ``samples`` (N, A, S) against ``labels`` for a head kind.

    ``softmax``: :func:`classifier_metrics` of the mean probabilities (integer labels);
    ``regression``: :func:`regressor_metrics` of the mean outputs; ``dirichlet``:
    :func:`dirichlet_metrics` (vote counts, a decision-tree ``schema``).
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 2:
        samples = samples[..., None]
    if head == "softmax":
        return classifier_metrics(labels, samples.mean(axis=-1), outputs)
    if head == "regression":
        return regressor_metrics(labels, samples.mean(axis=-1), outputs)
    if head == "dirichlet":
        return dirichlet_metrics(labels, samples, schema)
    raise ValueError(f"no held-out metrics for a {head!r} head")


def evaluate_split(model, shard_dir, split, *, recipe, head, outputs, schema=None, batch_size: int = 64,
                   n_samples: int | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Metrics of ``model`` on one split of a shard directory, images through ``recipe``."""
    from zoobot_tf.data import get_dataset

    dataset = get_dataset(shard_dir, split, batch_size, recipe=recipe, augment=False)
    n_samples = n_samples or eval_samples(model)
    labels, samples, _ = sample_dataset(model, dataset, n_samples=n_samples, seed=seed, progress=progress,
                                        desc=f"evaluating {split}")
    metrics = task_metrics(head, labels, samples, outputs, schema)
    metrics.update(split=split, n_samples=n_samples, seed=seed)
    return metrics


def write_metrics(run_dir, metrics: dict) -> Path:
    """``run_dir/metrics.json``, atomically."""
    path = Path(run_dir) / METRICS_NAME
    atomic_write_text(path, json.dumps(metrics, indent=2, default=float) + "\n")
    return path
