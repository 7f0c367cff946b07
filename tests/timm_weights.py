"""Reproducible numpy weights and images for the timm-equality fixtures (numpy only).

Shared by ``tests/data/timm/make_timm_fixtures.py`` (run once with torch + timm) and
``tests/test_pretrained_encoders.py`` (no torch): both draw the same arrays from a key list and
a seed. Each tensor has its own generator seeded by ``(seed, crc32(key))``, so the draw does not
depend on key order. Scales keep every activation of order one, so a 1e-4 tolerance is tight:
conv / linear weights ~ N(0, 1/fan_in), norm scales and layer scales ~ U(0.5, 1.5), biases and
running means ~ N(0, 0.1^2), running variances ~ U(0.5, 1.5).
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["draw_images", "draw_state_dict", "draw_tensor"]

BATCH = 2


def draw_tensor(key, shape, seed):
    """One float32 tensor (or the int64 BatchNorm step counter) for ``key`` of ``shape``."""
    shape = tuple(int(d) for d in shape)
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    if key.endswith("running_var"):
        return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    if key.endswith(("bias", "running_mean")):
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)  # norm weight, layer-scale gamma


def draw_state_dict(keys_and_shapes, seed):
    """``{key: array}`` for ``[(key, shape), ...]``."""
    return {key: draw_tensor(key, shape, seed) for key, shape in keys_and_shapes}


def draw_images(seed, size, channels):
    """``(BATCH, size, size, channels)`` float32 images in [0, 1] (channels last)."""
    rng = np.random.default_rng([int(seed), int(size), int(channels)])
    return rng.uniform(0.0, 1.0, size=(BATCH, size, size, channels)).astype(np.float32)
