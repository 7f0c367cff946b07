"""The labels of one split of a shard directory, read without decoding a single image.

Why: class counts (for imbalance strategies) and training means (for baselines) need every
label of a split, and parsing only the label feature is far cheaper than reading the images.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["read_split_labels"]


def read_split_labels(shard_dir, split="train") -> np.ndarray:
    """Labels of ``split`` in stored order: int64 ``(N,)`` for class shards, float32 ``(N, A)`` otherwise."""
    from zoobot_tf.shards import load_manifest
    from zoobot_tf.shards.reader import feature_spec

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
