"""Train a model on shards under a ``tf.distribute`` strategy, resumably.

The run directory (``config.json``, ``model.keras``, ``checkpoints/best.keras``,
``training_log.csv``, ``metrics.json``, ``tensorboard/``, ``backup/``) and its life cycle are the
run engine's (:mod:`zoobot_tf.training.engine`), shared with fine-tuning and detection training.
Rerunning the same call after a crash or a kill continues from the last finished epoch.
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import keras
import tensorflow as tf

from zoobot_tf.recipe import Augmentation, ImageRecipe
from zoobot_tf.runs import (
    MODEL_NAME,
    software_versions,
)
from zoobot_tf.saving import attach_metadata
from zoobot_tf.training.callbacks import BEST_MODEL, LOG_NAME
from zoobot_tf.training.engine import RunDirectory, RunExistsError, asdict_shallow, history_of, options_from
from zoobot_tf.training.strategy import get_strategy, is_chief, resolve_mixed_precision, uses_gpu

__all__ = ["RunExistsError", "TrainOptions", "TrainingTask", "resolve_training_task", "train"]

logger = logging.getLogger(__name__)

@dataclass
class TrainingTask:
    """What the shards' labels ask for: the head, the loss and the metrics that go with them."""

    spec: object  # Schema or LabelSet
    name: str
    head: str  # 'dirichlet' | 'softmax'
    label_kind: str
    label_cols: list

    def loss(self):
        if self.head == "dirichlet":
            from zoobot_tf.losses import DirichletMultinomialLoss

            return DirichletMultinomialLoss(self.spec.question_index_groups)
        return keras.losses.SparseCategoricalCrossentropy()

    def metrics(self):
        return [] if self.head == "dirichlet" else ["accuracy"]


def resolve_training_task(schema, manifest) -> TrainingTask:
    """Match ``schema`` (a Schema, LabelSet, their name, or None for the shards' own) to the shards.

    A decision-tree schema needs vote (or weighted-fraction) shards with exactly its label
    columns and gets a Dirichlet head; a flat label set needs class shards with the same classes
    and gets a softmax head.
    """
    from zoobot_tf.schemas import Task, get_schema_or_label_set

    where = manifest.path
    if not manifest.labelled:
        raise ValueError(f"shards in {where} are unlabelled (prediction shards); training needs labels")
    if schema is None:
        schema = manifest.schema
        if schema is None:
            raise ValueError(f"shards in {where} do not name their schema; pass schema= explicitly")
    if isinstance(schema, str):
        schema = get_schema_or_label_set(schema)
    if not isinstance(schema, Task):
        raise TypeError(f"schema must be a name, Schema or LabelSet, got {type(schema).__name__}")
    if manifest.label_kind not in schema.shard_label_kinds:
        needed = "vote" if schema.head == "dirichlet" else "class"
        kind = "schema" if schema.head == "dirichlet" else "label set"
        raise ValueError(
            f"{kind} {schema.name!r} needs {needed} shards but {where} holds {manifest.label_kind!r} labels"
            + (f" (label set {manifest.schema!r})" if schema.head == "dirichlet" else "")
        )
    expected, head = list(schema.outputs), schema.head
    if list(manifest.label_cols) != expected:
        differ = [f"{i}: {a!r} vs {b!r}" for i, (a, b) in enumerate(zip(manifest.label_cols, expected)) if a != b]
        raise ValueError(
            f"shards in {where} have {len(manifest.label_cols)} label columns that do not match the "
            f"{len(expected)} of {schema.name!r}" + (f" (first differences: {differ[:3]})" if differ else "")
        )
    return TrainingTask(schema, schema.name, head, manifest.label_kind, expected)


def _check_splits(manifest, batch_size: int, replicas: int) -> dict:
    where = manifest.path
    counts = {s: manifest.n_records(s) for s in manifest.splits}
    if counts.get("train", 0) == 0:
        raise ValueError(f"shards in {where} have no training records (splits: {counts})")
    if counts.get("val", 0) == 0:
        raise ValueError(
            f"shards in {where} have no validation records (splits: {counts}); early stopping and the best "
            "checkpoint need them: write the shards with val_fraction > 0"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if batch_size % replicas:
        raise ValueError(
            f"batch_size {batch_size} is not divisible by the {replicas} replicas of the strategy; "
            "the global batch must split evenly for the loss to be averaged correctly"
        )
    if counts["train"] < batch_size:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {counts['train']} training records in {where}; "
            "no complete batch can be formed (the last incomplete batch is dropped)"
        )
    return counts


def _distribute_options(dataset, strategy, n_files: int):
    """Multi-worker: shard by element (each worker keeps its part of every global batch).

    Not by file: the pipeline zips the records with a ``Dataset.random`` stream of augmentation
    seeds, which has no file source, so TensorFlow's FILE policy refuses it at the first step.
    """
    del strategy, n_files
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


@dataclass(frozen=True)
class TrainOptions:
    """The options of :func:`train` (recorded in ``config.json``; a resumed run must not change
    them, ``epochs`` and ``progress`` aside). See :func:`train` for each."""

    architecture: str = "efficientnet_b0"
    batch_size: int = 128
    epochs: int = 100
    patience: int = 8
    learning_rate: float = 1e-3
    mixed_precision: object = "auto"
    strategy: object = "mirrored"
    seed: int = 42
    image_size: int | None = None
    greyscale: bool = False
    dropout_rate: float = 0.2
    augment: bool = True
    augmentation: Augmentation | None = None
    eval_crop: float | None = None
    progress: bool = True
    overwrite: bool = False
    backbone_kwargs: dict = field(default_factory=dict)


def train(save_dir, schema, shard_dir, options: TrainOptions | None = None, *, optimizer=None, loss=None,
          metrics=None, build_model=None, output_head=None, train_transform=None, callbacks=None, **kwargs):
    """Train a model on a shard directory; rerun the same call to resume after a kill.

    Parameters
    ----------
    save_dir : path
        Run directory (see the module docstring for its contents).
    schema : Schema, LabelSet, str or None
        Decision-tree schema (Dirichlet head, :class:`~zoobot_tf.losses.DirichletMultinomialLoss`)
        or flat label set (softmax head, cross-entropy); ``None`` takes the shards' own.
    shard_dir : path
        Shards from :func:`zoobot_tf.shards.write_shards` with ``train`` and ``val`` splits.
    architecture : str
        Registered backbone (``'efficientnet_b0'``, ``'small_cnn'``, ...).
    batch_size : int
        *Global* batch size, split evenly over the replicas.
    epochs, patience : int
        Maximum epochs; epochs without a better ``val_loss`` before stopping early. The final
        model has the weights of the best epoch.
    learning_rate : float
        Adam learning rate.
    mixed_precision : bool or 'auto'
        Compute in float16 (``'mixed_float16'`` policy, loss scaling); variables and the head's
        outputs stay float32. ``'auto'`` (default): on when a GPU with tensor cores (compute
        capability >= 7.0) is present, off on CPUs, where float16 only slows things down.
        XLA (``jit_compile``) is likewise used on GPUs only.
    strategy : {'mirrored', 'multiworker', 'default'} or tf.distribute.Strategy
        See :func:`zoobot_tf.training.get_strategy`.
    seed : int
        Seeds weight initialisation, shuffling and augmentation.
    image_size : int, optional
        Side of the images the model sees (default: the stored size); images are cropped and
        resized to it by the input pipeline.
    greyscale : bool
        Average the stored channels into one.
    dropout_rate : float
        Head dropout (kept on at prediction time: MC dropout).
    augment : bool
        Random rotation, flips and crops of the training images (the recipe's ``augmentation``).
    augmentation : zoobot_tf.recipe.Augmentation, optional
        The training views (crop range, rotation, flips); default :class:`~zoobot_tf.recipe.Augmentation()`.
    eval_crop : float, optional
        Area fraction of the centre crop at evaluation and prediction (default: the middle of the
        training crop range). With the shards' storage, ``image_size``, ``greyscale`` and
        ``augmentation`` it makes the image recipe saved inside the model.
    progress : bool
        Show tqdm progress bars.
    overwrite : bool
        Delete a finished (or unfinished) run in ``save_dir`` and start afresh.
    optimizer : keras.optimizers.Optimizer or dict, optional
        Replaces ``Adam(learning_rate)`` (e.g. AdamW with a schedule and gradient clipping).
        Stored serialised in ``config.json`` and rebuilt inside the strategy scope, so pass an
        instance or ``keras.optimizers.serialize`` output; custom schedules must be registered.
    loss : keras.losses.Loss, str or dict, optional
        Replaces the task's loss (stored serialised, like ``optimizer``).
    metrics : list of keras metrics, str or dict, optional
        Replace the task's metrics (each rebuilt inside the strategy scope).
    build_model : callable, optional
        Replaces :func:`zoobot_tf.models.get_model` (same signature: ``(spec, input_shape,
        architecture=, dropout_rate=, head=, **backbone_kwargs)``); called inside the strategy
        scope. Recorded in ``config.json`` by its qualified name.
    output_head : {'dirichlet', 'softmax', 'regression'}, optional
        What a ``build_model`` model outputs (default: the task's head), so the run's held-out
        metrics and ``predict``/``evaluate`` know how to score it; ``None`` with ``build_model``
        skips the held-out metrics.
    train_transform : callable, optional
        ``dataset -> dataset`` applied to the batched, augmented training batches (class-balanced
        resampling, MixUp, ...). It must keep ``n_train // batch_size`` batches per epoch.
        Recorded by its ``get_config()`` when it has one, else by its qualified name.
    callbacks : list of keras.callbacks.Callback, optional
        Extra callbacks, run after the run's own (log, checkpoint, early stopping, backup), e.g.
        to score a test set after every epoch. Not recorded in ``config.json``.
    options : TrainOptions, optional
        The options above from ``architecture`` to ``overwrite`` as one typed object;
        ``**kwargs`` override its fields, and any other keyword goes to the backbone builder
        (e.g. ``batchnorm_momentum=0.9``).

    Returns
    -------
    (keras.Model, dict)
        The trained model and its history: ``{'epoch': [...], 'loss': [...], 'val_loss': [...],
        ...}`` over all epochs of the run, including those before a resumption.

    Raises
    ------
    RunExistsError
        ``save_dir`` already holds a finished run.
    RunConfigMismatch
        ``save_dir`` holds an unfinished run with different arguments.
    """
    from zoobot_tf.shards import load_manifest

    option_names = {f.name for f in fields(TrainOptions)}
    backbone = {k: kwargs.pop(k) for k in list(kwargs) if k not in option_names}
    opts = options_from(TrainOptions, options, **kwargs)
    if backbone:
        opts = replace(opts, backbone_kwargs={**opts.backbone_kwargs, **backbone})
    strategy_name = opts.strategy if isinstance(opts.strategy, str) else type(opts.strategy).__name__
    strategy = get_strategy(opts.strategy)  # first: MultiWorkerMirroredStrategy must precede other ops
    mixed_precision = resolve_mixed_precision(opts.mixed_precision)
    save_dir = Path(save_dir).expanduser().resolve()
    shard_dir = Path(shard_dir).expanduser().resolve()
    manifest = load_manifest(shard_dir)
    task = resolve_training_task(schema, manifest)
    batch_size, epochs = int(opts.batch_size), int(opts.epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    counts = _check_splits(manifest, batch_size, strategy.num_replicas_in_sync)
    recipe = ImageRecipe.for_stored(manifest.stored_format(), size=opts.image_size,
                                    channels=1 if opts.greyscale else None, eval_crop=opts.eval_crop,
                                    augmentation=opts.augmentation or Augmentation())
    config = {
        **{k: v for k, v in asdict_shallow(opts).items() if k not in ("augmentation", "overwrite", "strategy")},
        "save_dir": save_dir,
        "shard_dir": shard_dir,
        "manifest": shard_dir / "manifest.json",
        "manifest_fingerprint": manifest.fingerprint,
        "catalog_sha256": manifest.catalog_sha256,
        "n_records": counts,
        "schema": task.name,
        "label_kind": task.label_kind,
        "label_cols": task.label_cols,
        "head": task.head if build_model is None else (output_head or "custom"),
        "question_index_groups": getattr(task.spec, "question_index_groups", None),
        "mixed_precision": bool(mixed_precision),
        "strategy": strategy_name,
        "image_size": recipe.size,
        "input_shape": list(recipe.input_shape),
        "optimizer": _serialized(optimizer, keras.optimizers.serialize),
        "loss": _serialized(loss, keras.losses.serialize),
        "metrics": None if metrics is None else [_serialized(m, keras.metrics.serialize) for m in metrics],
        "build_model": None if build_model is None else _qualified_name(build_model),
        "train_transform": None if train_transform is None else _describe(train_transform),
        "recipe": recipe.to_dict(),
        "model_file": MODEL_NAME,
        "best_model_file": BEST_MODEL,
        "log_file": LOG_NAME,
        "versions": software_versions(),
    }

    # Multi-worker: every worker trains and backs up; only the chief owns save_dir's files, the
    # others keep theirs (needed to resume in step with the chief) under save_dir/workers/.
    chief = is_chief(strategy)
    run = RunDirectory(save_dir if chief else save_dir / "workers" / _worker_name(strategy), "train")
    resume = run.start(config, {"replicas": strategy.num_replicas_in_sync, "strategy": type(strategy).__name__},
                       overwrite=opts.overwrite, progress=opts.progress)
    train_ds, val_ds = _datasets(run.config, recipe, manifest, strategy, train_transform)
    model = _compiled_model(run.config, task, strategy, build_model=build_model, optimizer=optimizer, loss=loss,
                            metrics=metrics)
    attach_metadata(model, recipe, {"head": config["head"], "schema": task.name, "label_cols": task.label_cols})
    steps = counts["train"] // batch_size
    run_callbacks = run.callbacks(resume, patience=opts.patience, epochs=epochs, steps_per_epoch=steps,
                                  progress=opts.progress)
    # after a kill between the last epoch's backup and the final save this runs no epoch: the
    # callbacks still restore the backup, then the best weights, and remove the backup
    repeated = train_ds.cardinality() == tf.data.INFINITE_CARDINALITY
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=run_callbacks + list(callbacks or []),
              verbose=0, shuffle=False, steps_per_epoch=steps if repeated else None)
    held_out = None
    if chief and config["head"] != "custom":
        held_out = _held_out_metrics(model, config["head"], task, recipe, shard_dir, batch_size, opts.progress)
    rows = run.finish(model, metrics=held_out)
    if not chief:
        shutil.rmtree(run.path, ignore_errors=True)
    return model, history_of(rows)


# --- the phases of a run ------------------------------------------------------------------


def _datasets(config: dict, recipe, manifest, strategy, train_transform=None):
    """``(train, val)`` tf.data pipelines of the run through its image recipe: training views for
    training, the evaluation crop for validation; lengths asserted (one machine) or sharded
    (multi-worker)."""
    batch_size, seed, counts = config["batch_size"], config["seed"], config["n_records"]
    shard_dir = Path(config["shard_dir"])
    keras.utils.set_random_seed(int(seed))
    train_ds = get_dataset_for(shard_dir, "train", batch_size, recipe=recipe, augment=config["augment"],
                               drop_remainder=True, seed=seed)
    if train_transform is not None:
        train_ds = train_transform(train_ds)
    val_ds = get_dataset_for(shard_dir, "val", batch_size, recipe=recipe, augment=False)
    if getattr(strategy.extended, "_num_workers", 1) > 1:
        train_ds = _distribute_options(train_ds, strategy, len(manifest.files("train")))
        val_ds = _distribute_options(val_ds, strategy, len(manifest.files("val")))
    else:  # known lengths: exact progress bars, no "ran out of data" on the first epoch
        train_ds = train_ds.apply(tf.data.experimental.assert_cardinality(counts["train"] // batch_size))
        val_ds = val_ds.apply(tf.data.experimental.assert_cardinality(-(-counts["val"] // batch_size)))
        # One endless iterator (fit gets steps_per_epoch): Keras otherwise makes a new one per
        # epoch, whose shuffle buffer and prefetch start filling only at that epoch's first step.
        # Repeating the batched pipeline yields the same batches, epoch for epoch, as re-iterating.
        train_ds = train_ds.repeat()
    return train_ds, val_ds


def _compiled_model(config: dict, task: TrainingTask, strategy, *, build_model=None, optimizer=None, loss=None,
                    metrics=None):
    """The model of the run, built and compiled inside the strategy scope (float16 compute when
    ``mixed_precision``; overrides are rebuilt from their serialised form in ``config``)."""
    from zoobot_tf.models import get_model

    previous_policy = keras.config.dtype_policy()
    try:
        if config["mixed_precision"]:
            keras.config.set_dtype_policy("mixed_float16")
        with strategy.scope():
            model = (build_model or get_model)(
                task.spec,
                tuple(config["input_shape"]),
                architecture=config["architecture"],
                dropout_rate=config["dropout_rate"],
                head=task.head,
                **config["backbone_kwargs"],
            )
            model.compile(
                optimizer=(keras.optimizers.Adam(learning_rate=config["learning_rate"]) if optimizer is None
                           else keras.optimizers.get(copy.deepcopy(config["optimizer"]))),
                loss=task.loss() if loss is None else keras.losses.get(copy.deepcopy(config["loss"])),
                metrics=task.metrics() if metrics is None else [_rebuilt_metric(m) for m in config["metrics"]],
                jit_compile="auto" if uses_gpu() else False,
            )
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return model


def _held_out_metrics(model, head: str, task, recipe, shard_dir: Path, batch_size: int, progress: bool) -> dict:
    """The run's validation metrics (``metrics.json``): the figure ``predict`` + ``evaluate``
    reproduce on the same galaxies (same recipe, same MC sampling)."""
    from zoobot_tf.evaluation.held_out import evaluate_split

    return evaluate_split(model, shard_dir, "val", recipe=recipe, head=head, outputs=task.label_cols,
                          schema=task.spec if head == "dirichlet" else None, batch_size=batch_size,
                          progress=progress)


def get_dataset_for(shard_dir, split, batch_size, **kwargs):
    """:func:`zoobot_tf.data.get_dataset` (a seam for tests and for custom pipelines)."""
    from zoobot_tf.data import get_dataset

    return get_dataset(shard_dir, split, batch_size, **kwargs)


def _serialized(obj, serialize):
    """A JSON-able description of an optimizer/loss/metric override: names and dicts pass through."""
    if obj is None or isinstance(obj, (str, dict)):
        return obj
    return serialize(obj)


def _rebuilt_metric(spec):
    # deserialising mutates its argument: keep config.json's copy intact
    return spec if isinstance(spec, str) else keras.metrics.deserialize(copy.deepcopy(spec))


def _qualified_name(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _describe(obj):
    """``obj.get_config()`` when it has one (stable across runs, so resumable), else its name."""
    if hasattr(obj, "get_config"):
        return {"class_name": _qualified_name(type(obj)), "config": obj.get_config()}
    return _qualified_name(obj)


def _worker_name(strategy) -> str:
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type}_{resolver.task_id}"
