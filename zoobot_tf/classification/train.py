"""Train a classifier over a flat label set (Hubble types, GZ2 eight classes, ...) and evaluate it.

:func:`train_classifier` is :func:`zoobot_tf.training.train` (softmax head, resumable runs,
distribution strategies, checkpoints and logs) plus what classification needs on top: an
imbalance strategy (:mod:`zoobot_tf.classification.imbalance`), the optimizer recipes of the
reference studies (:mod:`zoobot_tf.classification.schedules`), top-1/2/3 accuracy while training,
and a held-out report when training ends (:func:`zoobot_tf.classification.evaluate_classifier`).
"""

from __future__ import annotations

from pathlib import Path

from zoobot_tf.classification.options import OPTIMIZERS

__all__ = ["OPTIMIZERS", "build_optimizer", "train_classifier"]


def build_optimizer(name, *, steps_per_epoch, epochs, learning_rate=None, **recipe_kwargs):
    """A named optimizer for a run of ``epochs`` x ``steps_per_epoch`` steps.

    ``'adam'``: Adam at ``learning_rate`` (default 1e-3); ``'dat'``:
    :func:`~zoobot_tf.classification.schedules.dat_study_optimizer`; ``'linformer'``:
    :func:`~zoobot_tf.classification.schedules.linformer_study_optimizer`. ``learning_rate``
    (when given) and ``recipe_kwargs`` override the recipe's published defaults.
    """
    import keras

    from zoobot_tf.classification.schedules import dat_study_optimizer, linformer_study_optimizer

    lr = {} if learning_rate is None else {"learning_rate": float(learning_rate)}
    if name == "adam":
        if recipe_kwargs:
            raise TypeError(f"optimizer 'adam' takes only learning_rate, not {sorted(recipe_kwargs)}")
        return keras.optimizers.Adam(learning_rate=float(learning_rate or 1e-3), name="adam")
    if name == "dat":
        return dat_study_optimizer(steps_per_epoch, epochs, **lr, **recipe_kwargs)
    if name == "linformer":
        return linformer_study_optimizer(steps_per_epoch, **lr, **recipe_kwargs)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)} or pass a keras optimizer")


def classification_metrics(n_classes):
    """Top-1 (``accuracy``), top-2 and top-3 accuracy (those below the number of classes)."""
    from zoobot_tf.classification.losses import TopKAccuracy

    return [TopKAccuracy(k) for k in range(1, min(3, n_classes - 1) + 1)]


def train_classifier(
    save_dir,
    shard_dir,
    label_set=None,
    *,
    imbalance="none",
    mixup_alpha=0.2,
    optimizer="adam",
    learning_rate=None,
    evaluate=True,
    **train_kwargs,
):
    """Train a softmax classifier on class-label shards, then evaluate it on the test split.

    Parameters
    ----------
    save_dir : path
        Run directory (as :func:`zoobot_tf.training.train`; rerun to resume) with an
        ``evaluation/`` folder added when training ends.
    shard_dir : path
        Shards written with a label set (``write_shards(..., schema='hubble_sequence')``).
    label_set : str or LabelSet, optional
        Must match the shards' classes; default: the shards' own.
    imbalance : str
        One of :data:`~zoobot_tf.classification.imbalance.IMBALANCE_STRATEGIES`.
    mixup_alpha : float
        ``lambda ~ Beta(alpha, alpha)`` of (balanced) MixUp.
    optimizer : str or keras.optimizers.Optimizer
        ``'adam'``, ``'dat'`` (AdamW, warm-up + cosine, clipping), ``'linformer'`` (Adam, step
        decay) - see :func:`build_optimizer` - or an optimizer instance.
    learning_rate : float, optional
        Overrides the named optimizer's learning rate (Adam: default 1e-3).
    evaluate : bool
        Write the held-out report (needs a ``test`` split) to ``save_dir/evaluation``.
    **train_kwargs
        :class:`zoobot_tf.training.TrainOptions` fields and backbone kwargs, as
        :func:`zoobot_tf.training.train` takes them. Here ``architecture`` defaults to
        ``'dat_tiny'`` (``'dat_small'``, ``'dat_base'``, ``'linformer_vit'``,
        ``'efficientnet_b0'``, ``'small_cnn'``, ...), ``epochs`` to 100 and ``batch_size`` to 18
        (the DAT study's; it ran 300 epochs: pass them for a real run), and ``patience`` to
        ``epochs`` (the full schedule; the best epoch by ``val_loss`` is kept either way).

    Returns
    -------
    (keras.Model, dict, dict or None)
        The model, its training history and the evaluation report (None without a test split
        or with ``evaluate=False``).
    """
    import keras

    from zoobot_tf.classification.evaluate import evaluate_classifier
    from zoobot_tf.classification.imbalance import plan_imbalance
    from zoobot_tf.shards import load_manifest
    from zoobot_tf.training.trainer import train

    manifest = load_manifest(shard_dir)
    if manifest.label_kind != "class":
        raise ValueError(
            f"shards in {shard_dir} hold {manifest.label_kind!r} labels; train_classifier needs class shards "
            "(write_shards(..., schema=<label set>, e.g. 'hubble_sequence'))"
        )
    settings = {"architecture": "dat_tiny", "epochs": 100, "batch_size": 18, "seed": 42, "progress": True,
                **train_kwargs}
    batch_size, epochs, seed = int(settings["batch_size"]), int(settings["epochs"]), settings["seed"]
    if settings.get("patience") is None:
        settings["patience"] = epochs  # the full schedule
    if batch_size < 1 or epochs < 1:
        raise ValueError(f"batch_size and epochs must be >= 1, got {batch_size} and {epochs}")
    steps_per_epoch = manifest.n_records("train") // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} is larger than the {manifest.n_records('train')} training "
                         f"records in {shard_dir}")
    plan = plan_imbalance(imbalance, shard_dir, batch_size, mixup_alpha=mixup_alpha, seed=seed)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = build_optimizer(optimizer, steps_per_epoch=steps_per_epoch, epochs=epochs,
                                    learning_rate=learning_rate)
    elif learning_rate is not None:
        raise ValueError("learning_rate applies to a named optimizer; set it on the optimizer instance instead")

    model, history = train(
        save_dir,
        label_set if label_set is not None else manifest.schema,
        shard_dir,
        **({} if learning_rate is None else {"learning_rate": float(learning_rate)}),
        optimizer=optimizer,
        loss=plan.loss(),
        metrics=classification_metrics(manifest.n_labels),
        train_transform=plan.transform,
        **settings,
    )
    report = None
    if evaluate and manifest.splits.get("test") is not None and manifest.n_records("test") > 0:
        imbalance_info = {"strategy": plan.strategy, "train_class_counts": plan.class_counts,
                          "class_weights": plan.class_weights}
        report = evaluate_classifier(save_dir, Path(save_dir) / "evaluation", progress=settings["progress"],
                                     extra={"imbalance": imbalance_info})
    return model, history, report
