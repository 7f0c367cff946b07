"""Train Mask R-CNN on labelled scenes with the study's two-phase schedule.

Phase 1 trains the FPN and heads with the backbone frozen, phase 2 everything (at a lower
learning rate by default). Scenes are :class:`~zoobot_tf.detection.instances.Scene` objects
(synthetic fields from :mod:`zoobot_tf.detection.scenes`, or ``sep``-labelled images), a
``scenes_to_batches`` dict, or a ready ``tf.data.Dataset`` of dict batches.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from zoobot_tf.detection.model.dihedral import dihedral_augment
from zoobot_tf.detection.scalings import DEFAULT_SCALING
from zoobot_tf.training.schedules import CosineByProgress

__all__ = ["CosineByProgress", "Deadline", "plot_history", "scenes_from_coco", "scenes_to_dataset", "train_detection"]

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


def train_detection(
    scenes,
    save_dir,
    epochs_heads=10,
    epochs_all=20,
    *,
    val_scenes=None,
    model=None,
    backbone="resnet18",
    num_classes=2,
    scaling=DEFAULT_SCALING,
    batch_size=2,
    learning_rate=1e-3,
    learning_rate_all=None,
    optimizer="adam",
    clipnorm=5.0,
    schedule="constant",
    augment=True,
    max_objects=None,
    steps_per_epoch=None,
    backbone_weights=None,
    model_kwargs=None,
    calibrate_batchnorm=None,
    calibration_batches=20,
    max_seconds=None,
    callbacks=None,
    run_eagerly=False,
    seed=0,
    verbose=1,
):
    """Train a Mask R-CNN: heads only (backbone frozen) for ``epochs_heads``, then all for ``epochs_all``.

    Parameters
    ----------
    scenes : sequence of Scene, ``scenes_to_batches`` dict, or ``tf.data.Dataset`` of dict batches
        Training data (a Dataset must already be scaled and batched).
    save_dir : str or Path
        Gets ``model.keras``, ``history.csv``, ``history.json``, ``loss.png`` and ``config.json``.
    epochs_heads, epochs_all : int
        Epochs of each phase (either may be 0).
    val_scenes : like ``scenes``, optional
        Validation data; its losses are logged as ``val_*``.
    model : MaskRCNN, optional
        Continue training this model instead of building one.
    backbone, num_classes, backbone_weights, model_kwargs
        Passed to :func:`~zoobot_tf.detection.build_mask_rcnn` when ``model`` is None.
    scaling : str or None
        Contrast scaling applied to scene images (recorded in the model for inference; default
        :data:`~zoobot_tf.detection.scalings.DEFAULT_SCALING`); None when the images are already
        network inputs.
    batch_size : int
    learning_rate : float
        Phase-1 learning rate; ``learning_rate_all`` for phase 2 (default ``learning_rate / 10``
        after a phase 1, which fine-tunes; ``learning_rate`` without one, i.e. ``epochs_heads=0``,
        which trains a randomly initialised backbone from the start).
    optimizer : {'adam', 'sgd'}
        SGD uses momentum 0.9 (as Mask R-CNN); both clip gradients to ``clipnorm``.
    schedule : {'constant', 'cosine'}
        'cosine' decays each phase's learning rate on a half cosine to a hundredth of it
        (:class:`CosineByProgress`), over the phase's share of ``max_seconds`` when that is given,
        else over its epochs (which then need a known number of steps per epoch).
    augment : bool
        Show each training scene, every epoch, in a random flip / 90-degree rotation
        (:func:`dihedral_augment`; default True). A ready ``tf.data.Dataset`` is used as given:
        its pipeline owns augmentation.
    max_objects : int, optional
        Padded objects per scene (default: the most in any scene).
    steps_per_epoch : int, optional
        Batches per epoch (default: one pass over the scenes).
    calibrate_batchnorm : bool, optional
        Set the backbone's BatchNorm statistics from ``calibration_batches`` training batches
        (:meth:`MaskRCNN.calibrate_batchnorm`): before phase 1 when the backbone is randomly
        initialised (built here without ``backbone_weights``), so the frozen backbone normalises
        its features; and after phase 2, because the moving averages lag behind the final
        weights -- without this a model trained from scratch for a few hundred steps detects
        almost nothing at inference. None (default): both, where they apply; True: both;
        False: never.
    calibration_batches : int
    max_seconds : float, optional
        Wall-clock budget of the two phases (calibration and saving not counted): the epochs become
        maxima, phase 1 stops after its share ``epochs_heads / (epochs_heads + epochs_all)`` of the
        budget, phase 2 at the end of it (checked after every batch). For CPU-sized runs.
    callbacks : list of keras.callbacks.Callback, optional
        Extra callbacks for both phases (e.g. checkpoints, early stopping).
    run_eagerly : bool
        Run the training step eagerly (debugging; skips the graph tracing, slow per step).
    seed : int
        Shuffling and weight-initialisation seed.
    verbose : int
        Keras ``fit`` verbosity (1 shows a progress bar).

    Returns
    -------
    (model, history) where history is a list of per-epoch dicts (``epoch``, ``phase``, losses).
    """
    import keras
    import tensorflow as tf

    from zoobot_tf.detection.model.mask_rcnn import MaskRCNN, build_mask_rcnn

    if epochs_heads < 0 or epochs_all < 0 or epochs_heads + epochs_all == 0:
        raise ValueError(f"need epochs_heads, epochs_all >= 0 and some training, got {epochs_heads}, {epochs_all}")
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {_OPTIMIZERS}")
    if schedule not in _SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {_SCHEDULES}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    train_ds, info = _as_dataset(scenes, batch_size, max_objects, scaling, True, seed, augment)
    val_ds = None
    if val_scenes is not None:
        val_ds, _ = _as_dataset(val_scenes, batch_size, max_objects, scaling, False, seed)
    if steps_per_epoch is not None:
        train_ds = train_ds.repeat()
    elif isinstance(scenes, tf.data.Dataset) and scenes.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("an infinite dataset needs steps_per_epoch")

    if model is None:
        model = build_mask_rcnn(num_bands=info["image_shape"][-1], num_classes=num_classes, backbone=backbone,
                                backbone_weights=backbone_weights, scaling=scaling, **(model_kwargs or {}))
        random_backbone = backbone_weights is None
    elif not isinstance(model, MaskRCNN):
        raise TypeError(f"model must be a MaskRCNN, got {type(model).__name__}")
    else:
        random_backbone = False
        if scaling is not None:
            model.scaling = scaling
    if calibrate_batchnorm is not False and epochs_heads > 0 and (random_backbone or calibrate_batchnorm):
        model.calibrate_batchnorm(train_ds.take(int(calibration_batches)))

    if learning_rate_all is None:
        learning_rate_all = learning_rate / 10.0 if epochs_heads > 0 else learning_rate
    history = []
    phases = [("heads", epochs_heads, False, learning_rate), ("all", epochs_all, True, learning_rate_all)]
    epoch = 0
    start = time.monotonic()
    for phase, epochs, backbone_trainable, lr in phases:
        if epochs == 0:
            continue
        phase_callbacks = list(callbacks or [])
        phase_seconds = None
        if max_seconds is not None:
            share = epochs_heads / (epochs_heads + epochs_all) if phase == "heads" else 1.0
            deadline = start + share * float(max_seconds)
            phase_callbacks.append(Deadline(deadline))
            phase_seconds = deadline - time.monotonic()
        if schedule == "cosine":
            phase_callbacks.append(_cosine(lr, phase_seconds, epochs, steps_per_epoch, info["num_scenes"],
                                           batch_size))
        model.set_backbone_trainable(backbone_trainable)
        model.compile(optimizer=_optimizer(optimizer, lr, clipnorm), run_eagerly=run_eagerly)
        fitted = model.fit(train_ds, validation_data=val_ds, initial_epoch=epoch, epochs=epoch + epochs,
                           steps_per_epoch=steps_per_epoch, callbacks=phase_callbacks, shuffle=False,
                           verbose=verbose)
        done = len(fitted.history.get("loss", []))  # fewer than `epochs` when the deadline stopped it
        for i in range(done):
            row = {"epoch": epoch + i + 1, "phase": phase, "learning_rate": lr}
            row.update({k: float(v[i]) for k, v in fitted.history.items()})
            history.append(row)
        epoch += done
    if calibrate_batchnorm is not False and epochs_all > 0:
        model.calibrate_batchnorm(train_ds.take(int(calibration_batches)))

    model.save(save_dir / "model.keras")
    import pandas as pd

    from zoobot_tf.atomic import atomic_write_text
    from zoobot_tf.runs import save_config, software_versions

    # every file complete or absent: a killed job never leaves a half-written history
    atomic_write_text(save_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
    atomic_write_text(save_dir / "history.json", json.dumps(history, indent=2))
    plot_history(history, save_dir / "loss.png")
    config = {
        "epochs_heads": epochs_heads, "epochs_all": epochs_all, "batch_size": batch_size,
        "learning_rate": learning_rate, "learning_rate_all": learning_rate_all, "optimizer": optimizer,
        "clipnorm": clipnorm, "schedule": schedule, "scaling": scaling, "max_seconds": max_seconds,
        "train_seconds": round(time.monotonic() - start, 1), "steps": int(model.optimizer.iterations), "seed": seed, "steps_per_epoch": steps_per_epoch,
        "num_scenes": info["num_scenes"], "image_shape": list(info["image_shape"]),
        "max_objects": info["max_objects"], "model": model.get_config(),
    }
    config.update(kind="train_detection", versions=software_versions())
    save_config(save_dir, config)  # the run directory's config.json, written by zoobot_tf.runs like every run's
    return model, history
