"""Paste the mask head's small per-box masks back into full-image instance masks.

The mask head predicts an ``m x m`` grid over each box; grid cell ``j`` covers
``[x0 + j w / m, x0 + (j + 1) w / m]`` (the convention of the mask targets in
:func:`~zoobot_tf.detection.model.targets.mask_targets`). Each image pixel inside the box is set from
a bilinear sample of the grid at the pixel's centre (scipy), then thresholded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["paste_masks"]


def paste_masks(mask_probs, boxes, image_shape, threshold=0.5):
    """Full-image boolean masks ``(N, H, W)`` from ``(N, m, m)`` probabilities and ``(N, 4)`` boxes.

    Parameters
    ----------
    mask_probs : (N, m, m) float in [0, 1].
    boxes : (N, 4) ``(x0, y0, x1, y1)`` pixel edges.
    image_shape : (H, W).
    threshold : probability at or above which a pixel belongs to the object.
    """
    mask_probs = np.asarray(mask_probs, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    height, width = int(image_shape[0]), int(image_shape[1])
    if len(mask_probs) != len(boxes):
        raise ValueError(f"{len(mask_probs)} masks for {len(boxes)} boxes")
    masks = np.zeros((len(boxes), height, width), dtype=bool)
    for i, (probs, (x0, y0, x1, y1)) in enumerate(zip(mask_probs, boxes)):
        size_y, size_x = probs.shape
        col0, col1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)), width)
        row0, row1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)), height)
        if col1 <= col0 or row1 <= row0 or x1 <= x0 or y1 <= y0:
            continue
        centres_x = np.arange(col0, col1) + 0.5
        centres_y = np.arange(row0, row1) + 0.5
        grid_x = (centres_x - x0) / (x1 - x0) * size_x - 0.5
        grid_y = (centres_y - y0) / (y1 - y0) * size_y - 0.5
        yy, xx = np.meshgrid(grid_y, grid_x, indexing="ij")
        values = ndimage.map_coordinates(probs, [yy, xx], order=1, mode="nearest")
        inside = np.outer((centres_y > y0) & (centres_y < y1), (centres_x > x0) & (centres_x < x1))
        masks[i, row0:row1, col0:col1] = (values >= threshold) & inside
    return masks
