"""Batch-wise galaxy augmentation: any-angle rotation, flips, random crop, resize.

Galaxies have no preferred orientation, so training images are rotated by any angle and
flipped; ``REFLECT`` fill keeps the rotated corners sky-like instead of black (a black corner
would be a feature the network could learn). A random crop with bounded area and aspect ratio
then zooms in slightly, and the result is resized to the network's input size. Evaluation uses
a fixed centre crop of the mean training area, so train and eval images show galaxies at the
same scale on average.

Everything works on a whole batch ``[B, H, W, C]`` (any C, e.g. 11 FITS bands) with per-image
random parameters drawn from stateless RNGs, so a seed makes the augmentation reproducible. The
rotation, flips, crop and resize of one image are composed into a single projective transform
(``ImageProjectiveTransformV3``), so each output pixel is interpolated once from the stored image.
"""

from __future__ import annotations

import math

import tensorflow as tf

from zoobot_tf.data.crops import CROP_RATIO, CROP_SCALE


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


def random_crop_boxes(batch_size, seed: tf.Tensor, scale=CROP_SCALE, ratio=CROP_RATIO) -> tf.Tensor:
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


def centre_crop_boxes(batch_size, scale=CROP_SCALE) -> tf.Tensor:
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


def augment_images(
    images: tf.Tensor,
    seed: tf.Tensor,
    *,
    output_size: int,
    crop_scale=CROP_SCALE,
    crop_ratio=CROP_RATIO,
    rotate_images: bool = True,
    flip: bool = True,
) -> tf.Tensor:
    """Training augmentation of a float batch: rotate (reflect fill), flip, random crop, resize.

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
    crop_scale, crop_ratio : tuple of float
        Bounds of the crop's area fraction and width/height ratio.
    rotate_images, flip : bool
        Whether to rotate by a uniform angle in [0, 2 pi) / flip each axis with probability 1/2.
    """
    batch_size = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    if rotate_images:
        angles = tf.random.stateless_uniform([batch_size], seeds[0], 0.0, 2.0 * math.pi)
    else:
        angles = tf.zeros([batch_size])
    if flip:
        hflip = tf.random.stateless_uniform([batch_size], seeds[1]) < 0.5
        vflip = tf.random.stateless_uniform([batch_size], seeds[2]) < 0.5
    else:
        hflip = vflip = tf.zeros([batch_size], tf.bool)
    boxes = random_crop_boxes(batch_size, seeds[3], crop_scale, crop_ratio)
    return transform_images(images, angles, hflip, vflip, boxes, output_size)


def centre_crop_images(images: tf.Tensor, *, output_size: int, crop_scale=CROP_SCALE) -> tf.Tensor:
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
