"""Detection metrics of the Mask R-CNN study: COCO AP, matched P/R/F1 per class, IoUs, completeness/purity.

* COCO AP (IoU 0.50:0.95), AP50, AP75 and AP for small/medium/large objects, for boxes and for
  masks, from ``pycocotools.cocoeval.COCOeval`` (areas < 32^2, 32^2-96^2, > 96^2 px by default:
  most astronomical sources are "small"; pass ``area_ranges`` to change). ``maxDets`` is raised to
  the most detections in an image so crowded fields are not truncated at 100. A size class with no
  ground truth gives NaN (COCO's -1).
* Matching: class-agnostic, greedy by best IoU: all (truth, prediction) pairs with IoU >
  ``iou_threshold`` in decreasing IoU, each object used at most once.
* Per class c: TP = matched pairs with truth c and prediction c; FP = predictions of class c
  unmatched or matched to a truth of another class; FN = truths of class c unmatched or matched to
  a prediction of another class. Precision TP/(TP+FP), recall TP/(TP+FN), F1 their harmonic mean.
* Median box and mask IoU over matched pairs.
* Completeness per magnitude bin: matched truths / truths, binned by true magnitude. Purity per
  bin: matched predictions / predictions, binned by the predictions' measured magnitude.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zoobot_tf.detection.instances import CLASS_NAMES, Labels, flux_to_magnitude, reference_band_index

#: COCOeval ``stats`` indices of the reported numbers.
COCO_STATS = {"AP": 0, "AP50": 1, "AP75": 2, "AP_small": 3, "AP_medium": 4, "AP_large": 5,
              "AR_1": 6, "AR_10": 7, "AR_max": 8, "AR_small": 9, "AR_medium": 10, "AR_large": 11}


def _as_labels(obj, image_shape=None) -> Labels:
    if isinstance(obj, Labels):
        return obj
    if isinstance(obj, dict):
        masks = np.asarray(obj["masks"], dtype=bool)
        shape = image_shape if image_shape is not None else masks.shape[1:]
        return Labels(boxes=obj["boxes"], classes=obj["classes"], masks=masks, image_shape=shape,
                      scores=obj.get("scores"), fluxes=obj.get("fluxes"), magnitudes=obj.get("magnitudes"),
                      bands=obj.get("bands", ()))
    raise TypeError(f"expected Labels or a predict_scene dict, got {type(obj).__name__}")


def box_iou(a, b) -> np.ndarray:
    """(N, M) IoU of ``(x0, y0, x1, y1)`` boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def mask_iou(a, b) -> np.ndarray:
    """(N, M) IoU of (N, H, W) and (M, H, W) boolean masks (via pycocotools RLE)."""
    from pycocotools import mask as mask_utils

    a, b = np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    rle_a = mask_utils.encode(np.asfortranarray(np.moveaxis(a, 0, -1)))
    rle_b = mask_utils.encode(np.asfortranarray(np.moveaxis(b, 0, -1)))
    return np.asarray(mask_utils.iou(rle_b, rle_a, [0] * len(rle_a)), dtype=np.float64).reshape(len(b), len(a)).T


@dataclass
class Matches:
    """Greedy one-to-one matches of one image: index pairs and their box / mask IoU."""

    truth_index: np.ndarray
    pred_index: np.ndarray
    box_iou: np.ndarray
    mask_iou: np.ndarray
    n_truth: int
    n_pred: int

    @property
    def truth_matched(self) -> np.ndarray:
        flags = np.zeros(self.n_truth, dtype=bool)
        flags[self.truth_index] = True
        return flags

    @property
    def pred_matched(self) -> np.ndarray:
        flags = np.zeros(self.n_pred, dtype=bool)
        flags[self.pred_index] = True
        return flags


def match_detections(truth, prediction, *, iou_threshold: float = 0.5, match_on: str = "bbox") -> Matches:
    """Match predictions to truths one-to-one, greedily by best IoU > ``iou_threshold``.

    Parameters
    ----------
    truth, prediction : Labels or predict_scene dict
    match_on : {'bbox', 'segm'}
        IoU used for matching; both IoUs of the matched pairs are returned.
    """
    truth, prediction = _as_labels(truth), _as_labels(prediction)
    if match_on not in ("bbox", "segm"):
        raise ValueError(f"match_on must be 'bbox' or 'segm', got {match_on!r}")
    boxes = box_iou(truth.boxes, prediction.boxes)
    masks = mask_iou(truth.masks, prediction.masks) if truth.image_shape == prediction.image_shape \
        else np.full(boxes.shape, np.nan)
    iou = boxes if match_on == "bbox" else masks
    ti, pi = np.nonzero(iou > iou_threshold)
    order = np.argsort(-iou[ti, pi], kind="stable")
    used_t, used_p, pairs = set(), set(), []
    for k in order:
        t, p = int(ti[k]), int(pi[k])
        if t not in used_t and p not in used_p:
            used_t.add(t)
            used_p.add(p)
            pairs.append((t, p))
    t_idx = np.array([t for t, _ in pairs], dtype=int)
    p_idx = np.array([p for _, p in pairs], dtype=int)
    return Matches(t_idx, p_idx, boxes[t_idx, p_idx], masks[t_idx, p_idx], len(truth), len(prediction))


def classification_scores(truths, predictions, matches) -> pd.DataFrame:
    """Per class TP/FP/FN, precision, recall, F1 over all images (definitions in the module doc)."""
    rows = []
    for class_id, name in CLASS_NAMES.items():
        tp = fp = fn = 0
        for truth, pred, match in zip(truths, predictions, matches):
            t_cls, p_cls = truth.classes, pred.classes
            pair_t, pair_p = t_cls[match.truth_index], p_cls[match.pred_index]
            correct = int(np.sum((pair_t == class_id) & (pair_p == class_id)))
            tp += correct
            fp += int(np.sum(p_cls == class_id)) - correct
            fn += int(np.sum(t_cls == class_id)) - correct
        precision = tp / (tp + fp) if tp + fp else np.nan
        recall = tp / (tp + fn) if tp + fn else np.nan
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan  # = harmonic mean of P and R
        rows.append({"class_id": class_id, "class_name": name, "tp": tp, "fp": fp, "fn": fn,
                     "precision": precision, "recall": recall, "f1": f1})
    return pd.DataFrame(rows)


def completeness_purity(true_magnitudes, true_matched, pred_magnitudes, pred_matched, bins) -> pd.DataFrame:
    """Completeness and purity per magnitude bin ``[lo, hi)``.

    Objects with a NaN magnitude or outside the bins are counted in ``attrs['n_truth_outside']`` /
    ``attrs['n_pred_outside']`` rather than dropped silently.
    """
    bins = np.asarray(bins, dtype=np.float64)
    if bins.ndim != 1 or len(bins) < 2 or np.any(np.diff(bins) <= 0):
        raise ValueError(f"magnitude bins must be increasing edges, got {bins}")
    tm, tf = np.asarray(true_magnitudes, dtype=np.float64), np.asarray(true_matched, dtype=bool)
    pm, pf = np.asarray(pred_magnitudes, dtype=np.float64), np.asarray(pred_matched, dtype=bool)
    if tm.shape != tf.shape or pm.shape != pf.shape:
        raise ValueError("magnitudes and matched flags must have the same length")
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        t_in, p_in = (tm >= lo) & (tm < hi), (pm >= lo) & (pm < hi)
        n_t, n_tm, n_p, n_pm = int(t_in.sum()), int((t_in & tf).sum()), int(p_in.sum()), int((p_in & pf).sum())
        rows.append({"mag_lo": lo, "mag_hi": hi, "n_truth": n_t, "n_truth_matched": n_tm,
                     "completeness": n_tm / n_t if n_t else np.nan, "n_pred": n_p, "n_pred_matched": n_pm,
                     "purity": n_pm / n_p if n_p else np.nan})
    table = pd.DataFrame(rows)
    inside_t = (tm >= bins[0]) & (tm < bins[-1])
    inside_p = (pm >= bins[0]) & (pm < bins[-1])
    table.attrs["n_truth_outside"] = int((~inside_t).sum())
    table.attrs["n_pred_outside"] = int((~inside_p).sum())
    return table


def coco_metrics(truths, predictions, *, iou_type: str = "bbox", area_ranges=None) -> dict:
    """COCO AP/AR of predictions against truths over a set of images, via ``COCOeval``.

    Parameters
    ----------
    truths : sequence of Labels
    predictions : sequence of Labels or predict_scene dicts (same order; scores default to 1)
    iou_type : {'bbox', 'segm'}
    area_ranges : dict, optional
        ``{'small': (lo, hi), 'medium': ..., 'large': ...}`` in pixels^2 (COCO's by default).

    Returns
    -------
    dict
        ``AP AP50 AP75 AP_small AP_medium AP_large AR_1 AR_10 AR_max AR_small AR_medium AR_large``
        plus ``AP_galaxy`` / ``AP_star`` (AP of each class); NaN where undefined.
    """
    from pycocotools.cocoeval import COCOeval

    from zoobot_tf.detection.coco import coco_api, detections_to_coco, scenes_to_coco

    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    truths = [_as_labels(t) for t in truths]
    predictions = [_as_labels(p, t.image_shape) for p, t in zip(predictions, truths)]
    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} truths but {len(predictions)} predictions")
    gt = scenes_to_coco(truths)
    ids = [im["id"] for im in gt["images"]]
    results = detections_to_coco(
        [{"boxes": p.boxes, "classes": p.classes, "masks": p.masks,
          "scores": p.scores if p.scores is not None else np.ones(len(p))} for p in predictions],
        ids, include_masks=iou_type == "segm",
    )
    for k, r in enumerate(results, start=1):  # what COCO.loadRes adds, without its failure on an empty list
        r.update(id=k, iscrowd=0)
        if "area" not in r or iou_type == "bbox":
            r["area"] = r["bbox"][2] * r["bbox"][3]
    dt = coco_api({"images": gt["images"], "annotations": results, "categories": gt["categories"]})
    evaluator = COCOeval(coco_api(gt), dt, iouType=iou_type)
    most = max([len(p) for p in predictions] + [100])
    evaluator.params.maxDets = [1, 10, most]
    if area_ranges is not None:
        labels = ["all", "small", "medium", "large"]
        evaluator.params.areaRng = [[0, 1e10]] + [list(area_ranges[k]) for k in labels[1:]]
        evaluator.params.areaRngLbl = labels
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = {name: float(evaluator.stats[i]) for name, i in COCO_STATS.items()}
    precision = evaluator.eval["precision"]  # [iou, recall, class, area, maxdets]
    for k, class_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k, 0, -1]
        stats[f"AP_{CLASS_NAMES[class_id]}"] = float(values[values > -1].mean()) if (values > -1).any() else -1.0
    return {k: (np.nan if v < 0 else v) for k, v in stats.items()}


def _measured_magnitudes(pred: Labels, image, band: int, zeropoint: float) -> np.ndarray:
    if pred.magnitudes is not None:
        return pred.magnitudes[:, band]
    if image is None:
        raise ValueError("purity per magnitude needs the predictions' magnitudes or the images")
    image = np.asarray(image, dtype=np.float64)
    flux = np.array([np.nansum(image[..., band][m]) for m in pred.masks])
    return flux_to_magnitude(flux, zeropoint)


def evaluate_detections(
    truths,
    predictions,
    *,
    images=None,
    iou_threshold: float = 0.5,
    match_on: str = "bbox",
    magnitude_band: int | str | None = None,
    magnitude_bins=None,
    zeropoint: float | None = None,
    area_ranges=None,
) -> dict:
    """Every metric of the study over a set of images.

    Parameters
    ----------
    truths : sequence of Labels/Scene (with ``magnitudes`` for the per-bin table)
    predictions : sequence of Labels or predict_scene dicts, in the same order
    images : sequence of (H, W, C) flux images, optional
        To measure the predictions' magnitudes (flux in the mask) for purity per bin; default:
        the truths' images when they are Scenes.
    magnitude_band : int or str
        Band of the magnitudes (default 'r' if present, else the middle band).
    magnitude_bins : edges (default 16 to 28 in steps of 1)
    zeropoint : float (default: the Scene's, else 27)

    Returns
    -------
    dict
        ``coco_bbox`` and ``coco_segm`` (dicts of :func:`coco_metrics`), ``per_class`` (DataFrame of
        :func:`classification_scores`), ``median_box_iou``, ``median_mask_iou``, ``n_truth``,
        ``n_pred``, ``n_matched``, and ``completeness_purity`` (DataFrame, or None without magnitudes).
    """
    truths = [_as_labels(t) for t in truths]
    predictions = [_as_labels(p, t.image_shape) for p, t in zip(predictions, truths)]
    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} truths but {len(predictions)} predictions")
    matches = [match_detections(t, p, iou_threshold=iou_threshold, match_on=match_on)
               for t, p in zip(truths, predictions)]
    box_ious = np.concatenate([m.box_iou for m in matches]) if matches else np.zeros(0)
    mask_ious = np.concatenate([m.mask_iou for m in matches]) if matches else np.zeros(0)
    report = {
        "coco_bbox": coco_metrics(truths, predictions, iou_type="bbox", area_ranges=area_ranges),
        "coco_segm": coco_metrics(truths, predictions, iou_type="segm", area_ranges=area_ranges),
        "per_class": classification_scores(truths, predictions, matches),
        "median_box_iou": float(np.median(box_ious)) if box_ious.size else np.nan,
        "median_mask_iou": float(np.nanmedian(mask_ious)) if np.isfinite(mask_ious).any() else np.nan,
        "n_truth": int(sum(m.n_truth for m in matches)),
        "n_pred": int(sum(m.n_pred for m in matches)),
        "n_matched": int(sum(len(m.truth_index) for m in matches)),
        "completeness_purity": None,
    }
    if all(t.magnitudes is not None for t in truths) and truths:
        names = truths[0].bands or tuple(str(c) for c in range(truths[0].magnitudes.shape[1]))
        band = reference_band_index(names, magnitude_band)
        if images is None:
            images = [getattr(t, "image", None) for t in truths]
        true_mags, true_flags, pred_mags, pred_flags = [], [], [], []
        for k, (t, p, m) in enumerate(zip(truths, predictions, matches)):
            zp = zeropoint if zeropoint is not None else getattr(t, "zeropoint", 27.0)
            true_mags.append(t.magnitudes[:, band])
            true_flags.append(m.truth_matched)
            pred_mags.append(_measured_magnitudes(p, images[k], band, zp))
            pred_flags.append(m.pred_matched)
        bins = np.arange(16.0, 28.5, 1.0) if magnitude_bins is None else magnitude_bins
        report["completeness_purity"] = completeness_purity(
            np.concatenate(true_mags), np.concatenate(true_flags),
            np.concatenate(pred_mags), np.concatenate(pred_flags), bins,
        )
    return report


__all__ = [
    "Matches",
    "box_iou",
    "classification_scores",
    "coco_metrics",
    "completeness_purity",
    "evaluate_detections",
    "mask_iou",
    "match_detections",
]
