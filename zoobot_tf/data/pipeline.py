"""Shards -> ``tf.data.Dataset`` of float32 image batches, labels and ids.

Reads shard files in parallel (interleaved when shuffling), parses and ``decode_raw``s records
with ``AUTOTUNE``, shuffles the training split, batches, then augments whole batches (see
:mod:`zoobot_tf.data.augment`) and prefetches. Augmenting after batching keeps the per-image work
in a handful of vectorised ops, which is what lets the GPU be fed from a few CPU cores.
"""

from __future__ import annotations

import os

import tensorflow as tf

from zoobot_tf.data import augment as aug
from zoobot_tf.data.crops import CROP_RATIO, CROP_SCALE
from zoobot_tf.shards.manifest import load_manifest
from zoobot_tf.shards.reader import parse_record

AUTOTUNE = tf.data.AUTOTUNE


def get_dataset(
    shard_dir: str | os.PathLike,
    split: str,
    batch_size: int,
    *,
    augment: bool = True,
    output_size: int | None = None,
    greyscale: bool = False,
    crop_scale=CROP_SCALE,
    crop_ratio=CROP_RATIO,
    rotate: bool = True,
    flip: bool = True,
    shuffle: bool | None = None,
    shuffle_buffer: int = 1000,
    repeat: bool = False,
    seed: int | None = None,
    include_ids: bool = False,
    drop_remainder: bool = False,
    cache: bool = False,
) -> tf.data.Dataset:
    """Batches of one split of a shard directory, ready for ``model.fit`` / ``predict``.

    Parameters
    ----------
    shard_dir : path
        Directory written by :func:`zoobot_tf.shards.write_shards`.
    split : str
        ``'train'``, ``'val'``, ``'test'`` or (unlabelled shards) ``'predict'``.
    batch_size : int
        Global batch size.
    augment : bool
        Random rotation (reflect fill), flips and crop; False: deterministic centre crop of area
        ``mean(crop_scale)``, identical on every call.
    output_size : int, optional
        Side of the output images (default: the stored size).
    greyscale : bool
        Average all channels into one.
    crop_scale, crop_ratio : tuple of float
        Bounds of the random crop's area fraction and aspect ratio.
    rotate, flip : bool
        Switch off rotation / flips inside ``augment``.
    shuffle : bool, optional
        Shuffle files and records (default: only for ``'train'``). Unshuffled splits keep the
        stored record order.
    shuffle_buffer : int
        Records in the shuffle buffer.
    repeat : bool
        Repeat forever (then give ``steps_per_epoch`` to ``fit``).
    seed : int, optional
        Makes shuffling and augmentation reproducible (each epoch still differs).
    include_ids : bool
        Labelled splits yield ``(images, labels, id_str)`` instead of ``(images, labels)``.
    drop_remainder : bool
        Drop the last incomplete batch (fixed shapes, e.g. for TPUs).
    cache : bool
        Keep parsed records in memory after the first epoch.

    Returns
    -------
    tf.data.Dataset
        ``(images, labels)``: images float32 ``[B, S, S, C]`` (uint8 shards scaled to [0, 1],
        float shards as stored), labels float32 ``[B, A]`` (votes/fractions) or int32 ``[B]``
        (classes); unlabelled shards give ``(images, id_str)``.
    """
    manifest = load_manifest(shard_dir)
    files = manifest.files(split)  # KeyError naming the available splits
    if manifest.n_records(split) == 0:
        raise ValueError(f"split {split!r} of {shard_dir} has no records")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    aug.check_crop_bounds(crop_scale, crop_ratio)
    output_size = int(output_size or manifest.image_shape[0])
    shuffle = (split == "train") if shuffle is None else bool(shuffle)
    deterministic = seed is not None or not shuffle

    if shuffle:
        file_ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        records = file_ds.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(len(files), 16),
            num_parallel_calls=AUTOTUNE,
            deterministic=deterministic,
        )
    else:
        records = tf.data.TFRecordDataset(files)
    ds = records.map(lambda s: parse_record(s, manifest), num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)

    def prepare(batch, batch_seed=None):
        images = aug.to_float32(batch["image"])
        if greyscale:
            images = aug.to_greyscale(images)
        if augment:
            images = aug.augment_images(
                images,
                batch_seed,
                output_size=output_size,
                crop_scale=crop_scale,
                crop_ratio=crop_ratio,
                rotate_images=rotate,
                flip=flip,
            )
        else:
            images = aug.centre_crop_images(images, output_size=output_size, crop_scale=crop_scale)
        if not manifest.labelled:
            return images, batch["id_str"]
        labels = tf.cast(batch["label"], tf.int32) if manifest.label_kind == "class" else batch["labels"]
        return (images, labels, batch["id_str"]) if include_ids else (images, labels)

    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(prepare, num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(prepare, num_parallel_calls=AUTOTUNE)

    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options).prefetch(AUTOTUNE)


def dataset_info(shard_dir: str | os.PathLike) -> dict:
    """What a model needs to know about a shard directory (label kind/cols, shape, split sizes)."""
    manifest = load_manifest(shard_dir)
    return {
        "label_kind": manifest.label_kind,
        "label_cols": list(manifest.label_cols),
        "schema": manifest.schema,
        "image_shape": list(manifest.image_shape),
        "dtype": manifest.dtype,
        "n_records": {s: manifest.n_records(s) for s in manifest.splits},
    }
