"""Catalog paths -> ``tf.data`` batches of ``(row index, float32 image)`` for prediction.

Why a pipeline of its own (not shards): prediction reads each image once, straight from the
catalog's ``file_loc``, and must keep the model busy while the next batch decodes. Two decoders
give the same pixels:

* ``'tf'``: ``tf.io.decode_image`` + antialiased bilinear ``tf.image.resize`` inside the graph,
  parallel and free of the GIL. For 8-bit PNG/JPG without a scaling. Within one grey level
  (1/255) of :func:`zoobot_tf.images.load_image` (PIL resamples in fixed point); identical when
  no resize is needed.
* ``'pil'``: :func:`zoobot_tf.images.load_image` itself through ``tf.numpy_function`` (FITS,
  TIFF, scalings, several files per band).

An image that fails to decode is dropped from the stream (``ignore_errors``); the row indices
carried with each image let the caller see which rows are missing and ask
:meth:`ImageOptions.load` for the reason (or the pixels, if only the fast decoder failed).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import tensorflow as tf

from zoobot_tf.images import load_image, prepare_image, read_image

__all__ = ["DECODERS", "ImageOptions", "choose_decoder", "image_dataset"]

DECODERS = ("auto", "tf", "pil")
#: Suffixes that TensorFlow's own decoders read exactly like PIL (8-bit PNG and baseline JPEG).
TF_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageOptions:
    """How every image is prepared for the model (fixed for a whole prediction file).

    Parameters
    ----------
    size : (int, int)
        Model input ``(height, width)``.
    channels : int
        Model input channels (PNG/JPG: 1 = mean of RGB, 3 = RGB; FITS: the bands as read).
    scaling : str, optional
        A :data:`zoobot_tf.images.SCALINGS` name applied before resizing (FITS), ``None``: none.
    crop_scale : float, optional
        Keep a centred square of this fraction of the image *area* before resizing, as the
        evaluation crop of :mod:`zoobot_tf.data` does (its default is 0.75, the mean of the
        training crop ``(0.7, 0.8)``); ``None``: the whole image.
    """

    size: tuple[int, int]
    channels: int
    scaling: str | None = None
    crop_scale: float | None = None

    def __post_init__(self):
        size = tuple(int(s) for s in self.size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"image size must be (height, width) of positive ints, got {self.size!r}")
        object.__setattr__(self, "size", size)
        if int(self.channels) < 1:
            raise ValueError(f"channels must be a positive int, got {self.channels!r}")
        object.__setattr__(self, "channels", int(self.channels))
        if self.scaling in ("none", ""):
            object.__setattr__(self, "scaling", None)
        if self.crop_scale is not None:
            crop = float(self.crop_scale)
            if not 0.0 < crop <= 1.0:
                raise ValueError(f"crop_scale must be in (0, 1], got {self.crop_scale!r}")
            object.__setattr__(self, "crop_scale", None if crop == 1.0 else crop)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, self.channels)

    def load(self, path) -> np.ndarray:
        """The reference loader: ``(H, W, C)`` float32 in [0, 1] via :mod:`zoobot_tf.images`.

        Raises :class:`zoobot_tf.images.ImageReadError` naming the file when it cannot be used.
        """
        kwargs = dict(channels=self.channels, scaling=self.scaling, dtype="float32")
        if self.crop_scale is None:
            return load_image(path, size=self.size, **kwargs)
        full = prepare_image(read_image(path), source=path, **kwargs)  # scaled on the whole image
        h, w = full.shape[:2]
        top, left, ch, cw = _crop_box(h, w, self.crop_scale)
        return prepare_image(full[top : top + ch, left : left + cw], size=self.size, dtype="float32", source=path)

    def as_attrs(self) -> dict:
        """Flat values for HDF5 attributes (no ``None``: HDF5 cannot store it)."""
        return {
            "image_size": list(self.size),
            "image_channels": self.channels,
            "image_scaling": self.scaling or "none",
            "image_crop_scale": float(self.crop_scale or 1.0),
        }


def _crop_box(height: int, width: int, crop_scale: float) -> tuple[int, int, int, int]:
    """``(top, left, crop_h, crop_w)`` of the centred crop keeping ``crop_scale`` of the area."""
    side = math.sqrt(crop_scale)
    ch, cw = max(1, round(height * side)), max(1, round(width * side))
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def choose_decoder(paths: Sequence[str], options: ImageOptions, decoder: str = "auto") -> str:
    """``'tf'`` when every path is a PNG/JPG, no scaling is asked and the model wants 1 or 3
    channels; otherwise ``'pil'``. An explicit ``'tf'`` that cannot apply raises ValueError."""
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {', '.join(DECODERS)}")
    if decoder == "pil":
        return "pil"
    problems = []
    if options.scaling is not None:
        problems.append(f"scaling {options.scaling!r} is only applied by the PIL/astropy loader")
    if options.channels not in (1, 3):
        problems.append(f"the model wants {options.channels} channels; PNG/JPG give 1 or 3")
    bad = next((str(p) for p in paths if not str(p).lower().endswith(TF_SUFFIXES) or ";" in str(p)), None)
    if bad is not None:
        problems.append(f"{bad} is not a single PNG/JPG file")
    if not problems:
        return "tf"
    if decoder == "tf":
        raise ValueError("decoder='tf' cannot be used: " + "; ".join(problems))
    return "pil"


def _tf_decode(path: tf.Tensor, options: ImageOptions) -> tf.Tensor:
    """PNG/JPG -> float32 ``(H, W, C)`` in [0, 1], mirroring ``load_image``'s PIL operations:
    alpha dropped, greyscale repeated to RGB, antialiased bilinear resize rounded to uint8 levels
    (PIL resizes 8-bit images in 8 bits), then the band mean for one channel."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.uint8, expand_animations=False)
    image = tf.cast(image, tf.float32)
    if options.crop_scale is not None:
        shape = tf.shape(image)
        side = math.sqrt(options.crop_scale)
        ch = tf.maximum(1, tf.cast(tf.round(tf.cast(shape[0], tf.float64) * side), tf.int32))
        cw = tf.maximum(1, tf.cast(tf.round(tf.cast(shape[1], tf.float64) * side), tf.int32))
        image = tf.image.crop_to_bounding_box(image, (shape[0] - ch) // 2, (shape[1] - cw) // 2, ch, cw)
        image = image / 255.0  # the PIL loader resizes the crop as floats
        resized = tf.image.resize(image, options.size, method="bilinear", antialias=True)
    else:
        same = tf.reduce_all(tf.shape(image)[:2] == tf.constant(options.size, tf.int32))
        resized = tf.cond(
            same,
            lambda: image,
            lambda: tf.floor(
                tf.clip_by_value(tf.image.resize(image, options.size, method="bilinear", antialias=True), 0, 255)
                + 0.5
            ),
        )
        resized = resized / 255.0
    if options.channels == 1:
        resized = tf.reduce_mean(resized, axis=-1, keepdims=True)
        if options.crop_scale is None:
            resized = tf.round(resized * 255.0) / 255.0  # PIL path: mean of uint8 bands, rounded
    return tf.ensure_shape(resized, options.shape)


def image_dataset(
    paths: Sequence[str],
    options: ImageOptions,
    batch_size: int,
    decoder: str = "auto",
    parallel: int | None = None,
) -> tf.data.Dataset:
    """Batches ``(indices int64 [B], images float32 [B, H, W, C])`` over ``paths`` in order.

    ``indices`` are positions in ``paths``. Unreadable images are *skipped* (their indices do
    not appear); the caller finds them as gaps. ``parallel``: decoding threads (default AUTOTUNE).
    """
    paths = [os.fspath(p) for p in paths]
    decoder = choose_decoder(paths, options, decoder)
    calls = tf.data.AUTOTUNE if parallel is None else int(parallel)
    indices = tf.data.Dataset.range(len(paths))
    if decoder == "tf":
        path_table = tf.constant(paths if paths else [""], dtype=tf.string)

        def load(i):
            return i, _tf_decode(tf.gather(path_table, i), options)
    else:

        def load_numpy(i):
            return options.load(paths[int(i)]).astype(np.float32, copy=False)

        def load(i):
            image = tf.numpy_function(load_numpy, [i], tf.float32, stateful=False)
            return i, tf.ensure_shape(image, options.shape)

    ds = indices.map(load, num_parallel_calls=calls, deterministic=True).ignore_errors()
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)
