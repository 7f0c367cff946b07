"""Batch-wise galaxy augmentation: any-angle rotation, flips, random crop, resize.

Galaxies have no preferred orientation, so training images are rotated and flipped; with
any-angle rotation ``REFLECT`` fill keeps the rotated corners sky-like instead of black (a black
corner would be a feature the network could learn). A random crop with bounded area and aspect
ratio then zooms in slightly, and the result is resized to the network's input size. What is
drawn is the image recipe's :class:`~zoobot_tf.recipe.Augmentation`; evaluation takes the
recipe's fixed centre crop instead (:mod:`zoobot_tf.data.inputs` applies one or the other).

Everything works on a whole batch ``[B, H, W, C]`` (any C, e.g. 11 FITS bands) with per-image
random parameters drawn from stateless RNGs, so a seed makes the augmentation reproducible. The
rotation, flips, crop and resize of one image are composed into a single projective transform
(``ImageProjectiveTransformV3``), so each output pixel is interpolated once from the stored image.
"""

from __future__ import annotations

import math

import tensorflow as tf


def to_float32(images: tf.Tensor) -> tf.Tensor:
    """uint8 -> float32 in [0, 1]; float images are cast to float32 unchanged."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def to_greyscale(images: tf.Tensor) -> tf.Tensor:
    """Average all channels into one (``[B, H, W, 1]``)."""
    return tf.reduce_mean(images, axis=-1, keepdims=True)


def rotation_transforms(angles: tf.Tensor, height, width) -> tf.Tensor:
    """``[B, 8]`` projective transforms rotating images by ``angles`` (radians) about their centre."""
    angles = tf.cast(angles, tf.float32)
    h = tf.cast(height, tf.float32) - 1.0
    w = tf.cast(width, tf.float32) - 1.0
    cos, sin = tf.cos(angles), tf.sin(angles)
    x_offset = (w - (cos * w - sin * h)) / 2.0
    y_offset = (h - (sin * w + cos * h)) / 2.0
    zeros = tf.zeros_like(angles)
    return tf.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)


def rotate(images: tf.Tensor, angles: tf.Tensor, fill_mode: str = "REFLECT") -> tf.Tensor:
    """Rotate each float image by its angle (radians), bilinear, with ``fill_mode`` outside."""
    shape = tf.shape(images)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=rotation_transforms(angles, shape[1], shape[2]),
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=fill_mode,
    )


def random_crop_boxes(batch_size, seed: tf.Tensor, scale, ratio) -> tf.Tensor:
    """``[B, 4]`` normalised ``(y1, x1, y2, x2)`` boxes with area fraction in ``scale``, w/h in ``ratio``."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    area = tf.random.stateless_uniform([batch_size], seeds[0], scale[0], scale[1])
    log_ratio = tf.random.stateless_uniform([batch_size], seeds[1], math.log(ratio[0]), math.log(ratio[1]))
    aspect = tf.exp(log_ratio)
    width = tf.minimum(tf.sqrt(area * aspect), 1.0)
    height = tf.minimum(tf.sqrt(area / aspect), 1.0)
    y1 = tf.random.stateless_uniform([batch_size], seeds[2]) * (1.0 - height)
    x1 = tf.random.stateless_uniform([batch_size], seeds[3]) * (1.0 - width)
    return tf.stack([y1, x1, y1 + height, x1 + width], axis=1)


def crop_and_resize(images: tf.Tensor, boxes: tf.Tensor, output_size: int) -> tf.Tensor:
    """Crop each image to its box and resize it to ``output_size`` squared (bilinear)."""
    batch_size = tf.shape(images)[0]
    return tf.image.crop_and_resize(
        images, boxes, tf.range(batch_size), [output_size, output_size], method="bilinear"
    )


def augmentation_transforms(angles, hflip, vflip, boxes, height, width, output_size) -> tf.Tensor:
    """``[B, 8]`` transforms mapping output pixels to input pixels for crop(flip(rotate(image))).

    One projective transform per image replaces three resampling passes: rotation by ``angles``
    about the centre, horizontal/vertical flips where ``hflip``/``vflip``, then the crop ``boxes``
    (normalised ``y1, x1, y2, x2`` as in ``tf.image.crop_and_resize``) resized to
    ``output_size``. Only output pixels are computed, and the image is interpolated once.
    """
    h = tf.cast(height, tf.float32) - 1.0
    w = tf.cast(width, tf.float32) - 1.0
    steps = float(max(output_size - 1, 1))
    y1, x1, y2, x2 = tf.unstack(tf.cast(boxes, tf.float32), axis=1)
    zeros, ones = tf.zeros_like(y1), tf.ones_like(y1)
    # crop + resize: output (x, y) -> point in the flipped, rotated image
    crop = tf.stack([
        tf.stack([(x2 - x1) * w / steps, zeros, x1 * w], axis=1),
        tf.stack([zeros, (y2 - y1) * h / steps, y1 * h], axis=1),
        tf.stack([zeros, zeros, ones], axis=1),
    ], axis=1)
    fx = tf.where(hflip, -ones, ones)
    fy = tf.where(vflip, -ones, ones)
    flip = tf.stack([
        tf.stack([fx, zeros, tf.where(hflip, w * ones, zeros)], axis=1),
        tf.stack([zeros, fy, tf.where(vflip, h * ones, zeros)], axis=1),
        tf.stack([zeros, zeros, ones], axis=1),
    ], axis=1)
    rot = tf.concat([tf.reshape(rotation_transforms(angles, height, width)[:, :6], [-1, 2, 3]),
                     tf.stack([zeros, zeros, ones], axis=1)[:, None, :]], axis=1)
    matrix = rot @ flip @ crop
    return tf.concat([tf.reshape(matrix[:, :2, :], [-1, 6]), tf.zeros([tf.shape(matrix)[0], 2])], axis=1)


def transform_images(images, angles, hflip, vflip, boxes, output_size: int, fill_mode: str = "REFLECT") -> tf.Tensor:
    """Rotate, flip, crop and resize a float batch in one bilinear pass (see augmentation_transforms)."""
    shape = tf.shape(images)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=augmentation_transforms(angles, hflip, vflip, boxes, shape[1], shape[2], output_size),
        output_shape=[output_size, output_size],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=fill_mode,
    )


def augment_images(images: tf.Tensor, seed: tf.Tensor, *, output_size: int, augmentation=None) -> tf.Tensor:
    """Training augmentation of a float batch: rotate, flip, random crop, resize (one transform).

    All four steps are fused into one projective transform per image (one interpolation, only
    output pixels computed), which is several times faster than applying them one by one.

    Parameters
    ----------
    images : tf.Tensor
        ``[B, H, W, C]`` float32.
    seed : tf.Tensor
        Shape ``[2]`` integer seed of the stateless RNGs (same seed, same output).
    output_size : int
        Side of the output images.
    augmentation : zoobot_tf.recipe.Augmentation, optional
        Crop range and aspect ratio, rotation (``'any'`` uniform angle with reflect fill, ``'90'``
        multiples of 90 degrees, ``'none'``), flips and greyscale views; default
        :class:`~zoobot_tf.recipe.Augmentation()`.
    """
    from zoobot_tf.recipe import Augmentation

    augmentation = augmentation or Augmentation()
    batch_size = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    if augmentation.rotation == "any":
        angles = tf.random.stateless_uniform([batch_size], seeds[0], 0.0, 2.0 * math.pi)
    elif augmentation.rotation == "90":
        quarter_turns = tf.random.stateless_uniform([batch_size], seeds[0], 0, 4, dtype=tf.int32)
        angles = tf.cast(quarter_turns, tf.float32) * (math.pi / 2.0)
    else:
        angles = tf.zeros([batch_size])
    if augmentation.flip:
        hflip = tf.random.stateless_uniform([batch_size], seeds[1]) < 0.5
        vflip = tf.random.stateless_uniform([batch_size], seeds[2]) < 0.5
    else:
        hflip = vflip = tf.zeros([batch_size], tf.bool)
    if augmentation.crops:
        boxes = random_crop_boxes(batch_size, seeds[3], augmentation.crop_scale, augmentation.crop_ratio)
    else:
        boxes = tf.tile(tf.constant([[0.0, 0.0, 1.0, 1.0]]), [batch_size, 1])
    views = transform_images(images, angles, hflip, vflip, boxes, output_size)
    if augmentation.greyscale and images.shape[-1] not in (None, 1):
        # a stream folded from the seed, so the geometric draws stay what they were without it
        grey_seed = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), 4)
        chosen = tf.random.stateless_uniform([batch_size], grey_seed) < augmentation.greyscale
        grey = tf.repeat(tf.reduce_mean(views, axis=-1, keepdims=True), tf.shape(views)[-1], axis=-1)
        views = tf.where(chosen[:, None, None, None], grey, views)
    return views


def centre_crop_images(images: tf.Tensor, *, output_size: int, crop_fraction: float) -> tf.Tensor:
    """Evaluation preprocessing: the centred square of area ``crop_fraction`` (1: the whole
    image), resized to ``output_size`` (bilinear; no resampling when the sizes agree)."""
    side = math.sqrt(float(crop_fraction))
    lo, hi = (1.0 - side) / 2.0, (1.0 + side) / 2.0
    boxes = tf.tile(tf.constant([[lo, lo, hi, hi]], tf.float32), [tf.shape(images)[0], 1])
    return crop_and_resize(images, boxes, output_size)
