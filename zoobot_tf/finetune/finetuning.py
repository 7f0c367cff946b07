"""Fine-tune a trained model on a new survey with few labels: new head, then the top blocks.

Phase 1 trains only a new head on the frozen encoder (its features are kept as they are, so a
randomly initialised head cannot wreck them with large early gradients). Phase 2 also trains the
top ``n_blocks_unfrozen`` encoder blocks at a lower learning rate, adapting the most specific
features to the new images. BatchNorm stays frozen throughout (see
:mod:`zoobot_tf.finetune.freezing`).

Output directory::

    config.json            what was fine-tuned, on what, the outputs and the input shape
    model.keras            the fine-tuned model (safe_mode loadable; ``load_run`` reads both)
    frozen.keras           the model after phase 1 (new head on the untouched encoder)
    finetune_log.csv       one row per epoch of both phases (epochs continue across phases)
    metrics.json           held-out metrics (accuracy + confusion matrix, RMSE, ...)
    confusion_matrix.png   classifier only
    predictions.csv        held-out ids, labels and predictions
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from zoobot_tf.data.crops import CROP_RATIO, CROP_SCALE
from zoobot_tf.models import assemble_model, build_head, get_encoder
from zoobot_tf.runs import MODEL_NAME, ImageRecipe, load_config, load_run, now_iso, save_config, software_versions
from zoobot_tf.saving import load_model
from zoobot_tf.training.callbacks import TqdmProgress, read_log
from zoobot_tf.finetune.data import (
    catalog_path,
    make_dataset,
    read_labelled_catalog,
    resolve_finetune_task,
    splits_from_catalog,
    splits_from_shards,
)
from zoobot_tf.evaluation.classification import classifier_metrics, dirichlet_metrics, regressor_metrics
from zoobot_tf.evaluation.plots import plot_confusion_matrix
from zoobot_tf.finetune.freezing import freeze_batchnorm, freeze_encoder, unfreeze_top_blocks

__all__ = ["FinetuneResult", "balanced_class_weights", "copy_encoder", "finetune", "load_source_model"]

logger = logging.getLogger(__name__)

FROZEN_MODEL = "frozen.keras"
LOG_NAME = "finetune_log.csv"


@dataclass
class FinetuneResult:
    """What :func:`finetune` produced.

    Attributes
    ----------
    model : keras.Model
        The fine-tuned model (encoder + new head).
    history : dict
        ``{'frozen': {...}, 'unfrozen': {...}}``, each ``{metric: [value per epoch]}``.
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


def copy_encoder(encoder, input_shape):
    """An independent copy of ``encoder`` (same weights) for images of ``input_shape``.

    Copying keeps the caller's model untouched by fine-tuning; a different input size rebuilds
    the graph on a new input (convolutional encoders with global pooling accept any size).
    """
    input_shape = tuple(int(d) for d in input_shape)
    if tuple(encoder.input.shape[1:]) == input_shape:
        clone = keras.models.clone_model(encoder)
    else:
        if encoder.input.shape[-1] != input_shape[-1]:
            raise ValueError(
                f"the encoder takes {encoder.input.shape[-1]}-channel images, not {input_shape[-1]}"
            )
        clone = keras.models.clone_model(encoder, input_tensors=keras.Input(shape=input_shape, name="image"))
    clone.set_weights(encoder.get_weights())
    return clone


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


def _loss_and_metrics(task):
    if task.kind == "classifier":
        return keras.losses.SparseCategoricalCrossentropy(), ["accuracy"]
    if task.kind == "regressor":
        return keras.losses.MeanSquaredError(), [keras.metrics.RootMeanSquaredError(name="rmse")]
    from zoobot_tf.losses import DirichletMultinomialLoss

    return DirichletMultinomialLoss(task.schema.question_index_groups), []


def _compile(model, task, learning_rate):
    loss, metrics = _loss_and_metrics(task)
    model.compile(optimizer=keras.optimizers.Adam(float(learning_rate)), loss=loss, metrics=metrics, jit_compile=False)


def _held_out(splits):
    for name in ("test", "val"):
        if name in splits and len(splits[name]):
            return name
    raise ValueError(
        f"no held-out galaxies to report metrics on (splits: {sorted(splits)}); use test_fraction > 0 "
        "or shards with a test split"
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
    class_weight="balanced",
    image_size=None,
    epochs_frozen=10,
    epochs_unfrozen=10,
    learning_rate=1e-3,
    unfrozen_learning_rate=1e-4,
    n_blocks_unfrozen=2,
    val_fraction=0.2,
    test_fraction=0.2,
    batch_size=32,
    seed=42,
    progress=True,
    dropout_rate=0.2,
    image_kwargs=None,
) -> FinetuneResult:
    """Adapt a trained model to new labels: a new head, then the top encoder blocks.

    Parameters
    ----------
    model_or_path : keras.Model, path to a ``.keras`` file, or a run directory
        The trained model (from :func:`zoobot_tf.models.get_model` / :func:`train`); only its
        encoder is used, and it is copied (the given model is left unchanged).
    save_dir : path
        Output directory (see the module docstring).
    head : {'classifier', 'regressor'}, schema name / Schema, or label-set name / LabelSet
        ``'classifier'`` (or a label set): softmax over classes, cross-entropy with ``class_weight``.
        ``'regressor'``: linear outputs, mean squared error. A decision-tree schema: Dirichlet
        head with :class:`~zoobot_tf.losses.DirichletMultinomialLoss` on its vote columns.
    catalog : DataFrame or path, optional
        ``id_str``, ``file_loc`` and the labels: column ``label`` (or ``label_cols[0]``) with
        class names for a classifier, numeric ``label_cols`` for a regressor, the schema's vote
        columns for a Dirichlet head. Split train/val/test by hashing ``(seed, id_str)``.
    shard_dir : path, optional
        Labelled shards instead of a catalog (their own train/val/test splits).
    label_set : str, LabelSet or list of str, optional
        Classifier classes in index order (default: the distinct catalog labels, sorted).
    label_cols : list of str, optional
        Regressor targets; for a classifier, the one column holding the class.
    class_weight : 'balanced', None or dict
        Classifier loss weights; 'balanced' = ``n / (n_classes * count)`` from the training
        split; a dict maps class names (or indices) to weights (others 1).
    image_size : int, optional
        Input side (default: the model's). Catalog images are read at this size; all images
        are then cropped (randomly in training, centrally for evaluation) and resized to it, as
        in training from shards.
    epochs_frozen, epochs_unfrozen : int
        Epochs of phase 1 (encoder frozen) and phase 2 (top blocks trainable; 0 skips it).
    learning_rate, unfrozen_learning_rate : float
        Adam learning rates of the two phases.
    n_blocks_unfrozen : int
        Encoder blocks trained in phase 2 (see :func:`~zoobot_tf.finetune.freezing.unfreeze_top_blocks`).
    val_fraction, test_fraction : float
        Catalog split fractions.
    batch_size : int
    seed : int
        Split, initialisation, shuffling and augmentation seed.
    progress : bool
        Show tqdm bars.
    dropout_rate : float
        Dropout before the new head's dense layer (MC dropout stays on at inference for a
        Dirichlet head; a classifier/regressor predicts deterministically).
    image_kwargs : dict, optional
        Extra options for :func:`zoobot_tf.images.load_image` (e.g. ``scaling='asinh'`` for FITS).

    Returns
    -------
    FinetuneResult
    """
    if (catalog is None) == (shard_dir is None):
        raise ValueError("give exactly one of catalog= (images + labels) or shard_dir= (labelled shards)")
    if int(epochs_frozen) < 0 or int(epochs_unfrozen) < 0 or int(epochs_frozen) + int(epochs_unfrozen) < 1:
        raise ValueError(f"epochs must be >= 0 with at least one in total, got {epochs_frozen} + {epochs_unfrozen}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    save_dir = Path(save_dir).expanduser().resolve()
    save_dir.mkdir(parents=True, exist_ok=True)
    source, source_name = load_source_model(model_or_path)
    source_encoder = get_encoder(source)
    channels = int(source_encoder.input.shape[-1])
    image_size = int(image_size or source_encoder.input.shape[1])
    input_shape = (image_size, image_size, channels)

    if catalog is not None:
        frame = read_labelled_catalog(catalog)
        task = resolve_finetune_task(head, label_set=label_set, label_cols=label_cols, catalog=frame)
        splits = splits_from_catalog(
            frame, task, image_size=image_size, channels=channels, val_fraction=val_fraction,
            test_fraction=test_fraction, seed=seed, image_kwargs=image_kwargs, progress=progress,
        )
    else:
        from zoobot_tf.shards import load_manifest

        task = resolve_finetune_task(head, label_set=label_set, label_cols=label_cols, manifest=load_manifest(shard_dir))
        splits = splits_from_shards(shard_dir, task, progress=progress)
    if "train" not in splits:
        raise ValueError(f"no training galaxies (splits: { {k: len(v) for k, v in splits.items()} })")
    eval_split = _held_out(splits)
    weights = _class_weights(class_weight, task, splits["train"].labels)

    keras.utils.set_random_seed(int(seed))
    model, encoder = _new_head_on_copied_encoder(source_encoder, input_shape, task, dropout_rate)
    data = dict(image_size=image_size, channels=channels, seed=int(seed))
    log_path = save_dir / LOG_NAME
    history, unfrozen_layers = _two_phases(
        model, encoder, task, splits, data, save_dir, batch_size=batch_size, class_weight=weights,
        epochs_frozen=int(epochs_frozen), epochs_unfrozen=int(epochs_unfrozen), learning_rate=learning_rate,
        unfrozen_learning_rate=unfrozen_learning_rate, n_blocks_unfrozen=n_blocks_unfrozen, progress=progress,
    )
    paths = {"model": save_dir / MODEL_NAME, "frozen_model": save_dir / FROZEN_MODEL, "log": log_path}
    metrics = _evaluate_held_out(model, task, splits, eval_split, data, batch_size, save_dir, paths)
    metrics.update(unfrozen_layers=unfrozen_layers)
    paths["metrics"].write_text(json.dumps(metrics, indent=2) + "\n")

    model.save(paths["model"])
    config = _finetune_config(
        source_name=source_name, model_or_path=model_or_path, save_dir=save_dir, catalog=catalog,
        shard_dir=shard_dir, task=task, weights=weights, input_shape=input_shape, image_size=image_size,
        channels=channels, image_kwargs=image_kwargs, splits=splits, unfrozen_layers=unfrozen_layers,
        epochs_frozen=epochs_frozen, epochs_unfrozen=epochs_unfrozen, learning_rate=learning_rate,
        unfrozen_learning_rate=unfrozen_learning_rate, n_blocks_unfrozen=n_blocks_unfrozen,
        val_fraction=val_fraction, test_fraction=test_fraction, batch_size=batch_size, seed=seed,
        dropout_rate=dropout_rate,
    )
    paths["config"] = save_config(save_dir, config)
    if task.kind == "classifier":
        logger.info("fine-tuned classifier: %s accuracy %.3f", eval_split, metrics["accuracy"])
    return FinetuneResult(model=model, history=history, metrics=metrics, paths=paths)


# --- the phases of fine-tuning ------------------------------------------------------------


def _new_head_on_copied_encoder(source_encoder, input_shape, task, dropout_rate):
    """``(model, encoder)``: a copy of the source encoder with a new head for ``task``, BatchNorm frozen."""
    encoder = copy_encoder(source_encoder, input_shape)
    new_head = build_head(
        task.head,
        input_dim=encoder.output.shape[-1],
        output_dim=len(task.outputs),
        dropout_rate=dropout_rate,
        test_time_dropout=task.kind == "dirichlet",
    )
    model = assemble_model(encoder, new_head, name=f"zoobot_finetuned_{task.kind}")
    freeze_batchnorm(model)
    return model, encoder


def _two_phases(model, encoder, task, splits, data, save_dir, *, batch_size, class_weight, epochs_frozen,
                epochs_unfrozen, learning_rate, unfrozen_learning_rate, n_blocks_unfrozen, progress):
    """Phase 1 trains the head on a frozen encoder (saved as ``frozen.keras``); phase 2 also the
    top ``n_blocks_unfrozen`` encoder blocks. Returns ``(history per phase, unfrozen layer names)``."""
    train_ds = make_dataset(splits["train"], batch_size, training=True, **data)
    val_ds = make_dataset(splits["val"], batch_size, training=False, **data) if "val" in splits else None
    log_path = save_dir / LOG_NAME
    log_path.unlink(missing_ok=True)
    n_steps = -(-len(splits["train"]) // int(batch_size))
    total_epochs = epochs_frozen + epochs_unfrozen

    def fit(initial_epoch, epochs):
        callbacks = [keras.callbacks.CSVLogger(str(log_path), append=True)]
        if progress:
            callbacks.append(TqdmProgress(total_epochs, n_steps))
        return model.fit(
            train_ds, validation_data=val_ds, initial_epoch=initial_epoch, epochs=epochs,
            class_weight=class_weight, callbacks=callbacks, verbose=0, shuffle=False,
        ).history

    history = {}
    freeze_encoder(encoder)
    _compile(model, task, learning_rate)
    if epochs_frozen:
        history["frozen"] = fit(0, epochs_frozen)
    model.save(save_dir / FROZEN_MODEL)
    unfrozen_layers = []
    if epochs_unfrozen:
        unfrozen_layers = unfreeze_top_blocks(encoder, n_blocks_unfrozen)
        if not unfrozen_layers:
            logger.warning("n_blocks_unfrozen=%s leaves the encoder frozen in phase 2", n_blocks_unfrozen)
        _compile(model, task, unfrozen_learning_rate)
        history["unfrozen"] = fit(epochs_frozen, total_epochs)
    return history, unfrozen_layers


def _evaluate_held_out(model, task, splits, eval_split, data, batch_size, save_dir, paths) -> dict:
    """Metrics on the held-out split, ``predictions.csv`` and (classifier) the confusion-matrix PNG;
    adds the files to ``paths`` (``metrics`` is where the caller writes the returned numbers)."""
    held_out = splits[eval_split]
    eval_ds = make_dataset(held_out, batch_size, training=False, **data)
    predictions = model.predict(eval_ds, verbose=0)
    if task.kind == "classifier":
        metrics = classifier_metrics(held_out.labels, predictions, task.outputs)
        paths["confusion_matrix"] = plot_confusion_matrix(
            metrics["confusion_matrix"], task.outputs, save_dir / "confusion_matrix.png",
            title=f"confusion matrix ({eval_split}, n={metrics['n']})", true_label="true",
        )
        table = {"true": [task.outputs[i] for i in held_out.labels],
                 "predicted": [task.outputs[i] for i in predictions.argmax(axis=-1)]}
        table.update({f"p_{c}": predictions[:, i] for i, c in enumerate(task.outputs)})
    elif task.kind == "regressor":
        metrics = regressor_metrics(held_out.labels, predictions, task.outputs)
        table = {**{c: held_out.labels[:, i] for i, c in enumerate(task.outputs)},
                 **{f"{c}_pred": predictions[:, i] for i, c in enumerate(task.outputs)}}
    else:
        metrics = dirichlet_metrics(held_out.labels, predictions, task.schema)
        table = {f"{c}_concentration": predictions[:, i] for i, c in enumerate(task.outputs)}
    metrics.update(split=eval_split, n_train=len(splits["train"]), n_val=len(splits.get("val", ())),
                   head=task.kind)
    pd.DataFrame({"id_str": held_out.ids, **table}).to_csv(save_dir / "predictions.csv", index=False)
    paths["predictions"] = save_dir / "predictions.csv"
    paths["metrics"] = save_dir / "metrics.json"
    return metrics


def _finetune_config(*, source_name, model_or_path, save_dir, catalog, shard_dir, task, weights, input_shape,
                     image_size, channels, image_kwargs, splits, unfrozen_layers, epochs_frozen, epochs_unfrozen,
                     learning_rate, unfrozen_learning_rate, n_blocks_unfrozen, val_fraction, test_fraction,
                     batch_size, seed, dropout_rate) -> dict:
    """The run directory's ``config.json`` of a fine-tuning run (read back by :mod:`zoobot_tf.runs`)."""
    return {
        "kind": "finetune",
        "source_model": source_name,
        "source_config": _source_config(model_or_path),
        "save_dir": save_dir,
        "catalog": catalog_path(catalog),
        "shard_dir": None if shard_dir is None else Path(shard_dir).resolve(),
        "head": task.head,
        "task": task.kind,
        "schema": task.schema.name if task.schema is not None else None,
        "label_kind": {"classifier": "class", "regressor": "regression", "dirichlet": "votes"}[task.kind],
        "label_cols": task.outputs,
        "label_column": task.label_column,
        "question_index_groups": getattr(task.schema, "question_index_groups", None),
        "class_weight": weights,
        "input_shape": list(input_shape),
        "image_size": image_size,
        "image_options": ImageRecipe(
            image_size=image_size,
            greyscale=channels == 1,
            crop_scale=CROP_SCALE,
            crop_ratio=CROP_RATIO,
            load_image_kwargs=image_kwargs or {},
        ).to_dict(),
        "n_records": {k: len(v) for k, v in splits.items()},
        "epochs_frozen": int(epochs_frozen),
        "epochs_unfrozen": int(epochs_unfrozen),
        "learning_rate": float(learning_rate),
        "unfrozen_learning_rate": float(unfrozen_learning_rate),
        "n_blocks_unfrozen": int(n_blocks_unfrozen),
        "unfrozen_layers": unfrozen_layers,
        "val_fraction": float(val_fraction),
        "test_fraction": float(test_fraction),
        "batch_size": int(batch_size),
        "seed": int(seed),
        "dropout_rate": float(dropout_rate),
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
    """Rows of ``finetune_log.csv`` (both phases)."""
    return read_log(Path(save_dir) / LOG_NAME)
