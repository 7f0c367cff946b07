"""Run a scene detector over an image of any size: overlapping tiles, merged so each source appears once.

Why tiles: a survey field (thousands of pixels a side) does not fit a Mask R-CNN at once, and the
network was trained on scenes of a few hundred pixels. Tiles of ``tile_size`` overlap by
``overlap`` pixels; the last tile of a row/column is aligned to the image edge so every tile is
full size (an image smaller than a tile is zero-padded after scaling).

Merging, in two steps:

1. **core ownership**: the overlap between neighbouring tiles is split at its middle; each tile
   owns the region up to those lines (its *core*; the cores partition the image). A detection is
   kept only by the tile whose core contains its box centre. A source narrower than
   ``overlap / 2`` on each side of its centre is seen whole by the owning tile, so it is kept once.
2. **cross-tile de-duplication**: a larger source is cut by tile edges and its pieces can land in
   two cores. Among kept detections whose boxes cross a core line, two from different tiles whose
   boxes overlap by more than ``dedup_overlap`` of the smaller box are one source: the one not
   truncated by a tile edge wins, then the higher score.

Choose ``overlap`` at least the diameter of the largest sources expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Tile:
    """A tile ``[y0:y1, x0:x1]`` of the image and its core ``[cy0, cy1) x [cx0, cx1)`` (float pixel edges)."""

    index: int
    y0: int
    x0: int
    y1: int
    x1: int
    cy0: float
    cx0: float
    cy1: float
    cx1: float


@dataclass
class Detection:
    """One detection in image coordinates; ``mask`` covers ``[oy:oy+h, ox:ox+w]`` of the image."""

    box: np.ndarray  # (4,) float x0 y0 x1 y1
    class_id: int
    score: float
    mask: np.ndarray  # (h, w) bool
    ox: int
    oy: int
    tile: int
    truncated: bool  # box touches an edge of its tile that is not an image edge


def tile_origins(length: int, tile_size: int, overlap: int) -> list[int]:
    """Start offsets of tiles along one axis: a step of ``tile_size - overlap``, the last one flush with the end."""
    if tile_size <= 0 or not 0 <= overlap < tile_size:
        raise ValueError(f"need tile_size > 0 and 0 <= overlap < tile_size, got {tile_size}, {overlap}")
    if length <= tile_size:
        return [0]
    step = tile_size - overlap
    origins = list(range(0, length - tile_size, step))
    origins.append(length - tile_size)
    return origins


def _cores(origins, tile_size, length):
    """(lo, hi) of each tile's core along one axis: the overlaps are split at their midpoints."""
    cores = []
    for i, start in enumerate(origins):
        lo = 0.0 if i == 0 else (origins[i - 1] + tile_size + start) / 2.0
        hi = float(length) if i == len(origins) - 1 else (start + tile_size + origins[i + 1]) / 2.0
        cores.append((lo, hi))
    return cores


def tile_grid(shape, tile_size: int = 256, overlap: int = 32) -> list[Tile]:
    """The tiles covering an (H, W) image, row by row."""
    height, width = int(shape[0]), int(shape[1])
    ys, xs = tile_origins(height, tile_size, overlap), tile_origins(width, tile_size, overlap)
    ycores, xcores = _cores(ys, tile_size, height), _cores(xs, tile_size, width)
    tiles = []
    for (y, (cy0, cy1)) in zip(ys, ycores):
        for (x, (cx0, cx1)) in zip(xs, xcores):
            tiles.append(Tile(len(tiles), y, x, min(y + tile_size, height), min(x + tile_size, width),
                              cy0, cx0, cy1, cx1))
    return tiles


def _tile_detections(prediction: dict, tile: Tile, shape, where: str) -> list[Detection]:
    """Detections of one tile in image coordinates (boxes clipped to the image, masks cropped)."""
    height, width = shape
    boxes = np.asarray(prediction["boxes"], dtype=np.float64).reshape(-1, 4)
    classes = np.asarray(prediction["classes"]).reshape(-1)
    scores = np.asarray(prediction["scores"], dtype=np.float64).reshape(-1)
    masks = np.asarray(prediction["masks"], dtype=bool)
    if not len(boxes) == len(classes) == len(scores) == len(masks):
        raise ValueError(f"{where}: detector returned {len(boxes)} boxes, {len(classes)} classes, "
                         f"{len(scores)} scores and {len(masks)} masks")
    th, tw = tile.y1 - tile.y0, tile.x1 - tile.x0
    out = []
    for k in range(len(boxes)):
        mask = masks[k][:th, :tw]  # drop the zero padding of a small image
        box = boxes[k] + np.array([tile.x0, tile.y0, tile.x0, tile.y0])
        box = np.clip(box, [0, 0, 0, 0], [width, height, width, height])
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size:  # crop to the union of the mask and the box
            y0 = min(rows[0], int(np.floor(box[1])) - tile.y0)
            y1 = max(rows[-1] + 1, int(np.ceil(box[3])) - tile.y0)
            x0 = min(cols[0], int(np.floor(box[0])) - tile.x0)
            x1 = max(cols[-1] + 1, int(np.ceil(box[2])) - tile.x0)
        else:
            x0, y0 = int(np.floor(box[0])) - tile.x0, int(np.floor(box[1])) - tile.y0
            x1, y1 = int(np.ceil(box[2])) - tile.x0, int(np.ceil(box[3])) - tile.y0
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, tw), min(y1, th)
        truncated = (
            (box[0] <= tile.x0 + 0.5 and tile.x0 > 0) or (box[1] <= tile.y0 + 0.5 and tile.y0 > 0)
            or (box[2] >= tile.x1 - 0.5 and tile.x1 < width) or (box[3] >= tile.y1 - 0.5 and tile.y1 < height)
        )
        out.append(Detection(box.astype(np.float32), int(classes[k]), float(scores[k]),
                             mask[y0:y1, x0:x1].copy(), tile.x0 + x0, tile.y0 + y0, tile.index, bool(truncated)))
    return out


def _in_core(det: Detection, tile: Tile) -> bool:
    cx, cy = (det.box[0] + det.box[2]) / 2.0, (det.box[1] + det.box[3]) / 2.0
    return tile.cx0 <= cx < tile.cx1 and tile.cy0 <= cy < tile.cy1


def _crosses_core(det: Detection, tile: Tile) -> bool:
    x0, y0, x1, y1 = det.box
    return x0 < tile.cx0 or y0 < tile.cy0 or x1 > tile.cx1 or y1 > tile.cy1


def _overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection area / smaller box area."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    smaller = np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)
    return ix * iy / smaller


def merge_tile_detections(per_tile: list[list[Detection]], tiles: list[Tile], *,
                          dedup_overlap: float = 0.5) -> list[Detection]:
    """Keep each tile's detections centred in its core, then drop cross-tile duplicates (see module doc)."""
    kept, borderline = [], []
    for tile, detections in zip(tiles, per_tile):
        for det in detections:
            if _in_core(det, tile):
                (borderline if _crosses_core(det, tile) else kept).append(det)
    if not borderline:
        return kept
    # a detection inside its core lies >= overlap/2 from its tile's inner edges, so it is whole: it
    # always stays; borderline ones (boxes crossing a core line) go in order: whole first, then by score
    borderline.sort(key=lambda d: (d.truncated, -d.score))
    b_boxes = np.stack([d.box for d in borderline]).astype(np.float64)
    b_tiles = np.array([d.tile for d in borderline])
    if kept:
        k_boxes = np.stack([d.box for d in kept]).astype(np.float64)
        k_tiles = np.array([d.tile for d in kept])
        clash = (_overlap_of_smaller(b_boxes, k_boxes) > dedup_overlap) & (b_tiles[:, None] != k_tiles[None, :])
        duplicate_of_kept = clash.any(axis=1)
    else:
        duplicate_of_kept = np.zeros(len(borderline), dtype=bool)
    among = (_overlap_of_smaller(b_boxes, b_boxes) > dedup_overlap) & (b_tiles[:, None] != b_tiles[None, :])
    winners: list[int] = []
    for i in range(len(borderline)):
        if not duplicate_of_kept[i] and not any(among[i, j] for j in winners):
            winners.append(i)
    return kept + [borderline[i] for i in winners]


def predict_tiled(image, detector, *, tile_size: int = 256, overlap: int = 32, score_threshold: float | None = None,
                  max_detections: int = 200, dedup_overlap: float = 0.5, augment: bool = False, progress: bool = False,
                  where: str = "image") -> list[Detection]:
    """Detect over a (scaled) image of any size tile by tile and merge the tiles' detections.

    Parameters
    ----------
    image : (H, W, C) float32
        Already scaled network input (see :func:`~zoobot_tf.detection.scalings.apply_scaling`).
    detector
        Any object with ``predict_scene(tile, score_threshold=, max_detections=)`` returning
        ``boxes`` (N, 4) x0 y0 x1 y1 tile pixels, ``classes``, ``scores``, ``masks`` (N, h, w).
    tile_size, overlap : int
        Tile side and overlap in pixels.
    score_threshold, max_detections
        Passed to ``predict_scene`` (``max_detections`` per tile; threshold default: the detector's).
    augment : bool
        Ask ``predict_scene`` to merge each tile's 8 flips / rotations (``augment=True``; 8x slower).
    dedup_overlap : float
        Fraction of the smaller box two cross-tile pieces must share to count as one source.

    Returns
    -------
    list of Detection
        In image coordinates, each source once.
    """
    from tqdm.auto import tqdm

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"{where}: expected an (H, W, C) image, got shape {image.shape}")
    height, width = image.shape[:2]
    tiles = tile_grid((height, width), tile_size, overlap)
    per_tile = []
    for tile in tqdm(tiles, desc=f"tiles of {where}", disable=None if progress else True, leave=False):
        patch = image[tile.y0 : tile.y1, tile.x0 : tile.x1]
        if patch.shape[0] < tile_size or patch.shape[1] < tile_size:
            patch = np.pad(patch, ((0, tile_size - patch.shape[0]), (0, tile_size - patch.shape[1]), (0, 0)))
        prediction = detector.predict_scene(patch, score_threshold=score_threshold, max_detections=max_detections,
                                            **({"augment": True} if augment else {}))
        per_tile.append(_tile_detections(prediction, tile, (height, width), f"{where} tile {tile.index}"))
    return merge_tile_detections(per_tile, tiles, dedup_overlap=dedup_overlap)


__all__ = ["Detection", "Tile", "merge_tile_detections", "predict_tiled", "tile_grid", "tile_origins"]
