"""Training targets: match boxes to ground truth, sample them, encode what the heads must predict.

Matching uses keras-cv's ``BoxMatcher`` (argmax + IoU thresholds). Two things it does not do
right for us are done here: its ``force_match_for_each_col`` also force-matches the padding
column it appends (so anchor 0 becomes positive for a non-existent box), hence the Detectron
"low-quality match" rule is applied here instead -- every anchor tied for a ground truth's best
IoU is positive *for that ground truth* (even where another one overlaps it more), which is what
gives tiny, point-like stars and the fainter member of a blend an anchor at all; and keras-cv's
``balanced_sample`` builds ``[num_samples, N]`` one-hot matrices, too big for 10^5 anchors, hence
:func:`sample_balanced` (random ``top_k``).
"""

from __future__ import annotations

import keras_cv
import tensorflow as tf

from zoobot_tf.detection.model.boxes import encode_deltas, masked_iou

__all__ = [
    "IGNORE",
    "NEGATIVE",
    "POSITIVE",
    "mask_targets",
    "match_boxes",
    "rcnn_targets",
    "rpn_targets",
    "sample_balanced",
]

#: Match values: a box is a positive (object), a negative (background) or ignored.
POSITIVE, NEGATIVE, IGNORE = 1, -1, -2


def match_boxes(similarity, negative_threshold, positive_threshold, low_quality_matches=False, gt_valid=None):
    """Match each row (anchor / RoI) of an IoU matrix ``[B, N, M]`` to a ground-truth column.

    Rows with IoU ``>= positive_threshold`` are :data:`POSITIVE`, ``[0, negative_threshold)``
    :data:`NEGATIVE`, in between or below 0 (invalid rows, see
    :func:`~zoobot_tf.detection.model.boxes.masked_iou`) :data:`IGNORE`.

    Parameters
    ----------
    low_quality_matches : bool
        Also make positive every row tied for a (valid) column's best IoU, if that IoU is > 0, and
        match it to that column (the one of highest IoU if it is the best row of several).
    gt_valid : [B, M] bool, needed with ``low_quality_matches``.

    Returns
    -------
    matched_columns : [B, N] int32, the argmax column of each row.
    match_values : [B, N] int32.
    """
    if not 0.0 <= negative_threshold <= positive_threshold <= 1.0:
        raise ValueError(
            f"need 0 <= negative_threshold <= positive_threshold <= 1, got {negative_threshold}, {positive_threshold}"
        )
    matcher = keras_cv.layers.BoxMatcher(
        thresholds=[0.0, float(negative_threshold), float(positive_threshold)],
        match_values=[IGNORE, NEGATIVE, IGNORE, POSITIVE],
        force_match_for_each_col=False,
    )
    columns, values = matcher(similarity)
    if low_quality_matches:
        if gt_valid is None:
            raise ValueError("low_quality_matches needs gt_valid")
        best = tf.reduce_max(similarity, axis=1, keepdims=True)
        is_best = tf.logical_and(tf.equal(similarity, best), tf.logical_and(best > 0.0, gt_valid[:, None, :]))
        forced = tf.reduce_any(is_best, axis=2)
        values = tf.where(forced, POSITIVE, values)
        # a forced row learns the object it was forced for, not its argmax: in a blend the best
        # anchor of a small source often overlaps a bigger neighbour more, and would otherwise
        # leave the small one with no anchor of its own
        own = tf.argmax(tf.where(is_best, similarity, -1.0), axis=2, output_type=tf.int32)
        columns = tf.where(forced, own, tf.cast(columns, tf.int32))
    return tf.cast(columns, tf.int32), tf.cast(values, tf.int32)


def sample_balanced(positive, negative, num_samples, positive_fraction):
    """Randomly pick up to ``num_samples`` rows, at most ``positive_fraction`` of them positive.

    Negatives fill the places positives leave free. The result has a fixed width: the first
    ``int(num_samples * positive_fraction)`` slots hold positives, the other ``num_samples`` slots
    negatives; unused slots have weight 0.

    Parameters
    ----------
    positive, negative : [B, N] bool.

    Returns
    -------
    indices : [B, P + S] int32 row indices.
    weights : [B, P + S] float32, 1 for a sampled row, 0 for an unused slot.
    is_positive : [B, P + S] bool.
    """
    n = positive.shape[-1]
    if n is None:
        raise ValueError("sample_balanced needs a static number of rows")
    num_pos_slots = min(int(num_samples * positive_fraction), n)
    num_neg_slots = min(int(num_samples), n)
    noise = tf.random.uniform(tf.shape(positive))
    pos_values, pos_indices = tf.math.top_k(tf.where(positive, noise, -1.0), k=num_pos_slots)
    pos_ok = pos_values >= 0.0
    num_pos = tf.reduce_sum(tf.cast(pos_ok, tf.int32), axis=1, keepdims=True)
    neg_values, neg_indices = tf.math.top_k(tf.where(negative, noise, -1.0), k=num_neg_slots)
    neg_ok = tf.logical_and(neg_values >= 0.0, tf.range(num_neg_slots)[None, :] < int(num_samples) - num_pos)
    indices = tf.concat([pos_indices, neg_indices], axis=1)
    weights = tf.cast(tf.concat([pos_ok, neg_ok], axis=1), tf.float32)
    is_positive = tf.concat([pos_ok, tf.zeros_like(neg_ok)], axis=1)
    return indices, weights, is_positive


def rpn_targets(anchors, gt_boxes, gt_valid, negative_threshold=0.3, positive_threshold=0.7, box_weights=(1, 1, 1, 1)):
    """Objectness labels and box deltas of every anchor.

    Parameters
    ----------
    anchors : [N, 4] pixel ``xyxy`` (all levels concatenated).
    gt_boxes : [B, M, 4]; gt_valid : [B, M] bool.

    Returns
    -------
    dict with ``match_values`` [B, N] (POSITIVE / NEGATIVE / IGNORE), ``matched_columns`` [B, N]
    and ``box_targets`` [B, N, 4] (deltas to the matched box; meaningful for positives only).
    """
    gt_boxes = tf.cast(gt_boxes, tf.float32)
    batch = tf.shape(gt_boxes)[0]
    anchors = tf.broadcast_to(tf.cast(anchors, tf.float32)[None], tf.stack([batch, tf.shape(anchors)[0], 4]))
    anchors_valid = tf.ones(tf.shape(anchors)[:2], dtype=tf.bool)
    similarity = masked_iou(anchors, anchors_valid, gt_boxes, gt_valid)
    columns, values = match_boxes(
        similarity, negative_threshold, positive_threshold, low_quality_matches=True, gt_valid=gt_valid
    )
    matched = tf.gather(gt_boxes, columns, batch_dims=1)
    return {
        "match_values": values,
        "matched_columns": columns,
        "box_targets": encode_deltas(anchors, matched, box_weights),
    }


def rcnn_targets(
    rois,
    roi_valid,
    gt_boxes,
    gt_classes,
    gt_valid,
    num_samples=256,
    positive_fraction=0.25,
    iou_threshold=0.5,
    box_weights=(10.0, 10.0, 5.0, 5.0),
):
    """Sample RoIs for the second stage and give each its class and box target.

    The ground-truth boxes are appended to the proposals (so every object has a positive early in
    training); RoIs with IoU ``>= iou_threshold`` are positives of the matched object's class,
    those below are background (class 0). :func:`sample_balanced` keeps ``num_samples`` with up to
    ``positive_fraction`` positives.

    Returns
    -------
    dict: ``rois`` [B, K, 4], ``class_targets`` [B, K] int32, ``box_targets`` [B, K, 4],
    ``weights`` [B, K] float (0 for unused slots), ``is_positive`` [B, K] bool, and
    ``matched_columns`` [B, K] (ground-truth index). The first ``int(num_samples *
    positive_fraction)`` slots are the only ones that can be positive.
    """
    gt_boxes = tf.cast(gt_boxes, tf.float32)
    candidates = tf.concat([tf.cast(rois, tf.float32), gt_boxes], axis=1)
    valid = tf.concat([roi_valid, gt_valid], axis=1)
    similarity = masked_iou(candidates, valid, gt_boxes, gt_valid)
    columns, values = match_boxes(similarity, iou_threshold, iou_threshold)
    indices, weights, is_positive = sample_balanced(
        tf.equal(values, POSITIVE), tf.equal(values, NEGATIVE), num_samples, positive_fraction
    )
    sampled_rois = tf.gather(candidates, indices, batch_dims=1)
    sampled_columns = tf.gather(columns, indices, batch_dims=1)
    matched_classes = tf.gather(tf.cast(gt_classes, tf.int32), sampled_columns, batch_dims=1)
    matched_boxes = tf.gather(gt_boxes, sampled_columns, batch_dims=1)
    return {
        "rois": tf.stop_gradient(sampled_rois),
        "class_targets": tf.where(is_positive, matched_classes, 0),
        "box_targets": encode_deltas(sampled_rois, matched_boxes, box_weights),
        "weights": weights,
        "is_positive": is_positive,
        "matched_columns": sampled_columns,
    }


def mask_targets(gt_masks, rois, matched_columns, size=28):
    """Binary ``size x size`` targets: each RoI's matched instance mask resampled into the RoI.

    Parameters
    ----------
    gt_masks : [B, M, H, W] (uint8 / bool / float) full-image instance masks.
    rois : [B, K, 4] pixel ``xyxy``; matched_columns : [B, K] index into M.

    Returns
    -------
    [B, K, size, size] float32 in {0, 1} (bilinear sample at bin centres, thresholded at 0.5).
    """
    from zoobot_tf.detection.model.roi_align import aligned_crop_boxes

    shape = tf.shape(gt_masks)
    batch, num_gt, height, width = shape[0], shape[1], shape[2], shape[3]
    if gt_masks.dtype == tf.bool:
        gt_masks = tf.cast(gt_masks, tf.uint8)
    flat_masks = tf.reshape(gt_masks, tf.stack([batch * num_gt, height, width, 1]))
    num_rois = tf.shape(rois)[1]
    flat_rois = tf.reshape(tf.cast(rois, tf.float32), [-1, 4])
    mask_indices = tf.reshape(tf.range(batch)[:, None] * num_gt + tf.cast(matched_columns, tf.int32), [-1])
    crop_boxes = aligned_crop_boxes(flat_rois, 1, height, width, size)
    crops = tf.image.crop_and_resize(flat_masks, crop_boxes, mask_indices, (size, size))
    targets = tf.cast(crops[..., 0] >= 0.5, tf.float32)
    return tf.reshape(targets, tf.stack([batch, num_rois, size, size]))
