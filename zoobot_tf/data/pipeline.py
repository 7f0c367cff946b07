"""Shards -> ``tf.data.Dataset`` of float32 image batches, labels and ids.

Reads shard files in parallel (interleaved when shuffling), parses and ``decode_raw``s records
with ``AUTOTUNE``, shuffles the training split, batches, then turns whole batches into model input
with the image recipe (:mod:`zoobot_tf.data.inputs`: augmentation or the evaluation crop) and
prefetches. Augmenting after batching keeps the per-image work in a handful of vectorised ops,
which is what lets the GPU be fed from a few CPU cores.
"""

from __future__ import annotations

import os

import tensorflow as tf

from zoobot_tf.data.inputs import batched_inputs, shard_records
from zoobot_tf.recipe import Augmentation, ImageRecipe
from zoobot_tf.shards.manifest import load_manifest

AUTOTUNE = tf.data.AUTOTUNE


def recipe_for_shards(shard_dir, *, size=None, channels=None, eval_crop=None,
                      augmentation: Augmentation | None = None) -> ImageRecipe:
    """The image recipe of a model trained on ``shard_dir``: the shards' stored format, input
    ``size`` (default the stored size) and ``channels`` (default the stored ones), the evaluation
    crop (default the middle of the training crop range) and the training ``augmentation``."""
    manifest = shard_dir if hasattr(shard_dir, "stored_format") else load_manifest(shard_dir)
    return ImageRecipe.for_stored(manifest.stored_format(), size=size, channels=channels, eval_crop=eval_crop,
                                  augmentation=augmentation)


def get_dataset(
    shard_dir: str | os.PathLike,
    split: str,
    batch_size: int,
    *,
    recipe: ImageRecipe | None = None,
    augment: bool = True,
    shuffle: bool | None = None,
    repeat: bool = False,
    seed: int | None = None,
    include_ids: bool = False,
    drop_remainder: bool = False,
    **recipe_options,
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
    recipe : ImageRecipe, optional
        How records become model input (a trained model's own: ``model.zoobot_metadata.recipe``).
        It must describe how these shards store their images (else a one-line error naming
        both). Default: :func:`recipe_for_shards` with ``output_size``, ``greyscale``,
        ``augmentation`` and ``eval_crop``.
    augment : bool
        Training views (the recipe's augmentation); False: its deterministic evaluation crop.
    **recipe_options
        Without ``recipe``: ``output_size`` (input side, default the stored size), ``greyscale``
        (one channel, the band mean), ``augmentation`` (the training views), ``eval_crop`` (the
        evaluation crop) make the default recipe (:func:`recipe_for_shards`).
    shuffle : bool, optional
        Shuffle files and records (default: only for ``'train'``). Unshuffled splits keep the
        stored record order.
    repeat : bool
        Repeat forever (then give ``steps_per_epoch`` to ``fit``).
    seed : int, optional
        Makes shuffling and augmentation reproducible (each epoch still differs).
    include_ids : bool
        Labelled splits yield ``(images, labels, id_str)`` instead of ``(images, labels)``.
    drop_remainder : bool
        Drop the last incomplete batch (fixed shapes, e.g. for TPUs).

    Returns
    -------
    tf.data.Dataset
        ``(images, labels)``: images float32 ``[B, S, S, C]`` (:func:`zoobot_tf.data.inputs.to_model_input`),
        labels float32 ``[B, A]`` (votes/fractions) or int32 ``[B]`` (classes); unlabelled
        shards give ``(images, id_str)``.
    """
    manifest = load_manifest(shard_dir)
    manifest.files(split)  # KeyError naming the available splits
    if manifest.n_records(split) == 0:
        raise ValueError(f"split {split!r} of {shard_dir} has no records")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if recipe is None:
        unknown = sorted(set(recipe_options) - {"output_size", "greyscale", "augmentation", "eval_crop"})
        if unknown:
            raise TypeError(f"get_dataset() got unexpected keyword arguments {unknown}")
        recipe = recipe_for_shards(manifest, size=recipe_options.get("output_size"),
                                   channels=1 if recipe_options.get("greyscale") else None,
                                   eval_crop=recipe_options.get("eval_crop"),
                                   augmentation=recipe_options.get("augmentation"))
    else:
        if recipe_options:
            raise TypeError(f"get_dataset(recipe=...) takes no {sorted(recipe_options)}: the recipe decides them")
        recipe.check_stored(manifest.stored_format(), f"shards {shard_dir}")
    shuffle = (split == "train") if shuffle is None else bool(shuffle)
    deterministic = seed is not None or not shuffle

    ds = shard_records(manifest, split, shuffle=shuffle, seed=seed, deterministic=deterministic)
    if repeat:
        ds = ds.repeat()
    ds = batched_inputs(ds, recipe, batch_size, training=augment, seed=seed, drop_remainder=drop_remainder)

    def as_tuple(batch):
        if not manifest.labelled:
            return batch["image"], batch["id_str"]
        labels = tf.cast(batch["label"], tf.int32) if manifest.label_kind == "class" else batch["labels"]
        return (batch["image"], labels, batch["id_str"]) if include_ids else (batch["image"], labels)

    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.map(as_tuple, num_parallel_calls=AUTOTUNE).with_options(options).prefetch(AUTOTUNE)


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
