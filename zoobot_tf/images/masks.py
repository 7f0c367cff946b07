"""Invalid-pixel (NaN) masks, a central-object mask, and inpainting of invalid pixels.

Why: survey FITS cutouts carry NaN/inf at chip gaps, footprint edges and saturated cores. Networks
cannot take NaN, but *where* data was missing is information too, so the masks can travel with the
image as extra channels (as in the DAT Hubble-type study) while the pixels themselves are filled.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from zoobot_tf.images.readers import ImageReadError, source_name

#: Gaussian sigma (pixels) of the normalised convolution that interpolates small holes; the
#: kernel is truncated at 4 sigma, so holes up to ~8 px across are interpolated from neighbours.
INTERP_SIGMA = 1.0
#: Interpolation passes for large holes inside the galaxy (each pass fills a ~4 px rim).
_MAX_PASSES = 64


def _as_hwc(array) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"expected an (H, W, C) or (H, W) image, got shape {array.shape}")
    return array


def invalid_pixel_mask(array) -> np.ndarray:
    """Return an ``(H, W, C)`` float32 mask, 1 where a pixel is NaN or infinite, one channel per band."""
    array = _as_hwc(array)
    if array.dtype.kind in "iub":
        return np.zeros(array.shape, dtype=np.float32)
    return (~np.isfinite(array)).astype(np.float32)


def _robust_background(values: np.ndarray) -> tuple[float, float]:
    """Sigma-clipped (median, std) of finite ``values``; a robust sky level that ignores sources."""
    from astropy.stats import sigma_clipped_stats

    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size > 65536:  # a regular subsample gives the same sky statistics much faster
        values = values[:: values.size // 65536 + 1]
    _, median, std = sigma_clipped_stats(values, sigma=3.0, maxiters=5)
    return float(median), float(std)


def object_mask(array, *, nsigma: float = 2.0, dilate: int = 3) -> np.ndarray:
    """Boolean mask of the central source (the galaxy the cutout is centred on).

    Each band is put in units of its robust background noise (sigma-clipped median and std); the
    band-averaged significance is thresholded at ``nsigma``; the 8-connected component at the
    image centre is kept (or, if the centre pixel is below threshold, the component nearest to it
    within a quarter of the image size), holes are filled, and the mask is dilated ``dilate`` times.

    Parameters
    ----------
    array : np.ndarray
        ``(H, W, C)`` or ``(H, W)`` image, NaN allowed (treated as below threshold).
    nsigma : float
        Detection threshold in units of the background noise.
    dilate : int
        Binary dilation iterations (pixels) so the mask covers the faint outskirts.

    Returns
    -------
    np.ndarray
        ``(H, W, 1)`` float32, 1 on the central source, 0 elsewhere (all 0 if nothing is detected).
    """
    array = _as_hwc(array).astype(np.float32, copy=False)
    height, width, _ = array.shape
    significance = np.zeros((height, width), dtype=np.float32)
    counts = np.zeros((height, width), dtype=np.float32)
    for c in range(array.shape[-1]):
        band = array[..., c]
        median, std = _robust_background(band)
        if not np.isfinite(std) or std <= 0:
            continue  # constant or empty band: no detection information
        snr = (band - median) / std
        finite = np.isfinite(snr)
        significance += np.where(finite, snr, 0.0)
        counts += finite
    with np.errstate(invalid="ignore", divide="ignore"):
        significance = np.where(counts > 0, significance / np.maximum(counts, 1), -np.inf)
    labels, n_labels = ndimage.label(significance > nsigma, structure=np.ones((3, 3), dtype=bool))
    mask = np.zeros((height, width), dtype=bool)
    if n_labels:
        label = _central_label(labels, max(1.0, min(height, width) / 4))
        if label:
            mask = ndimage.binary_fill_holes(labels == label)
            if dilate > 0:
                mask = ndimage.binary_dilation(mask, iterations=int(dilate))
    return mask.astype(np.float32)[..., None]


def _central_label(labels: np.ndarray, max_distance: float) -> int:
    height, width = labels.shape
    label = int(labels[height // 2, width // 2])
    if label:
        return label
    ys, xs = np.nonzero(labels)
    dist2 = (ys - (height - 1) / 2) ** 2 + (xs - (width - 1) / 2) ** 2
    nearest = int(np.argmin(dist2))
    if dist2[nearest] > max_distance**2:
        return 0
    return int(labels[ys[nearest], xs[nearest]])


def fill_invalid(array, *, source=None, object_mask: np.ndarray | None = None) -> np.ndarray:
    """Replace every NaN/inf pixel so no invalid value is left.

    Per band: (1) holes with valid pixels within ~4 px are interpolated by a normalised Gaussian
    convolution (sigma ``INTERP_SIGMA``; the same estimate as astropy's ``interpolate_replace_nans``
    but separable, so fast); (2) larger holes *outside* the (dilated) object mask get the band's
    robust background level (sigma-clipped median of the valid background pixels), so no
    structure is invented in the sky; (3) larger holes *inside* the object mask are filled from their
    rim inwards by repeating (1), so the galaxy profile is continued smoothly.
    Deterministic: the same input always gives the same output.

    Parameters
    ----------
    array : np.ndarray
        ``(H, W, C)`` or ``(H, W)`` image. Integer arrays cannot hold NaN and are returned as is.
    source : str or Path, optional
        File the array came from, named in errors.
    object_mask : np.ndarray, optional
        ``(H, W, 1)`` or ``(H, W)`` mask of the central source; computed with
        :func:`object_mask` from ``array`` when needed and not given.

    Returns
    -------
    np.ndarray
        Same shape as ``array``; float32 when the input was floating point.

    Raises
    ------
    ImageReadError
        A band with no finite pixel at all (nothing to fill from); the message names ``source``.
    """
    original = np.asarray(array)
    if original.dtype.kind in "iub":
        return original
    hwc = _as_hwc(original)
    out = hwc.astype(np.float32, copy=True)
    invalid = ~np.isfinite(out)
    if not invalid.any():
        return out.reshape(original.shape)
    for c in range(out.shape[-1]):
        if invalid[..., c].all():
            raise ImageReadError(
                f"{source_name(source)}: band {c} has no finite pixels (all NaN/inf); cannot fill it"
            )
    obj = None
    for c in np.flatnonzero(invalid.any(axis=(0, 1))):
        band, bad = out[..., c], invalid[..., c]
        remaining = _interpolate_pass(band, bad, bad)
        if not remaining.any():
            continue
        if obj is None:
            obj = _object_mask_2d(hwc, object_mask)
        sky_pixels = hwc[..., c][~bad & ~obj]
        sky, _ = _robust_background(sky_pixels if sky_pixels.size else hwc[..., c][~bad])
        band[remaining & ~obj] = sky
        remaining &= obj
        for _ in range(_MAX_PASSES):  # grow inwards from the rim of large holes in the galaxy
            if not remaining.any():
                break
            remaining = _interpolate_pass(band, remaining, remaining)
        if remaining.any():  # pathological shapes: nearest valid pixel guarantees termination
            _, (iy, ix) = ndimage.distance_transform_edt(remaining, return_indices=True)
            band[remaining] = band[iy[remaining], ix[remaining]]
    return out.reshape(original.shape)


def _interpolate_pass(band: np.ndarray, unknown: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Fill ``targets`` pixels (in place) that have known pixels within the kernel; return the rest."""
    band[unknown] = 0.0
    known = (~unknown).astype(np.float32)
    num = ndimage.gaussian_filter(band, INTERP_SIGMA, mode="nearest", truncate=4.0)
    den = ndimage.gaussian_filter(known, INTERP_SIGMA, mode="nearest", truncate=4.0)
    reachable = targets & (den > 1e-6)
    band[reachable] = num[reachable] / den[reachable]
    return targets & ~reachable


def _object_mask_2d(hwc: np.ndarray, given) -> np.ndarray:
    if given is None:
        given = object_mask(hwc)
    given = np.asarray(given)
    if given.ndim == 3:
        given = given[..., 0]
    if given.shape != hwc.shape[:2]:
        raise ValueError(f"object_mask shape {given.shape} does not match image {hwc.shape[:2]}")
    return given > 0
