"""Read PNG/JPG (PIL) and FITS (astropy) files into ``(H, W, C)`` arrays.

Why one reader for both: the rest of the package (shards, prediction, detection) should not care
whether a survey ships colour JPGs or multi-band FITS. Raster images come back as ``uint8`` (the
exact pixels, so nothing is lost or rescaled); FITS comes back as ``float32`` with NaN kept, so
the invalid-pixel masks and inpainting in :mod:`zoobot_tf.images.masks` can see them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

PathLike = Union[str, os.PathLike]
#: What ``read_image`` accepts: one path, a list of paths (one file per band), or ``"a;b;c"``.
ImageSource = Union[PathLike, Sequence[PathLike]]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fz")
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

#: FITS extensions that ``read_image(..., hdu=None)`` never takes as bands: they describe the data
#: (HST/JWST/DES/HSC conventions) rather than being an image of the sky. Select them with ``hdu=``.
ANCILLARY_EXTNAMES = frozenset(
    {"ERR", "ERROR", "RMS", "SIGMA", "VAR", "VARIANCE", "IVAR", "INVVAR", "WHT", "WEIGHT", "WT",
     "DQ", "MASK", "OBJMASK", "BPM", "FLAGS", "CTX", "CON", "EXP", "EXPTIME", "PSF"}
)
# PIL modes that hold more than 8 bits per pixel: returned as float32 so nothing is squashed.
_HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class ImageReadError(ValueError):
    """An image could not be read or prepared; the message always names the offending file."""


def source_name(path: ImageSource | None) -> str:
    """Return the display name of an image source (``';'``-joined for one-file-per-band lists)."""
    if path is None:
        return "<array>"
    if isinstance(path, (list, tuple)):
        return ";".join(str(p) for p in path)
    return str(path)


def split_paths(path: ImageSource) -> list[str]:
    """Return the list of files behind ``path`` (a list, a ``';'``-joined string, or one path)."""
    if isinstance(path, (list, tuple)):
        paths = [os.fspath(p) for p in path]
    else:
        paths = [p.strip() for p in os.fspath(path).split(";")]
    if not paths or any(p == "" for p in paths):
        raise ImageReadError(f"{source_name(path)}: empty path in image source")
    return paths


def _suffix(path: PathLike) -> str:
    name = os.fspath(path).lower()
    for suffix in FITS_SUFFIXES + RASTER_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(name).suffix


def is_fits(path: ImageSource) -> bool:
    """True if ``path`` (or every file of a one-file-per-band source) has a FITS extension.

    Recognised: ``.fits .fit .fts`` optionally gzipped (``.gz``) or tile-compressed (``.fz``).
    """
    try:
        paths = split_paths(path)
    except ImageReadError:
        return False
    return all(_suffix(p) in FITS_SUFFIXES for p in paths)


def read_image(path: ImageSource, *, hdu: int | str | Sequence[int | str] | None = None) -> np.ndarray:
    """Read an image file (or one file per band) into an ``(H, W, C)`` array.

    Parameters
    ----------
    path : str, Path, list of paths, or str of ``';'``-separated paths
        A list (or ``';'``-joined string) means one file per band, stacked in the given order.
    hdu : int, str or sequence of them, optional
        FITS only. ``None`` picks automatically: a 3-D cube ``(bands, H, W)`` in the primary or
        first image HDU, else every 2-D image extension as one band each (extensions named like
        ancillary planes, :data:`ANCILLARY_EXTNAMES`, e.g. ``WHT``/``ERR``/``MASK``, are skipped).
        An int/name selects one HDU (2-D or cube); a sequence selects several 2-D HDUs, one band
        each. With one file per band, ``hdu`` applies to every file.

    Returns
    -------
    np.ndarray
        PNG/JPG/TIFF: ``uint8`` (greyscale -> C=1, alpha dropped, palette -> RGB); 16-bit or float
        rasters come back as ``float32`` with their raw values. FITS: ``float32`` with NaN kept.
        Leading length-1 FITS axes (radio Stokes/frequency axes) are squeezed.

    Raises
    ------
    ImageReadError
        Missing, corrupt or truncated file, unsupported extension, data that is not 2-D/3-D, or
        bands of different shapes. The message names the file.
    """
    paths = split_paths(path)
    if len(paths) == 1:
        return _read_one(paths[0], hdu)
    kinds = {_suffix(p) in FITS_SUFFIXES for p in paths}
    if len(kinds) > 1:
        raise ImageReadError(f"{source_name(path)}: one-file-per-band source mixes FITS and raster files")
    bands = [_read_one(p, hdu) for p in paths]
    for p, band in zip(paths, bands):
        if band.shape[:2] != bands[0].shape[:2]:
            raise ImageReadError(
                f"{p}: band shape {band.shape[:2]} differs from {bands[0].shape[:2]} of {paths[0]}"
            )
    dtype = np.result_type(*bands)
    return np.concatenate([b.astype(dtype, copy=False) for b in bands], axis=-1)


def _read_one(path: str, hdu) -> np.ndarray:
    if not os.path.isfile(path):
        raise ImageReadError(f"{path}: no such file")
    suffix = _suffix(path)
    if suffix in FITS_SUFFIXES:
        return _read_fits(path, hdu)
    if suffix in RASTER_SUFFIXES:
        if hdu is not None:
            raise ImageReadError(f"{path}: hdu={hdu!r} given but this is not a FITS file")
        return _read_raster(path)
    raise ImageReadError(
        f"{path}: unsupported image extension {suffix!r} "
        f"(expected one of {', '.join(RASTER_SUFFIXES + FITS_SUFFIXES)})"
    )


def decode_raster(path: str) -> Image.Image:
    """Decode a PNG/JPG/TIFF into a PIL image of mode L, RGB, or a >8-bit mode (I, I;16, F).

    Separate from :func:`read_image` so :func:`~zoobot_tf.images.load_image` can resize in PIL
    before the (costly) conversion of the full-size image to numpy.
    """
    if not os.path.isfile(path):
        raise ImageReadError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()  # decode now: truncated/corrupt files fail here, not later
            mode = img.mode
            if mode in _HIGH_BIT_MODES or mode in ("L", "RGB"):
                return img  # pixels stay valid after the file closes: they were loaded above
            if mode in ("1", "LA", "La"):
                return img.convert("L")
            return img.convert("RGB")  # RGBA, RGBa, P, PA, CMYK, YCbCr, LAB, HSV...
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageReadError(f"{path}: cannot decode image ({err})") from err


def raster_to_array(img: Image.Image) -> np.ndarray:
    """``(H, W, C)`` array of a decoded raster: uint8 for L/RGB, float32 for >8-bit modes."""
    if img.mode in _HIGH_BIT_MODES:
        return np.asarray(img, dtype=np.float32)[..., None]
    array = np.asarray(img, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def _read_raster(path: str) -> np.ndarray:
    return raster_to_array(decode_raster(path))


def _read_fits(path: str, hdu) -> np.ndarray:
    from astropy.io import fits  # import here: astropy costs ~0.3 s and PNG users never need it

    # no warnings.catch_warnings here: it is not thread-safe and readers run in threads; a
    # truncated file still fails below (short data cannot be reshaped) after astropy's warning
    try:
        with fits.open(path) as hdul:
            return _fits_to_array(path, hdul, hdu)
    except ImageReadError:
        raise
    except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError) as err:
        raise ImageReadError(f"{path}: cannot read FITS, corrupt or truncated? ({err})") from err


def _image_hdus(hdul) -> list:
    """Image HDUs holding science data: a header-only primary (common in survey files) and
    ancillary planes named in :data:`ANCILLARY_EXTNAMES` (weights, errors, masks) are skipped."""
    return [
        h
        for h in hdul
        if getattr(h, "is_image", False)
        and h.header.get("NAXIS", 0) > 0
        and str(h.header.get("EXTNAME", "")).strip().upper() not in ANCILLARY_EXTNAMES
    ]


def _squeeze_leading(data: np.ndarray) -> np.ndarray:
    while data.ndim > 2 and data.shape[0] == 1:
        data = data[0]
    return data


def _fits_to_array(path: str, hdul, hdu) -> np.ndarray:
    if hdu is None:
        candidates = _image_hdus(hdul)
        if not candidates:
            raise ImageReadError(f"{path}: no image HDU with data")
        first = _squeeze_leading(np.asarray(candidates[0].data))
        if first.ndim != 2:  # a cube, or an error for 1-D / 4-D data
            return _to_hwc(path, first)
        selected = candidates
    elif isinstance(hdu, (list, tuple)):
        selected = [_get_hdu(path, hdul, h) for h in hdu]
    else:
        single = _get_hdu(path, hdul, hdu)
        return _to_hwc(path, _squeeze_leading(np.asarray(single.data)))

    bands = []
    for h in selected:
        data = _squeeze_leading(np.asarray(h.data))
        if data.ndim != 2:
            raise ImageReadError(
                f"{path}: HDU {h.name or hdul.index(h)} has shape {data.shape}; "
                "one-band-per-extension files need 2-D data in every image HDU"
            )
        if bands and data.shape != bands[0].shape:
            raise ImageReadError(
                f"{path}: HDU {h.name or hdul.index(h)} shape {data.shape} differs from {bands[0].shape}"
            )
        bands.append(data.astype(np.float32))
    return np.stack(bands, axis=-1)


def _get_hdu(path: str, hdul, key):
    try:
        h = hdul[key]
    except (KeyError, IndexError) as err:
        raise ImageReadError(f"{path}: no HDU {key!r}") from err
    if not getattr(h, "is_image", False) or h.data is None:
        raise ImageReadError(f"{path}: HDU {key!r} holds no image data")
    return h


def _to_hwc(path: str, data: np.ndarray) -> np.ndarray:
    """FITS axis order is (bands, H, W) in numpy; the package works in (H, W, C)."""
    if data.ndim == 2:
        return data.astype(np.float32)[..., None]
    if data.ndim == 3 and min(data.shape) > 0:
        return np.ascontiguousarray(np.moveaxis(data.astype(np.float32), 0, -1))
    raise ImageReadError(
        f"{path}: image data has shape {data.shape}; expected 2-D or a 3-D cube (bands, H, W)"
    )
