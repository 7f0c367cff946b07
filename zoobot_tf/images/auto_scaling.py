"""``scaling="auto"``: the scaling a survey's own files call for, chosen once, in one place.

Fine-tuning from a catalog and writing shards both resolve ``"auto"`` here, so a survey gets the
same stretch whichever path it takes into a model (the name, not ``"auto"``, is what a recipe or a
shard manifest then records).
"""

from __future__ import annotations

import numpy as np

from zoobot_tf.images.prepare import load_image
from zoobot_tf.images.readers import ImageReadError, is_fits
from zoobot_tf.images.scalings import suggest_scaling

#: files :func:`choose_scaling` looks at (evenly spaced through the catalog)
SCALING_SAMPLE = 64


def choose_scaling(paths, scaling=None) -> tuple[str, str | None]:
    """Resolve ``scaling``: ``"auto"`` -> :func:`~zoobot_tf.images.suggest_scaling` on a sample of 8-bit
    files -> ``(name, reason)``; FITS catalogs (flux, not grey levels) and any other name stay as
    given (``None`` -> ``"none"``), with reason ``None``. A sampled file that cannot be read is
    left out of the choice: the code that reads every file stops on it, naming the galaxy."""
    if scaling != "auto":
        return ("none" if scaling in (None, "", "raw") else scaling), None
    paths = [str(p) for p in paths]
    if any(is_fits(p) for p in paths):
        return "none", "FITS fluxes are not grey levels: auto leaves them unscaled (give --scaling)"
    picks = np.unique(np.linspace(0, len(paths) - 1, min(SCALING_SAMPLE, len(paths))).astype(int)) if paths else []
    images = []
    for i in picks:
        try:
            images.append(load_image(paths[i], channels=1))
        except (ImageReadError, OSError, ValueError):
            continue  # reported, naming the galaxy, when every file is read
    if not images:
        return "none", f"none of the {len(picks)} images sampled could be read: none"
    return suggest_scaling(images)
