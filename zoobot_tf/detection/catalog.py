"""Survey-scale detection: FITS fields -> one catalog row per source (bbox, class, score, photometry, RA/Dec).

Why here and not in the model: the catalog is measured on the *unscaled* flux (the network sees a
contrast-scaled copy), and sky positions come from the file's WCS, which the model never sees.

Columns of the catalog (one row per source; see :func:`detect_field`): ``file``, ``source_id``,
``x0 y0 x1 y1`` (box, pixel edges, exclusive ends), ``class_id``/``class_name`` (galaxy/star),
``score``, ``mask_area`` (pixels), ``x y`` (flux-weighted centroid inside the mask, 0-based pixel
centres, the convention of ``WCS.pixel_to_world``; the mask's geometric centre where the summed
flux is not positive), ``flux_<band>`` (sum of the image inside the mask, NaN pixels skipped),
``mag_<band>`` when a zeropoint is known, ``ra dec`` (degrees; NaN without a celestial WCS), ``tile``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from zoobot_tf.detection.instances import CLASS_NAMES, flux_to_magnitude
from zoobot_tf.typed_options import field_values, options_from

logger = logging.getLogger(__name__)

#: Header keywords read as the flux zeropoint (AB mag of flux 1), in order.
ZEROPOINT_KEYS = ("MAGZERO", "MAGZP", "ZEROPT", "ZP", "PHOTZP")


def _header_bands(header, n_bands: int) -> tuple[str, ...] | None:
    value = header.get("BANDS")
    if value:
        names = tuple(b.strip() for b in str(value).split(","))
        if len(names) == n_bands:
            return names
    return None


def read_field(path, *, hdu=None, bands=None):
    """Read a field: ``(image (H, W, C) float32, celestial WCS or None, band names, zeropoint or None)``.

    ``path`` is one FITS file (a cube or one band per extension) or a list / ``';'``-joined string of
    one file per band (header and WCS from the first). Band names: ``bands``, else the header's
    ``BANDS`` (comma-separated), else each band HDU's ``FILTER``/``BAND``, else ``b0, b1, ...``.
    """
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    from zoobot_tf.images.readers import read_image, split_paths

    image = read_image(path, hdu=hdu)
    if image.dtype != np.float32:
        image = image.astype(np.float32)
    paths = split_paths(path)
    n_bands = image.shape[-1]
    with fits.open(paths[0]) as hdul:
        science = [h for h in hdul if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) > 0]
        header = (hdul[hdu].header if isinstance(hdu, (int, str)) else science[0].header) if science else hdul[0].header
        primary = hdul[0].header
        names = bands or _header_bands(header, n_bands) or _header_bands(primary, n_bands)
        if names is None and len(science) == n_bands:
            filters = [str(h.header.get("FILTER", h.header.get("BAND", ""))).strip() for h in science]
            names = tuple(filters) if all(filters) else None
        zeropoint = next((float(h[k]) for k in ZEROPOINT_KEYS for h in (header, primary) if k in h), None)
        wcs = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            try:
                candidate = WCS(header)
            except Exception as err:  # astropy raises many kinds for malformed WCS keywords
                logger.warning("%s: WCS not readable (%s); no RA/Dec", paths[0], err)
                candidate = None
        if candidate is not None and candidate.has_celestial:
            wcs = candidate.celestial
    if len(paths) > 1 and names is None:
        names = []
        for p in paths:
            with fits.open(p) as hdul:
                h = next(h for h in hdul if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) > 0)
                names.append(str(h.header.get("FILTER", h.header.get("BAND", ""))).strip())
        names = tuple(names) if all(names) and len(names) == n_bands else None
    names = tuple(names) if names is not None else tuple(f"b{c}" for c in range(n_bands))
    if len(names) != n_bands:
        raise ValueError(f"{';'.join(paths)}: {len(names)} band names {names} for {n_bands} bands")
    return image, wcs, names, zeropoint


def measure_detections(image, detections, bands, *, wcs=None, zeropoint: float | None = None) -> pd.DataFrame:
    """Catalog rows of merged detections measured on the unscaled ``image`` (see module doc)."""
    image = np.asarray(image, dtype=np.float32)
    rows = []
    for det in detections:
        h, w = det.mask.shape
        cut = image[det.oy : det.oy + h, det.ox : det.ox + w]
        inside = cut[det.mask]  # (n_pixels, C)
        fluxes = np.nansum(inside, axis=0) if inside.size else np.zeros(len(bands))
        ys, xs = np.nonzero(det.mask)
        weights = np.clip(np.nan_to_num(inside.sum(axis=-1)), 0.0, None) if inside.size else np.zeros(0)
        if weights.sum() > 0:
            x, y = np.average(xs, weights=weights) + det.ox, np.average(ys, weights=weights) + det.oy
        elif xs.size:
            x, y = xs.mean() + det.ox, ys.mean() + det.oy
        else:  # an empty mask: the box centre (pixel-centre coordinates)
            x, y = (det.box[0] + det.box[2]) / 2.0 - 0.5, (det.box[1] + det.box[3]) / 2.0 - 0.5
        row = {"x0": det.box[0], "y0": det.box[1], "x1": det.box[2], "y1": det.box[3],
               "class_id": det.class_id, "class_name": CLASS_NAMES.get(det.class_id, str(det.class_id)),
               "score": det.score, "mask_area": int(det.mask.sum()), "x": float(x), "y": float(y)}
        row.update({f"flux_{b}": float(f) for b, f in zip(bands, fluxes)})
        if zeropoint is not None:
            row.update({f"mag_{b}": float(m) for b, m in zip(bands, flux_to_magnitude(fluxes, zeropoint))})
        row["tile"] = det.tile
        rows.append(row)
    columns = ["x0", "y0", "x1", "y1", "class_id", "class_name", "score", "mask_area", "x", "y",
               *[f"flux_{b}" for b in bands], *([f"mag_{b}" for b in bands] if zeropoint is not None else []), "tile"]
    table = pd.DataFrame(rows, columns=columns)
    table["ra"], table["dec"] = np.nan, np.nan
    if wcs is not None and len(table):
        world = wcs.pixel_to_world(table["x"].to_numpy(), table["y"].to_numpy())
        table["ra"], table["dec"] = world.ra.deg, world.dec.deg
    return table


def _load_detector(model):
    if isinstance(model, (str, Path)):
        from zoobot_tf.detection.model.mask_rcnn import load_mask_rcnn

        if not Path(model).exists():
            raise FileNotFoundError(f"{model}: no such model file")
        return load_mask_rcnn(model)
    if not hasattr(model, "predict_scene"):
        raise TypeError(f"model must be a path or have predict_scene(), got {type(model).__name__}")
    return model


@dataclass(frozen=True)
class DetectOptions:
    """How :func:`detect_field` scales, tiles and thresholds a field (see there for each)."""

    scaling: str | None = None
    tile_size: int | None = None
    overlap: int = 32
    score_threshold: float | None = None
    max_detections: int = 200
    augment: bool = False
    dedup_overlap: float = 0.5
    hdu: object = None
    bands: object = None
    zeropoint: float | None = None


def detect_field(
    fits_paths,
    model,
    *,
    out=None,
    progress: bool = True,
    options: DetectOptions | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Detect, deblend and classify every source of one or more FITS fields into a catalog.

    Parameters
    ----------
    fits_paths : path or sequence of paths
        Each item is one field: a FITS file (cube or one band per extension) or a list /
        ``';'``-joined string of one file per band.
    model : path or detector
        A ``.keras`` Mask R-CNN (``zoobot_tf.detection.model.mask_rcnn.load_mask_rcnn``) or any object
        with ``predict_scene`` (see :func:`~zoobot_tf.detection.tiling.predict_tiled`).
    scaling : str, optional
        Contrast scaling (``zscale``, ``lupton``, ``lupton_high_contrast``, ``raw``), applied to the
        whole field at once. Default: the model's ``scaling`` attribute if it has one, else ``lupton``.
        Must be the scaling the model was trained with.
    tile_size : int, optional
        Tile side in pixels (default: the model's square ``image_size`` if it has one, else 256).
    overlap : int
        Tile overlap in pixels; it should exceed the largest source diameter.
    score_threshold, max_detections
        Per tile, passed to ``predict_scene`` (threshold default: the model's, 0.5 for one view).
    augment : bool
        Merge the 8 flips / 90-degree rotations of every tile (``MaskRCNN.predict_scene(augment=True)``):
        8x the compute, more blended sources found at higher purity on the synthetic benchmark.
    dedup_overlap : float
        Box overlap (of the smaller box) above which two cross-tile pieces are one source.
    hdu, bands
        Passed to :func:`read_field`.
    zeropoint : float, optional
        AB zeropoint for ``mag_<band>`` columns (default: the header's ``MAGZERO`` etc., if any).
    out : path, optional
        Also write the catalog (``.parquet`` or ``.csv``).
    progress : bool
        tqdm bars over fields and tiles.

    Returns
    -------
    pandas.DataFrame
        One row per source (columns in the module doc), with ``file`` and ``source_id``.
    """
    _o = options_from(DetectOptions, options, **kwargs)
    (scaling, tile_size, overlap, score_threshold, max_detections, augment, dedup_overlap, hdu, bands,
     zeropoint) = field_values(_o)
    from tqdm.auto import tqdm

    from zoobot_tf.detection.scalings import (
        DEFAULT_SCALING,
        apply_scaling,
        check_scaling,
    )
    from zoobot_tf.detection.tiling import predict_tiled
    from zoobot_tf.images.readers import source_name

    if isinstance(fits_paths, (str, Path)):
        fits_paths = [fits_paths]
    fits_paths = list(fits_paths)
    if not fits_paths:
        raise ValueError("detect_field needs at least one FITS path")
    detector = _load_detector(model)
    scaling = check_scaling(scaling or getattr(detector, "scaling", None) or DEFAULT_SCALING)
    tile_size = _tile_size(detector, tile_size)
    tables = []
    for path in tqdm(fits_paths, desc="fields", disable=None if progress and len(fits_paths) > 1 else True):
        name = source_name(path)
        image, wcs, names, header_zeropoint = read_field(path, hdu=hdu, bands=bands)
        expected = getattr(detector, "num_bands", None)
        if expected is not None and int(expected) != image.shape[-1]:
            raise ValueError(f"{name}: {image.shape[-1]} bands but the model takes {expected}")
        detections = predict_tiled(
            apply_scaling(image, scaling), detector, tile_size=tile_size, overlap=overlap,
            score_threshold=score_threshold, max_detections=max_detections, dedup_overlap=dedup_overlap,
            augment=augment, progress=progress, where=name,
        )
        table = measure_detections(image, detections, names, wcs=wcs,
                                   zeropoint=zeropoint if zeropoint is not None else header_zeropoint)
        stem = Path(str(path[0] if isinstance(path, (list, tuple)) else name.split(";")[0])).name
        table.insert(0, "source_id", [f"{stem}:{k:06d}" for k in range(len(table))])
        table.insert(0, "file", name)
        tables.append(table)
        logger.info("%s: %d sources", name, len(table))
    catalog = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    if out is not None:
        write_catalog(catalog, out)
    return catalog


def _tile_size(detector, tile_size):
    """The tile side: ``tile_size`` or the model's square input size; a clash raises."""
    size = getattr(detector, "image_size", None)
    if size is not None:
        size = [int(s) for s in size]
        if size[0] != size[1]:
            raise ValueError(f"model takes {size[0]} x {size[1]} images; tiles are square")
        if tile_size is not None and int(tile_size) != size[0]:
            raise ValueError(f"tile_size {tile_size} but the model was built for {size[0]} px images")
        return size[0]
    return 256 if tile_size is None else int(tile_size)


def write_catalog(catalog: pd.DataFrame, out) -> Path:
    """Write a catalog as ``.parquet`` (default for other suffixes: an error) or ``.csv``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        catalog.to_parquet(out, index=False)
    elif out.suffix == ".csv":
        catalog.to_csv(out, index=False)
    else:
        raise ValueError(f"{out}: catalog must end in .parquet or .csv")
    return out


__all__ = ["detect_field", "measure_detections", "read_field", "write_catalog"]
