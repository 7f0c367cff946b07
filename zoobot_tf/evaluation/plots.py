"""Every PNG figure people look at: confusion matrices, training curves, predicted vs reference
fractions, model-vs-baseline RMSE bars, accuracy by galaxy size, image grids.

Built on :class:`matplotlib.figure.Figure`, never pyplot: no global backend is chosen or
changed (a user's notebook keeps its own), and no figure stays open after it is saved.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from zoobot_tf.evaluation.metrics import OVERALL, label_array
from zoobot_tf.schemas import get_schema

__all__ = [
    "default_plot_questions",
    "draw_confusion_matrix",
    "plot_accuracy_by_size",
    "plot_confusion_matrices",
    "plot_confusion_matrix",
    "plot_predicted_vs_true",
    "plot_rmse_comparison",
    "plot_training_curves",
    "read_training_log",
    "save_image_grid",
]


def _save(fig, path, dpi=110) -> str:
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def _grid(n_panels: int, n_columns: int, panel_size=(3.6, 3.3)):
    n_columns = max(1, min(n_columns, n_panels))
    n_rows = int(np.ceil(n_panels / n_columns))
    fig = Figure(figsize=(panel_size[0] * n_columns, panel_size[1] * n_rows))
    axes = fig.subplots(n_rows, n_columns, squeeze=False)
    axes = axes.ravel()
    for ax in axes[n_panels:]:
        ax.axis("off")
    return fig, axes[:n_panels]


# --- confusion matrices --------------------------------------------------------------------


def draw_confusion_matrix(ax, cm, class_names, title=None, true_label="true (volunteer majority)") -> None:
    """Draw counts on ``ax``, coloured by the row-normalised fraction (recall per true class)."""
    cm = np.asarray(cm)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix has shape {cm.shape} but {k} class names were given")
    row_sums = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, row_sums, out=np.zeros(cm.shape, dtype=float), where=row_sums > 0)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fontsize = 8 if k <= 6 else 6
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=fontsize,
                    color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(k), [str(c) for c in class_names], rotation=45, ha="right", fontsize=fontsize)
    ax.set_yticks(range(k), [str(c) for c in class_names], fontsize=fontsize)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel(true_label, fontsize=8)
    total = int(cm.sum())
    accuracy = np.trace(cm) / total if total else float("nan")
    ax.set_title(f"{title + chr(10) if title else ''}n={total}, accuracy {accuracy:.2f}", fontsize=8)


def plot_confusion_matrix(cm, class_names, path, title=None, true_label="true (volunteer majority)") -> str:
    """One confusion matrix (rows true, columns predicted) as a PNG; returns the path.

    The one confusion-matrix figure of the package: evaluation against volunteers, held-out
    classifier evaluation and fine-tuning all draw with it.
    """
    k = len(class_names)
    fig = Figure(figsize=(2.2 + 0.55 * k, 2.0 + 0.5 * k))
    ax = fig.subplots()
    draw_confusion_matrix(ax, cm, class_names, title, true_label)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrices(matrices: dict, schema, path, n_columns: int = 4) -> str:
    """Every question's confusion matrix (from :func:`confusion_matrices`) in one PNG grid."""
    schema = get_schema(schema)
    questions = [q for q in schema.questions if q.text in matrices]
    if not questions:
        raise ValueError("no confusion matrices to plot")
    fig, axes = _grid(len(questions), n_columns, (3.8, 3.6))
    for ax, question in zip(axes, questions):
        draw_confusion_matrix(ax, matrices[question.text], [a.suffix for a in question.answers], question.text)
    fig.tight_layout()
    return _save(fig, path)


# --- training curves -----------------------------------------------------------------------


def read_training_log(training_log_csv) -> pd.DataFrame:
    """A Keras CSVLogger file as a DataFrame indexed by epoch.

    A run resumed after a kill may log an epoch twice; the last entry of each epoch wins.
    """
    path = os.fspath(training_log_csv)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"training log {path} does not exist")
    try:
        log = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise ValueError(f"training log {path}: cannot read as CSV ({err})") from err
    missing = [c for c in ("epoch", "loss") if c not in log.columns]
    if missing:
        raise ValueError(f"training log {path}: lacks column(s) {missing} (expected a Keras CSVLogger file)")
    if log.empty:
        raise ValueError(f"training log {path}: no epochs logged")
    return log.drop_duplicates("epoch", keep="last").set_index("epoch").sort_index()


def plot_training_curves(training_log_csv, path, title=None) -> str:
    """Loss and val_loss per epoch (and any other logged metric, learning rate on a log axis).

    Parameters
    ----------
    training_log_csv : str or Path
        CSV written by ``keras.callbacks.CSVLogger`` (columns ``epoch``, ``loss``, optionally
        ``val_loss``, other metrics and ``learning_rate``).
    path : str or Path
        PNG to write.
    title : str, optional

    Returns
    -------
    str
        ``path``.
    """
    log = read_training_log(training_log_csv)
    epochs = log.index.to_numpy() + 1  # CSVLogger counts from 0; people count from 1
    lr_cols = [c for c in log.columns if c in ("lr", "learning_rate")]
    metrics = [c for c in log.columns if not c.startswith("val_") and c not in lr_cols]
    metrics.sort(key=lambda c: c != "loss")
    panels = metrics + lr_cols
    fig, axes = _grid(len(panels), min(3, len(panels)), (4.2, 3.2))
    for ax, name in zip(axes, panels):
        ax.plot(epochs, log[name], "o-", ms=3, label="train" if name not in lr_cols else name)
        if f"val_{name}" in log.columns:
            ax.plot(epochs, log[f"val_{name}"], "o-", ms=3, label="validation")
            if name == "loss" and log["val_loss"].notna().any():
                best = int(np.nanargmin(log["val_loss"].to_numpy()))
                ax.axvline(epochs[best], color="grey", ls=":", lw=1, label=f"best epoch {epochs[best]}")
        if name in lr_cols:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


# --- predicted vs reference fractions ------------------------------------------------------


def default_plot_questions(schema, n: int = 6) -> list[str]:
    """The first ``n`` questions nearest the root of the tree (asked of most galaxies)."""
    return [q.text for q in get_schema(schema).topological_questions()[:n]]


def plot_predicted_vs_true(
    predicted_fractions, reference_fractions, schema, path, *, questions=None, mask=None,
    reference_label="true fraction", title=None, n_columns: int = 3,
) -> str:
    """Scatter of predicted against reference fractions, one panel per question.

    Parameters
    ----------
    predicted_fractions, reference_fractions : array-like, (N, A)
    schema : str or Schema
    path : str or Path
        PNG to write.
    questions : list of str, optional
        Question texts to show (default: :func:`default_plot_questions`).
    mask : array-like (N, Q), optional
        Which galaxies to show per question (e.g. those with volunteer votes); default all.
    reference_label : str
        x-axis label, e.g. "volunteer fraction".
    title : str, optional
    n_columns : int

    Returns
    -------
    str
        ``path``.
    """
    schema = get_schema(schema)
    pred = label_array(predicted_fractions, schema, "predicted_fractions")
    ref = label_array(reference_fractions, schema, "reference_fractions")
    if len(pred) != len(ref):
        raise ValueError(f"predicted_fractions has {len(pred)} galaxies but reference_fractions has {len(ref)}")
    shown = np.ones((len(pred), schema.n_questions), bool) if mask is None else np.asarray(mask) > 0
    if shown.shape != (len(pred), schema.n_questions):
        raise ValueError(f"mask: expected shape ({len(pred)}, {schema.n_questions}), got {shown.shape}")
    questions = [schema.get_question(q) for q in (questions or default_plot_questions(schema))]

    fig, axes = _grid(len(questions), n_columns)
    for ax, question in zip(axes, questions):
        rows = shown[:, question.index]
        s, e = question.start_index, question.end_index + 1
        err = pred[rows, s:e] - ref[rows, s:e]
        rmse = float(np.sqrt(np.mean(err**2))) if rows.any() else float("nan")
        for answer in question.answers:
            ax.scatter(ref[rows, answer.index], pred[rows, answer.index], s=6, alpha=0.6, label=answer.suffix)
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel(reference_label, fontsize=8)
        ax.set_ylabel("predicted fraction", fontsize=8)
        ax.set_title(f"{question.text}\nn={int(rows.sum())}, RMSE {rmse:.3f}", fontsize=8)
        ax.legend(fontsize=6, markerscale=1.5, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


# --- the comparison table as bars ----------------------------------------------------------

#: table column -> bar label, in drawing order
_RMSE_BARS = {
    "rmse_volunteers": "model vs volunteers",
    "baseline_rmse_volunteers": "baseline vs volunteers",
    "rmse_truth": "model vs true",
    "baseline_rmse_truth": "baseline vs true",
}


def plot_rmse_comparison(table: pd.DataFrame, path, title=None) -> str:
    """Grouped bars of the RMSE columns of an :func:`evaluate` table, one group per question."""
    columns = [c for c in _RMSE_BARS if c in table.columns]
    if not columns:
        raise ValueError(f"table has none of the RMSE columns {list(_RMSE_BARS)}")
    rows = [i for i in table.index if i != OVERALL] + ([OVERALL] if OVERALL in table.index else [])
    x = np.arange(len(rows))
    width = 0.8 / len(columns)
    fig = Figure(figsize=(max(6.0, 0.75 * len(rows) + 2), 4.2))
    ax = fig.subplots()
    for i, column in enumerate(columns):
        hatch = "//" if column.startswith("baseline") else None
        ax.bar(x + (i - (len(columns) - 1) / 2) * width, table.loc[rows, column].astype(float), width,
               label=_RMSE_BARS[column], hatch=hatch, alpha=0.85 if hatch else 1.0)
    ax.set_xticks(x, rows, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("vote-fraction RMSE")
    ax.set_title(title or "model vs 'predict the training mean' baseline (lower is better)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


# --- accuracy by galaxy size (the DAT study's figure) --------------------------------------


def plot_accuracy_by_size(table, path, title=None, xlabel="galaxy-mask size (pixels)") -> str:
    """Top-k accuracy per size bin with binomial error bars, bin counts annotated.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`zoobot_tf.evaluation.classification.top_k_accuracy_by_bin`.
    path : path
        PNG to write (parent folders are created).
    title, xlabel : str, optional
    """
    column = next((c for c in table.columns if c.startswith("top") and c.endswith("_accuracy")), None)
    if column is None:
        raise ValueError(f"table has no top-k accuracy column: {list(table.columns)}")
    centres = (table["low"].to_numpy() + table["high"].to_numpy()) / 2
    widths = table["high"].to_numpy() - table["low"].to_numpy()
    accuracy = table[column].to_numpy(dtype=float)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.bar(centres, np.nan_to_num(accuracy), width=widths * 0.9, color="tab:blue", alpha=0.35, edgecolor="tab:blue")
    ax.errorbar(centres, accuracy, yerr=table["stderr"].to_numpy(dtype=float), fmt="o", color="tab:blue", capsize=3)
    for x, y, n in zip(centres, accuracy, table["n"]):
        ax.annotate(f"n={int(n)}", (x, 0.02 if not np.isfinite(y) else min(y, 0.9) + 0.04), ha="center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(column.replace("_", " ").replace("top", "top-"))
    ax.set_title(title or f"{column.replace('_', ' ')} by galaxy size")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path, dpi=100)


# --- image grids ---------------------------------------------------------------------------


def _displayable(image: np.ndarray) -> np.ndarray:
    """An (H, W, C) array as something imshow can show: first 3 channels, or 1 as grey."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    image = image[..., :3] if image.shape[-1] >= 3 else image[..., :1]
    lo, hi = np.nanmin(image), np.nanmax(image)
    if lo < 0 or hi > 1:
        image = (image - lo) / max(hi - lo, 1e-12)
    return image[..., 0] if image.shape[-1] == 1 else image


def save_image_grid(images, path, titles=None, n_columns=8, title=None) -> str:
    """Save a batch of (H, W, C) images as one PNG grid (channels beyond the first 3 are not shown)."""
    images = np.asarray(images)
    n = len(images)
    n_columns = max(1, min(n_columns, n))
    n_rows = int(np.ceil(n / n_columns))
    fig = Figure(figsize=(1.6 * n_columns, 1.6 * n_rows + (0.4 if title else 0)))
    axes = fig.subplots(n_rows, n_columns, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(_displayable(images[i]), cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path, dpi=100)
