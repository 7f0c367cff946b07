"""Turn a raw image array into what a model or a shard stores: filled, scaled, resized, cast.

Why one function: shard writing, prediction and the benchmarks must prepare images *identically*,
otherwise a model sees different pixels at training and inference time.

Conventions (documented once, here):

- Resizing uses PIL's antialiased BILINEAR filter for every dtype (``uint8`` as L/RGB/per-band L
  images, floats as mode ``'F'`` per band). Bilinear weights are non-negative, so a resized image
  stays inside the input's value range: a [0, 1] scaled image stays in [0, 1] (LANCZOS rings).
- ``uint8`` pixels mean display values 0..255 == 0..1: a float output of an unscaled ``uint8``
  image is ``x / 255``, and a float image (values in [0, 1]) becomes ``uint8`` as ``round(255 x)``.
- Greyscale from 3 bands is the mean of the bands (as Zoobot does), not a perceptual luma.
- Mask channels (1 = masked) follow the image convention: 1.0 in float outputs, 255 in ``uint8``.
  After resizing, a NaN-mask pixel is 1 if *any* input pixel under it was invalid (area > 0);
  a galaxy-mask pixel is 1 if at least half of its area was on the galaxy.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from PIL import Image

from zoobot_tf.images.masks import fill_invalid, invalid_pixel_mask, object_mask
from zoobot_tf.images.readers import (
    RASTER_SUFFIXES,
    ImageReadError,
    ImageSource,
    decode_raster,
    raster_to_array,
    read_image,
    source_name,
)
from zoobot_tf.images.scalings import SCALINGS, scale_image

DTYPES = ("uint8", "float16", "float32")
#: The one resampling filter used for every resize (antialiased when shrinking; never overshoots).
RESAMPLE = Image.Resampling.BILINEAR
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def prepare_image(
    array: np.ndarray,
    *,
    size: int | Sequence[int] | None = None,
    channels: int | None = None,
    scaling: str | None = None,
    nan_mask: bool = False,
    galaxy_mask: bool = False,
    dtype: str = "uint8",
    source: ImageSource | None = None,
) -> np.ndarray:
    """Validate, fill, scale, resize, convert channels, append masks and cast an image.

    Parameters
    ----------
    array : np.ndarray
        ``(H, W, C)`` (or ``(H, W)``) image, e.g. from :func:`read_image`.
    size : int or (height, width), optional
        Output size; ``None`` keeps the input size.
    channels : int, optional
        Output image channels (masks not counted). 1 from 3: band mean; 3 from 1: repeated.
        Any other mismatch is an error. ``None`` keeps the input bands.
    scaling : str, optional
        One of :data:`SCALINGS`; ``None`` means ``"none"``.
    nan_mask : bool
        Append one invalid-pixel mask channel per *input* band (computed before filling).
    galaxy_mask : bool
        Append a central-object mask channel (:func:`object_mask` of the raw image).
    dtype : {"uint8", "float16", "float32"}
        Output dtype. Floats keep HDR values (no squashing to 8 bits); ``uint8`` needs a
        ``uint8`` input without scaling, or float values in [0, 1] (e.g. after a scaling).
    source : str or Path, optional
        Where the array came from; named in every error.

    Returns
    -------
    np.ndarray
        ``(height, width, channels + n_masks)`` array of ``dtype``. A ``uint8`` input with no
        scaling, no resize and ``dtype="uint8"`` comes back with identical pixels.

    Raises
    ------
    ImageReadError
        Bad shape/dtype/arguments, an all-NaN band, values that do not fit ``dtype``.
    """
    name = source_name(source)
    raw = _validate(array, name)
    dtype = _check_dtype(dtype, name)
    scaling = "none" if scaling is None else scaling
    if scaling not in SCALINGS:
        raise ImageReadError(f"{name}: unknown scaling {scaling!r}; choose one of {SCALINGS}")
    out_hw = _target_size(size, raw.shape[:2], name)

    masks = []  # computed from the raw array, before any pixel is changed
    galaxy = object_mask(raw) if galaxy_mask else None
    if nan_mask:
        masks.append((invalid_pixel_mask(raw), "any"))
    if galaxy is not None:
        masks.append((galaxy, "half"))

    image = fill_invalid(raw, source=source, object_mask=galaxy)
    if scaling != "none":
        image = scale_image(image, scaling)
    if out_hw != image.shape[:2]:
        image = _resize(image, out_hw)
    image = _convert_channels(image, channels, name)
    if masks:
        mask_channels = [_resize_mask(m, out_hw, rule) for m, rule in masks]
        image = _append_masks(image, np.concatenate(mask_channels, axis=-1))
    return _cast(image, dtype, name)


def load_image(path: ImageSource, *, hdu=None, **prepare_kwargs) -> np.ndarray:
    """Read an image file (or one file per band) and prepare it: ``read_image`` + ``prepare_image``.

    ``hdu`` goes to :func:`read_image`; every other keyword to :func:`prepare_image`. When only
    resizing/casting an 8-bit PNG/JPG, the resize runs on the decoded PIL image before numpy
    conversion (same PIL operation as :func:`prepare_image`, so identical pixels, ~2x faster).
    """
    if _can_resize_while_decoding(path, hdu, prepare_kwargs):
        img = decode_raster(os.fspath(path))
        if img.mode in ("L", "RGB"):
            out_hw = _target_size(prepare_kwargs["size"], (img.height, img.width), source_name(path))
            if out_hw != (img.height, img.width):
                img = img.resize((out_hw[1], out_hw[0]), RESAMPLE)
        return prepare_image(raster_to_array(img), source=path, **prepare_kwargs)
    return prepare_image(read_image(path, hdu=hdu), source=path, **prepare_kwargs)


def _can_resize_while_decoding(path, hdu, kwargs) -> bool:
    return (
        hdu is None
        and isinstance(path, (str, os.PathLike))
        and ";" not in os.fspath(path)
        and os.fspath(path).lower().endswith(RASTER_SUFFIXES)
        and kwargs.get("size") is not None
        and kwargs.get("scaling") in (None, "none")
        and not kwargs.get("nan_mask")
        and not kwargs.get("galaxy_mask")
    )


def save_image(array: np.ndarray, path, *, source: ImageSource | None = None) -> None:
    """Write a prepared image for people to look at (PNG/JPG) or for exact reuse (``.npy``).

    PNG/JPG need ``uint8`` with 1, 3 or 4 channels (4 is written as RGBA only for PNG); ``.npy``
    keeps any dtype and channel count.
    """
    array = np.asarray(array)
    target = str(path)
    if target.lower().endswith(".npy"):
        np.save(target, array)
        return
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ImageReadError(
            f"{source_name(source)}: cannot write {array.dtype} {array.shape} image to {target}; "
            "PNG/JPG need uint8 with 1, 3 or 4 channels (use .npy for other images)"
        )
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(target)


def _validate(array, name: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise ImageReadError(f"{name}: expected a numpy array, got {type(array).__name__}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ImageReadError(f"{name}: expected an (H, W, C) image, got shape {array.shape}")
    if min(array.shape) < 1:
        raise ImageReadError(f"{name}: empty image of shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "iuf":
        raise ImageReadError(f"{name}: unsupported pixel dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def _check_dtype(dtype, name: str) -> str:
    dtype = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if dtype not in DTYPES:
        raise ImageReadError(f"{name}: unsupported output dtype {dtype!r}; choose one of {DTYPES}")
    return dtype


def _target_size(size, in_hw: tuple[int, int], name: str) -> tuple[int, int]:
    if size is None:
        return tuple(in_hw)
    if isinstance(size, (int, np.integer)):
        out = (int(size), int(size))
    else:
        try:
            out = tuple(int(s) for s in size)
        except TypeError as err:
            raise ImageReadError(f"{name}: size must be an int or (height, width), got {size!r}") from err
    if len(out) != 2 or min(out) < 1:
        raise ImageReadError(f"{name}: size must be a positive int or (height, width), got {size!r}")
    return out


def _resize(image: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize with PIL (see module docstring for why bilinear)."""
    pil_size = (out_hw[1], out_hw[0])  # PIL wants (width, height)
    if image.dtype == np.uint8 and image.shape[-1] in (1, 3):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize(pil_size, RESAMPLE))
        return resized.reshape(out_hw + (image.shape[-1],))
    if image.dtype == np.uint8:
        bands = [Image.fromarray(np.ascontiguousarray(image[..., c])) for c in range(image.shape[-1])]
    else:
        bands = [Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32))
                 for c in range(image.shape[-1])]
    return np.stack([np.asarray(b.resize(pil_size, RESAMPLE)) for b in bands], axis=-1)


def _resize_mask(mask: np.ndarray, out_hw: tuple[int, int], rule: str) -> np.ndarray:
    if mask.shape[:2] == tuple(out_hw):
        return mask.astype(np.float32, copy=False)
    pil_size = (out_hw[1], out_hw[0])
    channels = []
    for c in range(mask.shape[-1]):
        area = Image.fromarray(np.ascontiguousarray(mask[..., c], dtype=np.float32))
        area = np.asarray(area.resize(pil_size, Image.Resampling.BOX))  # fraction of area masked
        channels.append(area > 1e-6 if rule == "any" else area >= 0.5)
    return np.stack(channels, axis=-1).astype(np.float32)


def _convert_channels(image: np.ndarray, channels: int | None, name: str) -> np.ndarray:
    have = image.shape[-1]
    if channels is None or channels == have:
        return image
    if channels == 1 and have == 3:
        mean = image.mean(axis=-1, keepdims=True, dtype=np.float32)
        return np.round(mean).astype(np.uint8) if image.dtype == np.uint8 else mean
    if channels == 3 and have == 1:
        return np.repeat(image, 3, axis=-1)
    raise ImageReadError(
        f"{name}: cannot convert {have} band(s) to {channels} channel(s); only 3->1 (mean) and 1->3 (repeat)"
    )


def _append_masks(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return np.concatenate([image, (masks * 255).astype(np.uint8)], axis=-1)
    return np.concatenate([image.astype(np.float32, copy=False), masks], axis=-1)


def _cast(image: np.ndarray, dtype: str, name: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image if dtype == "uint8" else (image.astype(np.float32) / 255.0).astype(dtype)
    if dtype == "uint8":
        lo, hi = float(np.min(image)), float(np.max(image))
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ImageReadError(
                f"{name}: float values span [{lo:.4g}, {hi:.4g}] but uint8 output needs [0, 1]; "
                "pass a scaling (e.g. 'minmax', 'lupton') or dtype='float32' to keep HDR values"
            )
        return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if dtype == "float16" and image.size and float(np.max(np.abs(image))) > _FLOAT16_MAX:
        peak = float(np.max(np.abs(image)))
        raise ImageReadError(f"{name}: values up to {peak:.4g} overflow float16; use float32 or a scaling")
    return image.astype(dtype, copy=False)
