"""Vectorised light profiles on pixel grids: the building blocks of a synthetic galaxy.

Every function takes coordinate arrays (pixels, relative to a centre) and returns an
*unnormalised* surface-brightness map of the same shape; :mod:`zoobot_tf.synthetic.render`
normalises each component to unit flux and gives it a colour. Kept free of any morphology
logic so each profile can be checked on its own.
"""

from __future__ import annotations

import numpy as np


def pixel_grid(size: int, oversample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the centres of ``size * oversample`` sub-pixels, in final-pixel units, 0 at the image centre."""
    n = size * oversample
    axis = ((np.arange(n, dtype=np.float64) + 0.5) / oversample - size / 2.0).astype(np.float32)
    return np.meshgrid(axis, axis)  # x varies along columns, y along rows; float32 for speed


def rotate(x, y, x0: float, y0: float, angle_deg: float):
    """Coordinates in a frame centred on (x0, y0) whose x axis points along ``angle_deg``."""
    t = np.deg2rad(angle_deg)
    dx, dy = x - x0, y - y0
    c, s = np.float32(np.cos(t)), np.float32(np.sin(t))
    x0, y0 = np.float32(x0), np.float32(y0)
    return dx * c + dy * s, -dx * s + dy * c


def sersic_b(n: float) -> float:
    """b_n such that the Sersic effective radius encloses half the light (Ciotti & Bertin 1999)."""
    n = float(n)
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


def generalised_radius(u, v, axis_ratio: float, boxiness: float = 0.0):
    """Elliptical radius; ``boxiness`` > 0 makes isophotes boxy (exponent 2 -> 2 + 1.2 * boxiness)."""
    c = 2.0 + 1.2 * max(float(boxiness), 0.0)
    return (np.abs(u) ** c + np.abs(v / axis_ratio) ** c) ** (1.0 / c)


def sersic(r, r_eff: float, n: float):
    """Sersic profile exp(-b_n ((r/r_e)^(1/n) - 1)); n=1 exponential disk, n=4 de Vaucouleurs."""
    r_eff = max(float(r_eff), 1e-3)
    return np.exp(-sersic_b(n) * ((r / r_eff) ** (1.0 / n) - 1.0))


def ferrers(u, v, length: float, axis_ratio: float, power: float = 2.0):
    """Ferrers bar (1 - m^2)^power inside the ellipse m < 1 of semi-major axis ``length``."""
    m2 = (u / length) ** 2 + (v / (length * axis_ratio)) ** 2
    return np.where(m2 < 1.0, np.clip(1.0 - m2, 0.0, None) ** power, 0.0)


def wrap_angle(a):
    """Angles wrapped to (-pi, pi]."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def log_spiral_pattern(radius, theta, n_arms: int, pitch_deg: float, phase: float, sharpness: float = 4.0):
    """Logarithmic-spiral density wave in [0, 1] with ``n_arms`` arms and pitch angle ``pitch_deg``.

    Constant-phase curves are theta = ln(r) / tan(pitch) + const, so a small pitch winds tightly.
    ``sharpness`` narrows the arms ((1 + cos) / 2 raised to that power).
    """
    if n_arms <= 0:
        return np.zeros_like(radius)
    winding = 1.0 / np.tan(np.deg2rad(max(float(pitch_deg), 1.0)))
    psi = n_arms * (theta - winding * np.log(np.maximum(radius, 1e-3)) - phase)
    return ((1.0 + np.cos(psi)) / 2.0) ** sharpness


def spiral_arc(radius, theta, pitch_deg: float, phase: float, r_start: float, r_end: float, width: float):
    """One logarithmic-spiral arc (a tidal tail): a ridge of Gaussian cross-section ``width`` px.

    The ridge follows theta = phase + ln(r / r_start) / tan(pitch) for r_start < r < r_end, and
    fades towards its tip so it looks like a tail rather than a ring segment.
    """
    winding = 1.0 / np.tan(np.deg2rad(max(float(pitch_deg), 1.0)))
    r = np.maximum(radius, 1e-3)
    ridge = phase + winding * np.log(r / r_start)
    distance = wrap_angle(theta - ridge) * r
    along = np.clip((r - r_start) / max(r_end - r_start, 1e-3), 0.0, 1.0)
    inside = (r > r_start) & (r < r_end)
    width = width * (0.6 + 0.8 * along)  # tails fan out towards their tips
    return np.where(inside, np.exp(-0.5 * (distance / width) ** 2) * (1.0 - 0.8 * along) / (0.6 + 0.8 * along), 0.0)


def gaussian(x, y, x0: float, y0: float, sigma: float):
    """Circular Gaussian blob (clumps, PSF cores)."""
    return np.exp(-0.5 * ((x - x0) ** 2 + (y - y0) ** 2) / sigma**2)


def ring(radius, ring_radius: float, width: float):
    """Gaussian annulus (inner/outer rings, lenses)."""
    return np.exp(-0.5 * ((radius - ring_radius) / width) ** 2)


def star_psf(x, y, x0: float, y0: float, fwhm: float, spike_length: float = 0.0, spike_angle_deg: float = 0.0):
    """A point source seen through a telescope: Gaussian core, Moffat-like halo, 4 diffraction spikes.

    Unit-sum normalised so the caller multiplies by the star's flux.
    """
    sigma = max(float(fwhm), 0.5) / 2.3548
    r2 = (x - x0) ** 2 + (y - y0) ** 2
    core = np.exp(-0.5 * r2 / sigma**2)
    halo = (1.0 + r2 / (3.0 * fwhm) ** 2) ** -2.5
    img = core / core.sum() * 0.85 + halo / halo.sum() * 0.15
    if spike_length > 0:
        u, v = rotate(x, y, x0, y0, spike_angle_deg)
        width = 0.6 * sigma + 0.3
        spikes = np.exp(-0.5 * (v / width) ** 2) * np.exp(-np.abs(u) / spike_length)
        spikes += np.exp(-0.5 * (u / width) ** 2) * np.exp(-np.abs(v) / spike_length)
        img = img + 0.08 * spikes / max(spikes.sum(), 1e-12)
    return img / img.sum()
