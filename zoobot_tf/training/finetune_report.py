"""Held-out metrics of a fine-tuned model, as numbers (``metrics.json``) and a confusion-matrix PNG.

Classifier: accuracy, balanced accuracy, per-class precision/recall and the confusion matrix
(rows: true class, columns: predicted). Regressor: RMSE per target and overall. Dirichlet head:
mean loss per galaxy and the RMSE of the expected vote fractions against the volunteers'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["classifier_metrics", "dirichlet_metrics", "plot_confusion_matrix", "regressor_metrics"]


def classifier_metrics(labels, probabilities, classes) -> dict:
    """Accuracy and confusion matrix of ``argmax(probabilities)`` against integer ``labels``."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(probabilities).argmax(axis=-1)
    n_classes = len(classes)
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    support = matrix.sum(axis=1)
    predicted_counts = matrix.sum(axis=0)
    diagonal = np.diag(matrix)
    recall = np.divide(diagonal, support, out=np.full(n_classes, np.nan), where=support > 0)
    precision = np.divide(diagonal, predicted_counts, out=np.full(n_classes, np.nan), where=predicted_counts > 0)
    present = support > 0
    return {
        "n": int(labels.size),
        "accuracy": float(diagonal.sum() / max(labels.size, 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "classes": list(classes),
        "confusion_matrix": matrix.tolist(),
        "per_class": {
            str(c): {"precision": _num(p), "recall": _num(r), "support": int(s)}
            for c, p, r, s in zip(classes, precision, recall, support)
        },
    }


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
    """Mean Dirichlet-multinomial loss per galaxy and RMSE of expected vs observed vote fractions."""
    from zoobot_tf.losses import dirichlet_loss

    votes = np.asarray(votes, dtype=np.float64)
    concentrations = np.asarray(concentrations, dtype=np.float64)
    loss = np.asarray(dirichlet_loss(votes.astype(np.float32), concentrations.astype(np.float32), schema))
    errors = []
    for start, end in schema.question_index_groups:
        v, a = votes[:, start : end + 1], concentrations[:, start : end + 1]
        total = v.sum(axis=1)
        answered = total > 0
        if answered.any():
            observed = v[answered] / total[answered, None]
            expected = a[answered] / a[answered].sum(axis=1, keepdims=True)
            errors.append(((expected - observed) ** 2).ravel())
    squared = np.concatenate(errors) if errors else np.array([np.nan])
    return {
        "n": int(votes.shape[0]),
        "loss": float(loss.mean()),
        "vote_fraction_rmse": float(np.sqrt(squared.mean())),
    }


def _num(value):
    return None if not np.isfinite(value) else float(value)


def plot_confusion_matrix(matrix, classes, path, title="confusion matrix (held-out)") -> Path:
    """Save the confusion matrix as a PNG: counts annotated, rows normalised for the colours."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, safe in notebooks

    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    fraction = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    n = len(classes)
    size = max(3.5, 0.7 * n + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if fraction[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path
