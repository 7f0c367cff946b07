"""Multi-band FITS output with the blemishes of real survey cutouts: NaN pixels and object masks.

Real co-added cutouts (Pan-STARRS, DECaLS) carry NaN where a detector had bad columns, where a
satellite trail or a bright star was masked, independently in each band. Models for such data
(the attention-model path) must cope with NaNs, so each synthetic band gets one or two such
defects; the true galaxy footprint is written alongside as the 'OBJMASK' extension.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

#: Defect kinds written as NaN into single bands.
NAN_DEFECTS = ("bad_columns", "satellite_trail", "masked_star")


def model_object_mask(galaxy_model: np.ndarray, threshold: float) -> np.ndarray:
    """(H, W) uint8: 1 where the noiseless galaxy model (summed over bands) exceeds ``threshold``."""
    model = np.asarray(galaxy_model, dtype=np.float64)
    if model.ndim == 3:
        model = model.sum(axis=-1)
    return (model > threshold).astype(np.uint8)


def add_nan_defects(cube: np.ndarray, rng: np.random.Generator, per_band=(1, 2)) -> np.ndarray:
    """Copy of an (H, W, B) cube with NaN defects: ``per_band`` (min, max) per band, each band independently.

    Defects: a run of 1-3 bad columns, a thin satellite trail, or a masked star (a disk of
    radius 2-5% of the image) somewhere off-centre.
    """
    cube = np.array(cube, dtype=np.float32, copy=True)
    h, w, n_bands = cube.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for b in range(n_bands):
        for _ in range(rng.integers(per_band[0], per_band[1] + 1)):
            kind = NAN_DEFECTS[rng.integers(len(NAN_DEFECTS))]
            if kind == "bad_columns":
                start = int(rng.integers(0, w))
                cube[:, start : start + int(rng.integers(1, 4)), b] = np.nan
            elif kind == "satellite_trail":
                angle = rng.uniform(0, np.pi)
                x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
                distance = np.abs((xx - x0) * np.sin(angle) - (yy - y0) * np.cos(angle))
                cube[distance < 0.6, b] = np.nan
            else:
                r, a = rng.uniform(0.2, 0.45) * w, rng.uniform(0, 2 * np.pi)
                cx, cy = w / 2 + r * np.cos(a), h / 2 + r * np.sin(a)
                radius = rng.uniform(0.02, 0.05) * w
                cube[(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2, b] = np.nan
    return cube


def write_fits(path, cube: np.ndarray, mask: np.ndarray, bands, header_items: dict | None = None) -> Path:
    """Write an (H, W, B) cube as primary HDU (B, H, W) float32 plus an 'OBJMASK' uint8 extension.

    The primary header gets ``BANDS`` (comma-separated, cube order) and ``header_items``.
    """
    path = Path(path)
    cube = np.asarray(cube, dtype=np.float32)
    bands = tuple(bands)
    if cube.ndim != 3 or cube.shape[-1] != len(bands):
        raise ValueError(f"{path}: cube must be (H, W, {len(bands)}) for bands {bands}, got {cube.shape}")
    if mask.shape != cube.shape[:2]:
        raise ValueError(f"{path}: mask shape {mask.shape} does not match image {cube.shape[:2]}")
    primary = fits.PrimaryHDU(np.ascontiguousarray(np.moveaxis(cube, -1, 0)))
    primary.header["BANDS"] = (",".join(bands), "band of each plane, in order")
    primary.header["BUNIT"] = ("flux", "synthetic flux units (sky sigma ~1 in r)")
    for key, value in (header_items or {}).items():
        primary.header[key] = value
    objmask = fits.ImageHDU(np.asarray(mask, dtype=np.uint8), name="OBJMASK")
    objmask.header["COMMENT"] = "1 = pixel belongs to the target galaxy (noiseless model above threshold)"
    fits.HDUList([primary, objmask]).writeto(path, overwrite=True)
    return path
