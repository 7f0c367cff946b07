"""Box arithmetic of the detector: delta encoding, clipping, masked IoU.

Boxes are ``(x0, y0, x1, y1)`` in pixel-edge coordinates (keras-cv's ``"xyxy"`` format, the
convention of :mod:`zoobot_tf.detection.instances`). Padded ground-truth rows carry class -1 and
boxes of -1; every function here takes explicit validity masks rather than trusting sentinels,
because a sentinel box can still overlap a real one after clipping.
"""

from __future__ import annotations

import math

import keras_cv
import tensorflow as tf

__all__ = [
    "BBOX_XFORM_CLIP",
    "clip_boxes",
    "decode_deltas",
    "encode_deltas",
    "masked_iou",
]

#: Largest log-scale change a decoded delta may apply (log(1000/16), as in Detectron), so an
#: untrained head cannot produce ``exp`` overflow.
BBOX_XFORM_CLIP = math.log(1000.0 / 16.0)


def _centre_size(boxes):
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    w = x1 - x0
    h = y1 - y0
    return x0 + 0.5 * w, y0 + 0.5 * h, w, h


def encode_deltas(anchors, boxes, weights=(1.0, 1.0, 1.0, 1.0)):
    """Regression targets ``(dx, dy, dw, dh)`` that move ``anchors`` onto ``boxes``.

    ``dx = wx (cx_box - cx_anchor) / w_anchor``, ``dw = ww log(w_box / w_anchor)`` (Faster R-CNN);
    ``weights`` scale the four terms (``(10, 10, 5, 5)`` for the second stage). Sizes are floored
    at 1e-3 pixels so degenerate (padded) rows give finite, if meaningless, targets.
    """
    anchors = tf.convert_to_tensor(anchors, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    acx, acy, aw, ah = _centre_size(anchors)
    bcx, bcy, bw, bh = _centre_size(boxes)
    aw = tf.maximum(aw, 1e-3)
    ah = tf.maximum(ah, 1e-3)
    bw = tf.maximum(bw, 1e-3)
    bh = tf.maximum(bh, 1e-3)
    wx, wy, ww, wh = (float(w) for w in weights)
    return tf.stack(
        [wx * (bcx - acx) / aw, wy * (bcy - acy) / ah, ww * tf.math.log(bw / aw), wh * tf.math.log(bh / ah)],
        axis=-1,
    )


def decode_deltas(anchors, deltas, weights=(1.0, 1.0, 1.0, 1.0)):
    """Inverse of :func:`encode_deltas`: boxes from ``anchors`` moved by ``deltas``."""
    anchors = tf.convert_to_tensor(anchors, tf.float32)
    deltas = tf.cast(deltas, tf.float32)
    acx, acy, aw, ah = _centre_size(anchors)
    wx, wy, ww, wh = (float(w) for w in weights)
    dx, dy, dw, dh = tf.unstack(deltas, axis=-1)
    dw = tf.minimum(dw / ww, BBOX_XFORM_CLIP)
    dh = tf.minimum(dh / wh, BBOX_XFORM_CLIP)
    cx = acx + dx / wx * aw
    cy = acy + dy / wy * ah
    w = aw * tf.exp(dw)
    h = ah * tf.exp(dh)
    return tf.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def clip_boxes(boxes, height, width):
    """Clip ``(x0, y0, x1, y1)`` boxes to the image ``[0, width] x [0, height]``."""
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    return tf.stack(
        [
            tf.clip_by_value(x0, 0.0, width),
            tf.clip_by_value(y0, 0.0, height),
            tf.clip_by_value(x1, 0.0, width),
            tf.clip_by_value(y1, 0.0, height),
        ],
        axis=-1,
    )


def masked_iou(boxes, boxes_valid, gt_boxes, gt_valid):
    """IoU ``[B, N, M]`` of ``boxes [B, N, 4]`` against ``gt_boxes [B, M, 4]`` with validity masks.

    Uses keras-cv's ``compute_iou``. Entries of a valid box against a padded ground truth are 0
    (no overlap, so an image without objects makes every box a negative); entries of an invalid
    box are -1 (below every threshold, so the matcher ignores it).
    """
    iou = keras_cv.bounding_box.compute_iou(boxes, gt_boxes, bounding_box_format="xyxy")
    iou = tf.where(gt_valid[:, None, :], iou, 0.0)
    return tf.where(boxes_valid[:, :, None], iou, -1.0)
