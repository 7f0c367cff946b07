"""Strategies against class imbalance, selectable by name (``imbalance=...``).

Hubble types are far from equally common (and Im / Sdm galaxies are the rare ones), so a
classifier trained on the natural mix learns to favour the common classes. The strategies:

``none``             the natural mix, plain cross-entropy.
``class_weight``     natural mix; each galaxy's loss scaled by ``n / (K n_c)`` of its class
                     (scikit-learn's "balanced" weights, mean weight 1 over the training set).
``uniform_sampling`` batches re-drawn in ``tf.data`` so every class is equally likely: one
                     filtered, repeated stream per class, mixed by ``sample_from_datasets``.
``mixup``            MixUp (Zhang et al. 2018): each galaxy mixed with another of its batch,
                     images and one-hot labels with the same ``lambda ~ Beta(alpha, alpha)``.
``balanced_mixup``   MixUp whose partner comes from the class-uniform stream (Galdran et al.
                     2021): ``lambda * natural + (1 - lambda) * class-balanced``.

The data transforms act on the batched, augmented training batches of
:func:`zoobot_tf.data.get_dataset` (the ``train_transform`` hook of
:func:`zoobot_tf.training.train`) and keep the number of batches per epoch; validation data
stays natural. Resampling reads the training split once per class stream, a price paid in I/O
for exact class balance without changing the shards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from zoobot_tf.classification.losses import ClassWeightedCrossEntropy
from zoobot_tf.classification.options import IMBALANCE_STRATEGIES

__all__ = [
    "IMBALANCE_STRATEGIES",
    "ImbalancePlan",
    "ImbalanceTransform",
    "class_counts",
    "class_uniform_batches",
    "class_weights",
    "mixup_batches",
    "plan_imbalance",
]



def class_counts(shard_dir, split="train") -> np.ndarray:
    """Galaxies per class in one split of class-label shards (reads the labels only)."""
    from zoobot_tf.shards.reader import read_split_labels
    from zoobot_tf.shards import load_manifest

    manifest = load_manifest(shard_dir)
    if manifest.label_kind != "class":
        raise ValueError(f"shards in {shard_dir} hold {manifest.label_kind!r} labels, not classes")
    return np.bincount(read_split_labels(shard_dir, split), minlength=manifest.n_labels)


def class_weights(counts) -> list[float]:
    """``n / (K_present * n_c)`` per class (1.0 for a class without galaxies)."""
    from zoobot_tf.finetune.finetuning import balanced_class_weights

    counts = np.asarray(counts, dtype=np.int64)
    labels = np.repeat(np.arange(len(counts)), counts)
    weights = balanced_class_weights(labels, len(counts))
    return [weights[i] for i in range(len(counts))]


def _label_index(labels):
    return tf.cast(labels, tf.int32) if labels.shape.rank == 0 else tf.argmax(labels, output_type=tf.int32)


def class_uniform_batches(dataset, classes, batch_size, n_batches, seed=None):
    """Batches in which each galaxy's class is drawn uniformly from ``classes``.

    Parameters
    ----------
    dataset : tf.data.Dataset
        Batches ``(images, labels)`` with integer labels ``(B,)``.
    classes : sequence of int
        Classes to sample (those with training galaxies: a class with none would never yield).
    batch_size, n_batches : int
        Shape of the output: exactly ``n_batches`` batches of ``batch_size``.
    seed : int, optional
        Seeds the class draws (re-drawn every epoch).
    """
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError("class-uniform sampling needs at least one class with training galaxies")
    records = dataset.unbatch()
    streams = [records.filter(lambda x, y, c=c: tf.equal(_label_index(y), c)).repeat() for c in classes]
    mixed = tf.data.Dataset.sample_from_datasets(
        streams, weights=[1.0 / len(classes)] * len(classes), seed=seed, rerandomize_each_iteration=True
    )
    return mixed.batch(int(batch_size), drop_remainder=True).take(int(n_batches))


def _beta(seed, shape, alpha):
    """Beta(alpha, alpha) draws from two stateless Gamma(alpha) draws."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    a = tf.random.stateless_gamma(shape, seeds[0], alpha)
    b = tf.random.stateless_gamma(shape, seeds[1], alpha)
    return a / tf.maximum(a + b, 1e-12)


def _mix(images, labels, partner_images, partner_labels, lam, n_classes):
    from zoobot_tf.classification.losses import label_vectors

    y = label_vectors(labels, n_classes)
    partner_y = label_vectors(partner_labels, n_classes)
    lam_images = tf.reshape(lam, [-1] + [1] * (images.shape.rank - 1))
    mixed_images = lam_images * images + (1.0 - lam_images) * partner_images
    mixed_labels = lam[:, None] * y + (1.0 - lam[:, None]) * partner_y
    return mixed_images, mixed_labels


def mixup_batches(dataset, n_classes, alpha=0.2, partners=None, seed=None):
    """MixUp every batch: ``x = lam x_i + (1 - lam) x_j``, ``y = lam y_i + (1 - lam) y_j``.

    Parameters
    ----------
    dataset : tf.data.Dataset
        Batches ``(images, labels)``, integer labels.
    n_classes : int
    alpha : float
        ``lam ~ Beta(alpha, alpha)``, one draw per galaxy, shared by its image and label.
    partners : tf.data.Dataset, optional
        Batches to mix with (balanced MixUp: class-uniform batches); default: a random
        permutation of the same batch.
    seed : int, optional

    Returns
    -------
    tf.data.Dataset
        ``(mixed images, mixed label vectors (B, n_classes) float32)``.
    """
    alpha = float(alpha)
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def own(batch, batch_seed):
        images, labels = batch
        lam_seed, perm_seed = tf.unstack(tf.random.experimental.stateless_split(batch_seed, 2))
        n = tf.shape(images)[0]
        lam = _beta(lam_seed, [n], alpha)
        order = tf.argsort(tf.random.stateless_uniform([n], perm_seed))
        return _mix(images, labels, tf.gather(images, order), tf.gather(labels, order), lam, n_classes)

    def paired(batch, partner, batch_seed):
        images, labels = batch
        lam = _beta(batch_seed, [tf.shape(images)[0]], alpha)
        return _mix(images, labels, partner[0], partner[1], lam, n_classes)

    if partners is None:
        return tf.data.Dataset.zip(dataset, seeds).map(own, num_parallel_calls=tf.data.AUTOTUNE)
    return tf.data.Dataset.zip(dataset, partners, seeds).map(paired, num_parallel_calls=tf.data.AUTOTUNE)


@dataclass(frozen=True)
class ImbalanceTransform:
    """The ``train_transform`` of one strategy: ``dataset -> dataset`` with a JSON config."""

    strategy: str
    n_classes: int
    batch_size: int
    n_batches: int
    classes: tuple
    mixup_alpha: float = 0.2
    seed: int = 42

    def __call__(self, dataset):
        if self.strategy == "uniform_sampling":
            return class_uniform_batches(dataset, self.classes, self.batch_size, self.n_batches, seed=self.seed)
        if self.strategy == "mixup":
            return mixup_batches(dataset, self.n_classes, self.mixup_alpha, seed=self.seed)
        if self.strategy == "balanced_mixup":
            partners = class_uniform_batches(dataset, self.classes, self.batch_size, self.n_batches, seed=self.seed + 1)
            return mixup_batches(dataset, self.n_classes, self.mixup_alpha, partners=partners, seed=self.seed)
        raise ValueError(f"strategy {self.strategy!r} does not transform the data")

    def get_config(self) -> dict:
        return {"strategy": self.strategy, "n_classes": self.n_classes, "batch_size": self.batch_size,
                "n_batches": self.n_batches, "classes": list(self.classes), "mixup_alpha": self.mixup_alpha,
                "seed": self.seed}


@dataclass
class ImbalancePlan:
    """What one strategy changes: the data transform (or None) and the class weights of the loss."""

    strategy: str
    class_counts: list
    class_weights: list | None
    transform: ImbalanceTransform | None

    def loss(self) -> ClassWeightedCrossEntropy:
        return ClassWeightedCrossEntropy(self.class_weights)


def plan_imbalance(strategy, shard_dir, batch_size, *, mixup_alpha=0.2, seed=42) -> ImbalancePlan:
    """Set up ``strategy`` for the training split of ``shard_dir``.

    Parameters
    ----------
    strategy : str
        One of :data:`IMBALANCE_STRATEGIES`.
    shard_dir : path
        Class-label shards.
    batch_size : int
        Global batch size (an epoch stays ``n_train // batch_size`` batches).
    mixup_alpha : float
        Beta parameter of (balanced) MixUp.
    seed : int

    Returns
    -------
    ImbalancePlan
    """
    import warnings

    if strategy not in IMBALANCE_STRATEGIES:
        raise ValueError(f"unknown imbalance strategy {strategy!r}; choose from {', '.join(IMBALANCE_STRATEGIES)}")
    counts = class_counts(shard_dir, "train")
    present = tuple(int(c) for c in np.flatnonzero(counts))
    if len(present) < len(counts):
        from zoobot_tf.shards import load_manifest

        names = [load_manifest(shard_dir).label_cols[c] for c in np.flatnonzero(counts == 0)]
        warnings.warn(f"classes {names} have no training galaxies in {shard_dir}: the classifier cannot learn them"
                      + (" and they are not sampled" if strategy in ("uniform_sampling", "balanced_mixup") else ""),
                      stacklevel=2)
    weights = class_weights(counts) if strategy == "class_weight" else None
    transform = None
    if strategy in ("uniform_sampling", "mixup", "balanced_mixup"):
        transform = ImbalanceTransform(strategy, len(counts), int(batch_size), int(counts.sum()) // int(batch_size),
                                       present, float(mixup_alpha), int(seed))
    return ImbalancePlan(strategy, counts.tolist(), weights, transform)
