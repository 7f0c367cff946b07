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

Output directory::

    config.json            what was fine-tuned, on what, with which options
    model.keras            the fine-tuned model, best epoch (safe_mode loadable; ``load_run`` reads both)
    best.keras             checkpoint of the best validation epoch, written during training
    finetune_log.csv       one row per epoch (loss, metrics, learning rate of the head)
    metrics.json           held-out metrics (accuracy + confusion matrix, RMSE, ...)
    confusion_matrix.png   classifier only
    predictions.csv        held-out ids, labels and predictions
    backup/                Keras' BackupAndRestore state while the fine-tune is unfinished

Rerunning the same call after a crash or a kill continues from the last finished epoch (the
learning-rate schedule and early stopping too); changed arguments are refused by name. A rerun
into a directory holding a finished fine-tune starts afresh.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from zoobot_tf.evaluation.held_out import EVAL_SAMPLES, sample_dataset, task_metrics
from zoobot_tf.evaluation.plots import plot_confusion_matrix
from zoobot_tf.data.inputs import catalog_recipe
from zoobot_tf.finetune.averaging import WeightAverage, ema_momentum
from zoobot_tf.finetune.baselines import (
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
    BATCHNORM_MODES,
    REESTIMATED,
    block_learning_rates,
    recalibrate_batchnorm,
    set_batchnorm_momentum,
    unfreeze_top_blocks,
)
from zoobot_tf.models import assemble_model, build_head, get_encoder
from zoobot_tf.optimizers import LayerDecayAdamW, no_decay_names
from zoobot_tf.recipe import Augmentation, ImageRecipe
from zoobot_tf.runs import (
    CONFIG_NAME,
    MODEL_NAME,
    check_resume_config,
    load_config,
    load_run,
    now_iso,
    save_config,
    software_versions,
)
from zoobot_tf.saving import attach_metadata, load_model, save_model
from zoobot_tf.shards.split import SPLIT_COLUMN
from zoobot_tf.training.callbacks import BACKUP_DIR, make_callbacks, read_log, resume_state

__all__ = [
    "FinetuneResult",
    "balanced_class_weights",
    "copy_encoder",
    "finetune",
    "learning_rate_schedule",
    "load_source_model",
]

logger = logging.getLogger(__name__)

BEST_MODEL = "best.keras"
LOG_NAME = "finetune_log.csv"
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


def _check_options(epochs, patience, batch_size, warmup_epochs, batchnorm, learning_rate, weight_decay, keep="best",
                   head_init="probe"):
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', got {keep!r}")
    if head_init not in ("probe", "random"):
        raise ValueError(f"head_init must be 'probe' or 'random', got {head_init!r}")
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if int(patience) < 1:
        raise ValueError(f"patience must be >= 1, got {patience}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= int(warmup_epochs) < int(epochs):
        raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs} with epochs={epochs}")
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"batchnorm must be one of {BATCHNORM_MODES}, got {batchnorm!r}")
    if not float(learning_rate) > 0 or float(weight_decay) < 0:
        raise ValueError(f"need learning_rate > 0 and weight_decay >= 0, got {learning_rate} and {weight_decay}")


def learning_rate_schedule(learning_rate, *, steps_per_epoch, epochs, warmup_epochs, final_fraction=0.01,
                           warmup_from=0.0):
    """Linear warm-up from ``warmup_from * learning_rate`` over ``warmup_epochs``, then cosine decay
    to ``final_fraction * learning_rate``."""
    warmup_steps = int(round(float(warmup_epochs) * int(steps_per_epoch)))  # fractional epochs allowed
    decay_steps = max(int(epochs) * int(steps_per_epoch) - warmup_steps, 1)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(float(learning_rate), decay_steps, alpha=final_fraction)
    return keras.optimizers.schedules.CosineDecay(
        float(warmup_from) * float(learning_rate), decay_steps, alpha=final_fraction,
        warmup_target=float(learning_rate), warmup_steps=warmup_steps,
    )


def finetune(
    model_or_path,
    save_dir,
    *,
    head="classifier",
    catalog=None,
    shard_dir=None,
    label_set=None,
    label_cols=None,
    class_weight=None,
    image_size=None,
    epochs=40,
    patience=8,
    learning_rate=1e-3,
    n_blocks=None,
    lr_decay=0.75,
    weight_decay=0.05,
    warmup_epochs=1,
    label_smoothing=0.0,
    batchnorm="adapt",
    batchnorm_momentum=0.9,
    val_fraction=0.2,
    test_fraction=0.2,
    batch_size=32,
    augment=True,
    seed=42,
    mixed_precision=False,
    strategy="mirrored",
    progress=True,
    dropout_rate=0.2,
    stored_size=None,
    scaling=None,
    eval_crop=None,
    augmentation=None,
    ema_epochs=EMA_EPOCHS,
    keep="last",
    baselines=True,
    head_init="random",
    probe_fallback=True,
) -> FinetuneResult:
    """Adapt a trained model to new labels: a new head, the encoder trained with per-block learning rates.

    Parameters
    ----------
    model_or_path : keras.Model, path to a ``.keras`` file, or a run directory
        The trained model (from :func:`zoobot_tf.models.get_model` / :func:`train`); only its
        encoder is used, and it is copied (the given model is left unchanged).
    save_dir : path
        Output directory (see the module docstring).
    head : {'classifier', 'regressor'}, schema name / Schema, or label-set name / LabelSet
        ``'classifier'`` (or a label set): softmax over classes, cross-entropy.
        ``'regressor'``: linear outputs, mean squared error. A decision-tree schema: Dirichlet
        head with :class:`~zoobot_tf.losses.DirichletMultinomialLoss` on its vote columns.
    catalog : DataFrame or path, optional
        ``id_str``, ``file_loc`` and the labels: column ``label`` (or ``label_cols[0]``) with
        class names for a classifier, numeric ``label_cols`` for a regressor, the schema's vote
        columns for a Dirichlet head. An optional ``split`` column (train/val/test) fixes the
        split; otherwise galaxies are split by hashing ``(seed, id_str)``.
    shard_dir : path, optional
        Labelled shards instead of a catalog (their own train/val/test splits).
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
        Linear warm-up of the learning rate, then cosine decay to 1% over the remaining epochs.
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
    mixed_precision : bool
        Compute in float16 (GPUs with tensor cores); variables and outputs stay float32.
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
        Intensity scaling of catalog images (:data:`zoobot_tf.images.SCALINGS`; FITS needs one,
        e.g. ``'asinh'``); default none.
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
        validation split chooses the probe's regularisation and between the probe and the
        fine-tune (``probe_fallback``). 'best': stop after ``patience`` epochs without a lower
        validation loss and keep the best epoch. Why 'last' by default: on a few hundred
        validation galaxies the best epoch is partly luck, and stopping while the learning rate
        is still high leaves the last epochs unstable (issue 21).
    baselines : bool
        Also score a linear probe on the frozen encoder's features and the majority class (the
        training mean for regressor / tree heads) on the held-out split
        (:mod:`zoobot_tf.finetune.baselines`): ``metrics['baselines']``, and a warning when the
        fine-tuned model does not beat the probe.
    head_init : {'probe', 'random'}
        Start the new classifier / regressor head as the linear (ridge) probe fitted on the
        frozen encoder's features (linear probing then fine-tuning: the random head's first
        gradients do not distort the pretrained features), or at random. A decision-tree head
        always starts at random.
    probe_fallback : bool
        Keep the linear (ridge) probe on the frozen encoder instead of the fine-tuned weights
        when the probe's validation loss is lower than that of the epoch fine-tuning keeps:
        ``metrics['kept']`` says which model was saved (no fallback with label smoothing, whose
        loss is not the probe's).

    Returns
    -------
    FinetuneResult
    """
    if (catalog is None) == (shard_dir is None):
        raise ValueError("give exactly one of catalog= (images + labels) or shard_dir= (labelled shards)")
    _check_options(epochs, patience, batch_size, warmup_epochs, batchnorm, learning_rate, weight_decay, keep,
                   head_init)
    save_dir = Path(save_dir).expanduser().resolve()
    save_dir.mkdir(parents=True, exist_ok=True)
    source, source_name = load_source_model(model_or_path)
    source_encoder = get_encoder(source)
    channels = int(source_encoder.input.shape[-1])
    image_size = int(image_size or source_encoder.input.shape[1])
    input_shape = (image_size, image_size, channels)

    augmentation = augmentation or Augmentation()
    if catalog is not None:
        frame = read_labelled_catalog(catalog)
        task = resolve_finetune_task(head, label_set=label_set, label_cols=label_cols, catalog=frame)
        splits = splits_from_catalog(frame, task, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        recipe = catalog_recipe(frame["file_loc"].astype(str), image_size, channels, stored_size=stored_size,
                                scaling=scaling, eval_crop=eval_crop, augmentation=augmentation)
    else:
        from zoobot_tf.shards import load_manifest

        frame = None
        manifest = load_manifest(shard_dir)
        task = resolve_finetune_task(head, label_set=label_set, label_cols=label_cols, manifest=manifest)
        splits = splits_from_shards(shard_dir, task, progress=progress)
        recipe = ImageRecipe.for_stored(manifest.stored_format(), size=image_size, channels=channels,
                                        eval_crop=eval_crop, augmentation=augmentation)
    logger.info("image recipe: %s", recipe.describe())
    if "train" not in splits:
        raise ValueError(f"no training galaxies (splits: { {k: len(v) for k, v in splits.items()} })")
    eval_split = _held_out(splits)
    weights = _class_weights(class_weight, task, splits["train"].labels)

    data = dict(recipe=recipe, seed=int(seed))
    steps = -(-len(splits["train"]) // int(batch_size))
    monitor = "val_loss" if "val" in splits else None
    resume = _start_or_resume(save_dir, _run_options(locals()), monitor)
    keras.utils.set_random_seed(int(seed))
    model, encoder, trained_layers, multipliers, strategy_name = _compiled_model(
        source_encoder, input_shape, task, steps, strategy=strategy, mixed_precision=mixed_precision,
        dropout_rate=dropout_rate, batchnorm=batchnorm, batchnorm_momentum=batchnorm_momentum, n_blocks=n_blocks,
        lr_decay=lr_decay, learning_rate=learning_rate, epochs=epochs, warmup_epochs=warmup_epochs,
        weight_decay=weight_decay, label_smoothing=label_smoothing,
    )
    attach_metadata(model, recipe, {"head": task.head, "schema": task.schema.name if task.schema is not None else None,
                                    "label_cols": list(task.outputs)})
    recalibrated = 0
    if batchnorm in REESTIMATED and not resume.resuming:  # resuming: the backup holds the statistics
        with image_read_errors():
            recalibrated = recalibrate_batchnorm(encoder, make_dataset(splits["train"], batch_size, training=False,
                                                                       **data))
    logger.info("fine-tuning %d encoder layers (lr_decay %s); BatchNorm %s (%d batches re-estimated)",
                len(trained_layers), lr_decay, batchnorm, recalibrated)
    probe, baseline_scores, probe_encoder = None, None, None
    if baselines or head_init == "probe" or probe_fallback:  # on the encoder as it starts (resumed: a copy)
        probe, baseline_scores, probe_encoder = finetune_baselines(
            task, source_encoder, input_shape, splits, eval_split, **data, batch_size=batch_size, batchnorm=batchnorm,
            class_weight=weights, encoder=None if resume.resuming else encoder)
    if head_init == "probe" and not resume.resuming:  # resuming: the backup holds the head
        init_head_from_probe(model, probe)
    history = _fit(model, splits, data, save_dir, batch_size=batch_size, augment=augment, epochs=epochs,
                   patience=patience, class_weight=weights, steps=steps, progress=progress, resume=resume,
                   monitor=monitor, ema_epochs=ema_epochs, keep=keep)
    best_epoch = int(np.argmin(history["val_loss"])) if "val_loss" in history else len(history["loss"]) - 1
    kept_epoch = best_epoch if keep == "best" else len(history["loss"]) - 1
    kept = f"fine-tuned epoch {kept_epoch}"
    comparable = not label_smoothing  # a smoothed cross-entropy is not the probe's loss
    if probe_fallback and comparable and probe_wins(probe, history, keep) and use_probe(model, probe, probe_encoder):
        kept = "linear probe" if task.kind == "classifier" else "ridge probe"
        logger.warning("no fine-tuned epoch reached the validation loss of the %s on the frozen encoder's features "
                       "(%.4g): the %s is the model kept", kept, probe.val_loss, kept)

    paths = {"model": save_dir / MODEL_NAME, "log": save_dir / LOG_NAME}
    if (save_dir / BEST_MODEL).is_file():
        paths["best_checkpoint"] = save_dir / BEST_MODEL
    metrics = _evaluate_held_out(model, task, splits, eval_split, data, batch_size, save_dir, paths)
    metrics.update(epochs_run=len(history["loss"]), best_epoch=best_epoch, trained_layers=len(trained_layers),
                   kept_epoch=kept_epoch, kept=kept, image_recipe=recipe.describe(),
                   weight_average_epochs=float(ema_epochs))
    metrics["head_init"] = "probe" if head_init == "probe" and probe is not None else "random"
    if baselines:
        metrics["baselines"] = baseline_scores
        verdict = probe_verdict(task.kind, metrics)
        metrics["beats_probe"] = verdict is None
        if verdict and "probe" not in kept:
            warnings.warn(verdict)
    paths["metrics"].write_text(json.dumps(metrics, indent=2) + "\n")

    save_model(model, paths["model"])
    config = _finetune_config(locals())
    paths["config"] = save_config(save_dir, config)
    if task.kind == "classifier":
        logger.info("fine-tuned classifier: %s accuracy %.3f", eval_split, metrics["accuracy"])
    return FinetuneResult(model=model, history=history, metrics=metrics, paths=paths)


# --- the steps of fine-tuning -------------------------------------------------------------


def _compiled_model(source_encoder, input_shape, task, steps, *, strategy, mixed_precision, dropout_rate, batchnorm,
                    batchnorm_momentum, n_blocks, lr_decay, learning_rate, epochs, warmup_epochs, weight_decay,
                    label_smoothing):
    """A new head on a copy of the source encoder, blocks set trainable, compiled with LayerDecayAdamW
    under ``strategy``: ``(model, encoder, trained layer names, lr multipliers, strategy name)``."""
    from zoobot_tf.training.strategy import get_strategy

    source_weights = source_encoder.get_weights()  # here, outside the scope of the strategy below
    strategy = get_strategy(strategy)
    previous_policy = keras.config.dtype_policy()
    try:
        if mixed_precision:
            keras.config.set_dtype_policy("mixed_float16")
        with strategy.scope():
            encoder = copy_encoder(source_encoder, input_shape, weights=source_weights,
                                   dtype_policy="mixed_float16" if mixed_precision else None)
            new_head = build_head(
                task.head,
                input_dim=encoder.output.shape[-1],
                output_dim=len(task.outputs),
                dropout_rate=dropout_rate,
                test_time_dropout=task.kind == "dirichlet",
            )
            model = assemble_model(encoder, new_head, name=f"zoobot_finetuned_{task.kind}")
            encoder = get_encoder(model)
            if batchnorm in ("adapt", "train"):
                set_batchnorm_momentum(encoder, batchnorm_momentum)
            trained_layers = unfreeze_top_blocks(encoder, n_blocks, train_batchnorm=batchnorm in ("adapt", "train"))
            multipliers = block_learning_rates(encoder, n_blocks, lr_decay)
            schedule = learning_rate_schedule(learning_rate, steps_per_epoch=steps, epochs=epochs,
                                              warmup_epochs=warmup_epochs)
            optimizer = LayerDecayAdamW(schedule, weight_decay=float(weight_decay), lr_multipliers=multipliers,
                                        exclude_names=no_decay_names(model))
            loss, metrics = _loss_and_metrics(task, label_smoothing)
            model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=False)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return model, encoder, trained_layers, multipliers, type(strategy).__name__


def _fit(model, splits, data, save_dir, *, batch_size, augment, epochs, patience, class_weight, steps, progress,
         resume, monitor, ema_epochs, keep):
    """Train with early stopping on the validation loss (best weights restored, ``best.keras`` kept),
    from ``resume.initial_epoch``, validating the weight average when ``ema_epochs``; returns
    ``{metric: [value per epoch]}`` of every epoch, resumed sessions included (read from the CSV log)."""
    if monitor is None:
        logger.warning("no validation split: no early stopping, the last epoch is kept")
    train_ds = make_dataset(splits["train"], batch_size, training=True, augment=augment, **data)
    val_ds = make_dataset(splits["val"], batch_size, training=False, **data) if "val" in splits else None
    callbacks = make_callbacks(save_dir, patience=patience, resume=resume, epochs=int(epochs), steps_per_epoch=steps,
                               progress=progress, monitor=monitor, log_name=LOG_NAME, best_model=BEST_MODEL,
                               tensorboard=False)
    if keep == "last":  # the validation loss is still logged and best.keras still written
        callbacks = [c for c in callbacks if not isinstance(c, keras.callbacks.EarlyStopping)]
    if float(ema_epochs) > 0:
        average, restorer = WeightAverage(ema_momentum(ema_epochs, steps), save_dir).callbacks()
        backup = next(i for i, c in enumerate(callbacks) if isinstance(c, keras.callbacks.BackupAndRestore))
        callbacks = [average] + callbacks[:backup] + [restorer] + callbacks[backup:]
    with image_read_errors():
        model.fit(train_ds, validation_data=val_ds, epochs=int(epochs), class_weight=class_weight,
                  callbacks=callbacks, verbose=0, shuffle=False)
    rows = read_log(save_dir / LOG_NAME)
    return {key: [row[key] for row in rows] for key in rows[0] if key != "epoch"} if rows else {"loss": []}


def _run_options(run: dict) -> dict:
    """The arguments that define a fine-tune (from :func:`finetune`'s locals): a rerun with other
    values must not resume from its backup."""
    return {
        "source_model": run["source_name"],
        "catalog": catalog_path(run["catalog"]),
        "shard_dir": None if run["shard_dir"] is None else Path(run["shard_dir"]).resolve(),
        "head": run["task"].head,
        "outputs": list(run["task"].outputs),
        "class_weight": None if run["weights"] is None else {str(k): float(v) for k, v in run["weights"].items()},
        "input_shape": list(run["input_shape"]),
        "recipe": run["recipe"].to_dict(),
        "n_records": {k: len(v) for k, v in run["splits"].items()},
        "max_epochs": int(run["epochs"]),  # the cosine schedule spans them: not resumable under another value
        **{key: run[key] for key in ("patience", "learning_rate", "n_blocks", "lr_decay", "weight_decay",
                                     "warmup_epochs", "label_smoothing", "batchnorm", "batchnorm_momentum",
                                     "augment", "mixed_precision", "val_fraction", "test_fraction", "batch_size",
                                     "seed", "dropout_rate", "ema_epochs", "keep", "head_init", "probe_fallback")},
    }


def _start_or_resume(save_dir: Path, options: dict, monitor):
    """Resume the unfinished fine-tune in ``save_dir`` (same options) or start afresh there.

    Returns the :class:`~zoobot_tf.training.callbacks.ResumeState` for ``fit``.
    """
    backup = save_dir / BACKUP_DIR
    if backup.is_dir() and any(backup.iterdir()):
        try:
            previous = load_config(save_dir).get("options", {})
        except FileNotFoundError:
            previous = {}
        check_resume_config(previous, options, save_dir)
    else:  # a fresh start clears what an earlier fine-tune left (a finished one is replaced)
        shutil.rmtree(backup, ignore_errors=True)
        for name in (LOG_NAME, BEST_MODEL, MODEL_NAME, CONFIG_NAME, "metrics.json", "predictions.csv"):
            (save_dir / name).unlink(missing_ok=True)
        save_config(save_dir, {"kind": "finetune", "status": "running", "created": now_iso(), "options": options})
    resume = resume_state(save_dir, monitor, log_name=LOG_NAME, best_model=BEST_MODEL)
    if resume.resuming:
        logger.info("resuming the fine-tune in %s from epoch %d", save_dir, resume.initial_epoch)
    return resume


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


def _finetune_config(run: dict) -> dict:
    """The run directory's ``config.json`` of a fine-tuning run (read back by :mod:`zoobot_tf.runs`),
    from the local variables ``run`` of :func:`finetune`."""
    task, splits, catalog, shard_dir = run["task"], run["splits"], run["catalog"], run["shard_dir"]
    predefined = catalog is not None and SPLIT_COLUMN in run["frame"].columns
    return {
        "kind": "finetune",
        "source_model": run["source_name"],
        "source_config": _source_config(run["model_or_path"]),
        "save_dir": run["save_dir"],
        "catalog": catalog_path(catalog),
        "shard_dir": None if shard_dir is None else Path(shard_dir).resolve(),
        "split": "split column" if predefined else ("shards" if shard_dir is not None else "hash"),
        "head": task.head,
        "task": task.kind,
        "schema": task.schema.name if task.schema is not None else None,
        "label_kind": {"classifier": "class", "regressor": "regression", "dirichlet": "votes"}[task.kind],
        "label_cols": task.outputs,
        "label_column": task.label_column,
        "question_index_groups": getattr(task.schema, "question_index_groups", None),
        "class_weight": run["weights"],
        "input_shape": list(run["input_shape"]),
        "image_size": run["image_size"],
        "recipe": run["recipe"].to_dict(),
        "n_records": {k: len(v) for k, v in splits.items()},
        "epochs": int(run["epochs"]),
        "epochs_run": len(run["history"]["loss"]),
        "best_epoch": run["best_epoch"],
        "patience": int(run["patience"]),
        "learning_rate": float(run["learning_rate"]),
        "n_blocks": None if run["n_blocks"] is None else int(run["n_blocks"]),
        "lr_decay": float(run["lr_decay"]),
        "lr_multipliers": run["multipliers"],
        "weight_decay": float(run["weight_decay"]),
        "warmup_epochs": int(run["warmup_epochs"]),
        "label_smoothing": float(run["label_smoothing"]),
        "batchnorm": run["batchnorm"],
        "batchnorm_momentum": float(run["batchnorm_momentum"]),
        "batchnorm_batches_recalibrated": run["recalibrated"],
        "augment": bool(run["augment"]),
        "mixed_precision": bool(run["mixed_precision"]),
        "strategy": run["strategy_name"],
        "val_fraction": float(run["val_fraction"]),
        "test_fraction": float(run["test_fraction"]),
        "batch_size": int(run["batch_size"]),
        "seed": int(run["seed"]),
        "dropout_rate": float(run["dropout_rate"]),
        "ema_epochs": float(run["ema_epochs"]),
        "keep": run["keep"],
        "head_init": run["head_init"],
        "probe_fallback": bool(run["probe_fallback"]),
        "kept": run["kept"],
        "model_file": MODEL_NAME,
        "metrics_file": "metrics.json",
        "created": now_iso(),
        "status": "finished",
        "versions": software_versions(),
    }

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
    """Rows of ``finetune_log.csv``."""
    return read_log(Path(save_dir) / LOG_NAME)
