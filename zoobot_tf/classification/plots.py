"""PNG of top-k accuracy against galaxy-mask size (the DAT study's figure). Files only, no display."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_accuracy_by_size"]


def plot_accuracy_by_size(table, path, title=None, xlabel="galaxy-mask size (pixels)") -> Path:
    """Top-k accuracy per size bin with binomial error bars, bin counts annotated.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`zoobot_tf.classification.metrics.top_k_accuracy_by_bin`.
    path : path
        PNG to write (parent folders are created).
    title, xlabel : str, optional
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend state

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
