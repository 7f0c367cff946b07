"""Map raw pixel values (any range, any bit depth) to [0, 1] for display and for networks.

Why several: survey fluxes span orders of magnitude. A linear min-max scaling hides faint tidal
features; asinh / Lupton stretches (Lupton et al. 2004) show faint structure while keeping bright
cores unsaturated and, for 3 bands, keep colours; z-scale is what astronomers see in DS9.
All are built on ``astropy.visualization``.

This is the one registry of scalings, for morphology and detection alike (one name each:
``"none"`` is the unscaled flux, which detection once called ``"raw"``). Every method except
``"none"`` and ``"sky_asinh"`` returns float32 in [0, 1] per band; ``"sky_asinh"`` is in units of
the sky noise, unbounded. Limits are computed from the finite pixels only; NaN/inf stay NaN in the
output (call :func:`~zoobot_tf.images.fill_invalid` first when that matters). A constant band
maps to 0.
"""

from __future__ import annotations

import numpy as np

from zoobot_tf.recipe import SCALING_NAMES

#: every scaling name (the image recipe validates against the same tuple)
SCALINGS = SCALING_NAMES

#: Default Lupton parameters (see :func:`lupton`). The asinh stretch is linear for intensities below
#: ``softening_sigma`` x the sky noise and logarithmic above; the ``saturation_percentile`` of the
#: background-subtracted intensity maps to 1. Astropy's ``Q`` and ``stretch`` follow from these two
#: per image, so the same defaults suit any survey's flux units and depth.
LUPTON_DEFAULTS = {"softening_sigma": 3.0, "saturation_percentile": 99.5}
#: High-contrast Lupton: the log regime starts at 1 sigma of sky noise (not 3) and the 99th
#: percentile saturates, so faint discs, spiral arms and tidal features show (a 3-sigma pixel maps
#: to ~0.3 instead of ~0.2; the noise itself becomes visible, as in a "hard" display stretch).
LUPTON_HIGH_CONTRAST_DEFAULTS = {"softening_sigma": 1.0, "saturation_percentile": 99.0}


def scale_image(array, method: str, **kwargs) -> np.ndarray:
    """Scale an ``(H, W, C)`` image with one of :data:`SCALINGS`.

    Parameters
    ----------
    array : np.ndarray
        ``(H, W, C)`` (or ``(H, W)``) image of any numeric dtype.
    method : str
        ``"none"``: float32 copy, values unchanged.
        ``"minmax"``: per band ``(x - min) / (max - min)``; ``lower_percentile`` /
        ``upper_percentile`` (default 0, 100) clip outliers first.
        ``"asinh"``: per band, percentile interval (``lower_percentile=1``, ``upper_percentile=99.5``)
        then ``AsinhStretch(a=0.1)``; bands are scaled independently (colours not preserved).
        ``"lupton"``: Lupton et al. 2004 asinh. 3 bands: ``make_lupton_rgb`` (joint intensity,
        colours preserved, channel order kept); other band counts: the same
        ``LuptonAsinhStretch`` applied per band. Keywords ``softening_sigma``,
        ``saturation_percentile``, ``Q``, ``stretch``, ``minimum`` (see :func:`lupton`).
        ``"lupton_high_contrast"``: ``"lupton"`` with :data:`LUPTON_HIGH_CONTRAST_DEFAULTS`.
        ``"zscale"``: per band ``ZScaleInterval`` (``contrast=0.25``) and a linear stretch.
        ``"sky_asinh"``: per band ``asinh((x - sky) / (softening_sigma * noise)) / 5`` with the
        sky level and noise from sigma-clipped statistics (see :func:`sky_asinh`); not clipped.

    Returns
    -------
    np.ndarray
        float32 array of the same shape.
    """
    if method not in SCALINGS:
        raise ValueError(f"unknown scaling {method!r}; choose one of {SCALINGS}")
    array = np.asarray(array)
    squeeze = array.ndim == 2
    if squeeze:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {array.shape}")
    array = array.astype(np.float32, copy=method == "none")
    if method == "none":
        out = array
    elif method == "minmax":
        out = minmax(array, **kwargs)
    elif method == "asinh":
        out = asinh(array, **kwargs)
    elif method == "lupton":
        out = lupton(array, **{**LUPTON_DEFAULTS, **kwargs})
    elif method == "lupton_high_contrast":
        out = lupton(array, **{**LUPTON_HIGH_CONTRAST_DEFAULTS, **kwargs})
    elif method == "sky_asinh":
        out = sky_asinh(array, **kwargs)
    else:
        out = zscale(array, **kwargs)
    out = out.astype(np.float32, copy=False)
    return out[..., 0] if squeeze else out


def _finite(band: np.ndarray) -> np.ndarray:
    return band[np.isfinite(band)]


def _apply_interval(array: np.ndarray, interval_for_band, stretch=None) -> np.ndarray:
    """Per band: limits from the finite pixels, linear map to [0, 1], clip, optional stretch."""
    out = np.empty_like(array, dtype=np.float32)
    for c in range(array.shape[-1]):
        band = array[..., c]
        values = _finite(band)
        if values.size == 0:
            out[..., c] = np.nan
            continue
        vmin, vmax = interval_for_band().get_limits(values)
        if not vmax > vmin:
            out[..., c] = np.where(np.isfinite(band), 0.0, np.nan)
            continue
        scaled = np.clip((band - vmin) / (vmax - vmin), 0.0, 1.0)
        if stretch is not None:
            scaled = stretch(scaled, clip=True)
        out[..., c] = scaled
    return out


def minmax(
    array: np.ndarray, *, lower_percentile: float = 0.0, upper_percentile: float = 100.0
) -> np.ndarray:
    """Per-band linear scaling between two percentiles (default: the min and max)."""
    from astropy.visualization import AsymmetricPercentileInterval, MinMaxInterval

    if lower_percentile == 0.0 and upper_percentile == 100.0:
        return _apply_interval(array, MinMaxInterval)
    return _apply_interval(array, lambda: AsymmetricPercentileInterval(lower_percentile, upper_percentile))


def asinh(
    array: np.ndarray, *, a: float = 0.1, lower_percentile: float = 1.0, upper_percentile: float = 99.5
) -> np.ndarray:
    """Per-band asinh stretch (astropy ``AsinhStretch``) after a percentile interval."""
    from astropy.visualization import AsinhStretch, AsymmetricPercentileInterval

    return _apply_interval(
        array, lambda: AsymmetricPercentileInterval(lower_percentile, upper_percentile), AsinhStretch(a=a)
    )


def zscale(array: np.ndarray, *, contrast: float = 0.25) -> np.ndarray:
    """Per-band IRAF/DS9 z-scale limits (astropy ``ZScaleInterval``), linear in between."""
    from astropy.visualization import ZScaleInterval

    return _apply_interval(array, lambda: ZScaleInterval(contrast=contrast))


def lupton(
    array: np.ndarray,
    *,
    softening_sigma: float = 3.0,
    saturation_percentile: float = 99.5,
    Q: float | None = None,
    stretch: float | None = None,
    minimum=None,
) -> np.ndarray:
    """Lupton et al. (2004) asinh scaling via astropy, with data-adaptive parameters.

    With astropy's ``LuptonAsinhStretch``, ``f(I) = asinh(Q I / stretch) * 0.1 / asinh(0.1 Q)``:
    linear for ``I << stretch / Q``, logarithmic above, and ``f = 1`` at
    ``I_sat = stretch / Q * sinh(asinh(0.1 Q) / 0.1)``. By default both are set from the image:
    ``stretch / Q = softening_sigma * sky noise`` and ``I_sat = saturation_percentile`` of the
    intensity, which fixes ``Q`` and ``stretch``.

    Parameters
    ----------
    array : np.ndarray
        ``(H, W, C)`` float image.
    softening_sigma : float
        Where the stretch turns logarithmic, in units of the sky noise of the intensity image.
    saturation_percentile : float
        Percentile of the intensity (band mean after subtracting ``minimum``) that maps to 1.
    Q, stretch : float, optional
        Astropy's parameters, to override the adaptive choice. ``Q`` alone: ``stretch`` still
        from the saturation level; ``stretch`` alone: ``Q = 8`` (astropy's default).
    minimum : float or sequence of per-band floats, optional
        Level mapped to black. Default: each band's sigma-clipped median (its sky background).
    """
    from astropy.visualization import LuptonAsinhStretch, ManualInterval, make_lupton_rgb

    from zoobot_tf.images.masks import _robust_background

    n_bands = array.shape[-1]
    if minimum is None:
        minimum = [_robust_background(array[..., c])[0] for c in range(n_bands)]
    minimum = np.broadcast_to(np.asarray(minimum, dtype=np.float64), (n_bands,))
    minimum = np.where(np.isfinite(minimum), minimum, 0.0)
    shifted = array - minimum.astype(np.float32)
    if stretch is None:
        intensity = shifted.mean(axis=-1)
        saturation = _saturation_level(_finite(intensity), saturation_percentile)
        if saturation is None:  # nothing above the background: a black image
            return np.where(np.isfinite(array), 0.0, np.nan).astype(np.float32)
        if Q is None:
            _, noise = _robust_background(intensity)
            softening = softening_sigma * noise
            if np.isfinite(softening) and 0 < softening < saturation:
                # sinh(asinh(0.1 Q) / 0.1) = I_sat / softening, solved for Q
                Q = float(np.clip(10.0 * np.sinh(0.1 * np.arcsinh(saturation / softening)), 1e-3, 1e10))
            else:
                Q = 8.0
        stretch = Q * saturation / np.sinh(np.arcsinh(0.1 * Q) / 0.1)
    elif Q is None:
        Q = 8.0
    stretch_object = LuptonAsinhStretch(stretch=stretch, Q=Q)
    if n_bands == 3:
        zero = [ManualInterval(vmin=0.0, vmax=None)] * 3
        rgb = make_lupton_rgb(
            shifted[..., 0], shifted[..., 1], shifted[..., 2],
            interval=zero, stretch_object=stretch_object, output_dtype=np.float64,
        )
        return np.clip(rgb, 0.0, 1.0).astype(np.float32)
    # single-band Lupton: intensity == band, so the mapping is the stretch itself, clipped to [0, 1]
    out = stretch_object(np.clip(shifted, 0.0, None).astype(np.float64), clip=False)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _saturation_level(intensity: np.ndarray, percentile: float) -> float | None:
    if intensity.size == 0:
        return None
    saturation = float(np.percentile(intensity, percentile))
    if not saturation > 0:
        saturation = float(intensity.max())
    return saturation if saturation > 0 else None


def sky_asinh(image, softening_sigma: float = 3.0) -> np.ndarray:
    """``asinh`` of each band in units of ``softening_sigma`` times its sky noise, divided by 5.

    Why: it depends on nothing but each band's noise, so a source maps to the same values whatever
    else is in the image (a bright star does not dim its neighbours, a tile does not change its
    contrast) and nothing saturates; detection uses it by default.
    """
    from zoobot_tf.images.masks import _robust_background

    image = np.asarray(image, dtype=np.float32)
    squeeze = image.ndim == 2
    image = image[..., None] if squeeze else image
    out = np.empty(image.shape, dtype=np.float32)
    for c in range(image.shape[-1]):
        sky, noise = _robust_background(image[..., c])
        if not (np.isfinite(noise) and noise > 0):  # a constant or empty band carries no signal
            out[..., c] = np.where(np.isfinite(image[..., c]), 0.0, np.nan)
            continue
        out[..., c] = np.arcsinh((image[..., c] - sky) / (softening_sigma * noise)) / 5.0
    return out[..., 0] if squeeze else out


#: ``"auto"`` picks ``"asinh"`` for 8-bit images whose typical 95th-percentile pixel is below this
#: fraction of the white level (see :func:`suggest_scaling`)
DARK_IMAGE_LEVEL = 0.06


def suggest_scaling(images) -> tuple[str, str]:
    """The scaling ``"auto"`` resolves to for a survey of 8-bit images: ``(name, reason)``.

    Why: a survey saved with a linear stretch to its brightest pixel (radio cutouts, a peak-
    normalised nucleus) puts a galaxy's discs, arms and lobes in the lowest few grey levels; an
    encoder pretrained on asinh-stretched optical images barely responds to them, and fine-tuning
    on a few hundred labels cannot move its early layers that far (issue 21: the linear probe on
    such a survey rose from 0.44 to 0.71 with ``"asinh"``). The Galaxy Zoo cutouts of the tests
    (DECaLS, GZ2, Kaggle) put their 95th-percentile pixel at 0.125-0.22 of white, the synthetic
    colour galaxies at 0.56; the sparse survey at 0.008-0.03 (64-32 px; benchmarks/results/
    scaling_levels). ``images`` are arrays with
    values in [0, 255] (one sample of the survey); below :data:`DARK_IMAGE_LEVEL` of white (median
    over images) -> ``"asinh"``, else ``"none"``.
    """
    levels = [float(np.percentile(np.asarray(image, dtype=np.float32), 95)) / 255.0 for image in images]
    if not levels:
        return "none", "no images to look at"
    level = float(np.median(levels))
    described = f"95% of pixels below {level:.3f} of the white level (median of {len(levels)} images)"
    if level < DARK_IMAGE_LEVEL:
        return "asinh", f"{described}: a dark, linearly stretched survey, so asinh"
    return "none", f"{described}: already stretched, so none"
