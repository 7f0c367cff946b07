"""Reading shards back: feature spec, record parsing (TF ops) and a numpy iterator.

The manifest is the single source of truth for decoding: ``image`` is raw C-order bytes of an
``image_shape`` array of ``dtype``, so parsing is ``decode_raw`` + ``reshape`` (no image codec),
which is what makes shards faster to train from than PNG/FITS files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from zoobot_tf.shards.manifest import Manifest, load_manifest

_TF_DTYPES = {"uint8": tf.uint8, "float16": tf.float16, "float32": tf.float32}


def feature_spec(manifest: Manifest) -> dict:
    """``tf.io.parse_example`` spec of the records described by ``manifest``."""
    spec = {
        "id_str": tf.io.FixedLenFeature([], tf.string),
        "image": tf.io.FixedLenFeature([], tf.string),
    }
    if manifest.label_kind == "class":
        spec["label"] = tf.io.FixedLenFeature([], tf.int64)
    elif manifest.label_kind is not None:
        spec["labels"] = tf.io.FixedLenFeature([manifest.n_labels], tf.float32)
    return spec


def parse_record(serialized, manifest: Manifest) -> dict:
    """Parse one serialised example (scalar string tensor) into tensors.

    Returns
    -------
    dict
        ``id_str`` (tf.string scalar), ``image`` (``image_shape`` tensor of the stored dtype) and
        ``labels`` (float32 ``[n_labels]``) or ``label`` (int64 scalar) when labelled.
    """
    parsed = tf.io.parse_single_example(serialized, feature_spec(manifest))
    image = tf.io.decode_raw(parsed["image"], _TF_DTYPES[manifest.dtype])
    parsed["image"] = tf.reshape(image, manifest.image_shape)
    return parsed


def parse_batch(serialized, manifest: Manifest) -> dict:
    """Like :func:`parse_record` for a 1-D batch of serialised examples (images ``[B, H, W, C]``)."""
    parsed = tf.io.parse_example(serialized, feature_spec(manifest))
    image = tf.io.decode_raw(parsed["image"], _TF_DTYPES[manifest.dtype])
    parsed["image"] = tf.reshape(image, [-1, *manifest.image_shape])
    return parsed


def iter_records(shard_dir: str | os.PathLike, split: str) -> Iterator[dict]:
    """Yield every record of ``split`` as numpy values, in stored order.

    Each item has ``id_str`` (str), ``image`` (numpy array of the stored dtype and shape) and
    ``labels`` (float32 array) or ``label`` (int) when labelled. Meant for inspection and tests;
    train with :func:`zoobot_tf.data.get_dataset`.
    """
    manifest = load_manifest(shard_dir)
    files = manifest.files(split)
    if not files:
        return
    dataset = tf.data.TFRecordDataset(files).map(lambda s: parse_record(s, manifest))
    for item in dataset.as_numpy_iterator():
        item["id_str"] = item["id_str"].decode("utf-8")
        if "label" in item:
            item["label"] = int(item["label"])
        yield {k: (np.asarray(v) if k in ("image", "labels") else v) for k, v in item.items()}


def read_split_labels(shard_dir, split="train") -> np.ndarray:
    """Labels of ``split`` in stored order: int64 ``(N,)`` for class shards, float32 ``(N, A)`` otherwise.

    Parses only the label feature, never an image: class counts (imbalance strategies) and
    training means (baselines) need every label of a split, cheaply.
    """
    manifest = load_manifest(shard_dir)
    if not manifest.labelled:
        raise ValueError(f"shards in {shard_dir} are unlabelled")
    key = "label" if manifest.label_kind == "class" else "labels"
    spec = {key: feature_spec(manifest)[key]}
    records = tf.data.TFRecordDataset(manifest.files(split)).batch(4096)
    batches = list(records.map(lambda s: tf.io.parse_example(s, spec)[key]).as_numpy_iterator())
    if batches:
        return np.concatenate(batches)
    return np.zeros((0,) if key == "label" else (0, manifest.n_labels), np.int64 if key == "label" else np.float32)
