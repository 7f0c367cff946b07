"""PNG figures of an evaluation: confusion matrices, training curves, predicted vs reference
fractions, and the model-vs-baseline RMSE bars. Files only (matplotlib Agg), never a display.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from zoobot_tf.evaluation.metrics import OVERALL, label_array  # noqa: E402
from zoobot_tf.schemas import get_schema  # noqa: E402


def _save(fig, path) -> str:
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _grid(n_panels: int, n_columns: int, panel_size=(3.6, 3.3)):
    n_columns = max(1, min(n_columns, n_panels))
    n_rows = int(np.ceil(n_panels / n_columns))
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(panel_size[0] * n_columns, panel_size[1] * n_rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n_panels:]:
        ax.axis("off")
    return fig, axes[:n_panels]


# --- confusion matrices --------------------------------------------------------------------


def draw_confusion_matrix(ax, cm, class_names, title=None) -> None:
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
    ax.set_ylabel("true (volunteer majority)", fontsize=8)
    total = int(cm.sum())
    accuracy = np.trace(cm) / total if total else float("nan")
    ax.set_title(f"{title + chr(10) if title else ''}n={total}, accuracy {accuracy:.2f}", fontsize=8)


def plot_confusion_matrix(cm, class_names, path, title=None) -> str:
    """One confusion matrix (rows true, columns predicted) as a PNG; returns the path."""
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(2.2 + 0.55 * k, 2.0 + 0.5 * k))
    draw_confusion_matrix(ax, cm, class_names, title)
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
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(rows) + 2), 4.2))
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
