"""One gallery figure for every tool that shows galaxies: look-alikes, anomalies, the galaxies
volunteers should see next. Built with matplotlib's object API (``Figure``), so it never touches
the global pyplot state or backend and is safe in threads and notebooks.
"""

from __future__ import annotations


import numpy as np
from matplotlib.figure import Figure

from zoobot_tf.atomic import atomic_path
from zoobot_tf.evaluation.plots import _displayable

__all__ = ["gallery_figure", "save_figure"]


def gallery_figure(images, titles=None, n_columns: int = 6, title: str | None = None, panel: float = 1.9,
                   highlight=()) -> Figure:
    """A grid of galaxy images with a caption under each.

    Parameters
    ----------
    images : sequence of (H, W[, C]) arrays
    titles : sequence of str, optional
        One caption per image (id, distance, score...); newlines allowed.
    n_columns : int
    title : str, optional
        Figure title.
    panel : float
        Size of one panel in inches.
    highlight : sequence of int
        Panels framed in red (e.g. the query of a similarity search).
    """
    n = len(images)
    if n == 0:
        raise ValueError("gallery_figure: no images to show")
    n_columns = max(1, min(int(n_columns), n))
    n_rows = int(np.ceil(n / n_columns))
    fig = Figure(figsize=(panel * n_columns, (panel + 0.35) * n_rows + (0.4 if title else 0)))
    axes = np.atleast_1d(fig.subplots(n_rows, n_columns, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(_displayable(images[i]), cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            ax.set_xlabel(str(titles[i]), fontsize=7)
        colour, width = ("red", 2.5) if i in set(highlight) else ("0.6", 0.5)
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(width)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path, dpi: int = 110) -> str:
    """Write ``fig`` as PNG under a temporary name, then rename: never a half-written picture."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return str(path)
