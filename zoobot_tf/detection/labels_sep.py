"""Ground truth for real, unlabelled images from ``sep`` (Source Extractor as a library).

Why: real survey fields come without instance masks. The Mask R-CNN study built its training
labels this way: model and subtract the sky (``sep.Background``), detect and deblend sources
(``sep.extract`` with ``segmentation_map=True``), and take each source's segment as its instance
mask. Segments never overlap (each pixel belongs to one source), unlike the synthetic masks.

Star/galaxy class (documented proxy, not truth): a source is a **star** when its half-light
radius ``r50`` (``sep.flux_radius`` with the other sources' segments masked) is at most
``star_radius_factor`` times the PSF's half-light radius, i.e. it is as compact as a point
source; otherwise a **galaxy**. The PSF's ``r50`` is measured on a
:func:`~zoobot_tf.synthetic.render.psf_kernel` of ``psf_fwhm`` when given, else estimated from the image as the median ``r50``
of the stellar locus: the most compact 20% of the sources detected at S/N > ``locus_snr`` (needs
at least 5 such; else of all sources). Faint sources are classed less reliably: their ``r50`` is
noisy. Replace the classes with a catalog's (e.g. a survey's extendedness) when one exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from zoobot_tf.detection.instances import (
    CLASS_IDS,
    ZEROPOINT,
    Scene,
    boxes_from_masks,
    flux_to_magnitude,
    reference_band_index,
)
from zoobot_tf.typed_options import field_values, options_from

logger = logging.getLogger(__name__)


def _as_hwc(image) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) or (H, W) image, got shape {image.shape}")
    return image


def subtract_background(image, *, mask=None, box_size: int = 64, filter_size: int = 3):
    """Per band ``sep.Background``: returns (background-subtracted (H, W, C) float64, global rms per band).

    NaN/inf pixels are masked for the background and set to 0 in the output.
    """
    import sep

    image = _as_hwc(image)
    invalid = ~np.isfinite(image).all(axis=-1)
    if mask is not None:
        invalid = invalid | np.asarray(mask, dtype=bool)
    if invalid.all():
        raise ValueError("image has no valid (finite, unmasked) pixels")
    out = np.empty_like(image)
    rms = np.empty(image.shape[-1])
    box = int(max(8, min(box_size, *image.shape[:2])))
    for c in range(image.shape[-1]):
        band = np.ascontiguousarray(np.where(invalid, 0.0, image[..., c]))
        bkg = sep.Background(band, mask=invalid, bw=box, bh=box, fw=filter_size, fh=filter_size)
        out[..., c] = np.where(invalid, 0.0, band - bkg.back())
        rms[c] = bkg.globalrms
    return out, rms


@dataclass(frozen=True)
class SepOptions:
    """How :func:`labels_from_sep` runs sep and tells stars from galaxies (see there for each)."""

    thresh: float = 1.5
    minarea: int = 5
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    psf_fwhm: float | None = None
    star_radius_factor: float = 1.1
    locus_snr: float = 30.0
    zeropoint: float = ZEROPOINT
    background_box: int = 64


def labels_from_sep(
    image,
    *,
    band: int | str | None = None,
    bands=None,
    mask=None,
    options: SepOptions | None = None,
    **kwargs,
) -> Scene:
    """Detect, deblend and segment the sources of an image with ``sep``; return them as labels.

    Parameters
    ----------
    image : (H, W, C) or (H, W) array
        Flux image (sky need not be subtracted: it is modelled here).
    band : int, str or None
        Detection band (index or name in ``bands``); None detects on the sum of the
        background-subtracted bands (noise: quadrature sum of the band rms).
    bands : sequence of str, optional
        Band names (default ``b0, b1, ...``).
    thresh : float
        Detection threshold in units of the detection image's global background rms.
    minarea, deblend_nthresh, deblend_cont
        ``sep.extract`` parameters (minimum pixels; deblending levels and contrast).
    mask : (H, W) bool, optional
        Pixels to ignore (NaN/inf are always ignored).
    psf_fwhm : float, optional
        PSF FWHM in pixels for the star/galaxy proxy; estimated from the image when None.
    star_radius_factor : float
        A source with ``r50 <= star_radius_factor * r50_psf`` is a star (class 2).
    locus_snr : float
        Minimum S/N of the sources used to estimate the PSF's ``r50``.
    zeropoint : float
        AB zeropoint for ``magnitudes``.
    background_box : int
        Background mesh size in pixels.

    Returns
    -------
    Scene
        ``image`` (the input, float32), ``boxes``, ``classes``, ``masks`` (the segments),
        ``fluxes`` (sum of the background-subtracted image in each segment, per band),
        ``magnitudes``, ``centres`` (sep's barycentres), ``sky_sigma`` (global rms per band).
        ``truth`` holds sep's per-source columns (``r50``, ``snr``, ``flag``...).
    """
    _o = options_from(SepOptions, options, **kwargs)
    (thresh, minarea, deblend_nthresh, deblend_cont, psf_fwhm, star_radius_factor, locus_snr, zeropoint,
     background_box) = field_values(_o)
    import pandas as pd
    import sep

    raw = _as_hwc(image)
    height, width, n_bands = raw.shape
    bands = tuple(bands) if bands is not None else tuple(f"b{c}" for c in range(n_bands))
    if len(bands) != n_bands:
        raise ValueError(f"{len(bands)} band names {bands} for an image with {n_bands} bands")
    sub, rms = subtract_background(raw, mask=mask, box_size=background_box)
    invalid = ~np.isfinite(raw).all(axis=-1)
    if mask is not None:
        invalid |= np.asarray(mask, dtype=bool)
    if band is None:
        detection, noise = sub.sum(axis=-1), float(np.sqrt(np.sum(rms**2)))
    else:
        index = reference_band_index(bands, band)
        detection, noise = sub[..., index], float(rms[index])
    detection = np.ascontiguousarray(detection)
    sep.set_extract_pixstack(max(300_000, height * width))
    sep.set_sub_object_limit(max(1024, sep.get_sub_object_limit()))
    objects, segmap = sep.extract(
        detection, thresh, err=noise, mask=invalid, minarea=minarea, deblend_nthresh=deblend_nthresh,
        deblend_cont=deblend_cont, segmentation_map=True,
    )
    n = len(objects)
    ids = np.arange(1, n + 1)
    areas = np.bincount(segmap.ravel(), minlength=n + 1)[1:]
    if n and (areas == 0).any():
        # sep can leave a source without segment pixels after cleaning; it cannot be a label
        logger.warning("sep: %d of %d sources have an empty segment and are not labelled", int((areas == 0).sum()), n)
    keep = areas > 0
    masks = segmap[None, :, :] == ids[keep][:, None, None]
    fluxes = np.stack(
        [np.bincount(segmap.ravel(), weights=sub[..., c].ravel(), minlength=n + 1)[1:] for c in range(n_bands)],
        axis=-1,
    ).reshape(n, n_bands)
    det_flux = np.bincount(segmap.ravel(), weights=detection.ravel(), minlength=n + 1)[1:]
    snr = det_flux / (noise * np.sqrt(np.maximum(areas, 1)))
    r50 = _half_light_radii(detection, objects, segmap, det_flux, areas)
    r50_psf = _psf_r50(psf_fwhm, r50, snr, locus_snr)
    is_star = np.isfinite(r50) & (r50 <= star_radius_factor * r50_psf)
    classes = np.where(is_star, CLASS_IDS["star"], CLASS_IDS["galaxy"]).astype(np.int32)

    truth = pd.DataFrame({
        "x": objects["x"], "y": objects["y"], "npix": areas, "r50": r50, "snr": snr,
        "peak": objects["peak"], "flag": objects["flag"], "class_id": classes, "labelled": keep,
    })
    truth.attrs["r50_psf"] = float(r50_psf)
    return Scene(
        image=raw.astype(np.float32),
        boxes=boxes_from_masks(masks),
        classes=classes[keep],
        masks=masks,
        image_shape=(height, width),
        fluxes=fluxes[keep],
        magnitudes=flux_to_magnitude(fluxes[keep], zeropoint),
        centres=np.stack([objects["x"], objects["y"]], axis=-1)[keep],
        bands=bands,
        sky_sigma=rms.astype(np.float32),
        zeropoint=zeropoint,
        truth=truth,
    )


def _half_light_radii(detection, objects, segmap, det_flux, areas) -> np.ndarray:
    """r50 of each source with the other sources' segments masked (NaN where undefined)."""
    import sep

    if len(objects) == 0:
        return np.zeros(0)
    rmax = np.maximum(2.0 * np.sqrt(np.maximum(areas, 1) / np.pi), 3.0)
    normflux = np.where(det_flux > 0, det_flux, np.nan)
    ok = np.isfinite(normflux)
    r50 = np.full(len(objects), np.nan)
    if ok.any():
        radius, flags = sep.flux_radius(
            detection, objects["x"][ok], objects["y"][ok], rmax[ok], 0.5, normflux=normflux[ok],
            segmap=segmap.astype(np.int32), seg_id=np.arange(1, len(objects) + 1, dtype=np.int32)[ok], subpix=5,
        )
        r50[ok] = radius
    return r50


def _psf_r50(psf_fwhm, r50, snr, locus_snr: float) -> float:
    """Half-light radius of a point source: measured on the PSF image of ``psf_fwhm``, else the stellar locus."""
    import sep

    if psf_fwhm is not None:
        from zoobot_tf.synthetic.render import psf_kernel

        kernel = np.ascontiguousarray(psf_kernel(float(psf_fwhm)), dtype=np.float64)
        centre = np.array([kernel.shape[0] // 2], dtype=np.float64)
        radius, _ = sep.flux_radius(kernel, centre, centre, np.array([centre[0]]), 0.5,
                                    normflux=np.array([kernel.sum()]), subpix=5)
        return float(radius[0])
    finite = np.isfinite(r50)
    bright = finite & (snr > locus_snr)
    values = r50[bright] if bright.sum() >= 5 else r50[finite]
    if values.size == 0:
        return float("nan")
    cut = np.quantile(values, 0.2)
    return float(np.median(values[values <= cut]))


__all__ = ["labels_from_sep", "subtract_background"]
