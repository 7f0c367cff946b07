"""Test-time augmentation: the eight rotations/flips of an image, which a galaxy's morphology
does not depend on (it has no preferred orientation on the sky).

Why: a model is only approximately invariant to them; averaging features over views makes an
embedding (nearly) orientation-free, and adding views as extra "samples" to MC dropout widens
the predictive distribution by the model's own orientation dependence (see ``predict --tta``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_VIEWS", "TTASampler", "check_views", "dihedral_views"]

#: rotations by 0/90/180/270 degrees, then the same after a left-right flip
MAX_VIEWS = 8


def check_views(n_views) -> int:
    n = int(n_views)
    if not 1 <= n <= MAX_VIEWS:
        raise ValueError(f"tta must be a number of views from 1 (off) to {MAX_VIEWS}, got {n_views!r}")
    return n


def dihedral_views(images, n_views: int):
    """The first ``n_views`` of the 8 rotations/flips of a batch ``(B, H, W, C)`` (view 0 = as is).

    Order: rotations 0, 90, 180, 270 degrees, then flipped + the same rotations, so ``n_views=2``
    gives the image and its 90-degree rotation, 4 all rotations.
    """
    images = np.asarray(images)
    if images.shape[1] != images.shape[2] and check_views(n_views) > 1:
        raise ValueError(f"test-time rotations need square images, got {images.shape[1]}x{images.shape[2]}")
    views = []
    for i in range(check_views(n_views)):
        view = images[:, :, ::-1] if i >= 4 else images
        views.append(np.ascontiguousarray(np.rot90(view, k=i % 4, axes=(1, 2))))
    return views


class TTASampler:
    """``sampler(images) -> (B, A, n_samples * n_views)``: a :class:`~zoobot_tf.predictions.Sampler`'s
    MC samples for each view, concatenated view by view along the sample axis."""

    def __init__(self, sampler, n_views: int):
        self.sampler, self.n_views = sampler, check_views(n_views)
        self.n_samples = sampler.n_samples * self.n_views

    def __call__(self, images) -> np.ndarray:
        return np.concatenate([self.sampler(view) for view in dihedral_views(images, self.n_views)], axis=-1)
