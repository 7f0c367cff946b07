"""PNG figures people look at: image grids, and (later) training curves and calibration plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(1.6 * n_columns, 1.6 * n_rows + (0.4 if title else 0)))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(_displayable(images[i]), cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
