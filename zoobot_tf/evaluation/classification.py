"""How good is a classifier, a regressor or a fine-tuned head on held-out galaxies? From plain
arrays: top-k accuracy, per-class accuracy / precision / recall, the confusion matrix, top-2
accuracy against galaxy size; RMSE for regressors; loss and vote-fraction RMSE for Dirichlet heads.

Why balanced accuracy, macro-F1 and bootstrap intervals: a few hundred held-out galaxies with
uneven classes make plain accuracy both biased (a majority-class guess looks good) and noisy
(+/-3.5 points binomial at n=200), so two fine-tunes are only told apart with an interval.

Why top-2: neighbouring Hubble types (Sab / Sc, Sc / Sdm) blur into each other even for experts,
so the DAT study reports top-2 accuracy beside top-1, and shows it per bin of galaxy-mask size
because small (distant, faint) galaxies are where morphology is lost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoobot_tf.evaluation.metrics import confusion_matrix

__all__ = [
    "bootstrap_intervals",
    "classification_report",
    "classifier_metrics",
    "dirichlet_metrics",
    "galaxy_mask_sizes",
    "macro_f1",
    "per_class_accuracy",
    "regressor_metrics",
    "top_k_accuracy",
    "top_k_accuracy_by_bin",
]


def classifier_metrics(labels, probabilities, classes, *, n_bootstrap: int = 1000, level: float = 0.95,
                       seed: int = 0) -> dict:
    """Accuracy, balanced accuracy, macro-F1 (each with a bootstrap interval) and the confusion
    matrix of ``argmax(probabilities)`` against integer ``labels``.

    ``intervals`` holds ``[low, high]`` percentile intervals at ``level`` from ``n_bootstrap``
    resamples of the galaxies (:func:`bootstrap_intervals`; 0 resamples: none).
    """
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(probabilities).argmax(axis=-1)
    n_classes = len(classes)
    matrix = confusion_matrix(labels, predicted, n_classes)
    support = matrix.sum(axis=1)
    predicted_counts = matrix.sum(axis=0)
    diagonal = np.diag(matrix)
    recall = np.divide(diagonal, support, out=np.full(n_classes, np.nan), where=support > 0)
    precision = np.divide(diagonal, predicted_counts, out=np.full(n_classes, np.nan), where=predicted_counts > 0)
    present = support > 0
    metrics = {
        "n": int(labels.size),
        "accuracy": float(diagonal.sum() / max(labels.size, 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": macro_f1(matrix),
        "classes": list(classes),
        "confusion_matrix": matrix.tolist(),
        "per_class": {
            str(c): {"precision": _num(p), "recall": _num(r), "support": int(s)}
            for c, p, r, s in zip(classes, precision, recall, support)
        },
    }
    if n_bootstrap and labels.size:
        metrics["intervals"] = bootstrap_intervals(matrix, n_bootstrap=n_bootstrap, level=level, seed=seed)
    return metrics


def macro_f1(matrix) -> float:
    """Mean F1 over the classes that occur as a label or a prediction of confusion ``matrix``
    (rows true, columns predicted)."""
    rates = _rates(np.asarray(matrix, dtype=np.float64)[None])
    return float(rates["macro_f1"][0])


def _rates(matrices: np.ndarray) -> dict:
    """Accuracy, balanced accuracy and macro-F1 of a stack of confusion matrices ``(B, K, K)``."""
    tp = np.diagonal(matrices, axis1=1, axis2=2)
    support, predicted = matrices.sum(axis=2), matrices.sum(axis=1)
    total = matrices.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        denominator = support + predicted  # 2 TP + FP + FN
        f1 = np.where(denominator > 0, 2 * tp / denominator, np.nan)
        return {"accuracy": tp.sum(axis=1) / np.maximum(total, 1),
                "balanced_accuracy": np.nanmean(np.where(support > 0, recall, np.nan), axis=1),
                "macro_f1": np.nanmean(f1, axis=1)}


def bootstrap_intervals(matrix, *, n_bootstrap: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap intervals of accuracy, balanced accuracy and macro-F1.

    Resampling galaxies with replacement is a multinomial draw over the cells of the confusion
    ``matrix``, so the cost does not grow with the number of galaxies. Returns ``{metric: [low,
    high], "level": level, "n_bootstrap": n}``.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {matrix.shape}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = int(matrix.sum())
    if n == 0 or int(n_bootstrap) < 1:
        raise ValueError("need at least one galaxy and one bootstrap resample")
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, matrix.ravel() / n, size=int(n_bootstrap)).reshape((-1,) + matrix.shape)
    tail = 100.0 * (1.0 - float(level)) / 2.0
    out = {name: [float(v) for v in np.nanpercentile(values, [tail, 100.0 - tail])]
           for name, values in _rates(draws.astype(np.float64)).items()}
    out.update(level=float(level), n_bootstrap=int(n_bootstrap))
    return out


def regressor_metrics(labels, predictions, label_cols) -> dict:
    """RMSE per target column and over all of them."""
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    squared = (predictions - labels) ** 2
    return {
        "n": int(labels.shape[0]),
        "rmse": float(np.sqrt(squared.mean())),
        "rmse_per_column": {c: float(v) for c, v in zip(label_cols, np.sqrt(squared.mean(axis=0)))},
    }


def dirichlet_metrics(votes, concentrations, schema) -> dict:
    """Mean Dirichlet-multinomial loss per galaxy and RMSE of expected vs observed vote fractions.

    ``concentrations`` is ``(N, A)`` or ``(N, A, S)`` MC samples: the expected fractions are
    averaged over samples (as ``zoobot-tf evaluate`` reads a predictions file) and the RMSE pools
    every answer of every question with at least one vote (``evaluate``'s overall
    ``rmse_volunteers``); the loss is averaged over samples.
    """
    from zoobot_tf.evaluation.metrics import expected_fractions, vote_fraction_rmse
    from zoobot_tf.losses import dirichlet_loss

    votes = np.asarray(votes, dtype=np.float64)
    alpha = np.asarray(concentrations, dtype=np.float64)
    alpha = alpha[..., None] if alpha.ndim == 2 else alpha
    losses = [np.asarray(dirichlet_loss(votes.astype(np.float32), alpha[..., s].astype(np.float32), schema))
              for s in range(alpha.shape[-1])]
    fractions = expected_fractions(alpha, schema)
    rmse = vote_fraction_rmse(fractions, schema.vote_fractions(votes), schema, votes=votes, min_votes=1)
    return {
        "n": int(votes.shape[0]),
        "loss": float(np.mean(losses)),
        "vote_fraction_rmse": float(rmse.loc["overall", "rmse"]),
    }


def _num(value):
    return None if not np.isfinite(value) else float(value)


def _check(labels, probabilities):
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (N, n_classes), got shape {probabilities.shape}")
    if labels.shape != (probabilities.shape[0],):
        raise ValueError(f"{labels.shape[0] if labels.ndim else 0} labels for {probabilities.shape[0]} predictions")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0
                        or labels.max() >= probabilities.shape[1]):
        bad = int(np.argmax((labels < 0) | (labels >= probabilities.shape[1]))) if np.issubdtype(labels.dtype, np.integer) else 0
        raise ValueError(f"labels[{bad}] = {labels[bad].item()!r}: labels must be integers in 0..{probabilities.shape[1] - 1}")
    return labels.astype(np.int64), probabilities


def _top_k_hits(labels, probabilities, k):
    """1 where the true class is among the ``k`` most probable (ties broken by class order)."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, : int(k)]
    return (order == labels[:, None]).any(axis=1)


def top_k_accuracy(labels, probabilities, k=1) -> float:
    """Fraction of galaxies whose true class is among the ``k`` most probable classes."""
    labels, probabilities = _check(labels, probabilities)
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return float(_top_k_hits(labels, probabilities, k).mean()) if labels.size else float("nan")


def per_class_accuracy(labels, probabilities, classes) -> dict:
    """Top-1 accuracy (recall) per true class: ``{class: {"accuracy", "top2_accuracy", "n"}}``."""
    labels, probabilities = _check(labels, probabilities)
    if len(classes) != probabilities.shape[1]:
        raise ValueError(f"{len(classes)} class names for {probabilities.shape[1]} predicted classes")
    top1 = _top_k_hits(labels, probabilities, 1)
    top2 = _top_k_hits(labels, probabilities, 2)
    out = {}
    for index, name in enumerate(classes):
        rows = labels == index
        n = int(rows.sum())
        out[str(name)] = {
            "accuracy": float(top1[rows].mean()) if n else None,
            "top2_accuracy": float(top2[rows].mean()) if n else None,
            "n": n,
        }
    return out


def galaxy_mask_sizes(images, channel=-1, threshold=0.5) -> np.ndarray:
    """Pixels on the galaxy per image: the count of ``images[..., channel] > threshold``.

    ``channel=-1`` is where :func:`zoobot_tf.shards.write_shards` puts the galaxy mask
    (``galaxy_mask=True``: after the bands and their NaN masks).
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    return (images[..., channel] > threshold).reshape(len(images), -1).sum(axis=1)


def _bin_edges(sizes, bins):
    if np.ndim(bins) == 0:
        edges = np.unique(np.quantile(sizes, np.linspace(0.0, 1.0, int(bins) + 1)))
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0] + 1.0])
        return edges
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be an int or increasing edges, got {bins!r}")
    return edges


def top_k_accuracy_by_bin(labels, probabilities, sizes, bins=5, k=2) -> pd.DataFrame:
    """Top-``k`` accuracy per bin of galaxy size (e.g. galaxy-mask pixels).

    Parameters
    ----------
    labels : array (N,)
    probabilities : array (N, n_classes)
    sizes : array (N,)
        Size of each galaxy, e.g. :func:`galaxy_mask_sizes` or a catalog column.
    bins : int or sequence of float
        Number of equal-count bins (quantiles), or explicit edges; the last bin includes its
        upper edge; galaxies outside explicit edges are counted in the ``outside`` attribute.
    k : int

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``low``, ``high``, ``n``, ``top{k}_accuracy`` (NaN for an empty bin)
        and its binomial standard error ``stderr``.
    """
    labels, probabilities = _check(labels, probabilities)
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.shape != labels.shape:
        raise ValueError(f"{sizes.size} sizes for {labels.size} galaxies")
    if not np.isfinite(sizes).all():
        raise ValueError(f"sizes[{int(np.argmax(~np.isfinite(sizes)))}] is not finite")
    if labels.size == 0:
        raise ValueError("no galaxies to bin")
    edges = _bin_edges(sizes, bins)
    hits = _top_k_hits(labels, probabilities, k)
    index = np.clip(np.searchsorted(edges, sizes, side="right") - 1, 0, len(edges) - 2)
    inside = (sizes >= edges[0]) & (sizes <= edges[-1])
    rows = []
    for b in range(len(edges) - 1):
        chosen = inside & (index == b)
        n = int(chosen.sum())
        accuracy = float(hits[chosen].mean()) if n else float("nan")
        stderr = float(np.sqrt(accuracy * (1 - accuracy) / n)) if n else float("nan")
        rows.append({"low": edges[b], "high": edges[b + 1], "n": n, f"top{k}_accuracy": accuracy, "stderr": stderr})
    table = pd.DataFrame(rows)
    table.attrs["outside"] = int((~inside).sum())
    table.attrs["k"] = int(k)
    return table


def classification_report(labels, probabilities, classes, max_k=3) -> dict:
    """Every number of a held-out evaluation, JSON-ready.

    Top-1 ... top-``max_k`` accuracy (k below the number of classes), balanced accuracy,
    per-class accuracy / precision / recall and the confusion matrix (rows true, columns
    predicted), from :func:`classifier_metrics`.
    """
    labels, probabilities = _check(labels, probabilities)
    report = classifier_metrics(labels, probabilities, list(classes))
    for k in range(2, min(int(max_k), len(classes) - 1) + 1):
        report[f"top{k}_accuracy"] = top_k_accuracy(labels, probabilities, k)
    report["top1_accuracy"] = report["accuracy"]
    for name, values in per_class_accuracy(labels, probabilities, classes).items():
        report["per_class"][name].update(values)
    return report
