"""Contrast scaling of detection inputs: the package's one scaling registry, applied identically in
training and inference, with NaN made network-safe.

A model only works on images scaled the way it was trained, so a trained detector records its
scaling name and inference follows it. The names are those of :data:`zoobot_tf.images.SCALINGS`
(the Mask R-CNN study compared z-scale, Lupton, high-contrast Lupton and the unscaled flux,
``"none"``; ``"sky_asinh"`` is the default, see :data:`DEFAULT_SCALING`). Detectors saved when the
unscaled flux was called ``"raw"`` still load: :func:`check_scaling` reads that name as ``"none"``.
NaN/inf pixels (chip gaps, masked regions) become 0 after scaling, since networks cannot take NaN;
the limits ignore them.
"""

from __future__ import annotations

import numpy as np

from zoobot_tf.images.scalings import SCALINGS, scale_image

#: Why ``sky_asinh``: it depends on nothing but each band's noise, so a tile, a field with a bright
#: star and a quiet one map a source to the same values, and nothing saturates
#: (benchmarks/results/detection_quality/ has the runs that chose it).
DEFAULT_SCALING = "sky_asinh"
#: names detectors were saved with before the registries were one
_OLD_NAMES = {"raw": "none"}


def check_scaling(name: str) -> str:
    """The registry name of a scaling (``'raw'`` -> ``'none'``); ValueError listing them otherwise."""
    name = _OLD_NAMES.get(name, name)
    if name not in SCALINGS:
        raise ValueError(f"unknown scaling {name!r}; choose one of {SCALINGS}")
    return name


def apply_scaling(image, name: str = DEFAULT_SCALING, **kwargs) -> np.ndarray:
    """Scale an ``(H, W, C)`` flux image for the detector (:func:`zoobot_tf.images.scale_image`,
    then NaN/inf -> 0); float32 of the input shape.

    ``name`` is a :data:`zoobot_tf.images.SCALINGS` name: ``sky_asinh`` (default, in units of the
    sky noise, unclipped), ``zscale``, ``lupton``, ``lupton_high_contrast`` ([0, 1]) or ``none``
    (the flux itself). ``**kwargs`` go to the scaling (e.g. ``contrast`` for zscale).
    """
    out = scale_image(np.asarray(image), check_scaling(name), **kwargs)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


__all__ = ["DEFAULT_SCALING", "apply_scaling", "check_scaling"]
