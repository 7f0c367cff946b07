"""Contrast scalings of detection inputs, chosen by name and applied identically in training and inference.

Why a separate list: the Mask R-CNN study compared exactly these four ways of turning survey
flux into network input (z-scale, Lupton, high-contrast Lupton, raw flux), to which this adds
``sky_asinh`` (the default, see :data:`DEFAULT_SCALING`); a model only works on images scaled the
way it was trained, so a trained model records its scaling and inference follows it.
:func:`apply_scaling` is the one function both
:func:`~zoobot_tf.detection.scenes.scenes_to_batches` and the tiled inference call, built on
:func:`zoobot_tf.images.scale_image` (astropy). NaN/inf pixels (chip gaps, masked regions) become
0 after scaling, since networks cannot take NaN; the limits ignore them.
"""

from __future__ import annotations

import numpy as np

from zoobot_tf.images.scalings import scale_image

#: Detection scaling name -> ``zoobot_tf.images.scale_image`` method.
DETECTION_SCALINGS = {
    "zscale": "zscale",
    "lupton": "lupton",
    "lupton_high_contrast": "lupton_high_contrast",
    "raw": "none",
    "sky_asinh": None,  # defined here: per band, in units of the sky noise (see apply_scaling)
}
#: Why ``sky_asinh``: it depends on nothing but each band's noise, so a tile, a field with a bright
#: star and a quiet one map a source to the same values, and nothing saturates. Same training
#: budget on the synthetic benchmark (benchmarks/detection_quality.py, 8-view inference at 0.4,
#: lupton -> sky_asinh, two runs of the latter): completeness at S/N > 10 0.888 -> 0.895-0.915,
#: purity 0.966 -> 0.974-0.976, close pairs split 20 -> 24-27 of 102, star/galaxy accuracy
#: 0.917 -> 0.960-0.969.
DEFAULT_SCALING = "sky_asinh"


def check_scaling(name: str) -> str:
    """Return ``name`` if it is a detection scaling, else raise a ValueError listing them."""
    if name not in DETECTION_SCALINGS:
        raise ValueError(f"unknown detection scaling {name!r}; choose one of {tuple(DETECTION_SCALINGS)}")
    return name


def apply_scaling(image, name: str = DEFAULT_SCALING, **kwargs) -> np.ndarray:
    """Scale an ``(H, W, C)`` flux image for the detector.

    Parameters
    ----------
    image : array (H, W, C) or (H, W)
        Sky-subtracted flux, any number of bands.
    name : {'sky_asinh', 'zscale', 'lupton', 'lupton_high_contrast', 'raw'}
        ``zscale``: per band IRAF z-scale limits, linear in between, [0, 1].
        ``lupton``: Lupton et al. (2004) asinh, colours preserved for 3 bands, [0, 1].
        ``lupton_high_contrast``: Lupton with the log regime from 1 sky sigma, [0, 1].
        ``raw``: the flux itself (float32 copy).
        ``sky_asinh``: per band ``asinh((x - sky) / (softening_sigma * noise)) / 5`` with the
        sky level and noise from sigma-clipped statistics (``softening_sigma`` 3 by default), not
        clipped. Unlike the others it depends on nothing but the noise: a source maps to the same
        values whatever else is in the image (a bright star does not dim its neighbours, a
        tile does not change its contrast), and faint sources are not clipped at the sky.
    **kwargs
        Passed to :func:`zoobot_tf.images.scale_image` (e.g. ``contrast`` for zscale).

    Returns
    -------
    np.ndarray
        float32 of the input shape, no NaN.
    """
    method = DETECTION_SCALINGS[check_scaling(name)]
    out = sky_asinh(image, **kwargs) if name == "sky_asinh" else scale_image(np.asarray(image), method, **kwargs)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


def sky_asinh(image, softening_sigma: float = 3.0) -> np.ndarray:
    """``asinh`` of each band in units of ``softening_sigma`` times its sky noise, divided by 5 (float32)."""
    from zoobot_tf.images.masks import _robust_background

    image = np.asarray(image, dtype=np.float32)
    squeeze = image.ndim == 2
    image = image[..., None] if squeeze else image
    out = np.empty(image.shape, dtype=np.float32)
    for c in range(image.shape[-1]):
        sky, noise = _robust_background(image[..., c])
        if not (np.isfinite(noise) and noise > 0):  # a constant or empty band carries no signal
            out[..., c] = 0.0
            continue
        out[..., c] = np.arcsinh((image[..., c] - sky) / (softening_sigma * noise)) / 5.0
    return out[..., 0] if squeeze else out


__all__ = ["DEFAULT_SCALING", "DETECTION_SCALINGS", "apply_scaling", "check_scaling", "sky_asinh"]
