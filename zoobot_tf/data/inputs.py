"""The one way an image file or a shard record becomes a model's input: the image recipe, applied.

Every path that feeds a model (training and fine-tuning from shards or a catalog, evaluation,
``predict``, ``embed``, ``similar --image``, attention maps) goes through these functions, so a
model sees at prediction the pixels it was evaluated on in training, bit for bit:

* :func:`load_stored`: a file -> the stored array (:class:`~zoobot_tf.recipe.StoredFormat`, via
  :func:`zoobot_tf.images.load_image`); what a shard record holds for the same file;
* :func:`to_model_input`: a batch of stored arrays -> the model input (float32, channels
  converted, then the training augmentation or the evaluation centre crop, resized);
* :func:`catalog_dataset` / :func:`shard_records` + :func:`batched_inputs`: the tf.data
  pipelines built from those two.

Augmentation (``training=True``) is the only thing that separates training from evaluation.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np
import tensorflow as tf

from zoobot_tf.data import augment as aug
from zoobot_tf.images import ImageReadError, choose_scaling, load_image
from zoobot_tf.recipe import Augmentation, ImageRecipe, StoredFormat, default_stored_size

__all__ = [
    "batched_inputs",
    "catalog_dataset",
    "catalog_recipe",
    "choose_scaling",
    "image_read_errors",
    "load_model_input",
    "load_stored",
    "shard_records",
    "to_model_input",
]

AUTOTUNE = tf.data.AUTOTUNE
_TF_DTYPES = {"uint8": tf.uint8, "float16": tf.float16, "float32": tf.float32}


def catalog_recipe(paths, size: int, channels: int, *, stored_size=None, scaling=None, eval_crop=None,
                   augmentation: Augmentation | None = None) -> ImageRecipe:
    """The recipe of a model that reads ``paths`` straight from their files.

    Images are stored at ``stored_size`` (default :func:`~zoobot_tf.recipe.default_stored_size`:
    the side whose evaluation crop is ``size`` pixels, so evaluation resamples almost nothing),
    as ``uint8`` when every file is an 8-bit raster without a scaling, else as float32 (FITS keeps
    its dynamic range until scaled). ``scaling="auto"`` is resolved by :func:`choose_scaling`.
    """
    from zoobot_tf.images import is_fits

    augmentation = augmentation or Augmentation()
    if eval_crop is None:
        eval_crop = sum(augmentation.crop_scale) / 2.0
    scaling, _ = choose_scaling(paths, scaling)
    rasters = scaling == "none" and not any(is_fits(p) for p in paths)
    stored = StoredFormat(size=stored_size or default_stored_size(size, eval_crop), channels=channels,
                          scaling=scaling, dtype="uint8" if rasters else "float32")
    return ImageRecipe(stored=stored, size=size, channels=channels, eval_crop=eval_crop, augmentation=augmentation)


def load_stored(path, stored: StoredFormat) -> np.ndarray:
    """Read one file as the recipe stores it (exactly the image a shard record of it holds).

    Raises :class:`zoobot_tf.images.ImageReadError` naming the file when it cannot be read or does
    not give the stored shape (e.g. a 1-band FITS file for a 3-band recipe).
    """
    image = load_image(path, **stored.load_kwargs())
    if image.shape != stored.shape:
        raise ImageReadError(f"{path}: prepared image has shape {image.shape}, the recipe stores {stored.shape} "
                             f"({stored.describe()})")
    return image


def to_model_input(images, recipe: ImageRecipe, *, training: bool = False, seed=None) -> tf.Tensor:
    """A batch of stored images ``[B, S, S, C]`` -> model input ``[B, size, size, channels]`` float32.

    ``uint8`` becomes [0, 1] (float images stay as stored); ``training`` applies the recipe's
    augmentation (``seed``: a ``[2]`` int tensor for the stateless RNGs), evaluation its centre
    crop, both resized to ``recipe.size``; then channels are converted (the mean of all channels
    for one, a repeated band for three). The evaluation crop reads the stored ``uint8`` directly
    (``crop_and_resize`` interpolates in float), so only output pixels are converted; training
    views convert first, because TensorFlow's uint8 transform truncates (a bias of half a level).
    """
    images = tf.convert_to_tensor(images)
    scale = 1.0 / 255.0 if images.dtype == tf.uint8 else 1.0
    if training:
        if seed is None:
            raise ValueError("training inputs need a seed for the augmentation")
        images = aug.augment_images(tf.cast(images, tf.float32) * scale, seed, output_size=recipe.size,
                                    augmentation=recipe.augmentation)
    else:
        images = aug.centre_crop_images(images, output_size=recipe.size, crop_fraction=recipe.eval_crop) * scale
    if recipe.channels != recipe.stored.total_channels:
        images = aug.to_greyscale(images) if recipe.channels == 1 else tf.repeat(images, recipe.channels, axis=-1)
    return images


def load_model_input(path, recipe: ImageRecipe) -> np.ndarray:
    """One file -> its evaluation-time model input ``(size, size, channels)`` float32 (the reference)."""
    return to_model_input(load_stored(path, recipe.stored)[None], recipe).numpy()[0]


def batched_inputs(records: tf.data.Dataset, recipe: ImageRecipe, batch_size: int, *, training: bool = False,
                   seed=None, drop_remainder: bool = False, image_key: str = "image") -> tf.data.Dataset:
    """Batch a dataset of dicts with a stored ``image`` and turn each batch's images into model input.

    With ``training``, each batch draws its augmentation from a seeded stream (new draws every
    epoch, the same sequence for the same ``seed``).
    """
    ds = records.batch(int(batch_size), drop_remainder=drop_remainder)

    def prepare(batch, batch_seed=None):
        batch = dict(batch)
        batch[image_key] = to_model_input(batch[image_key], recipe, training=training, seed=batch_seed)
        return batch

    if training:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        return tf.data.Dataset.zip(ds, seeds).map(prepare, num_parallel_calls=AUTOTUNE)
    return ds.map(prepare, num_parallel_calls=AUTOTUNE)


def catalog_dataset(paths, recipe: ImageRecipe, batch_size: int, *, labels=None, ids=None, split: str | None = None,
                    training: bool = False, shuffle: bool = False, seed: int = 0, skip_unreadable: bool = False,
                    parallel: int | None = None) -> tf.data.Dataset:
    """Batches of dicts ``{"index", "image"[, "label"]}`` read straight from image files.

    Parameters
    ----------
    paths : sequence of str
        One image source per galaxy (``file_loc``).
    recipe : ImageRecipe
        How each file becomes model input.
    labels : array, optional
        One label (row) per path, carried along as ``"label"``.
    ids : sequence of str, optional
        Galaxy ids, named in read errors (with ``split``, e.g. "train galaxy 'x'").
    training, seed
        Augment (:func:`to_model_input`); also seeds the shuffle.
    shuffle : bool
        Reshuffle the order every epoch.
    skip_unreadable : bool
        Drop images that fail to load (prediction: the caller finds them as gaps in ``index``);
        otherwise a failure stops the pipeline with a message naming the galaxy and the file
        (wrap the loop in :func:`image_read_errors` for a one-line error).
    parallel : int, optional
        Decoding threads (default AUTOTUNE).
    """
    paths = [str(p) for p in paths]
    stored = recipe.stored
    names = None if ids is None else [str(i) for i in ids]

    def read(index):
        index = int(index)
        try:
            return load_stored(paths[index], stored)
        except Exception as err:  # noqa: BLE001 - re-raised naming the galaxy
            who = f"galaxy {names[index]!r}" if names is not None else f"row {index}"
            who = f"{split} {who}" if split else who
            raise ValueError(f"{who}: cannot read image {paths[index]!r}: {err}") from err

    def load(item):
        image = tf.numpy_function(read, [item["index"]], _TF_DTYPES[stored.dtype], stateful=False)
        return {**item, "image": tf.ensure_shape(image, stored.shape)}

    items = {"index": np.arange(len(paths), dtype=np.int64)}
    if labels is not None:
        items["label"] = np.asarray(labels)
    ds = tf.data.Dataset.from_tensor_slices(items)
    if shuffle:  # indices are cheap: the whole catalog in one buffer
        ds = ds.shuffle(max(len(paths), 1), seed=seed, reshuffle_each_iteration=True)
    calls = AUTOTUNE if parallel is None else int(parallel)
    ds = ds.map(load, num_parallel_calls=calls, deterministic=True)
    if skip_unreadable:
        ds = ds.ignore_errors()
    return batched_inputs(ds, recipe, batch_size, training=training, seed=seed).prefetch(AUTOTUNE)


def shard_records(manifest, split: str, *, shuffle: bool = False, seed=None, shuffle_buffer: int = 1000,
                  deterministic: bool = True) -> tf.data.Dataset:
    """Unbatched parsed records (``id_str``, ``image`` as stored, ``labels``/``label``) of one split.

    Shuffling interleaves the files in a random order and mixes records in a buffer.
    """
    from zoobot_tf.shards.reader import parse_record

    files = manifest.files(split)
    if shuffle:
        file_ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        records = file_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 16),
                                     num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    else:
        records = tf.data.TFRecordDataset(files)
    ds = records.map(lambda s: parse_record(s, manifest), num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return ds.shuffle(shuffle_buffer, seed=seed) if shuffle else ds


_READ_ERROR = re.compile(r"((?:\w+ )?(?:galaxy '[^']*'|row \d+): cannot read image [^\n]*)")


@contextmanager
def image_read_errors():
    """Turn an image that fails to load inside tf.data (a long multi-line TF error) into a one-line ValueError."""
    try:
        yield
    except tf.errors.OpError as err:
        found = _READ_ERROR.search(str(err))
        if found is None:
            raise
        raise ValueError(found.group(1)) from None
