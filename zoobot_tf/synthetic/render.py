"""Render one row of :func:`~zoobot_tf.synthetic.morphology.sample_morphology` into a multi-band image.

A galaxy is a sum of components (bulge, disk, spiral arms, bar, ring, star-forming clumps,
tidal tails), each with its own colour (bulges red, disks and arms bluer), drawn on a 2x
oversampled grid, binned, convolved with a Gaussian PSF, then joined by what is *not* the
target (a merging companion, foreground stars, artifacts) and noise. The galaxy and the rest
are kept apart so FITS output can carry a true object mask.

Flux units: a pixel holds ``flux * (size / 96)**2 * unit_profile``, so a galaxy looks the
same (same signal-to-noise per pixel) at every image size; the sky noise sigma is ``noise``
times a per-band factor.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from zoobot_tf.synthetic import profiles as P

BAND_WAVELENGTHS = {"g": 480.0, "r": 620.0, "i": 760.0, "z": 910.0, "y": 990.0}
BAND_NOISE = {"g": 0.8, "r": 1.0, "i": 1.3, "z": 1.6, "y": 2.0}  # sky sigma relative to r
PNG_BANDS = ("g", "r", "z")
FITS_BANDS = ("g", "r", "i", "z", "y")
REFERENCE_SIZE = 96
OVERSAMPLE = 2
SOURCE_GAIN = 20.0  # Poisson-like variance = max(signal, 0) * sigma / SOURCE_GAIN

#: Spectral slope per component: flux_b / flux_r = (lambda_b / lambda_r) ** slope.
COLOUR_SLOPE = {"bulge": 1.3, "disk": 0.35, "young": -0.7, "companion": 0.8, "tail": 0.2}
#: Largest half-side of a source stamp in a field (:func:`galaxy_stamp`, :func:`star_stamp`).
MAX_STAMP_HALF = 160


@dataclass
class RenderedGalaxy:
    """A rendered, noiseless scene: ``galaxy`` (the target, for object masks) and ``other``, both (H, W, B)."""

    galaxy: np.ndarray
    other: np.ndarray
    bands: tuple[str, ...]

    @property
    def total(self) -> np.ndarray:
        return self.galaxy + self.other


def check_bands(bands) -> tuple[str, ...]:
    bands = tuple(bands)
    unknown = [b for b in bands if b not in BAND_WAVELENGTHS]
    if unknown or not bands:
        raise ValueError(f"unknown band(s) {unknown or bands}; supported: {', '.join(BAND_WAVELENGTHS)}")
    return bands


def sed(bands, slope: float, redshift: float = 0.0) -> np.ndarray:
    """Relative flux per band for a power-law spectrum; redshift reddens everything a little."""
    lam = np.array([BAND_WAVELENGTHS[b] for b in bands])
    return (lam / BAND_WAVELENGTHS["r"]) ** (slope + 6.0 * (redshift - 0.02))


def _unit(m: np.ndarray) -> np.ndarray:
    s = m.sum()
    return m / s if s > 0 else np.zeros_like(m)


def _bin(m: np.ndarray, size: int) -> np.ndarray:
    return m.reshape(size, OVERSAMPLE, size, OVERSAMPLE).sum(axis=(1, 3))


def _get(row, name, default=None):
    try:
        return row[name]
    except (KeyError, IndexError):
        if default is None:
            raise KeyError(f"morphology row {getattr(row, 'name', '?')!r} lacks parameter {name!r}") from None
        return default


def _galaxy_components(row, size: int, rng: np.random.Generator):
    """Components of the target galaxy and of its companion: lists of (map on the fine grid, flux, colour name)."""
    x, y = P.pixel_grid(size, OVERSAMPLE)
    flux = float(_get(row, "flux"))
    r_half = float(_get(row, "radius")) * size
    cx, cy = float(_get(row, "x_offset")) * size, float(_get(row, "y_offset")) * size
    q = float(_get(row, "axis_ratio"))
    bt = float(_get(row, "bulge_fraction"))
    ratio = float(_get(row, "bulge_radius_ratio"))
    is_elliptical = _get(row, "hubble_type") == "E"
    # choose the disk scale so the *whole* galaxy has half-light radius ~ r_half, whatever its B/T
    disk_re = r_half / (bt * ratio + (1.0 - bt))
    bulge_re = max(ratio * disk_re, 0.6)

    u, v = P.rotate(x, y, cx, cy, float(_get(row, "position_angle")))
    v_plane = v / q  # deprojected in-plane coordinates of the disk
    R = np.hypot(u, v_plane)
    handed = rng.choice([-1.0, 1.0])
    theta = handed * np.arctan2(v_plane, u)

    comps = []
    # bulge: round-ish unless the whole galaxy is a spheroid; boxy isophotes for boxiness > 0.5
    q_bulge = q if is_elliptical else max(q, 0.6)
    box = float(np.clip((float(_get(row, "boxiness")) - 0.5) * 2.0, 0.0, 1.0))
    bulge = P.sersic(P.generalised_radius(u, v, q_bulge, box), bulge_re, float(_get(row, "sersic_n")))

    disk_flux = (1.0 - bt) * flux
    disk = P.sersic(R, disk_re, 1.0)
    stage = int(_get(row, "merger_stage"))
    clumpiness = float(_get(row, "clumpiness"))
    lopsided = 0.5 * clumpiness + 0.25 * min(stage, 2)
    if lopsided > 0:
        disk = disk * (1.0 + lopsided * np.cos(theta - rng.uniform(0, 2 * np.pi)) * np.clip(R / disk_re, 0, 2) / 2)

    # dust lane: attenuates bulge + disk of inclined disks along the mid-plane
    dust = float(_get(row, "dust_lane"))
    incl = float(_get(row, "inclination"))
    atten = 1.0
    if dust > 0 and incl > 60:
        visible = 1.0 / (1.0 + np.exp(-(incl - 72.0) / 4.0))
        width = max(0.2 * q * disk_re, 0.7 * size / REFERENCE_SIZE)
        lane = np.exp(-0.5 * ((v - 0.6 * width) / width) ** 2) * np.exp(-0.5 * (u / (2.5 * disk_re)) ** 2)
        atten = np.exp(-4.0 * dust * visible * lane)  # applied after unit normalisation: dust removes light

    comps.append((_unit(bulge) * atten, bt * flux, "bulge"))
    budget = disk_flux
    bar_strength = float(_get(row, "bar_strength"))
    bar_len = float(_get(row, "bar_length")) * disk_re
    if bar_strength > 0 and disk_flux > 0:
        ub, vb = P.rotate(u, v_plane, 0.0, 0.0, float(_get(row, "bar_angle")))
        bar_flux = 0.5 * bar_strength * disk_flux
        comps.append((_unit(P.ferrers(ub, vb, bar_len, 0.28, 1.5)) * atten, bar_flux, "bulge"))
        budget -= bar_flux
    ring_strength = float(_get(row, "ring_strength"))
    if ring_strength > 0 and disk_flux > 0:
        r_ring = max(bar_len if bar_strength > 0 else 0.0, 1.3 * disk_re)
        ring_flux = 0.2 * ring_strength * disk_flux
        comps.append((_unit(P.ring(R, r_ring, 0.12 * r_ring)) * atten, ring_flux, "disk"))
        budget -= ring_flux
    n_clumps = int(_get(row, "n_clumps"))
    if n_clumps > 0 and disk_flux > 0:
        clumps = np.zeros_like(x)
        weights = rng.dirichlet(np.full(n_clumps, 2.0))
        for w in weights:
            rc, phi = disk_re * rng.uniform(0.2, 1.8), rng.uniform(0, 2 * np.pi)
            sigma = size * rng.uniform(0.012, 0.022)
            clumps += w * _unit(P.gaussian(u, v_plane, rc * np.cos(phi), rc * np.sin(phi), sigma))
        clump_flux = (0.1 + 0.45 * clumpiness) * disk_flux
        comps.append((_unit(clumps) * atten, clump_flux, "young"))
        budget -= clump_flux
    n_arms = int(_get(row, "n_arms"))
    arm_strength = float(_get(row, "arm_strength"))
    if n_arms > 0 and arm_strength > 0 and disk_flux > 0:
        sharp = 3.0 if n_arms <= 4 else 2.0
        pattern = P.log_spiral_pattern(
            R, theta, n_arms, float(_get(row, "arm_pitch")), float(_get(row, "arm_phase")), sharpness=sharp
        )
        r_in = max(1.3 * bulge_re if bt > 0.02 else 0.3 * disk_re, 0.9 * bar_len if bar_strength > 0 else 0.0)
        window = 1.0 - np.exp(-((R / r_in) ** 3))
        arm_profile = P.sersic(R, 1.3 * disk_re, 1.0) * pattern * window
        arm_flux = 0.75 * arm_strength * budget
        comps.append((_unit(arm_profile) * atten, arm_flux, "young"))
        budget -= arm_flux
    comps.append((_unit(disk) * atten, max(budget, 0.0), "disk"))

    # tidal tails from interactions (part of the target galaxy)
    tidal = float(_get(row, "tidal_strength"))
    if stage > 0 and tidal > 0:
        Rt = np.hypot(x - cx, y - cy)
        th = np.arctan2(y - cy, x - cx) * rng.choice([-1.0, 1.0])
        phase = np.deg2rad(float(_get(row, "companion_angle")))
        n_tails = 1 if stage == 1 else 2
        tails = np.zeros_like(x)
        for k in range(n_tails):
            tails += P.spiral_arc(
                Rt,
                th,
                pitch_deg=rng.uniform(30, 50),
                phase=phase + np.pi * k + rng.uniform(-0.4, 0.4),
                r_start=0.8 * r_half,
                r_end=r_half * rng.uniform(3.0, 4.2),
                width=max(0.03 * size, 1.2),
            )
        frac = 0.1 if stage == 1 else 0.22
        comps.append((_unit(tails), frac * tidal * flux, "tail"))

    companions = []
    if stage > 0:
        ang = np.deg2rad(float(_get(row, "companion_angle")))
        sep = float(_get(row, "companion_separation")) * size
        ratio_c = float(_get(row, "companion_flux_ratio"))
        px, py = cx + sep * np.cos(ang), cy + sep * np.sin(ang)
        uc, vc = P.rotate(x, y, px, py, rng.uniform(0, 180))
        qc = rng.uniform(0.5, 1.0)
        re_c = r_half * (0.35 + 0.5 * np.sqrt(ratio_c))
        comp_map = P.sersic(P.generalised_radius(uc, vc, qc), re_c, rng.uniform(1.0, 4.0))
        companions.append((_unit(comp_map), ratio_c * flux, "companion"))
    return comps, companions


def _point_sources(row, size, bands, rng, psf_fwhm, galaxy_peak):
    """Foreground stars and artifacts on the final grid (already sharp; the PSF is in star_psf)."""
    x, y = P.pixel_grid(size, 1)
    area = (size / REFERENCE_SIZE) ** 2
    flux = float(_get(row, "flux")) * area
    out = np.zeros((size, size, len(bands)))
    kind = _get(row, "kind")
    if kind == "star":
        sx, sy = rng.normal(0, 0.01 * size, 2)
        f = float(_get(row, "star_flux_ratio")) * flux
        img = P.star_psf(x, y, sx, sy, psf_fwhm, spike_length=0.12 * size, spike_angle_deg=rng.uniform(0, 10))
        out += img[..., None] * f * sed(bands, rng.uniform(-0.5, 2.0))[None, None, :]
    for _ in range(int(_get(row, "n_field_stars", 0))):
        r, a = size * rng.uniform(0.22, 0.48), rng.uniform(0, 2 * np.pi)
        f = flux * 10 ** rng.uniform(-2.3, -0.8)
        spike = 0.06 * size if f > 0.05 * flux else 0.0
        img = P.star_psf(x, y, r * np.cos(a), r * np.sin(a), psf_fwhm, spike_length=spike)
        out += img[..., None] * f * sed(bands, rng.uniform(-0.5, 2.5))[None, None, :]

    if kind == "artifact":
        strength = float(_get(row, "artifact_strength"))
        level = max(galaxy_peak, 1.0) * (0.6 + 0.8 * strength)
        kind_a = _get(row, "artifact_type")
        if kind_a == "satellite_trail":
            u, v = P.rotate(x, y, *rng.normal(0, 0.1 * size, 2), rng.uniform(0, 180))
            trail = np.exp(-0.5 * (v / rng.uniform(0.6, 1.2)) ** 2)
            colour = np.zeros(len(bands))
            colour[rng.integers(len(bands))] = 1.0  # a trail is in one exposure, hence one band
            colour = 0.3 + colour if rng.random() < 0.5 else colour
            out += trail[..., None] * level * colour[None, None, :]
        elif kind_a == "bad_columns":
            n_cols = rng.integers(2, 6)
            start = int(size / 2 + rng.normal(0, 0.12 * size))
            cols = np.clip(np.arange(start, start + n_cols), 0, size - 1)
            values = level * rng.uniform(0.5, 1.5, (n_cols, len(bands)))
            for c, val in zip(cols, values):
                out[:, c, :] += val[None, :]
        elif kind_a == "saturated_star":
            r, a = size * rng.uniform(0.05, 0.2), rng.uniform(0, 2 * np.pi)
            sx, sy = r * np.cos(a), r * np.sin(a)
            img = P.star_psf(x, y, sx, sy, psf_fwhm * 2.5, spike_length=0.2 * size)
            star = img[..., None] * flux * 40 * strength * sed(bands, rng.uniform(0.0, 1.5))[None, None, :]
            col = int(np.clip(round(sx + size / 2), 1, size - 2))
            half = int(size * (0.15 + 0.3 * strength))
            row0 = int(np.clip(round(sy + size / 2), 0, size - 1))
            star[max(row0 - half, 0) : row0 + half, col - 1 : col + 2, :] = level * 3
            out += np.minimum(star, level * 3)
        else:
            raise ValueError(f"morphology row {getattr(row, 'name', '?')!r}: unknown artifact_type {kind_a!r}")
    return out


def render_scene(
    row, size: int = 96, bands=PNG_BANDS, rng: np.random.Generator | None = None, psf_fwhm: float | None = None
) -> RenderedGalaxy:
    """Noiseless multi-band model of one morphology row, target galaxy separate from everything else.

    Parameters
    ----------
    row : pandas.Series or mapping
        One row of :func:`sample_morphology`.
    size : int
        Image width = height in pixels.
    bands : sequence of str
        Any of g, r, i, z, y.
    rng : numpy.random.Generator
        Draws the details the table does not fix (clump positions, arm handedness, stars, ...).
    psf_fwhm : float, optional
        Gaussian PSF FWHM in pixels; default ``max(1, 1.5 * size / 96)`` (same relative resolution).
    """
    bands = check_bands(bands)
    size = int(size)
    if size < 8:
        raise ValueError(f"image size must be >= 8 pixels, got {size}")
    rng = np.random.default_rng() if rng is None else rng
    psf_fwhm = max(1.0, 1.5 * size / REFERENCE_SIZE) if psf_fwhm is None else float(psf_fwhm)
    area = (size / REFERENCE_SIZE) ** 2
    redshift = float(_get(row, "redshift"))

    comps, companions = _galaxy_components(row, size, rng)
    sigma = psf_fwhm / 2.3548

    def compose(parts):
        img = np.zeros((len(bands), size, size))
        for unit, f, colour in parts:
            if f <= 0:
                continue
            binned = _bin(unit, size) * (f * area)
            img += binned[None] * sed(bands, COLOUR_SLOPE[colour], redshift)[:, None, None]
        for b in range(len(bands)):
            img[b] = gaussian_filter(img[b], sigma, mode="constant")
        return np.moveaxis(img, 0, -1)

    galaxy = compose(comps)
    nucleus = float(_get(row, "nucleus_fraction", 0.0))
    if nucleus > 0:  # an unresolved nucleus (AGN-like core) on the galaxy centre: a high dynamic range
        x, y = P.pixel_grid(size, 1)
        core = P.star_psf(x, y, float(_get(row, "x_offset")) * size, float(_get(row, "y_offset")) * size, psf_fwhm)
        galaxy = galaxy + (core * nucleus * float(_get(row, "flux")) * area)[..., None] * sed(bands, 0.0)[None, None, :]
    other = compose(companions) if companions else np.zeros_like(galaxy)
    r_index = bands.index("r") if "r" in bands else 0
    other = other + _point_sources(row, size, bands, rng, psf_fwhm, float(galaxy[..., r_index].max()))
    return RenderedGalaxy(galaxy=galaxy.astype(np.float32), other=other.astype(np.float32), bands=bands)


def add_noise(image: np.ndarray, bands, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    """Sky noise (Gaussian, sigma = ``noise`` x per-band factor) plus Poisson-like source noise."""
    bands = check_bands(bands)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[-1] != len(bands):
        raise ValueError(f"add_noise: expected (H, W, {len(bands)}) for bands {bands}, got {image.shape}")
    sky = noise * np.array([BAND_NOISE[b] for b in bands])
    var = sky[None, None, :] ** 2 + np.clip(image, 0, None) * sky[None, None, :] / SOURCE_GAIN
    return (image + rng.standard_normal(image.shape) * np.sqrt(var)).astype(np.float32)


def render_galaxy(
    params_row,
    size: int = 96,
    bands=PNG_BANDS,
    rng: np.random.Generator | None = None,
    psf_fwhm: float | None = None,
    noise: float = 1.0,
) -> np.ndarray:
    """Render one galaxy (with its companions, stars, artifacts and noise) as (H, W, n_bands) float32 flux.

    See :func:`render_scene` for the parameters; ``noise`` is the r-band sky sigma per pixel.
    """
    rng = np.random.default_rng() if rng is None else rng
    scene = render_scene(params_row, size=size, bands=bands, rng=rng, psf_fwhm=psf_fwhm)
    return add_noise(scene.total, scene.bands, rng, noise=noise)


def lupton_rgb(image: np.ndarray, bands, noise: float = 1.0) -> np.ndarray:
    """(H, W, B) flux with g, r, z among ``bands`` -> (H, W, 3) uint8 via astropy's asinh (Lupton) scaling.

    The scaling is fixed (not per image), so brightness differences stay visible, as in survey cutouts.
    """
    from astropy.visualization import make_lupton_rgb

    bands = tuple(bands)
    missing = [b for b in PNG_BANDS if b not in bands]
    if missing:
        raise ValueError(f"lupton_rgb needs bands g, r, z; missing {missing}")
    g, r, z = (np.nan_to_num(image[..., bands.index(b)].astype(np.float64)) for b in PNG_BANDS)
    return make_lupton_rgb(z * 0.75, r * 1.0, g * 1.3, minimum=0.0, stretch=6.0 * noise, Q=6.0)


# --- sources at sub-pixel positions in large fields (detection scenes) -------------------


def band_colours(bands, reference: int, slope: float) -> np.ndarray:
    """Relative flux per band of a power-law spectrum, 1 in band number ``reference``."""
    lam = np.array([BAND_WAVELENGTHS[b] for b in bands])
    return (lam / lam[reference]) ** slope


@functools.lru_cache(maxsize=16)
def psf_kernel(fwhm: float) -> np.ndarray:
    """Unit-sum PSF image (odd side, centred) with the profile of ``profiles.star_psf`` (cached: read-only)."""
    fwhm = float(fwhm)
    half = int(np.ceil(4.0 * fwhm))
    axis = np.arange(-half, half + 1, dtype=np.float32)
    x, y = np.meshgrid(axis, axis)
    kernel = P.star_psf(x, y, 0.0, 0.0, fwhm).astype(np.float32)
    kernel.flags.writeable = False
    return kernel


def _stamp_grid(xc: float, yc: float, half: int, oversample: int):
    """Sub-pixel offsets from (xc, yc) on a stamp centred on the pixel nearest to it, and its origin."""
    ix, iy = int(round(xc)), int(round(yc))
    n = (2 * half + 1) * oversample
    sub = (np.arange(n, dtype=np.float64) + 0.5) / oversample - 0.5 - half  # pixel-centre units
    x, y = np.meshgrid((ix + sub - xc).astype(np.float32), (iy + sub - yc).astype(np.float32))
    return x, y, ix - half, iy - half


def _bin_mean(stamp: np.ndarray, oversample: int) -> np.ndarray:
    if oversample == 1:
        return stamp
    h, w = stamp.shape
    return stamp.reshape(h // oversample, oversample, w // oversample, oversample).mean(axis=(1, 3))


def galaxy_stamp(params: dict, bands, psf_fwhm: np.ndarray):
    """Noiseless (S, S, C) stamp of a bulge + disk galaxy at a sub-pixel position (total flux per band = ``params['fluxes']``) and its origin."""
    r_disk, r_bulge = params["r_disk"], params["r_bulge"]
    half = int(min(np.ceil(max(5.0 * r_disk, 8.0 * r_bulge) + 3.0 * psf_fwhm.max()), MAX_STAMP_HALF))
    x, y, x0, y0 = _stamp_grid(params["x"], params["y"], half, OVERSAMPLE)
    u, v = P.rotate(x, y, 0.0, 0.0, params["angle"])
    disk = _bin_mean(P.sersic(P.generalised_radius(u, v, params["q_disk"]), r_disk, 1.0), OVERSAMPLE)
    bulge = _bin_mean(P.sersic(P.generalised_radius(u, v, params["q_bulge"]), r_bulge, 4.0), OVERSAMPLE)
    disk, bulge = disk / disk.sum(), bulge / bulge.sum()
    stamp = np.empty(disk.shape + (len(bands),), dtype=np.float32)
    bt = params["bulge_fraction"]
    for c in range(len(bands)):
        band = bt * params["bulge_colour"][c] * bulge + (1 - bt) * params["disk_colour"][c] * disk
        band = fftconvolve(band, psf_kernel(psf_fwhm[c]), mode="same")
        band = np.clip(band, 0.0, None)
        stamp[..., c] = band / band.sum() * params["fluxes"][c]
    return stamp, x0, y0


def star_stamp(params: dict, bands, psf_fwhm: np.ndarray):
    """Noiseless stamp of a point source; the stamp grows with brightness so the PSF halo is kept."""
    bright = max(0.0, 24.0 - params["mag_ref"])
    half = int(min(np.ceil(psf_fwhm.max() * (4.0 + 1.5 * bright)), MAX_STAMP_HALF))
    x, y, x0, y0 = _stamp_grid(params["x"], params["y"], half, 1)
    stamp = np.empty(x.shape + (len(bands),), dtype=np.float32)
    for c in range(len(bands)):
        stamp[..., c] = P.star_psf(x, y, 0.0, 0.0, psf_fwhm[c]) * params["fluxes"][c]
    return stamp, x0, y0


def asinh_grey(image: np.ndarray, noise: float = 1.0) -> np.ndarray:
    """(H, W, 1) flux of one band -> (H, W) uint8 with the same fixed asinh scaling as :func:`lupton_rgb`."""
    from astropy.visualization import make_lupton_rgb

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 1:
        raise ValueError(f"asinh_grey needs one band (H, W, 1), got shape {image.shape}")
    band = np.nan_to_num(image[..., 0].astype(np.float64))
    return make_lupton_rgb(band, band, band, minimum=0.0, stretch=6.0 * noise, Q=6.0)[..., 0]


def peak_grey(image: np.ndarray, sky_sigma: float, clip_sigma: float = 3.0) -> np.ndarray:
    """(H, W, 1) flux of one band -> (H, W) uint8, linear from 0 to the image's brightest pixel,
    with everything below ``clip_sigma`` x ``sky_sigma`` (the band's sky noise) set to 0.

    How many radio and X-ray survey cutouts are published: a dark, mostly empty background
    (sigma-clipped) and a high dynamic range in which faint structure takes the lowest few grey
    levels, unlike the asinh stretch of optical colour images (:func:`asinh_grey`).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 1:
        raise ValueError(f"peak_grey needs one band (H, W, 1), got shape {image.shape}")
    band = np.nan_to_num(image[..., 0].astype(np.float64))
    band = np.where(band > float(clip_sigma) * float(sky_sigma), band, 0.0)
    peak = band.max()
    if peak <= 0:
        return np.zeros(band.shape, dtype=np.uint8)
    return np.round(255.0 * band / peak).astype(np.uint8)


def rescale_pixels(params, pixel_scale: float):
    """The morphology table seen with pixels ``pixel_scale`` times larger (a coarser survey).

    Sizes and offsets are fractions of the image width, so a coarser pixel scale shrinks them
    by ``pixel_scale``: the same galaxies, fewer pixels across, more flux per pixel.
    """
    pixel_scale = float(pixel_scale)
    if not pixel_scale > 0:
        raise ValueError(f"pixel_scale must be > 0, got {pixel_scale}")
    params = params.copy()
    for column in ("radius", "x_offset", "y_offset", "companion_separation"):
        params[column] = params[column] / pixel_scale
    return params
