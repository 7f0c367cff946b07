"""Batch-wise galaxy augmentation: any-angle rotation, flips, random crop, resize.

Galaxies have no preferred orientation, so training images are rotated by any angle and
flipped; ``REFLECT`` fill keeps the rotated corners sky-like instead of black (a black corner
would be a feature the network could learn). A random crop with bounded area and aspect ratio
then zooms in slightly, and the result is resized to the network's input size. Evaluation uses
a fixed centre crop of the mean training area, so train and eval images show galaxies at the
same scale on average.

Everything works on a whole batch ``[B, H, W, C]`` (any C, e.g. 11 FITS bands) with per-image
random parameters drawn from stateless RNGs, so a seed makes the augmentation reproducible.
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


def random_flip(images: tf.Tensor, seed: tf.Tensor, axis: int) -> tf.Tensor:
    """Reverse each image along ``axis`` (1: vertical, 2: horizontal) with probability 1/2."""
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[axis]), images)


def random_crop_boxes(batch_size, seed: tf.Tensor, scale=(0.7, 0.8), ratio=(0.9, 1.1)) -> tf.Tensor:
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


def centre_crop_boxes(batch_size, scale=(0.7, 0.8)) -> tf.Tensor:
    """``[B, 4]`` centred square boxes whose area is the mean of ``scale`` (side = sqrt)."""
    side = math.sqrt((scale[0] + scale[1]) / 2.0)
    lo, hi = (1.0 - side) / 2.0, (1.0 + side) / 2.0
    return tf.tile(tf.constant([[lo, lo, hi, hi]], tf.float32), [batch_size, 1])


def crop_and_resize(images: tf.Tensor, boxes: tf.Tensor, output_size: int) -> tf.Tensor:
    """Crop each image to its box and resize it to ``output_size`` squared (bilinear)."""
    batch_size = tf.shape(images)[0]
    return tf.image.crop_and_resize(
        images, boxes, tf.range(batch_size), [output_size, output_size], method="bilinear"
    )


def augment_images(
    images: tf.Tensor,
    seed: tf.Tensor,
    *,
    output_size: int,
    crop_scale=(0.7, 0.8),
    crop_ratio=(0.9, 1.1),
    rotate_images: bool = True,
    flip: bool = True,
) -> tf.Tensor:
    """Training augmentation of a float batch: rotate (reflect fill), flip, random crop, resize.

    Parameters
    ----------
    images : tf.Tensor
        ``[B, H, W, C]`` float32.
    seed : tf.Tensor
        Shape ``[2]`` integer seed of the stateless RNGs (same seed, same output).
    output_size : int
        Side of the output images.
    crop_scale, crop_ratio : tuple of float
        Bounds of the crop's area fraction and width/height ratio.
    rotate_images, flip : bool
        Whether to rotate by a uniform angle in [0, 2 pi) / flip both axes at random.
    """
    batch_size = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    if rotate_images:
        angles = tf.random.stateless_uniform([batch_size], seeds[0], 0.0, 2.0 * math.pi)
        images = rotate(images, angles)
    if flip:
        images = random_flip(images, seeds[1], axis=2)
        images = random_flip(images, seeds[2], axis=1)
    boxes = random_crop_boxes(batch_size, seeds[3], crop_scale, crop_ratio)
    return crop_and_resize(images, boxes, output_size)


def centre_crop_images(images: tf.Tensor, *, output_size: int, crop_scale=(0.7, 0.8)) -> tf.Tensor:
    """Evaluation preprocessing: deterministic centre crop (mean training area) + resize."""
    return crop_and_resize(images, centre_crop_boxes(tf.shape(images)[0], crop_scale), output_size)


def check_crop_bounds(crop_scale, crop_ratio) -> None:
    """Raise ValueError for crop bounds that cannot produce a valid box."""
    lo, hi = crop_scale
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale}")
    lo, hi = crop_ratio
    if not 0.0 < lo <= hi:
        raise ValueError(f"crop_ratio must satisfy 0 < low <= high, got {crop_ratio}")
