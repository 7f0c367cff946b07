"""Instance labels of one image: boxes, classes, masks (and photometry) of every source in it.

Why one container: synthetic scenes, ``sep`` labels of real images, COCO files and model
predictions all describe the same thing, so metrics, COCO I/O and training batches take any of
them. Conventions used throughout :mod:`zoobot_tf.detection`:

* boxes are ``(x0, y0, x1, y1)`` in pixel-edge coordinates, ``x1``/``y1`` exclusive, so a box
  around a mask is ``(min col, min row, max col + 1, max row + 1)`` and its COCO ``bbox`` is
  ``[x0, y0, x1 - x0, y1 - y0]`` (what ``pycocotools.mask.toBbox`` gives);
* centres/centroids are 0-based pixel indices (the centre of the first pixel is 0), the
  convention of numpy and of astropy's ``WCS.pixel_to_world``;
* classes: 1 galaxy, 2 star (0 is the background class of the network).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Category ids (COCO ``category_id``) of the detectable classes.
CLASS_IDS = {"galaxy": 1, "star": 2}
#: id -> name.
CLASS_NAMES = {v: k for k, v in CLASS_IDS.items()}
#: AB zeropoint of the synthetic scenes' flux units (that of HSC coadds): mag = 27 - 2.5 log10(flux).
ZEROPOINT = 27.0


@dataclass(kw_only=True)
class Labels:
    """Boxes, classes and instance masks of the sources in one image.

    Attributes
    ----------
    boxes : (N, 4) float32, ``(x0, y0, x1, y1)`` pixel edges, ``x1``/``y1`` exclusive.
    classes : (N,) int32, 1 galaxy, 2 star.
    masks : (N, H, W) bool instance masks (may overlap: blended sources share pixels).
    image_shape : (H, W).
    fluxes : (N, C) float32 flux per band, or None.
    magnitudes : (N, C) float32 AB magnitude per band (NaN where flux <= 0), or None.
    centres : (N, 2) float32 ``(x, y)`` 0-based pixel centres, or None.
    scores : (N,) float32 confidence (predictions only), or None.
    bands : band names of the flux/magnitude columns.
    """

    boxes: np.ndarray
    classes: np.ndarray
    masks: np.ndarray
    image_shape: tuple[int, int]
    fluxes: np.ndarray | None = None
    magnitudes: np.ndarray | None = None
    centres: np.ndarray | None = None
    scores: np.ndarray | None = None
    bands: tuple[str, ...] = ()

    def __post_init__(self):
        self.image_shape = (int(self.image_shape[0]), int(self.image_shape[1]))
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.classes = np.asarray(self.classes, dtype=np.int32).reshape(-1)
        n = len(self.boxes)
        masks = np.asarray(self.masks, dtype=bool)
        if masks.size == 0 and n == 0:
            masks = masks.reshape((0,) + self.image_shape)
        if masks.shape != (n,) + self.image_shape:
            raise ValueError(f"masks have shape {masks.shape}; expected {(n,) + self.image_shape} "
                             f"({n} objects on a {self.image_shape} image)")
        self.masks = masks
        if len(self.classes) != n:
            raise ValueError(f"{n} boxes but {len(self.classes)} classes")
        unknown = sorted(set(self.classes.tolist()) - set(CLASS_NAMES))
        if unknown:
            raise ValueError(f"unknown class id(s) {unknown}; expected {CLASS_NAMES}")
        for name in ("fluxes", "magnitudes", "centres", "scores"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float32)
                if len(value) != n:
                    raise ValueError(f"{name} has {len(value)} rows for {n} objects")
                setattr(self, name, value)
        self.bands = tuple(self.bands)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def n_objects(self) -> int:
        return len(self.boxes)

    @property
    def mask_areas(self) -> np.ndarray:
        """(N,) pixels in each instance mask."""
        return self.masks.reshape(len(self), -1).sum(axis=1)

    def select(self, keep) -> "Labels":
        """A copy holding only the objects ``keep`` (boolean or index array)."""
        keep = np.asarray(keep)
        if keep.dtype != bool:
            keep = keep.astype(np.intp)
        kwargs = {
            name: (None if getattr(self, name) is None else getattr(self, name)[keep])
            for name in ("boxes", "classes", "masks", "fluxes", "magnitudes", "centres", "scores")
        }
        return Labels(image_shape=self.image_shape, bands=self.bands, **kwargs)

    def labels(self) -> "Labels":
        """The labels alone (drops an image, for subclasses that carry one)."""
        return self.select(np.arange(len(self)))


@dataclass(kw_only=True)
class Scene(Labels):
    """An image with its labels: a synthetic field (with its true catalog) or a ``sep``-labelled image.

    Extra attributes
    ----------------
    image : (H, W, C) float32 flux (sky-subtracted).
    sky_sigma : (C,) float32 sky noise per band.
    zeropoint : AB zeropoint of the flux units.
    truth : DataFrame of every injected object (synthetic scenes), including those too faint to
        label (``labelled`` False, ``label_index`` -1); None for real images.
    """

    image: np.ndarray
    sky_sigma: np.ndarray | None = None
    zeropoint: float = ZEROPOINT
    truth: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self):
        self.image = np.asarray(self.image, dtype=np.float32)
        if self.image.ndim != 3:
            raise ValueError(f"scene image must be (H, W, C), got shape {self.image.shape}")
        if tuple(self.image.shape[:2]) != tuple(self.image_shape):
            raise ValueError(f"image shape {self.image.shape[:2]} != image_shape {self.image_shape}")
        super().__post_init__()


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """(N, 4) float32 tight boxes ``(x0, y0, x1, y1)`` (exclusive ends) around (N, H, W) masks.

    An empty mask gets a box of zeros (callers drop empty masks before; see :func:`Labels`).
    """
    masks = np.asarray(masks, dtype=bool)
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        if rows.size:
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def flux_to_magnitude(flux, zeropoint: float = ZEROPOINT) -> np.ndarray:
    """AB magnitude ``zeropoint - 2.5 log10(flux)``; NaN where the flux is not positive."""
    flux = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = zeropoint - 2.5 * np.log10(np.where(flux > 0, flux, np.nan))
    return mag.astype(np.float32)


def magnitude_to_flux(mag, zeropoint: float = ZEROPOINT) -> np.ndarray:
    """Flux of an AB magnitude in units where ``zeropoint`` is the magnitude of flux 1."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - zeropoint))


def reference_band_index(bands, reference: str | int | None = None) -> int:
    """Index of the band used for single-band magnitudes: ``reference`` or 'r' if present, else the middle band."""
    bands = tuple(bands)
    if isinstance(reference, (int, np.integer)):
        if not -len(bands) <= reference < max(len(bands), 1):
            raise ValueError(f"band index {reference} out of range for bands {bands}")
        return int(reference) % max(len(bands), 1)
    if reference is not None:
        if reference not in bands:
            raise ValueError(f"band {reference!r} not in bands {bands}")
        return bands.index(reference)
    return bands.index("r") if "r" in bands else len(bands) // 2


def predictions_to_labels(prediction: dict, image_shape=None) -> Labels:
    """Wrap a ``predict_scene`` dict (boxes, classes, scores, masks) as :class:`Labels`."""
    masks = np.asarray(prediction["masks"], dtype=bool)
    if image_shape is None:
        if masks.ndim != 3:
            raise ValueError("image_shape is needed when the prediction holds no masks")
        image_shape = masks.shape[1:]
    return Labels(
        boxes=prediction["boxes"],
        classes=prediction["classes"],
        masks=masks,
        scores=prediction.get("scores"),
        image_shape=image_shape,
    )
