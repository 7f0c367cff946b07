"""Losses of Mask R-CNN: RPN objectness and boxes, second-stage class and boxes, masks.

Every loss takes explicit per-sample weights (0 for padding slots from
:func:`~zoobot_tf.detection.model.targets.sample_balanced`) and is normalised by the number of sampled
items, as in Detectron, so a batch with few objects does not blow up the box terms.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["mask_loss", "rcnn_losses", "rpn_losses", "smooth_l1"]


def smooth_l1(x, beta):
    """Elementwise smooth-L1 (Huber / beta): ``0.5 x^2 / beta`` below ``beta``, ``|x| - beta / 2`` above."""
    x = tf.abs(x)
    if beta <= 0:
        return x
    return tf.where(x < beta, 0.5 * x * x / beta, x - 0.5 * beta)


def _normaliser(weights):
    return tf.maximum(tf.reduce_sum(weights), 1.0)


def rpn_losses(logits, is_positive, weights, pred_deltas, target_deltas, beta=1.0 / 9.0):
    """RPN objectness binary cross-entropy and smooth-L1 box loss on sampled anchors.

    Parameters
    ----------
    logits : [B, S] objectness logits of the sampled anchors.
    is_positive : [B, S] bool; weights : [B, S] float (1 sampled, 0 padding).
    pred_deltas, target_deltas : [B, S, 4].

    Returns
    -------
    (class_loss, box_loss) scalars.
    """
    labels = tf.cast(is_positive, tf.float32)
    norm = _normaliser(weights)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))
    class_loss = tf.reduce_sum(weights * bce) / norm
    box = tf.reduce_sum(smooth_l1(tf.cast(pred_deltas, tf.float32) - target_deltas, beta), axis=-1)
    box_loss = tf.reduce_sum(labels * weights * box) / norm
    return class_loss, box_loss


def rcnn_losses(class_logits, pred_deltas, class_targets, box_targets, weights, is_positive, beta=1.0):
    """Softmax cross-entropy over ``K + 1`` classes and smooth-L1 on the ground-truth class's deltas.

    Parameters
    ----------
    class_logits : [B, S, K + 1]; pred_deltas : [B, S, K + 1, 4].
    class_targets : [B, S] int (0 background); box_targets : [B, S, 4].
    weights : [B, S] float; is_positive : [B, S] bool.
    """
    norm = _normaliser(weights)
    class_targets = tf.cast(class_targets, tf.int32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=class_targets, logits=tf.cast(class_logits, tf.float32))
    class_loss = tf.reduce_sum(weights * ce) / norm
    deltas = tf.gather(tf.cast(pred_deltas, tf.float32), class_targets, batch_dims=2)
    box = tf.reduce_sum(smooth_l1(deltas - box_targets, beta), axis=-1)
    box_loss = tf.reduce_sum(tf.cast(is_positive, tf.float32) * weights * box) / norm
    return class_loss, box_loss


def mask_loss(mask_logits, classes, targets, weights):
    """Mean per-pixel binary cross-entropy on each positive RoI's ground-truth class channel.

    Parameters
    ----------
    mask_logits : [B, P, m, m, K] (channel ``k - 1`` is class ``k``).
    classes : [B, P] int, classes 1..K of the RoIs (anything for non-positives).
    targets : [B, P, m, m] in {0, 1}; weights : [B, P] float, 1 for positive RoIs.
    """
    logits = tf.transpose(tf.cast(mask_logits, tf.float32), [0, 1, 4, 2, 3])
    channel = tf.maximum(tf.cast(classes, tf.int32) - 1, 0)
    logits = tf.gather(logits, channel, batch_dims=2)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(targets, tf.float32), logits=logits)
    per_roi = tf.reduce_mean(bce, axis=[2, 3])
    return tf.reduce_sum(weights * per_roi) / _normaliser(weights)
