"""PNG plots of detection results: a field with its boxes, and completeness/purity per magnitude.

Why: numbers hide failure modes (blends merged, stars called galaxies, faint-end collapse) that
one look at the field shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoobot_tf.detection.instances import CLASS_NAMES

#: Box colour per class id.
CLASS_COLOURS = {1: "tab:orange", 2: "tab:cyan"}


def plot_scene(image, labels=None, path=None, *, predictions=None, scaling: str = "lupton", title: str | None = None):
    """Show a (scaled) field with true boxes (solid) and predicted boxes (dashed), coloured by class.

    Parameters
    ----------
    image : (H, W, C) flux image
    labels, predictions : Labels or predict_scene dict, optional
    path : str or Path, optional
        Save as PNG there; else the :class:`matplotlib.figure.Figure` is returned.
    scaling : str
        Display scaling (:func:`~zoobot_tf.detection.scalings.apply_scaling`); 3 bands show as RGB
        in reverse order (i, r, g -> R, G, B), others as the band mean.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend is chosen or changed
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    from zoobot_tf.detection.scalings import apply_scaling, check_scaling

    shown = apply_scaling(image, scaling)
    shown = shown[..., ::-1] if shown.shape[-1] == 3 else shown.mean(axis=-1)
    if check_scaling(scaling) == "none":
        shown = (shown - shown.min()) / max(float(np.ptp(shown)), 1e-12)
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.imshow(shown, origin="lower", cmap="gray")
    for source, style in ((labels, "-"), (predictions, "--")):
        if source is None:
            continue
        boxes = np.asarray(source["boxes"] if isinstance(source, dict) else source.boxes).reshape(-1, 4)
        classes = np.asarray(source["classes"] if isinstance(source, dict) else source.classes)
        for (x0, y0, x1, y1), c in zip(boxes, classes):
            # pixel-edge boxes drawn over pixel-centre imshow coordinates: shift by half a pixel
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1,
                                   ls=style, ec=CLASS_COLOURS.get(int(c), "red")))
    handles = [Line2D([], [], color=CLASS_COLOURS[c], label=CLASS_NAMES[c]) for c in CLASS_COLOURS]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.set_title(title or "truth: solid, predictions: dashed")
    return _finish(fig, path)


def plot_completeness_purity(table, path=None, *, title: str | None = None, label: str | None = None, ax=None):
    """Completeness and purity against magnitude from :func:`~zoobot_tf.detection.metrics.completeness_purity`."""
    from matplotlib.figure import Figure

    fig = None
    if ax is None:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
    centres = (table["mag_lo"] + table["mag_hi"]) / 2
    prefix = f"{label} " if label else ""
    ax.plot(centres, table["completeness"], "o-", label=f"{prefix}completeness")
    ax.plot(centres, table["purity"], "s--", label=f"{prefix}purity")
    ax.set_xlabel("magnitude")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    ax.set_title(title or "")
    return _finish(fig or ax.figure, path)


def _finish(fig, path):
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


__all__ = ["plot_completeness_purity", "plot_scene"]
