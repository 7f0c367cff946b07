"""Synthetic blended multi-band fields with exact labels: the embedded default data for detection.

Why synthetic: real survey fields have no exact instance masks or star/galaxy truth down to the
detection limit; here every source is drawn from known parameters, so boxes, masks, classes and
fluxes are exact and completeness/purity can be measured against the true catalog.

A field holds galaxies (Sérsic n=4 bulge + exponential disk, each component with its own colour,
rendered 2x oversampled) and stars (point sources), all convolved with one PSF (the Gaussian core
+ Moffat-like halo of :func:`zoobot_tf.synthetic.profiles.star_psf`); the light of each source is
drawn by :mod:`zoobot_tf.synthetic.render` (the one renderer), this module places and labels them, then Gaussian sky noise and
source (Poisson-like) noise. ``crowding`` places objects next to earlier ones to make blends.

An object's instance mask is where its own noiseless flux, summed over bands, exceeds
``mask_nsigma`` times the sky noise of the band sum; objects whose mask has fewer than
``min_pixels`` pixels are too faint to label: they stay in ``scene.truth`` (``labelled`` False)
but get no box. ``truth`` also gives each object's half-light radius ``r50`` (PSF included, bands
summed) and two S/N: the sky-limited ``snr``, its own noiseless flux inside its mask over the
band-summed sky noise of that many pixels, and ``snr_total``, the same flux over all the noise in
its mask once the field is assembled: sky plus the photon noise of its own light and of its
neighbours' (the CCD equation). With the default sky (0.1 counts) and gain (10) a source's own
photons matter even when it is faint (a 25 mag star alone: ``snr`` 17, ``snr_total`` 10), and a
source on a brighter one keeps a fraction of its ``snr``. Fluxes are in counts with AB zeropoint 27
(:data:`ZEROPOINT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from zoobot_tf.detection.instances import (
    CLASS_IDS,
    ZEROPOINT,
    Scene,
    boxes_from_masks,
    flux_to_magnitude,
    magnitude_to_flux,
    reference_band_index,
)
from zoobot_tf.synthetic.render import (
    BAND_NOISE,
    COLOUR_SLOPE,
    band_colours,
    check_bands,
    galaxy_stamp,
    star_stamp,
)
from zoobot_tf.typed_options import field_values, options_from

#: Default bands (those of the HSC study).
DEFAULT_BANDS = ("g", "r", "i")
#: Default sky noise of the r band (counts) and gain (photon noise variance = counts / gain).
DEFAULT_SKY_SIGMA, DEFAULT_GAIN = 0.1, 10.0


def _per_band(value, bands, name) -> np.ndarray:
    value = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if value.size == 1:
        return np.full(len(bands), float(value[0]))
    if value.size != len(bands):
        raise ValueError(f"{name} needs one value or one per band {bands}, got {value.size}")
    return value


def _paste(target: np.ndarray, stamp: np.ndarray, x0: int, y0: int):
    """Add ``stamp`` into ``target`` at (x0, y0), clipped to the image; returns the slices used."""
    h, w = target.shape[:2]
    sh, sw = stamp.shape[:2]
    tx0, ty0, tx1, ty1 = max(x0, 0), max(y0, 0), min(x0 + sw, w), min(y0 + sh, h)
    if tx0 >= tx1 or ty0 >= ty1:
        return None
    target[ty0:ty1, tx0:tx1] += stamp[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0]
    return (slice(ty0, ty1), slice(tx0, tx1)), (slice(ty0 - y0, ty1 - y0), slice(tx0 - x0, tx1 - x0))


def _half_light_radius(image: np.ndarray, xc: float, yc: float) -> float:
    """Radius (pixels) around (xc, yc) enclosing half the flux of a noiseless stamp, PSF included."""
    yy, xx = np.indices(image.shape)
    radius = np.hypot(xx - xc, yy - yc).ravel()
    order = np.argsort(radius, kind="stable")
    cumulative = np.cumsum(image.ravel()[order], dtype=np.float64)
    if cumulative[-1] <= 0:
        return float("nan")
    return float(radius[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _mask_snr(own_flux: np.ndarray, sky_variance: float) -> float:
    """S/N of an object's own (noiseless, band-summed) flux inside its mask against the band-summed sky noise."""
    if own_flux.size == 0:
        return 0.0
    return float(own_flux.sum() / np.sqrt(own_flux.size * sky_variance))


def _sample_objects(size, n_galaxies, n_stars, bands, reference, rng, crowding, galaxy_mag_range,
                    star_mag_range, psf_fwhm) -> list[dict]:
    height, width = size
    objects = []
    kinds = ["galaxy"] * n_galaxies + ["star"] * n_stars
    rng.shuffle(kinds)
    for kind in kinds:
        if kind == "galaxy":
            mag = rng.uniform(*galaxy_mag_range)
            r_disk = float(np.clip(10 ** rng.normal(np.log10(4.0) - 0.15 * (mag - 21.0), 0.15), 0.7, 30.0))
            bt = float(rng.uniform(0.0, 1.0))
            params = dict(
                kind=kind, mag_ref=mag, r_disk=r_disk, r_bulge=r_disk * rng.uniform(0.2, 0.5),
                bulge_fraction=bt, q_disk=rng.uniform(0.3, 1.0), q_bulge=rng.uniform(0.6, 1.0),
                angle=rng.uniform(0.0, 180.0),
            )
            redden = rng.normal(0.0, 0.2)
            params["bulge_colour"] = band_colours(bands, reference, COLOUR_SLOPE["bulge"] + redden)
            params["disk_colour"] = band_colours(bands, reference, COLOUR_SLOPE["disk"] + redden)
            colour = bt * params["bulge_colour"] + (1 - bt) * params["disk_colour"]
            extent = r_disk
        else:
            mag = rng.uniform(*star_mag_range)
            params = dict(kind=kind, mag_ref=mag, r_disk=0.0, r_bulge=0.0, bulge_fraction=np.nan,
                          q_disk=1.0, q_bulge=1.0, angle=0.0)
            colour = band_colours(bands, reference, rng.uniform(-1.0, 2.5))
            extent = 0.0
        params["fluxes"] = magnitude_to_flux(mag) * colour
        params["extent"] = max(extent, psf_fwhm.max())
        if objects and rng.uniform() < crowding:
            neighbour = objects[rng.integers(len(objects))]
            separation = rng.uniform(0.4, 1.6) * (params["extent"] + neighbour["extent"])
            angle = rng.uniform(0, 2 * np.pi)
            x = neighbour["x"] + separation * np.cos(angle)
            y = neighbour["y"] + separation * np.sin(angle)
            params["x"], params["y"] = float(np.clip(x, 0, width - 1)), float(np.clip(y, 0, height - 1))
            params["blend_with"] = neighbour["id"]
        else:
            params["x"], params["y"] = float(rng.uniform(0, width - 1)), float(rng.uniform(0, height - 1))
            params["blend_with"] = -1
        params["id"] = len(objects)
        objects.append(params)
    return objects


@dataclass(frozen=True)
class SceneOptions:
    """How :func:`make_scene` renders a field beyond its size and source counts (see there for each)."""

    crowding: float = 0.2
    galaxy_mag_range: tuple[float, float] = (18.0, 25.0)
    star_mag_range: tuple[float, float] = (17.0, 25.0)
    psf_fwhm: float | tuple[float, ...] = 3.0
    sky_sigma: float = DEFAULT_SKY_SIGMA
    gain: float = DEFAULT_GAIN
    mask_nsigma: float = 1.0
    min_pixels: int = 5
    reference_band: str | None = None


def make_scene(
    size: int | tuple[int, int] = 128,
    n_galaxies: int = 10,
    n_stars: int = 5,
    bands=DEFAULT_BANDS,
    rng: np.random.Generator | int | None = None,
    *,
    options: SceneOptions | None = None,
    **kwargs,
) -> Scene:
    """Render one synthetic blended field with exact labels.

    Parameters
    ----------
    size : int or (H, W)
        Image size in pixels.
    n_galaxies, n_stars : int
        Objects injected (all kept in ``truth``; only those with a mask are labelled).
    bands : sequence of str
        Band names from ``zoobot_tf.synthetic.render.BAND_WAVELENGTHS`` (g r i z y).
    rng : Generator or int seed
    crowding : float in [0, 1]
        Probability that an object is placed next to an earlier one (separation 0.4-1.6 times
        the sum of their sizes), making blends; 0 = independent uniform positions.
    galaxy_mag_range, star_mag_range : (min, max)
        AB magnitudes in the reference band, drawn uniformly.
    psf_fwhm : float or one per band
        PSF full width at half maximum in pixels.
    sky_sigma : float
        Sky noise of the 'r' band in counts; other bands scale by
        ``zoobot_tf.synthetic.render.BAND_NOISE`` (g 0.8, r 1, i 1.3, ...).
    gain : float
        Source noise variance is ``model / gain``.
    mask_nsigma, min_pixels
        Mask threshold (sky sigmas of the band sum) and smallest labelled mask.
    reference_band : str, optional
        Band of the magnitude ranges (default 'r' if present, else the middle band).

    Returns
    -------
    Scene
        ``image`` (H, W, C) float32, ``boxes``, ``classes``, ``masks``, ``fluxes``/``magnitudes``
        (N, C) true per band, ``centres``, ``sky_sigma``, and ``truth`` (every injected object).
    """
    _o = options_from(SceneOptions, options, **kwargs)
    (crowding, galaxy_mag_range, star_mag_range, psf_fwhm, sky_sigma, gain, mask_nsigma, min_pixels,
     reference_band) = field_values(_o)
    bands = check_bands(bands)
    rng = np.random.default_rng(rng)
    height, width = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if height < 8 or width < 8:
        raise ValueError(f"scene size {(height, width)} too small (need >= 8 px)")
    if n_galaxies < 0 or n_stars < 0:
        raise ValueError(f"n_galaxies={n_galaxies} and n_stars={n_stars} must be >= 0")
    if not 0.0 <= crowding <= 1.0:
        raise ValueError(f"crowding={crowding} must be in [0, 1]")
    reference = reference_band_index(bands, reference_band)
    fwhm = _per_band(psf_fwhm, bands, "psf_fwhm")
    sigma = np.array([sky_sigma * BAND_NOISE[b] for b in bands], dtype=np.float32)
    sky_variance = float(np.sum(sigma.astype(np.float64) ** 2))
    mask_threshold = mask_nsigma * np.sqrt(sky_variance)

    objects = _sample_objects((height, width), n_galaxies, n_stars, bands, reference, rng, crowding,
                              galaxy_mag_range, star_mag_range, fwhm)
    model = np.zeros((height, width, len(bands)), dtype=np.float32)
    masks, rows, footprints = [], [], []
    for obj in objects:
        if obj["kind"] == "galaxy":
            stamp, x0, y0 = galaxy_stamp(obj, bands, fwhm)
        else:
            stamp, x0, y0 = star_stamp(obj, bands, fwhm)
        where = _paste(model, stamp, x0, y0)
        mask_area, snr = 0, 0.0
        r50 = _half_light_radius(stamp.sum(axis=-1), obj["x"] - x0, obj["y"] - y0)
        if where is not None:
            (target, source) = where
            own_flux = stamp[source].sum(axis=-1)
            own = own_flux > mask_threshold
            mask_area = int(own.sum())
            snr = _mask_snr(own_flux[own], sky_variance)
            footprints.append((len(rows), target, own, own_flux[own]))
            if mask_area >= min_pixels:
                full = np.zeros((height, width), dtype=bool)
                full[target] = own
                masks.append(full)
        labelled = mask_area >= min_pixels
        rows.append(_truth_row(obj, bands, r50=r50, snr=snr, mask_area=mask_area, labelled=labelled,
                               label_index=len(masks) - 1 if labelled else -1))
    truth = pd.DataFrame(rows, columns=_truth_columns(bands))
    # All the noise in each footprint (sky + the photon noise of every source's light, its own and
    # its neighbours'): the S/N a measurement of the object can reach once the field is assembled.
    variance = sky_variance + np.clip(model, 0.0, None).sum(axis=-1) / gain
    snr_total = np.zeros(len(rows))
    for row, target, own, flux in footprints:
        if flux.size:
            snr_total[row] = float(flux.sum() / np.sqrt(variance[target][own].sum()))
    truth.insert(truth.columns.get_loc("snr") + 1, "snr_total", snr_total)
    labelled = truth["labelled"].to_numpy(bool)
    fluxes = truth[[f"flux_{b}" for b in bands]].to_numpy(np.float32)[labelled]
    mags = truth[[f"mag_{b}" for b in bands]].to_numpy(np.float32)[labelled]

    noise_sd = np.sqrt(sigma**2 + np.clip(model, 0.0, None) / gain)
    image = (model + rng.normal(size=model.shape).astype(np.float32) * noise_sd).astype(np.float32)
    mask_array = np.stack(masks) if masks else np.zeros((0, height, width), dtype=bool)
    return Scene(
        image=image,
        boxes=boxes_from_masks(mask_array),
        classes=truth["class_id"].to_numpy(np.int32)[labelled],
        masks=mask_array,
        image_shape=(height, width),
        fluxes=fluxes,
        magnitudes=mags,
        centres=truth[["x", "y"]].to_numpy(np.float32)[labelled],
        bands=bands,
        sky_sigma=sigma,
        zeropoint=ZEROPOINT,
        truth=truth,
    )


def _truth_row(obj, bands, **measured) -> dict:
    """One injected object as a row of the scene's truth table."""
    return dict(
        id=obj["id"], class_id=CLASS_IDS[obj["kind"]], class_name=obj["kind"], x=obj["x"], y=obj["y"],
        **{f"flux_{b}": float(obj["fluxes"][c]) for c, b in enumerate(bands)},
        **{f"mag_{b}": float(m) for b, m in zip(bands, flux_to_magnitude(obj["fluxes"]))},
        r_disk=obj["r_disk"], r_bulge=obj["r_bulge"], bulge_fraction=obj["bulge_fraction"],
        axis_ratio=obj["q_disk"], position_angle=obj["angle"], blend_with=obj["blend_with"], **measured,
    )


def _truth_columns(bands) -> list[str]:
    return ["id", "class_id", "class_name", "x", "y", *[f"flux_{b}" for b in bands], *[f"mag_{b}" for b in bands],
            "r_disk", "r_bulge", "bulge_fraction", "axis_ratio", "position_angle", "blend_with", "r50", "snr",
            "mask_area", "labelled", "label_index"]


def make_scenes(n: int, size: int | tuple[int, int] = 128, *, seed: int = 0, progress: bool = False,
                **scene_kwargs) -> list[Scene]:
    """``n`` independent scenes (deterministic for a ``seed``); keywords go to :func:`make_scene`.

    ``n_galaxies`` / ``n_stars`` may be ``(low, high)`` ranges, drawn per scene (inclusive).
    """
    from tqdm.auto import tqdm

    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    seeds = np.random.SeedSequence(seed).spawn(n)
    scenes = []
    for child in tqdm(seeds, desc="scenes", disable=None if progress else True):
        rng = np.random.default_rng(child)
        kwargs = dict(scene_kwargs)
        for key, default in (("n_galaxies", 10), ("n_stars", 5)):
            value = kwargs.get(key, default)
            kwargs[key] = int(rng.integers(value[0], value[1] + 1)) if np.ndim(value) else int(value)
        scenes.append(make_scene(size, rng=rng, **kwargs))
    return scenes


def scenes_to_batches(scenes, max_objects: int | None = None, *, scaling: str | None = None) -> dict:
    """Stack scenes into the dict batch that ``MaskRCNN.fit`` takes.

    Parameters
    ----------
    scenes : sequence of Scene
        All of the same (H, W, C).
    max_objects : int, optional
        Padded object dimension M (default: the most objects in any scene). A scene with more
        objects raises (nothing is dropped silently).
    scaling : str, optional
        Name for :func:`zoobot_tf.detection.scalings.apply_scaling` applied to every image; None
        keeps the raw flux.

    Returns
    -------
    dict
        ``images`` [B, H, W, C] float32, ``boxes`` [B, M, 4] float32 (x0, y0, x1, y1) padded -1,
        ``classes`` [B, M] int32 padded -1, ``masks`` [B, M, H, W] uint8 padded 0.
    """
    scenes = list(scenes)
    if not scenes:
        raise ValueError("scenes_to_batches needs at least one scene")
    shape = scenes[0].image.shape
    for i, scene in enumerate(scenes):
        if scene.image.shape != shape:
            raise ValueError(f"scene {i} has image shape {scene.image.shape}, scene 0 has {shape}")
    counts = [len(s) for s in scenes]
    if max_objects is None:
        max_objects = max(max(counts), 1)
    too_many = [(i, c) for i, c in enumerate(counts) if c > max_objects]
    if too_many:
        i, c = too_many[0]
        raise ValueError(f"scene {i} has {c} objects > max_objects={max_objects}; raise max_objects")
    b, (h, w, ch) = len(scenes), shape
    images = np.empty((b, h, w, ch), dtype=np.float32)
    boxes = np.full((b, max_objects, 4), -1.0, dtype=np.float32)
    classes = np.full((b, max_objects), -1, dtype=np.int32)
    masks = np.zeros((b, max_objects, h, w), dtype=np.uint8)
    if scaling is not None:
        from zoobot_tf.detection.scalings import apply_scaling
    for i, scene in enumerate(scenes):
        images[i] = scene.image if scaling is None else apply_scaling(scene.image, scaling)
        n = len(scene)
        boxes[i, :n], classes[i, :n], masks[i, :n] = scene.boxes, scene.classes, scene.masks
    return {"images": images, "boxes": boxes, "classes": classes, "masks": masks}


def scene_wcs(shape, *, ra: float = 150.0, dec: float = 2.0, pixel_scale_arcsec: float = 0.168):
    """A north-up gnomonic (TAN) ``astropy.wcs.WCS`` centred on (ra, dec); 0.168"/px is HSC's scale."""
    from astropy.wcs import WCS

    height, width = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [width / 2.0 + 0.5, height / 2.0 + 0.5]  # FITS pixels are 1-based
    wcs.wcs.cdelt = [-pixel_scale_arcsec / 3600.0, pixel_scale_arcsec / 3600.0]
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs


def write_scene_fits(scene: Scene, path, *, wcs=None, ra: float = 150.0, dec: float = 2.0,
                     pixel_scale_arcsec: float = 0.168) -> Path:
    """Write a scene as FITS so ``zoobot-tf detect`` can run on it.

    Primary HDU: the (C, H, W) float32 cube with a celestial WCS (``wcs`` or :func:`scene_wcs`),
    ``BANDS``, ``MAGZERO``; extension ``TRUTH``: the true catalog (every injected object).
    """
    from astropy.io import fits
    from astropy.table import Table

    path = Path(path)
    wcs = wcs if wcs is not None else scene_wcs(scene.image_shape, ra=ra, dec=dec,
                                                pixel_scale_arcsec=pixel_scale_arcsec)
    header = wcs.to_header()
    primary = fits.PrimaryHDU(np.ascontiguousarray(np.moveaxis(scene.image, -1, 0)), header=header)
    primary.header["BANDS"] = (",".join(scene.bands), "band of each plane, in order")
    primary.header["MAGZERO"] = (scene.zeropoint, "AB mag of flux 1")
    primary.header["BUNIT"] = "count"
    hdus = [primary]
    if scene.truth is not None:
        truth = Table.from_pandas(scene.truth)
        hdus.append(fits.BinTableHDU(truth, name="TRUTH"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


__all__ = [
    "DEFAULT_BANDS",
    "make_scene",
    "make_scenes",
    "scene_wcs",
    "scenes_to_batches",
    "write_scene_fits",
]
