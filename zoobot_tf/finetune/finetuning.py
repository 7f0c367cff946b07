"""Fine-tune a trained model on a new survey with few labels, in one phase, as zoobot 2.x does.

A new head goes on a copy of the trained encoder and everything trains together: the head at
``learning_rate``, each encoder block below the top at ``lr_decay`` times the rate of the block
above (``n_blocks`` limits how many blocks train), with AdamW (weight decay off for norms,
biases and position tables), a linear warm-up then cosine decay over every epoch. BatchNorm
adapts to the new images: its statistics are re-estimated on them before training and keep
training with the blocks that train (see :mod:`zoobot_tf.finetune.freezing` for why frozen
statistics stalled fine-tuning on a new survey). Images stream from files or shards; a
catalog's ``split`` column is honoured.

What is kept (issue 21, measured in ``benchmarks/finetune_curve.py``): a moving average of the
weights (:mod:`.averaging`) at the end of the schedule, unless a linear probe on the frozen
encoder's features (:mod:`.baselines`, fitted before training and scored beside the result)
has the lower validation loss, in which case the probe is the model saved. ``keep='best'``
brings back early stopping on the validation loss (the best epoch also goes to ``best.keras``).

The run directory is the run engine's (:mod:`zoobot_tf.training.engine`), as for ``train``::

    config.json              what was fine-tuned, on what, with which options (field by field)
    model.keras              the model kept, its image recipe inside (safe_mode loadable)
    checkpoints/best.keras   the epoch with the lowest validation loss, written during training
    training_log.csv         one row per epoch (loss, metrics, learning rate of the head)
    metrics.json             held-out metrics (accuracy + confusion matrix, RMSE, ...) and baselines
    confusion_matrix.png     classifier only
    predictions.csv          held-out ids, labels and predictions
    backup/                  Keras' BackupAndRestore state while the fine-tune is unfinished

Rerunning the same call after a crash or a kill continues from the last finished epoch (the
learning-rate schedule, the weight average and early stopping too); changed arguments are
refused by name, and so is a directory holding a finished run unless ``overwrite=True``. Runs
written before the engine (``finetune_log.csv``, ``best.keras``) stay readable by ``load_run``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from zoobot_tf.evaluation.held_out import EVAL_SAMPLES, sample_dataset, task_metrics
from zoobot_tf.evaluation.plots import plot_confusion_matrix
from zoobot_tf.data.inputs import catalog_recipe
from zoobot_tf.images import choose_scaling
from zoobot_tf.finetune.averaging import WeightAverage, ema_momentum
from zoobot_tf.finetune.baselines import (
    blend_with_probe,
    finetune_baselines,
    init_head_from_probe,
    probe_verdict,
    probe_wins,
    use_probe,
)
from zoobot_tf.finetune.data import (
    catalog_path,
    image_read_errors,
    make_dataset,
    read_labelled_catalog,
    resolve_finetune_task,
    splits_from_catalog,
    splits_from_shards,
)
from zoobot_tf.finetune.freezing import (
    block_learning_rates,
    recalibrate_batchnorm,
    set_batchnorm_momentum,
    unfreeze_top_blocks,
)
from zoobot_tf.finetune.modes import BATCHNORM_MODES, REESTIMATED
from zoobot_tf.models import assemble_model, build_head, get_encoder
from zoobot_tf.optimizers import LayerDecayAdamW, no_decay_names
from zoobot_tf.recipe import Augmentation, ImageRecipe
from zoobot_tf.runs import CONFIG_NAME, MODEL_NAME, load_config, load_run, software_versions
from zoobot_tf.saving import attach_metadata, load_model
from zoobot_tf.shards.split import FEW_LABEL_TEST_FRACTION, FEW_LABEL_VAL_FRACTION, SPLIT_COLUMN
from zoobot_tf.training.callbacks import BEST_MODEL, LOG_NAME, read_log
from zoobot_tf.training.engine import METRICS_NAME, RunDirectory
from zoobot_tf.training.schedules import warmup_cosine
from zoobot_tf.typed_options import asdict_shallow, options_from

__all__ = [
    "FinetuneResult",
    "balanced_class_weights",
    "copy_encoder",
    "finetune",
    "FinetuneOptions",
    "load_source_model",
]

logger = logging.getLogger(__name__)

#: the log of fine-tuning runs written before the run engine (now ``training_log.csv`` as every run)
LEGACY_LOG_NAME = "finetune_log.csv"
#: default time constant of the weight average, in epochs (see :mod:`zoobot_tf.finetune.averaging`)
EMA_EPOCHS = 2.0


@dataclass
class FinetuneResult:
    """What :func:`finetune` produced.

    Attributes
    ----------
    model : keras.Model
        The fine-tuned model (encoder + new head).
    history : dict
        ``{metric: [value per epoch]}`` as Keras' ``History`` (all epochs run, incl. after the best).
    metrics : dict
        Held-out metrics, as written to ``metrics.json``.
    paths : dict
        ``name -> Path`` of every file written.
    """

    model: keras.Model
    history: dict
    metrics: dict
    paths: dict = field(default_factory=dict)


def load_source_model(model_or_path):
    """A model, a ``.keras`` file, or a run directory -> ``(model, description of the source)``."""
    if isinstance(model_or_path, keras.Model):
        return model_or_path, model_or_path.name
    path = Path(model_or_path).expanduser()
    if path.is_dir():
        model, _ = load_run(path)
        return model, str(path.resolve())
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist (expected a .keras file or a run directory)")
    return load_model(path, compile=False), str(path.resolve())


def copy_encoder(encoder, input_shape, dtype_policy=None, weights=None):
    """An independent copy of ``encoder`` (same weights) for images of ``input_shape``.

    Copying keeps the caller's model untouched by fine-tuning; a different input size rebuilds
    the graph on a new input (convolutional encoders with global pooling accept any size).
    ``dtype_policy`` (e.g. ``'mixed_float16'``) replaces every layer's compute policy.
    ``weights`` (``encoder.get_weights()``, read before entering another distribution strategy's
    scope, where the encoder's own variables cannot be read) default to the encoder's.
    """
    input_shape = tuple(int(d) for d in input_shape)
    if encoder.input.shape[-1] != input_shape[-1]:
        raise ValueError(f"the encoder takes {encoder.input.shape[-1]}-channel images, not {input_shape[-1]}")

    def clone(layer):
        config = layer.get_config()
        if dtype_policy is not None and "dtype" in config:
            config["dtype"] = dtype_policy
        return layer.__class__.from_config(config)

    options = {"clone_function": clone} if dtype_policy is not None else {}
    if tuple(encoder.input.shape[1:]) != input_shape:
        options["input_tensors"] = keras.Input(shape=input_shape, name="image")
    copy = keras.models.clone_model(encoder, **options)
    copy.set_weights(encoder.get_weights() if weights is None else weights)
    return copy


def balanced_class_weights(labels, n_classes: int) -> dict:
    """``n / (n_classes * count_c)`` per class (as scikit-learn's 'balanced'); 1.0 for absent classes."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def _class_weights(class_weight, task, train_labels) -> dict | None:
    if task.kind != "classifier":
        if isinstance(class_weight, dict):
            raise ValueError(f"class_weight applies to classifiers only, not a {task.kind} head")
        return None
    if class_weight is None:
        return None
    classes = task.outputs
    if class_weight == "balanced":
        counts = np.bincount(train_labels, minlength=len(classes))
        absent = [c for c, n in zip(classes, counts) if n == 0]
        if absent:
            warnings.warn(f"classes {absent} have no training examples; the classifier cannot learn them")
        return balanced_class_weights(train_labels, len(classes))
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be 'balanced', None or a dict, got {class_weight!r}")
    weights = {i: 1.0 for i in range(len(classes))}
    for key, value in class_weight.items():
        if str(key) in classes:
            index = classes.index(str(key))
        elif str(key).lstrip("-").isdigit() and 0 <= int(key) < len(classes):
            index = int(key)
        else:
            raise ValueError(f"class_weight key {key!r} is neither a class of {classes} nor a class index")
        weights[index] = float(value)
    return weights


def _loss_and_metrics(task, label_smoothing=0.0):
    if task.kind == "classifier":
        if label_smoothing:
            from zoobot_tf.losses import SmoothedSparseCrossentropy

            return SmoothedSparseCrossentropy(label_smoothing), ["accuracy"]
        return keras.losses.SparseCategoricalCrossentropy(), ["accuracy"]
    if label_smoothing:
        raise ValueError(f"label_smoothing applies to classifiers only, not a {task.kind} head")
    if task.kind == "regressor":
        return keras.losses.MeanSquaredError(), [keras.metrics.RootMeanSquaredError(name="rmse")]
    from zoobot_tf.losses import DirichletMultinomialLoss

    return DirichletMultinomialLoss(task.schema.question_index_groups), []


def _held_out(splits):
    for name in ("test", "val"):
        if name in splits and len(splits[name]):
            return name
    raise ValueError(
        f"no held-out galaxies to report metrics on (splits: {sorted(splits)}); use test_fraction > 0 "
        "or shards with a test split"
    )


def _check_options(opts: "FinetuneOptions") -> None:
    if opts.keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', got {opts.keep!r}")
    if opts.head_init not in ("probe", "random"):
        raise ValueError(f"head_init must be 'probe' or 'random', got {opts.head_init!r}")
    if int(opts.epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {opts.epochs}")
    if int(opts.patience) < 1:
        raise ValueError(f"patience must be >= 1, got {opts.patience}")
    if int(opts.batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {opts.batch_size}")
    if not 0 <= int(opts.warmup_epochs) < int(opts.epochs):
        raise ValueError(f"warmup_epochs must be in [0, epochs), got {opts.warmup_epochs} with epochs={opts.epochs}")
    if opts.batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"batchnorm must be one of {BATCHNORM_MODES}, got {opts.batchnorm!r}")
    if not float(opts.learning_rate) > 0 or float(opts.weight_decay) < 0:
        raise ValueError(f"need learning_rate > 0 and weight_decay >= 0, got {opts.learning_rate} and "
                         f"{opts.weight_decay}")


@dataclass(frozen=True)
class FinetuneOptions:
    """The options of :func:`finetune` (recorded in ``config.json`` field by field; a resumed run
    must not change them, ``epochs`` and ``progress`` aside). See :func:`finetune` for each."""

    head: object = "classifier"
    label_set: object = None
    label_cols: object = None
    class_weight: object = None
    image_size: int | None = None
    epochs: int = 40
    patience: int = 8
    learning_rate: float = 1e-3
    n_blocks: int | None = None
    lr_decay: float = 0.75
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    label_smoothing: float = 0.0
    batchnorm: str = "adapt"
    batchnorm_momentum: float = 0.9
    val_fraction: float = FEW_LABEL_VAL_FRACTION
    test_fraction: float = FEW_LABEL_TEST_FRACTION
    batch_size: int = 32
    augment: bool = True
    seed: int = 42
    mixed_precision: object = "auto"
    strategy: object = "mirrored"
    progress: bool = True
    dropout_rate: float = 0.2
    stored_size: int | None = None
    scaling: str | None = None
    eval_crop: float | None = None
    augmentation: Augmentation | None = None
    ema_epochs: float = EMA_EPOCHS
    keep: str = "last"
    baselines: bool = True
    head_init: str = "random"
    probe_fallback: bool = True
    probe_blend: bool = True
    overwrite: bool = False


@dataclass
class _Data:
    """What :func:`finetune` trains and scores on: the task, its splits and the image recipe."""

    task: object
    splits: dict
    recipe: ImageRecipe
    split_source: str
    catalog: object = None
    shard_dir: object = None
    scaling_reason: str | None = None


def finetune(model_or_path, save_dir, options: FinetuneOptions | None = None, *, catalog=None, shard_dir=None,
             **kwargs) -> FinetuneResult:
    """Adapt a trained model to new labels: a new head, the encoder trained with per-block learning rates.

    Parameters
    ----------
    model_or_path : keras.Model, path to a ``.keras`` file, or a run directory
        The trained model (from :func:`zoobot_tf.models.get_model` / :func:`train`); only its
        encoder is used, and it is copied (the given model is left unchanged).
    save_dir : path
        Run directory (see the module docstring).
    options : FinetuneOptions, optional
        Every option below as one object; keywords override its fields (``finetune(m, d, epochs=3)``).
    catalog : DataFrame or path, optional
        ``id_str``, ``file_loc`` and the labels: column ``label`` (or ``label_cols[0]``) with
        class names for a classifier, numeric ``label_cols`` for a regressor, the schema's vote
        columns for a Dirichlet head. An optional ``split`` column (train/val/test) fixes the
        split; otherwise galaxies are split by hashing ``(seed, id_str)``.
    shard_dir : path, optional
        Labelled shards instead of a catalog (their own train/val/test splits).

    Options (fields of :class:`FinetuneOptions`)
    --------------------------------------------
    head : {'classifier', 'regressor'}, schema name / Schema, or label-set name / LabelSet
        ``'classifier'`` (or a label set): softmax over classes, cross-entropy.
        ``'regressor'``: linear outputs, mean squared error. A decision-tree schema: Dirichlet
        head with :class:`~zoobot_tf.losses.DirichletMultinomialLoss` on its vote columns.
    label_set : str, LabelSet or list of str, optional
        Classifier classes in index order (default: the distinct catalog labels, sorted).
    label_cols : list of str, optional
        Regressor targets; for a classifier, the one column holding the class.
    class_weight : None, 'balanced' or dict
        Classifier loss weights (default none: the loss matches plain accuracy on data with the
        training split's class mix); 'balanced' = ``n / (n_classes * count)``; a dict maps class
        names (or indices) to weights (others 1).
    image_size : int, optional
        Input side (default: the model's).
    epochs, patience : int
        Epochs of the warm-up + cosine schedule; with ``keep='best'``, stop after ``patience``
        epochs without a lower validation loss and keep the best epoch's weights.
    learning_rate : float
        Peak AdamW learning rate of the head and the top encoder block.
    n_blocks : int or None
        Encoder blocks that train, counted from the top (None: all; 0: the head alone).
    lr_decay : float
        Each block down trains at ``lr_decay`` times the rate of the block above (1: no decay).
    weight_decay : float
        Decoupled AdamW weight decay, off for norms, biases and position tables.
    warmup_epochs : int
        Linear warm-up of the learning rate, then cosine decay to 1% over the remaining epochs
        (:func:`zoobot_tf.training.schedules.warmup_cosine`, the schedule every verb uses).
    label_smoothing : float
        Classifier label smoothing.
    batchnorm : {'adapt', 'fixed', 'train', 'frozen'}
        'adapt': re-estimate BatchNorm statistics on the training images first, then train the
        BatchNorm of the training blocks. 'fixed': re-estimate them, then keep every BatchNorm
        in inference mode. 'train': train them without re-estimating. 'frozen': keep the source
        model's statistics (only for images like the pretraining images).
    batchnorm_momentum : float
        Momentum of the BatchNorm moving averages while fine-tuning (0.9: a few hundred steps
        suffice to follow the new images; Keras' 0.99 needs thousands).
    val_fraction, test_fraction : float
        Catalog split fractions (ignored with a ``split`` column).
    batch_size : int
    augment : bool
        Random rotation, flips and crops of training images.
    seed : int
        Split, initialisation, shuffling and augmentation seed.
    mixed_precision : 'auto' or bool
        Compute in float16; 'auto' (default): on with a tensor-core GPU, off on CPU, as ``train``.
    strategy : {'mirrored', 'multiworker', 'default'} or tf.distribute.Strategy
        Distribution strategy (see :func:`zoobot_tf.training.get_strategy`); 'mirrored' uses every
        local GPU.
    progress : bool
        Show tqdm bars.
    dropout_rate : float
        Dropout before the new head's dense layer (MC dropout stays on at inference for a
        Dirichlet head; a classifier/regressor predicts deterministically).
    stored_size : int, optional
        Catalog images are loaded at this side before the crop (default: the side whose
        evaluation crop is ``image_size``, so evaluation images are hardly resampled); shards
        keep their stored size.
    scaling : str, optional
        Intensity scaling of catalog images (:data:`zoobot_tf.images.SCALINGS`, or ``'auto'``; FITS
        needs one, e.g. ``'asinh'``). Default ``'auto'``: ``'asinh'`` for a survey of dark 8-bit
        images (a linear stretch, 95% of pixels below 0.06 of white), ``'none'`` otherwise
        (:func:`zoobot_tf.images.suggest_scaling`); the choice and why are in ``metrics.json``
        (``scaling_choice``) and the recipe saved inside the model.
    eval_crop : float, optional
        Area fraction of the centre crop at evaluation and prediction (default: the middle of the
        training crop range).
    augmentation : zoobot_tf.recipe.Augmentation, optional
        Training views (crop range, rotation, flips); default :class:`~zoobot_tf.recipe.Augmentation()`.
        With the above they make the fine-tuned model's image recipe, saved inside it.
    ema_epochs : float
        Time constant, in epochs, of the moving average of the weights (BatchNorm statistics
        included) that is validated, checkpointed, early-stopped on and kept
        (:mod:`zoobot_tf.finetune.averaging`); 0: the raw weights of each epoch.
    keep : {'last', 'best'}
        'last': train every epoch of the schedule and keep the last (averaged) weights; the
        validation split chooses the probe's regularisation and among the probe, the
        fine-tune and their blends (``probe_fallback``, ``probe_blend``). 'best': stop after
        ``patience`` epochs without a lower validation loss and keep the best epoch. Why 'last'
        by default: on a few hundred validation galaxies the best epoch is partly luck, and
        stopping while the learning rate is still high leaves the last epochs unstable (issue 21).
    baselines : bool
        Also score a linear probe on the frozen encoder's features and the majority class (the
        training mean for regressor / tree heads) on the held-out split
        (:mod:`zoobot_tf.finetune.baselines`): ``metrics['baselines']``, and a warning when the
        fine-tuned model does not beat the probe.
    head_init : {'probe', 'random'}
        Start the new classifier / regressor head as the linear (ridge) probe fitted on the
        frozen encoder's features (linear probing then fine-tuning), or at random. A
        decision-tree head always starts at random.
    probe_fallback : bool
        Keep the linear (ridge) probe on the frozen encoder instead of the fine-tuned weights
        when the probe's validation loss is lower than that of the epoch fine-tuning keeps:
        ``metrics['kept']`` says which model was saved (no fallback with label smoothing, whose
        loss is not the probe's).
    probe_blend : bool
        With ``probe_fallback``, also try blends of every weight between the probe and the
        fine-tune (:data:`~zoobot_tf.finetune.baselines.BLEND_WEIGHTS`: 0.25, 0.5, 0.75 of the
        fine-tune) and keep the one with the lowest validation loss, the two ends included
        (:func:`~zoobot_tf.finetune.baselines.blend_with_probe`; WiSE-FT). ``metrics['probe_blend']``
        has each candidate's validation loss.
    overwrite : bool
        Replace a finished run in ``save_dir`` (otherwise refused, as ``train`` does).

    Returns
    -------
    FinetuneResult
    """
    from zoobot_tf.training.strategy import resolve_mixed_precision

    opts = options_from(FinetuneOptions, options, **kwargs)
    if (catalog is None) == (shard_dir is None):
        raise ValueError("give exactly one of catalog= (images + labels) or shard_dir= (labelled shards)")
    _check_options(opts)
    source, source_name = load_source_model(model_or_path)
    source_encoder = get_encoder(source)
    channels = int(source_encoder.input.shape[-1])
    image_size = int(opts.image_size or source_encoder.input.shape[1])
    input_shape = (image_size, image_size, channels)
    data = _finetune_data(opts, catalog, shard_dir, image_size, channels)
    task, splits = data.task, data.splits
    logger.info("image recipe: %s", data.recipe.describe())
    eval_split = _held_out(splits)
    weights = _class_weights(opts.class_weight, task, splits["train"].labels)
    mixed_precision = resolve_mixed_precision(opts.mixed_precision)
    steps = -(-len(splits["train"]) // int(opts.batch_size))
    monitor = "val_loss" if "val" in splits else None

    run = RunDirectory(save_dir, "finetune")
    config = _run_config(opts, data, source_name, model_or_path, weights, input_shape, mixed_precision)
    resume = run.start(config, {"strategy": opts.strategy if isinstance(opts.strategy, str)
                                else type(opts.strategy).__name__},
                       overwrite=opts.overwrite, progress=opts.progress, monitor=monitor)
    keras.utils.set_random_seed(int(opts.seed))
    model, encoder, trained_layers, multipliers, strategy_name = _compiled_model(
        source_encoder, input_shape, task, steps, opts, mixed_precision)
    attach_metadata(model, data.recipe, {"head": task.head, "label_cols": list(task.outputs),
                                         "schema": task.schema.name if task.schema is not None else None})
    inputs = dict(recipe=data.recipe, seed=int(opts.seed))
    recalibrated = 0
    if opts.batchnorm in REESTIMATED and not resume.resuming:  # resuming: the backup holds the statistics
        with image_read_errors():
            recalibrated = recalibrate_batchnorm(
                encoder, make_dataset(splits["train"], opts.batch_size, training=False, **inputs))
    logger.info("fine-tuning %d encoder layers (lr_decay %s); BatchNorm %s (%d batches re-estimated)",
                len(trained_layers), opts.lr_decay, opts.batchnorm, recalibrated)
    probe, baseline_scores, probe_encoder = None, None, None
    if opts.baselines or opts.head_init == "probe" or opts.probe_fallback:  # the encoder as it starts
        probe, baseline_scores, probe_encoder = finetune_baselines(
            task, source_encoder, input_shape, splits, eval_split, **inputs, batch_size=opts.batch_size,
            batchnorm=opts.batchnorm, class_weight=weights, encoder=None if resume.resuming else encoder)
    if opts.head_init == "probe" and not resume.resuming:  # resuming: the backup holds the head
        init_head_from_probe(model, probe)
    history = _fit(model, splits, inputs, run, resume, opts, class_weight=weights, steps=steps, monitor=monitor)
    best_epoch = int(np.argmin(history["val_loss"])) if "val_loss" in history else len(history["loss"]) - 1
    kept_epoch = best_epoch if opts.keep == "best" else len(history["loss"]) - 1
    kept = f"fine-tuned epoch {kept_epoch}"
    comparable = not opts.label_smoothing  # a smoothed cross-entropy is not the probe's loss
    probe_name = "linear probe" if task.kind == "classifier" else "ridge probe"
    blend = None
    if opts.probe_blend and opts.probe_fallback and comparable and probe is not None and "val" in splits:
        weight, losses = blend_with_probe(model, probe, probe_encoder,
                                          make_dataset(splits["val"], opts.batch_size, training=False, **inputs))
        blend = {"fine_tuned_weight": weight, "val_loss": {f"{w:g}": v for w, v in losses.items()}}
        if weight == 0.0:
            kept = probe_name
        elif weight < 1.0:
            kept = f"blend: {weight:g} x fine-tuned epoch {kept_epoch} + {1 - weight:g} x {probe_name}"
        logger.info("kept %s (validation loss by weight of the fine-tune: %s)", kept,
                    ", ".join(f"{w:g}: {v:.4g}" for w, v in losses.items()))
    elif (opts.probe_fallback and comparable and probe_wins(probe, history, opts.keep)
            and use_probe(model, probe, probe_encoder)):
        kept = probe_name
        logger.warning("no fine-tuned epoch reached the validation loss of the %s on the frozen encoder's features "
                       "(%.4g): the %s is the model kept", kept, probe.val_loss, kept)

    paths = {"model": run.model_path, "log": run.log_path}
    if run.best_path.is_file():
        paths["best_checkpoint"] = run.best_path
    metrics = _evaluate_held_out(model, task, splits, eval_split, inputs, opts.batch_size, run.path, paths)
    metrics.update(epochs_run=len(history["loss"]), best_epoch=best_epoch, trained_layers=len(trained_layers),
                   kept_epoch=kept_epoch, kept=kept, image_recipe=data.recipe.describe(),
                   scaling_choice=data.scaling_reason,
                   weight_average_epochs=float(opts.ema_epochs))
    metrics["head_init"] = "probe" if opts.head_init == "probe" and probe is not None else "random"
    if blend is not None:
        metrics["probe_blend"] = blend
    if opts.baselines:
        metrics["baselines"] = baseline_scores
        verdict = probe_verdict(task.kind, metrics)
        metrics["beats_probe"] = verdict is None
        if verdict and "probe" not in kept:
            warnings.warn(verdict)
    run.finish(model, metrics=metrics, strategy=strategy_name, epochs_run=len(history["loss"]), kept=kept,
               lr_multipliers=multipliers, batchnorm_batches_recalibrated=recalibrated)
    paths["config"] = run.path / CONFIG_NAME
    if task.kind == "classifier":
        logger.info("fine-tuned classifier: %s accuracy %.3f", eval_split, metrics["accuracy"])
    return FinetuneResult(model=model, history=history, metrics=metrics, paths=paths)


# --- the steps of fine-tuning -------------------------------------------------------------


def _finetune_data(opts: FinetuneOptions, catalog, shard_dir, image_size: int, channels: int) -> _Data:
    """The task, the train/val/test splits and the image recipe, from a catalog or labelled shards."""
    augmentation = opts.augmentation or Augmentation()
    if catalog is not None:
        frame = read_labelled_catalog(catalog)
        task = resolve_finetune_task(opts.head, label_set=opts.label_set, label_cols=opts.label_cols, catalog=frame)
        splits = splits_from_catalog(frame, task, val_fraction=opts.val_fraction, test_fraction=opts.test_fraction,
                                     seed=opts.seed)
        scaling, reason = choose_scaling(frame["file_loc"].astype(str), opts.scaling or "auto")
        if reason:
            logger.info("image scaling: %s", reason)
        recipe = catalog_recipe(frame["file_loc"].astype(str), image_size, channels, stored_size=opts.stored_size,
                                scaling=scaling, eval_crop=opts.eval_crop, augmentation=augmentation)
        split_source = "split column" if SPLIT_COLUMN in frame.columns else "hash"
    else:
        from zoobot_tf.shards import load_manifest

        manifest = load_manifest(shard_dir)
        task = resolve_finetune_task(opts.head, label_set=opts.label_set, label_cols=opts.label_cols,
                                     manifest=manifest)
        splits = splits_from_shards(shard_dir, task, progress=opts.progress)
        recipe = ImageRecipe.for_stored(manifest.stored_format(), size=image_size, channels=channels,
                                        eval_crop=opts.eval_crop, augmentation=augmentation)
        split_source, reason = "shards", None
    if "train" not in splits:
        raise ValueError(f"no training galaxies (splits: { {k: len(v) for k, v in splits.items()} })")
    return _Data(task, splits, recipe, split_source, catalog_path(catalog),
                 None if shard_dir is None else Path(shard_dir).expanduser().resolve(), reason)


def _run_config(opts: FinetuneOptions, data: _Data, source_name, model_or_path, weights, input_shape,
                mixed_precision) -> dict:
    """``config.json`` of a fine-tuning run (read back by :mod:`zoobot_tf.runs`): the options field by
    field, what they resolved to, and the data."""
    task = data.task
    options = {k: v for k, v in asdict_shallow(opts).items()
               if k not in ("augmentation", "overwrite", "strategy", "class_weight", "label_set", "label_cols",
                            "head", "mixed_precision")}
    return {
        **options,
        "source_model": source_name,
        "source_config": _source_config(model_or_path),
        "catalog": data.catalog,
        "shard_dir": data.shard_dir,
        "split": data.split_source,
        "head": task.head,
        "task": task.kind,
        "schema": task.schema.name if task.schema is not None else None,
        "label_kind": {"classifier": "class", "regressor": "regression", "dirichlet": "votes"}[task.kind],
        "label_cols": list(task.outputs),
        "label_column": task.label_column,
        "question_index_groups": getattr(task.schema, "question_index_groups", None),
        "class_weight": None if weights is None else {str(k): float(v) for k, v in weights.items()},
        "input_shape": list(input_shape),
        "image_size": int(input_shape[0]),
        "recipe": data.recipe.to_dict(),
        "scaling_choice": data.scaling_reason,
        "n_records": {k: len(v) for k, v in data.splits.items()},
        "mixed_precision": bool(mixed_precision),
        "model_file": MODEL_NAME,
        "best_model_file": BEST_MODEL,
        "log_file": LOG_NAME,
        "metrics_file": METRICS_NAME,
        "versions": software_versions(),
    }


def _compiled_model(source_encoder, input_shape, task, steps, opts: FinetuneOptions, mixed_precision: bool):
    """A new head on a copy of the source encoder, blocks set trainable, compiled with LayerDecayAdamW
    under the options' strategy: ``(model, encoder, trained layer names, lr multipliers, strategy name)``."""
    from zoobot_tf.training.strategy import get_strategy

    source_weights = source_encoder.get_weights()  # here, outside the scope of the strategy below
    strategy = get_strategy(opts.strategy)
    previous_policy = keras.config.dtype_policy()
    policy = "mixed_float16" if mixed_precision else None
    try:
        if policy:
            keras.config.set_dtype_policy(policy)
        with strategy.scope():
            encoder = copy_encoder(source_encoder, input_shape, weights=source_weights, dtype_policy=policy)
            new_head = build_head(task.head, input_dim=encoder.output.shape[-1], output_dim=len(task.outputs),
                                  dropout_rate=opts.dropout_rate, test_time_dropout=task.kind == "dirichlet")
            model = assemble_model(encoder, new_head, name=f"zoobot_finetuned_{task.kind}")
            encoder = get_encoder(model)
            train_batchnorm = opts.batchnorm in ("adapt", "train")
            if train_batchnorm:
                set_batchnorm_momentum(encoder, opts.batchnorm_momentum)
            trained_layers = unfreeze_top_blocks(encoder, opts.n_blocks, train_batchnorm=train_batchnorm)
            multipliers = block_learning_rates(encoder, opts.n_blocks, opts.lr_decay)
            schedule = warmup_cosine(opts.learning_rate, steps_per_epoch=steps, epochs=opts.epochs,
                                     warmup_epochs=opts.warmup_epochs)
            optimizer = LayerDecayAdamW(schedule, weight_decay=float(opts.weight_decay), lr_multipliers=multipliers,
                                        exclude_names=no_decay_names(model))
            loss, metrics = _loss_and_metrics(task, opts.label_smoothing)
            model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=False)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return model, encoder, trained_layers, multipliers, type(strategy).__name__


def _fit(model, splits, inputs, run: RunDirectory, resume, opts: FinetuneOptions, *, class_weight, steps, monitor):
    """Train from ``resume.initial_epoch`` (early stopping on the validation loss with ``keep='best'``;
    the best epoch always goes to ``checkpoints/best.keras``), validating the weight average when
    ``ema_epochs``; returns ``{metric: [value per epoch]}`` of every epoch, resumed sessions
    included (read from the CSV log)."""
    if monitor is None:
        logger.warning("no validation split: no early stopping, the last epoch is kept")
    train_ds = make_dataset(splits["train"], opts.batch_size, training=True, augment=opts.augment, **inputs)
    val_ds = make_dataset(splits["val"], opts.batch_size, training=False, **inputs) if "val" in splits else None
    callbacks = run.callbacks(resume, patience=opts.patience, epochs=int(opts.epochs), steps_per_epoch=steps,
                              progress=opts.progress, monitor=monitor, tensorboard=False)
    if opts.keep == "last":  # the validation loss is still logged and best.keras still written
        callbacks = [c for c in callbacks if not isinstance(c, keras.callbacks.EarlyStopping)]
    if float(opts.ema_epochs) > 0:
        average, restorer = WeightAverage(ema_momentum(opts.ema_epochs, steps), run.path).callbacks()
        backup = next(i for i, c in enumerate(callbacks) if isinstance(c, keras.callbacks.BackupAndRestore))
        callbacks = [average] + callbacks[:backup] + [restorer] + callbacks[backup:]
    with image_read_errors():
        model.fit(train_ds, validation_data=val_ds, epochs=int(opts.epochs), class_weight=class_weight,
                  callbacks=callbacks, verbose=0, shuffle=False)
    rows = read_log(run.log_path)
    return {key: [row[key] for row in rows] for key in rows[0] if key != "epoch"} if rows else {"loss": []}


def _evaluate_held_out(model, task, splits, eval_split, data, batch_size, save_dir, paths) -> dict:
    """Metrics on the held-out split, ``predictions.csv`` and (classifier) the confusion-matrix PNG;
    adds the files to ``paths`` (``metrics`` is where the caller writes the returned numbers)."""
    held_out = splits[eval_split]
    eval_ds = make_dataset(held_out, batch_size, training=False, **data)
    n_samples = EVAL_SAMPLES if task.kind == "dirichlet" else 1
    with image_read_errors():
        _, samples, _ = sample_dataset(model, eval_ds, n_samples=n_samples, progress=False)
    predictions = samples.mean(axis=-1)
    metrics = task_metrics(task.head, held_out.labels, samples, task.outputs, task.schema)
    if task.kind == "classifier":
        paths["confusion_matrix"] = plot_confusion_matrix(
            metrics["confusion_matrix"], task.outputs, save_dir / "confusion_matrix.png",
            title=f"confusion matrix ({eval_split}, n={metrics['n']})", true_label="true",
        )
        table = {"true": [task.outputs[i] for i in held_out.labels],
                 "predicted": [task.outputs[i] for i in predictions.argmax(axis=-1)]}
        table.update({f"p_{c}": predictions[:, i] for i, c in enumerate(task.outputs)})
    elif task.kind == "regressor":
        table = {**{c: held_out.labels[:, i] for i, c in enumerate(task.outputs)},
                 **{f"{c}_pred": predictions[:, i] for i, c in enumerate(task.outputs)}}
    else:
        table = {f"{c}_concentration": predictions[:, i] for i, c in enumerate(task.outputs)}
    metrics.update(split=eval_split, n_train=len(splits["train"]), n_val=len(splits.get("val", ())),
                   head=task.kind, n_samples=n_samples)
    pd.DataFrame({"id_str": held_out.ids, **table}).to_csv(save_dir / "predictions.csv", index=False)
    paths["predictions"] = save_dir / "predictions.csv"
    paths["metrics"] = save_dir / "metrics.json"
    return metrics


def _source_config(model_or_path):
    if isinstance(model_or_path, keras.Model):
        return None
    path = Path(model_or_path)
    if not (path.is_dir() or path.name == MODEL_NAME):
        return None
    directory = path if path.is_dir() else path.parent
    try:
        config = load_config(directory)
    except (FileNotFoundError, ValueError):
        return None
    return {k: config.get(k) for k in ("kind", "schema", "architecture", "input_shape", "manifest") if k in config}


def finetune_log(save_dir) -> list[dict]:
    """Rows of a fine-tuning run's log: ``training_log.csv`` (``finetune_log.csv`` in runs written
    before the run engine)."""
    save_dir = Path(save_dir)
    path = save_dir / LOG_NAME
    return read_log(path if path.is_file() else save_dir / LEGACY_LOG_NAME)
