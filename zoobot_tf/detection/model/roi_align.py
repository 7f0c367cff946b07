"""RoIAlign over a feature pyramid, with ``tf.image.crop_and_resize`` (keras-cv's is broken).

keras-cv 0.9's ``_ROIAligner`` fails under Keras 3 (it indexes an int as if it were a shape), so
the detector brings its own: each box is assigned to one pyramid level by its size (Lin et al.
2017, eq. 1), and cropped from that level with bilinear sampling at the centres of a
``sampling_ratio x sampling_ratio`` grid inside each output bin, then averaged -- the
``aligned=True`` RoIAlign of Detectron2: no rounding of box edges, and pixel ``i`` of a level
with stride ``s`` covers image coordinates ``[i s, (i + 1) s]`` (its centre is ``(i + 0.5) s``).
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["aligned_crop_boxes", "assign_levels", "roi_align"]


def assign_levels(boxes, min_level, max_level, canonical_size=224.0, canonical_level=4):
    """Pyramid level of each ``xyxy`` box: ``floor(k0 + log2(sqrt(w h) / canonical_size))``.

    Clipped to ``[min_level, max_level]``; returns int32 with the shape of ``boxes[..., 0]``.
    """
    boxes = tf.cast(boxes, tf.float32)
    w = tf.maximum(boxes[..., 2] - boxes[..., 0], 0.0)
    h = tf.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
    scale = tf.sqrt(tf.maximum(w * h, 1e-6))
    level = tf.floor(float(canonical_level) + tf.math.log(scale / float(canonical_size) + 1e-8) / tf.math.log(2.0))
    return tf.cast(tf.clip_by_value(level, float(min_level), float(max_level)), tf.int32)


def aligned_crop_boxes(boxes, stride, height, width, samples):
    """Normalised ``(y0, x0, y1, x1)`` boxes that make ``crop_and_resize`` sample bin centres.

    ``crop_and_resize`` with crop size ``n`` samples ``n`` points from ``y0 (H - 1)`` to
    ``y1 (H - 1)`` in array coordinates. For a box ``[a, b]`` in image pixels split into ``samples``
    bins, the wanted points are ``a + (j + 0.5)(b - a) / samples`` in image pixels, i.e.
    ``that / stride - 0.5`` in the array of a level with ``stride``; this returns the normalised
    endpoints of that point grid.

    Parameters
    ----------
    boxes : [N, 4] float ``(x0, y0, x1, y1)`` in image pixels.
    stride : int or float, image pixels per array pixel.
    height, width : size of the array being sampled.
    samples : number of sample points per side.
    """
    boxes = tf.cast(boxes, tf.float32)
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    stride = float(stride)
    half_bin_x = 0.5 * (x1 - x0) / samples
    half_bin_y = 0.5 * (y1 - y0) / samples
    first_x = (x0 + half_bin_x) / stride - 0.5
    last_x = (x1 - half_bin_x) / stride - 0.5
    first_y = (y0 + half_bin_y) / stride - 0.5
    last_y = (y1 - half_bin_y) / stride - 0.5
    scale_y = tf.maximum(tf.cast(height, tf.float32) - 1.0, 1.0)
    scale_x = tf.maximum(tf.cast(width, tf.float32) - 1.0, 1.0)
    return tf.stack([first_y / scale_y, first_x / scale_x, last_y / scale_y, last_x / scale_x], axis=-1)


def _crop_level(features, boxes, box_indices, stride, output_size, sampling_ratio):
    samples = output_size * sampling_ratio
    shape = tf.shape(features)
    crop_boxes = aligned_crop_boxes(boxes, stride, shape[1], shape[2], samples)
    crops = tf.image.crop_and_resize(
        features, crop_boxes, box_indices, (samples, samples), method="bilinear", extrapolation_value=0.0
    )
    if sampling_ratio > 1:
        crops = tf.nn.avg_pool2d(crops, sampling_ratio, sampling_ratio, "VALID")
    return crops


def roi_align(features, boxes, output_size, canonical_size=224.0, canonical_level=4, sampling_ratio=2):
    """Pool ``output_size x output_size`` features for every box from its pyramid level.

    Parameters
    ----------
    features : dict ``{level: [B, H_l, W_l, C]}``, level ``l`` having stride ``2**l``.
    boxes : [B, R, 4] float ``(x0, y0, x1, y1)`` in image pixels.
    output_size : int, side of the pooled grid (7 for the box head, 14 for the mask head).
    canonical_size, canonical_level : a box of side ``canonical_size`` pools from
        ``canonical_level`` (:func:`assign_levels`).
    sampling_ratio : sample points per bin side (averaged).

    Returns
    -------
    [B, R, output_size, output_size, C] float32.
    """
    levels = sorted(int(level) for level in features)
    boxes = tf.cast(boxes, tf.float32)
    batch = tf.shape(boxes)[0]
    num_boxes = tf.shape(boxes)[1]
    flat_boxes = tf.reshape(boxes, [-1, 4])
    box_indices = tf.reshape(tf.repeat(tf.range(batch)[:, None], num_boxes, axis=1), [-1])
    assigned = assign_levels(flat_boxes, levels[0], levels[-1], canonical_size, canonical_level) - levels[0]
    positions = tf.range(tf.shape(flat_boxes)[0])
    part_boxes = tf.dynamic_partition(flat_boxes, assigned, len(levels))
    part_indices = tf.dynamic_partition(box_indices, assigned, len(levels))
    part_positions = tf.dynamic_partition(positions, assigned, len(levels))
    crops = [
        _crop_level(tf.cast(features[level], tf.float32), part_boxes[i], part_indices[i], 2**level, output_size,
                    sampling_ratio)
        for i, level in enumerate(levels)
    ]
    pooled = tf.dynamic_stitch(part_positions, crops)
    channels = features[levels[0]].shape[-1] or tf.shape(features[levels[0]])[-1]
    return tf.reshape(pooled, [batch, num_boxes, output_size, output_size, channels])
