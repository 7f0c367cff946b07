"""Anchors of the region proposal network, one set per feature-pyramid level (keras-cv).

keras-cv's ``AnchorGenerator`` does the work; this module fixes the conventions the rest of the
detector relies on: level ``l`` has stride ``2**l``, boxes are pixel ``xyxy``, and the anchors of
a level are ordered ``[row, column, anchor]`` -- the order in which the RPN head's
``(H, W, A)`` outputs flatten, so anchor ``i`` and prediction ``i`` refer to the same box.
"""

from __future__ import annotations

import keras_cv
import tensorflow as tf

__all__ = ["build_anchor_generator", "level_strides", "multilevel_anchors"]


def level_strides(levels):
    """``{level: 2**level}``: the pixel stride of each pyramid level."""
    return {int(level): 2 ** int(level) for level in levels}


def build_anchor_generator(levels, sizes, scales=(1.0,), aspect_ratios=(0.5, 1.0, 2.0)):
    """keras-cv ``AnchorGenerator`` for pyramid ``levels`` with one base ``size`` per level.

    Parameters
    ----------
    levels : sequence of int
        Pyramid levels, e.g. ``(2, 3, 4, 5, 6)``.
    sizes : sequence of float
        Base anchor side in pixels for each level (same length as ``levels``).
    scales : sequence of float
        Multipliers of the base size used at every level.
    aspect_ratios : sequence of float
        Width / height ratios used at every level.
    """
    levels = [int(level) for level in levels]
    if len(sizes) != len(levels):
        raise ValueError(f"need one anchor size per pyramid level {levels}, got sizes {list(sizes)}")
    if min(sizes) <= 0 or min(scales) <= 0 or min(aspect_ratios) <= 0:
        raise ValueError(
            f"anchor sizes, scales and aspect ratios must be positive, got {sizes}, {scales}, {aspect_ratios}"
        )
    return keras_cv.layers.AnchorGenerator(
        bounding_box_format="xyxy",
        sizes={level: float(size) for level, size in zip(levels, sizes)},
        scales=[float(s) for s in scales],
        aspect_ratios=[float(a) for a in aspect_ratios],
        strides=level_strides(levels),
        clip_boxes=False,
    )


def multilevel_anchors(generator, height, width):
    """``{level: [N_l, 4]}`` float32 anchors for an image of ``height x width`` pixels.

    ``height`` and ``width`` must be Python ints (keras-cv builds the grid with ``math.ceil``), so
    inside a ``tf.function`` the image size has to be static.
    """
    if height is None or width is None:
        raise ValueError(
            "anchors need a static image size; batch scenes of one fixed size (pad or crop them) "
            "or call the model eagerly"
        )
    anchors = generator(image_shape=(int(height), int(width), 1))
    return {int(level): tf.cast(boxes, tf.float32) for level, boxes in anchors.items()}
