"""Zoobot 2.9's data paths, re-enacted without PyTorch, so each benchmark can print a ratio
against the peer measured in the same run on the same machine.

Zoobot's ``predict_on_catalog`` (PyTorch Lightning) reads each PNG with PIL in DataLoader worker
processes, resizes it to the model's input, collates a batch, and calls the *whole* model
``n_samples`` times per batch (MC dropout), keeping every prediction in memory until it saves
HDF5 at the end. Its training loader decodes each PNG with PIL and applies the augmentation
image by image in Python workers: random rotation, flips and a random resized crop to the input
size (``galaxy_datasets`` default transforms; torchvision runs these as PIL operations on PIL
images), then converts to float.

What differs from the real thing: the network runs in Keras here (the same one our figures
use), so the model's own cost is not compared, only the data path and how often the encoder
runs; PIL and numpy replace torch's collate and ``ToTensor``.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np

ROTATE_FILL = 0


def _load_resized(args) -> np.ndarray:
    """zoobot predict's per-image work: PIL decode, RGB, resize to the input size, float."""
    from PIL import Image

    path, size = args
    with Image.open(path) as image:
        image = image.convert("RGB").resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


def _augment_one(args) -> np.ndarray:
    """zoobot training's per-image work: PIL decode, rotate, flip, random resized crop, float."""
    from PIL import Image

    path, size, seed = args
    rng = np.random.default_rng(seed)
    with Image.open(path) as image:
        image = image.convert("RGB")
        image = image.rotate(rng.uniform(0, 360), resample=Image.BILINEAR, fillcolor=ROTATE_FILL)
        if rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        if rng.random() < 0.5:
            image = image.transpose(Image.FLIP_TOP_BOTTOM)
        width, height = image.size
        area = width * height * rng.uniform(0.7, 0.8)
        ratio = np.exp(rng.uniform(np.log(0.9), np.log(1.1)))
        crop_w = int(round(min(width, np.sqrt(area * ratio))))
        crop_h = int(round(min(height, np.sqrt(area / ratio))))
        left, top = rng.integers(0, width - crop_w + 1), rng.integers(0, height - crop_h + 1)
        image = image.resize((size, size), Image.BILINEAR, box=(left, top, left + crop_w, top + crop_h))
    return np.asarray(image, dtype=np.float32) / 255.0


def _pool(workers: int):
    return multiprocessing.get_context("fork").Pool(workers) if workers > 0 else None


def _batches(pool, function, items, batch_size):
    mapped = pool.imap(function, items, chunksize=max(1, batch_size // 4)) if pool else map(function, items)
    batch = []
    for array in mapped:
        batch.append(array)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def loader_images_per_second(paths, batch_size: int, size: int, n_images: int, workers: int = 2,
                             warmup_batches: int = 2) -> float:
    """Augmented ``size`` px batches per second, zoobot-style (PIL per image, ``workers`` processes)."""
    items = [(paths[i % len(paths)], size, i) for i in range(n_images + warmup_batches * batch_size)]
    with _pool(workers) as pool:
        iterator = _batches(pool, _augment_one, items, batch_size)
        for _ in range(warmup_batches):
            next(iterator)
        start, count = time.perf_counter(), 0
        for batch in iterator:
            count += len(batch)
        return count / (time.perf_counter() - start)


def predict_seconds(paths, model, n_samples: int, batch_size: int, out, workers: int = 2) -> tuple[float, float]:
    """Wall-clock and CPU seconds of zoobot's predict path over ``paths``, HDF5 saved at the end."""
    import h5py
    import tensorflow as tf

    size = int(model.input_shape[1])
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    wall, cpu = time.perf_counter(), _cpu_with_children()
    with _pool(workers) as pool:
        predictions = []
        for batch in _batches(pool, _load_resized, [(p, size) for p in paths], batch_size):
            x = tf.constant(batch)
            predictions.append(np.stack([forward(x).numpy() for _ in range(n_samples)], axis=-1))
    with h5py.File(out, "w") as f:
        f.create_dataset("predictions", data=np.concatenate(predictions))
        f.create_dataset("id_str", data=np.array([str(p) for p in paths], dtype=object), dtype=h5py.string_dtype())
    return time.perf_counter() - wall, _cpu_with_children() - cpu


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
