"""Train Mask R-CNN on labelled scenes with the study's two-phase schedule.

Phase 1 trains the FPN and heads with the backbone frozen, phase 2 everything (at a lower
learning rate by default). Scenes are :class:`~zoobot_tf.detection.instances.Scene` objects
(synthetic fields from :mod:`zoobot_tf.detection.scenes`, or ``sep``-labelled images), a
``scenes_to_batches`` dict, or a ready ``tf.data.Dataset`` of dict batches.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from zoobot_tf.detection.model.dihedral import dihedral_augment
from zoobot_tf.detection.scalings import DEFAULT_SCALING
from zoobot_tf.training.schedules import CosineByProgress

__all__ = ["CosineByProgress", "Deadline", "DetectionTrainOptions", "plot_history", "scenes_from_coco",
           "scenes_to_dataset", "train_detection"]

_OPTIMIZERS = ("adam", "sgd")
_SCHEDULES = ("constant", "cosine")


def _ceil32(n):
    return -(-int(n) // 32) * 32


def _check_scene(i, scene, channels):
    for name in ("image", "boxes", "classes", "masks"):
        if not hasattr(scene, name):
            raise TypeError(f"scene {i}: a {type(scene).__name__} has no {name!r}; expected a Scene")
    image = np.asarray(scene.image)
    if image.ndim != 3:
        raise ValueError(f"scene {i}: image must be (H, W, C), got shape {image.shape}")
    if channels is not None and image.shape[-1] != channels:
        raise ValueError(f"scene {i}: {image.shape[-1]} bands, scene 0 has {channels}")
    boxes = np.asarray(scene.boxes, dtype=np.float32).reshape(-1, 4)
    classes = np.asarray(scene.classes).reshape(-1)
    masks = np.asarray(scene.masks)
    if not len(boxes) == len(classes) == len(masks):
        raise ValueError(f"scene {i}: {len(boxes)} boxes, {len(classes)} classes, {len(masks)} masks")
    if masks.ndim != 3 or masks.shape[1:] != image.shape[:2]:
        raise ValueError(f"scene {i}: masks of shape {masks.shape} for an image of {image.shape[:2]}")
    bad = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    if bad.size:
        raise ValueError(f"scene {i}: object {int(bad[0])} has an empty box {boxes[bad[0]].tolist()}")
    if np.any(classes < 1):
        raise ValueError(f"scene {i}: class ids must be >= 1 (0 is background), got {np.unique(classes).tolist()}")
    return image.shape


def scenes_to_dataset(scenes, batch_size=2, *, max_objects=None, scaling=None, shuffle=True, seed=0,
                      progress=False, augment=False):
    """A ``tf.data.Dataset`` of the dict batches :class:`~zoobot_tf.detection.MaskRCNN` trains on.

    Scenes are padded one at a time (only a batch of full-image masks is ever in memory as
    arrays), after the scaling is applied once to every image. Scenes of different sizes, or
    sizes that are not multiples of 32, are zero-padded at the bottom/right to the largest size
    rounded up to a multiple of 32 (as ``predict_scene`` pads at inference).

    Parameters
    ----------
    scenes : sequence of Scene, or a dict from ``scenes_to_batches``
        Anything with ``image`` (H, W, C), ``boxes`` (N, 4), ``classes`` (N,), ``masks`` (N, H, W).
    batch_size : int
    max_objects : int, optional
        Padded object count per scene (default: the most in any scene); more raises.
    scaling : str, optional
        :func:`zoobot_tf.detection.scalings.apply_scaling` name; None keeps the images as they are.
    shuffle : bool
        Reshuffle the scenes every pass (seeded).
    seed : int
    progress : bool
        Show a progress bar while scaling.
    augment : bool
        Put each scene, every pass, in a random flip / 90-degree rotation (:func:`dihedral_augment`).

    Returns
    -------
    (dataset, info) where info is ``{"num_scenes", "image_shape", "max_objects"}`` (the padded
    image shape).
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(scenes, dict):
        return _batches_dataset(scenes, batch_size, scaling=scaling, shuffle=shuffle, seed=seed, augment=augment)

    from tqdm.auto import tqdm

    scenes = list(scenes)
    if not scenes:
        raise ValueError("no scenes to train on")
    shapes = []
    for i, scene in enumerate(scenes):
        shapes.append(_check_scene(i, scene, shapes[0][-1] if shapes else None))
    height = _ceil32(max(shape[0] for shape in shapes))
    width = _ceil32(max(shape[1] for shape in shapes))
    channels = shapes[0][-1]
    counts = [len(np.asarray(s.classes).reshape(-1)) for s in scenes]
    if max_objects is None:
        max_objects = max(max(counts), 1)
    over = [(i, c) for i, c in enumerate(counts) if c > max_objects]
    if over:
        raise ValueError(f"scene {over[0][0]} has {over[0][1]} objects > max_objects={max_objects}")
    if scaling is not None:
        from zoobot_tf.detection.scalings import apply_scaling, check_scaling

        check_scaling(scaling)
        images = [apply_scaling(s.image, scaling) for s in tqdm(scenes, desc=f"scaling ({scaling})",
                                                                  disable=None if progress else True)]
    else:
        images = [np.asarray(s.image, dtype=np.float32) for s in scenes]

    def generate():
        order = np.arange(len(scenes))
        if shuffle:
            generate.rng.shuffle(order)
        for i in order:
            scene, n = scenes[i], counts[i]
            h, w = shapes[i][:2]
            image = np.zeros((height, width, channels), dtype=np.float32)
            image[:h, :w] = images[i]
            boxes = np.full((max_objects, 4), -1.0, dtype=np.float32)
            classes = np.full((max_objects,), -1, dtype=np.int32)
            masks = np.zeros((max_objects, height, width), dtype=np.uint8)
            boxes[:n] = np.asarray(scene.boxes, dtype=np.float32).reshape(-1, 4)
            classes[:n] = np.asarray(scene.classes, dtype=np.int32).reshape(-1)
            masks[:n, :h, :w] = np.asarray(scene.masks, dtype=bool)
            yield {"images": image, "boxes": boxes, "classes": classes, "masks": masks}

    generate.rng = np.random.default_rng(seed)
    signature = {
        "images": tf.TensorSpec((height, width, channels), tf.float32),
        "boxes": tf.TensorSpec((max_objects, 4), tf.float32),
        "classes": tf.TensorSpec((max_objects,), tf.int32),
        "masks": tf.TensorSpec((max_objects, height, width), tf.uint8),
    }
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(scenes)))  # Keras then knows the steps
    info = {"num_scenes": len(scenes), "image_shape": (height, width, channels), "max_objects": int(max_objects)}
    if augment:
        dataset = dihedral_augment(dataset, seed)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), info


def _batches_dataset(scenes: dict, batch_size, *, scaling, shuffle, seed, augment):
    """:func:`scenes_to_dataset` of a ``scenes_to_batches`` dict (already scaled arrays)."""
    import tensorflow as tf

    missing = {"images", "boxes", "classes", "masks"} - set(scenes)
    if missing:
        raise KeyError(f"scene batch dict lacks {sorted(missing)}")
    if scaling is not None:
        raise ValueError("a scenes_to_batches dict is already scaled; pass scaling there, not here")
    arrays = dict(scenes)
    _, height, width, _ = np.shape(arrays["images"])
    pad_h, pad_w = _ceil32(height) - height, _ceil32(width) - width
    if pad_h or pad_w:
        arrays["images"] = np.pad(arrays["images"], ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        arrays["masks"] = np.pad(arrays["masks"], ((0, 0), (0, 0), (0, pad_h), (0, pad_w)))
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        dataset = dataset.shuffle(len(arrays["images"]), seed=seed, reshuffle_each_iteration=True)
    info = {"num_scenes": len(arrays["images"]), "image_shape": tuple(np.shape(arrays["images"])[1:]),
            "max_objects": int(np.shape(arrays["boxes"])[1])}
    if augment:
        dataset = dihedral_augment(dataset, seed)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), info


def scenes_from_coco(coco, images_dir, *, hdu=None, box_masks=False, progress=True):
    """Labelled real images for training: a COCO JSON file plus the FITS images it names.

    Each COCO ``images`` entry's ``file_name`` is read (relative to ``images_dir``) with
    :func:`zoobot_tf.detection.catalog.read_field` and its annotations with
    :func:`zoobot_tf.detection.coco.coco_to_labels`. Images should be cut-outs of training size
    (e.g. 128-512 px): a whole survey field does not fit a training batch.

    Parameters
    ----------
    coco : str, Path or dict
        COCO annotations (categories named galaxy / star).
    images_dir : str or Path
    hdu : int or str, optional
        FITS HDU holding the image (default: automatic).
    box_masks : bool
        Use an annotation's box as its mask when it has no segmentation.
    progress : bool

    Returns
    -------
    list of :class:`~zoobot_tf.detection.instances.Scene`
    """
    from tqdm.auto import tqdm

    from zoobot_tf.detection.catalog import read_field
    from zoobot_tf.detection.coco import coco_to_labels, load_coco
    from zoobot_tf.detection.instances import Scene

    where = "COCO dict" if isinstance(coco, dict) else str(coco)
    coco = coco if isinstance(coco, dict) else load_coco(coco)
    entries = coco.get("images", [])
    if not entries:
        raise ValueError(f"{where}: no 'images'")
    scenes = []
    for entry in tqdm(entries, desc="reading labelled images", disable=None if progress else True):
        path = Path(images_dir) / str(entry["file_name"])
        if not path.is_file():
            raise FileNotFoundError(f"{where}: image {entry['id']} file {path} does not exist")
        image, _, bands, _ = read_field(str(path), hdu=hdu)
        labels = coco_to_labels(coco, int(entry["id"]), box_masks=box_masks)
        if tuple(image.shape[:2]) != tuple(labels.image_shape):
            raise ValueError(f"{path}: image is {image.shape[:2]} but {where} says "
                             f"{labels.image_shape[0]} x {labels.image_shape[1]}")
        scenes.append(Scene(image=image, boxes=labels.boxes, classes=labels.classes, masks=labels.masks,
                            image_shape=labels.image_shape, bands=bands))
    return scenes


class Deadline(keras.callbacks.Callback):
    """Keras callback: stop training after the batch that ends past ``deadline`` (``time.monotonic()``)."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = float(deadline)

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True


def _optimizer(name, learning_rate, clipnorm):
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, clipnorm=clipnorm)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {_OPTIMIZERS}")


def _as_dataset(scenes, batch_size, max_objects, scaling, shuffle, seed, augment=False):
    import tensorflow as tf

    if isinstance(scenes, tf.data.Dataset):
        return scenes, {"num_scenes": None, "image_shape": tuple(scenes.element_spec["images"].shape[1:]),
                        "max_objects": scenes.element_spec["boxes"].shape[1]}
    return scenes_to_dataset(scenes, batch_size, max_objects=max_objects, scaling=scaling, shuffle=shuffle,
                             seed=seed, progress=True, augment=augment)


def _cosine(peak, seconds, epochs, steps_per_epoch, num_scenes, batch_size):
    """The phase's CosineByProgress: over its time budget, else over its steps."""
    if seconds is not None:
        return CosineByProgress(peak, seconds=max(seconds, 1e-3))
    if steps_per_epoch is None and num_scenes is None:
        raise ValueError("schedule='cosine' without max_seconds needs steps_per_epoch for a tf.data.Dataset")
    per_epoch = steps_per_epoch if steps_per_epoch is not None else -(-int(num_scenes) // int(batch_size))
    return CosineByProgress(peak, total_steps=int(epochs) * int(per_epoch))


def plot_history(history_rows, path):
    """Save the loss terms per epoch (train solid, validation dashed) as a PNG; the phase change is marked."""
    from matplotlib.figure import Figure  # no pyplot: no global backend is chosen or changed

    from zoobot_tf.detection.model.mask_rcnn import LOSS_NAMES

    epochs = [row["epoch"] for row in history_rows]
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for name in ("loss",) + LOSS_NAMES:
        line = ax.plot(epochs, [row[name] for row in history_rows], label=name)[0]
        if all(f"val_{name}" in row for row in history_rows):
            ax.plot(epochs, [row[f"val_{name}"] for row in history_rows], "--", color=line.get_color())
    switch = [row["epoch"] for row in history_rows if row["phase"] == "all"]
    if switch and switch[0] > epochs[0]:
        ax.axvline(switch[0] - 0.5, color="grey", lw=0.8)
        ax.text(switch[0] - 0.5, ax.get_ylim()[1], " backbone unfrozen", va="top", fontsize=7, color="grey")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return str(path)


@dataclass(frozen=True)
class DetectionTrainOptions:
    """The options of :func:`train_detection` (recorded in ``config.json``; see its docstring)."""

    backbone: object = "resnet18"
    num_classes: int = 2
    scaling: str | None = DEFAULT_SCALING
    batch_size: int = 2
    learning_rate: float = 1e-3
    learning_rate_all: float | None = None
    optimizer: str = "adam"
    clipnorm: float = 5.0
    schedule: str = "constant"
    augment: bool = True
    max_objects: int | None = None
    steps_per_epoch: int | None = None
    backbone_weights: str | None = None
    model_kwargs: dict | None = None
    calibrate_batchnorm: bool | None = None
    calibration_batches: int = 20
    max_seconds: float | None = None
    run_eagerly: bool = False
    seed: int = 0
    progress: bool = True
    overwrite: bool = False


PHASES_NAME = "phases.json"


def train_detection(scenes, save_dir, epochs_heads=10, epochs_all=20, *, val_scenes=None, model=None,
                    options: DetectionTrainOptions | None = None, callbacks=None, **kwargs):
    """Train a Mask R-CNN: heads only (backbone frozen) for ``epochs_heads``, then all for ``epochs_all``.

    The run directory is the run engine's (:mod:`zoobot_tf.training.engine`): ``config.json``,
    ``model.keras``, ``training_log.csv`` (``history.csv``/``.json`` and ``loss.png`` beside it),
    ``backup/`` while unfinished. Rerunning the same call after a kill resumes: a finished phase is
    not repeated (its weights are kept in ``backup/``), the phase in progress continues from its
    last backed-up epoch (``BackupAndRestore`` per phase). With ``max_seconds`` a resumed phase
    gets its share of the budget again.

    Parameters
    ----------
    scenes : sequence of Scene, ``scenes_to_batches`` dict, or ``tf.data.Dataset`` of dict batches
        Training data (a Dataset must already be scaled and batched).
    save_dir : str or Path
        The run directory.
    epochs_heads, epochs_all : int
        Epochs of each phase (either may be 0).
    val_scenes : like ``scenes``, optional
        Validation data; its losses are logged as ``val_*``.
    model : MaskRCNN, optional
        Continue training this model instead of building one.
    options : DetectionTrainOptions, optional
        Everything else, as one typed object; ``**kwargs`` override its fields:
        ``backbone``, ``num_classes``, ``backbone_weights``, ``model_kwargs`` are passed to
        :func:`~zoobot_tf.detection.build_mask_rcnn` when ``model`` is None; ``scaling`` is the
        contrast scaling applied to scene images and recorded in the model (None: the images are
        network inputs already); ``learning_rate`` is phase 1's and ``learning_rate_all`` phase
        2's (default a tenth after a phase 1, else the same); ``optimizer`` 'adam' or 'sgd'
        (momentum 0.9), both clipping gradients to ``clipnorm``; ``schedule`` 'constant' or
        'cosine' (each phase's rate decays on a half cosine to a hundredth, over its share of
        ``max_seconds`` when given, else over its epochs); ``augment`` shows each scene every
        epoch in a random flip / 90-degree rotation; ``max_objects`` pads the objects per scene;
        ``steps_per_epoch`` (default one pass); ``calibrate_batchnorm`` sets the backbone's
        BatchNorm statistics from ``calibration_batches`` training batches before phase 1 (a
        randomly initialised backbone) and after phase 2 (None: where they apply);
        ``max_seconds`` a wall-clock budget shared by the phases; ``seed``; ``progress``;
        ``overwrite`` replaces a finished run.
    callbacks : list of keras.callbacks.Callback, optional
        Extra callbacks for both phases.

    Returns
    -------
    (model, history) where history is a list of per-epoch dicts (``epoch``, ``phase``, losses).
    """
    import tensorflow as tf

    from zoobot_tf.atomic import atomic_write_text
    from zoobot_tf.detection.model.mask_rcnn import MaskRCNN, build_mask_rcnn
    from zoobot_tf.runs import software_versions
    from zoobot_tf.training.callbacks import read_log
    from zoobot_tf.training.engine import RunDirectory, asdict_shallow, options_from

    opts = options_from(DetectionTrainOptions, options, **kwargs)
    _check_detection_options(epochs_heads, epochs_all, opts)
    keras.utils.set_random_seed(opts.seed)
    train_ds, info = _as_dataset(scenes, opts.batch_size, opts.max_objects, opts.scaling, True, opts.seed, opts.augment)
    val_ds = None if val_scenes is None else _as_dataset(val_scenes, opts.batch_size, opts.max_objects, opts.scaling,
                                                         False, opts.seed)[0]
    if opts.steps_per_epoch is not None:
        train_ds = train_ds.repeat()
    elif isinstance(scenes, tf.data.Dataset) and scenes.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("an infinite dataset needs steps_per_epoch")

    if model is None:
        model = build_mask_rcnn(num_bands=info["image_shape"][-1], num_classes=opts.num_classes, backbone=opts.backbone,
                                backbone_weights=opts.backbone_weights, scaling=opts.scaling, **(opts.model_kwargs or {}))
        random_backbone = opts.backbone_weights is None
    elif not isinstance(model, MaskRCNN):
        raise TypeError(f"model must be a MaskRCNN, got {type(model).__name__}")
    else:
        random_backbone = False
        if opts.scaling is not None:
            model.scaling = opts.scaling
    learning_rate_all = opts.learning_rate_all
    if learning_rate_all is None:
        learning_rate_all = opts.learning_rate / 10.0 if epochs_heads > 0 else opts.learning_rate

    config = {**{k: v for k, v in asdict_shallow(opts).items() if k not in ("progress", "overwrite")},
              "epochs_heads": int(epochs_heads), "epochs_all": int(epochs_all), "learning_rate_all": learning_rate_all,
              "num_scenes": info["num_scenes"], "image_shape": list(info["image_shape"]),
              "max_objects": info["max_objects"], "model": model.get_config(), "versions": software_versions()}
    run = RunDirectory(save_dir, "train_detection")
    phases_path = run.backup_dir / PHASES_NAME
    done = json.loads(phases_path.read_text()) if phases_path.is_file() and not opts.overwrite else {}
    first = "all" if "heads" in done or int(epochs_heads) == 0 else "heads"  # the phase a resumption continues
    run.start(config, {}, overwrite=opts.overwrite, progress=opts.progress, monitor=None,
              backup_dir=run.backup_dir / first, first_epoch=done.get("heads", {}).get("end_epoch", 0))
    run.backup_dir.mkdir(parents=True, exist_ok=True)
    if done:  # a finished phase is not run again: its weights were kept
        model.load_weights(str(run.backup_dir / f"after_{list(done)[-1]}.weights.h5"))
    elif opts.calibrate_batchnorm is not False and epochs_heads > 0 and (random_backbone or opts.calibrate_batchnorm):
        if _backed_up(run.backup_dir / "heads") == 0:
            model.calibrate_batchnorm(train_ds.take(int(opts.calibration_batches)))

    phases = [("heads", int(epochs_heads), False, opts.learning_rate), ("all", int(epochs_all), True, learning_rate_all)]
    epoch, start = 0, time.monotonic()
    for phase, epochs, backbone_trainable, lr in phases:
        if epochs == 0:
            continue
        if phase in done:
            epoch = done[phase]["end_epoch"]
            continue
        share = epochs_heads / (epochs_heads + epochs_all) if phase == "heads" else 1.0
        deadline = None if opts.max_seconds is None else start + share * float(opts.max_seconds)
        epoch = _fit_phase(model, run, phase, (epoch, epochs), backbone_trainable, lr, opts, train_ds, val_ds,
                           info, deadline, callbacks)
        model.save_weights(str(run.backup_dir / f"after_{phase}.weights.h5"))
        done[phase] = {"end_epoch": epoch, "learning_rate": lr}
        atomic_write_text(phases_path, json.dumps(done))
    if opts.calibrate_batchnorm is not False and epochs_all > 0:
        model.calibrate_batchnorm(train_ds.take(int(opts.calibration_batches)))

    history = _phase_history(read_log(run.log_path), done)
    # every file complete or absent: a killed job never leaves a half-written history
    atomic_write_text(run.path / "history.csv", _history_csv(history))
    atomic_write_text(run.path / "history.json", json.dumps(history, indent=2))
    plot_history(history, run.path / "loss.png")
    run.finish(model, steps=int(model.optimizer.iterations), train_seconds=round(time.monotonic() - start, 1))
    shutil.rmtree(run.backup_dir, ignore_errors=True)
    return model, history


def _fit_phase(model, run, phase, epochs, backbone_trainable, lr, opts, train_ds, val_ds, info, deadline, callbacks):
    """One phase of :func:`train_detection` (``epochs`` = (first, count)), resumed from its backup
    when there is one; returns the epoch after its last."""
    from zoobot_tf.training.callbacks import make_callbacks, resume_state

    first, count = epochs
    backup = run.backup_dir / phase
    resume = resume_state(run.path, None, backup_dir=backup, first_epoch=first)
    phase_callbacks = make_callbacks(run.path, patience=1, resume=resume, epochs=first + count,
                                     steps_per_epoch=opts.steps_per_epoch, progress=opts.progress, monitor=None,
                                     tensorboard=False, backup_dir=backup) + list(callbacks or [])
    seconds = None
    if deadline is not None:
        phase_callbacks.append(Deadline(deadline))
        seconds = deadline - time.monotonic()
    if opts.schedule == "cosine":
        phase_callbacks.append(_cosine(lr, seconds, count, opts.steps_per_epoch, info["num_scenes"], opts.batch_size))
    model.set_backbone_trainable(backbone_trainable)
    model.compile(optimizer=_optimizer(opts.optimizer, lr, opts.clipnorm), run_eagerly=opts.run_eagerly)
    fitted = model.fit(train_ds, validation_data=val_ds, initial_epoch=first, epochs=first + count,
                       steps_per_epoch=opts.steps_per_epoch, callbacks=phase_callbacks, shuffle=False, verbose=0)
    return max(resume.initial_epoch, first) + len(fitted.history.get("loss", []))  # fewer when the deadline hit


def _check_detection_options(epochs_heads, epochs_all, opts) -> None:
    if epochs_heads < 0 or epochs_all < 0 or epochs_heads + epochs_all == 0:
        raise ValueError(f"need epochs_heads, epochs_all >= 0 and some training, got {epochs_heads}, {epochs_all}")
    if opts.optimizer not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {opts.optimizer!r}; choose one of {_OPTIMIZERS}")
    if opts.schedule not in _SCHEDULES:
        raise ValueError(f"unknown schedule {opts.schedule!r}; choose one of {_SCHEDULES}")
    if opts.max_seconds is not None and not opts.max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {opts.max_seconds}")


def _backed_up(backup_dir: Path) -> int:
    from zoobot_tf.training.callbacks import _backed_up_epochs

    return _backed_up_epochs(backup_dir)


def _phase_history(rows: list[dict], done: dict) -> list[dict]:
    """Log rows (0-based ``epoch``) as history rows: 1-based ``epoch``, ``phase``, ``learning_rate``."""
    history = []
    bounds = [(name, info["end_epoch"], info["learning_rate"]) for name, info in done.items()]
    for row in rows:
        for name, end, lr in bounds:
            if row["epoch"] < end:
                break
        history.append({"epoch": row["epoch"] + 1, "phase": name, "learning_rate": lr,
                        **{k: v for k, v in row.items() if k != "epoch"}})
    return history


def _history_csv(history: list[dict]) -> str:
    import pandas as pd

    return pd.DataFrame(history).to_csv(index=False)
