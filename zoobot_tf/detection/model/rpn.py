"""Region proposal stage: run the RPN head on every level and turn its outputs into RoIs.

The proposals themselves come from keras-cv's ``ROIGenerator`` (top-k by objectness, NMS, top-k
again); this module lines the head's outputs up with the anchors and decodes them. All levels go
to the generator as one tensor, i.e. one NMS over the whole pyramid (as in Matterport's Mask
R-CNN, which the study used) rather than one per level: the per-level form builds five NMS
graphs, which made tracing the training step several times slower.
"""

from __future__ import annotations

import keras_cv
import tensorflow as tf

from zoobot_tf.detection.model.boxes import clip_boxes, decode_deltas

__all__ = ["build_roi_generator", "generate_proposals", "rpn_outputs"]


def rpn_outputs(head, features, levels, training=False):
    """Objectness logits ``{level: [B, N_l]}`` and deltas ``{level: [B, N_l, 4]}``.

    The ``(H, W, A)`` outputs of a level flatten in the order of
    :func:`~zoobot_tf.detection.model.anchors.multilevel_anchors`.
    """
    logits, deltas = {}, {}
    for level in levels:
        level_logits, level_deltas = head(features[level], training=training)
        height, width, anchors = level_logits.shape[1:]
        if height is None or width is None:
            raise ValueError("the RPN needs static feature-map sizes (a static image size)")
        count = height * width * anchors  # static, so the proposal top-k sizes are static too
        logits[level] = tf.reshape(tf.cast(level_logits, tf.float32), [-1, count])
        deltas[level] = tf.reshape(tf.cast(level_deltas, tf.float32), [-1, count, 4])
    return logits, deltas


def build_roi_generator(pre_nms_topk_train, post_nms_topk_train, pre_nms_topk_test, post_nms_topk_test, nms_iou):
    """keras-cv ``ROIGenerator`` in pixel ``xyxy`` (top-k counts over all levels together)."""
    return keras_cv.layers.ROIGenerator(
        bounding_box_format="xyxy",
        pre_nms_topk_train=int(pre_nms_topk_train),
        nms_score_threshold_train=0.0,
        nms_iou_threshold_train=float(nms_iou),
        post_nms_topk_train=int(post_nms_topk_train),
        pre_nms_topk_test=int(pre_nms_topk_test),
        nms_score_threshold_test=0.0,
        nms_iou_threshold_test=float(nms_iou),
        post_nms_topk_test=int(post_nms_topk_test),
        name="roi_generator",
    )


def generate_proposals(roi_generator, logits, deltas, anchors, height, width, training=False):
    """RoIs ``[B, R, 4]`` and a validity mask ``[B, R]`` from the RPN outputs (no gradient).

    Boxes are decoded from the anchors, clipped to the image and scored by ``sigmoid(logit)``;
    the generator pads missing RoIs with -1, which the mask marks invalid (as well as RoIs that
    collapsed to zero area on clipping).
    """
    levels = sorted(logits)
    all_anchors = tf.concat([anchors[level] for level in levels], axis=0)
    all_deltas = tf.stop_gradient(tf.concat([deltas[level] for level in levels], axis=1))
    boxes = clip_boxes(decode_deltas(all_anchors[None], all_deltas), height, width)
    scores = tf.sigmoid(tf.stop_gradient(tf.concat([logits[level] for level in levels], axis=1)))
    rois, roi_scores = roi_generator(boxes, scores, training=training)
    rois = tf.stop_gradient(rois)
    area = (rois[..., 2] - rois[..., 0]) * (rois[..., 3] - rois[..., 1])
    valid = tf.logical_and(roi_scores >= 0.0, area > 0.0)
    return rois, valid
