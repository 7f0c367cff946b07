"""Train Mask R-CNN on labelled scenes with the study's two-phase schedule.

Phase 1 trains the FPN and heads with the backbone frozen, phase 2 everything (at a lower
learning rate by default). Scenes are :class:`~zoobot_tf.detection.instances.Scene` objects
(synthetic fields from :mod:`zoobot_tf.detection.scenes`, or ``sep``-labelled images), a
``scenes_to_batches`` dict, or a ready ``tf.data.Dataset`` of dict batches.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["plot_history", "scenes_to_dataset", "train_detection"]

_OPTIMIZERS = ("adam", "sgd")


def _check_scene(i, scene, shape):
    for name in ("image", "boxes", "classes", "masks"):
        if not hasattr(scene, name):
            raise TypeError(f"scene {i}: a {type(scene).__name__} has no {name!r}; expected a Scene")
    image = np.asarray(scene.image)
    if image.ndim != 3:
        raise ValueError(f"scene {i}: image must be (H, W, C), got shape {image.shape}")
    if shape is not None and image.shape != shape:
        raise ValueError(f"scene {i}: image shape {image.shape} differs from scene 0's {shape}")
    if image.shape[0] % 32 or image.shape[1] % 32:
        raise ValueError(f"scene {i}: size {image.shape[0]} x {image.shape[1]} is not a multiple of 32, "
                         "which the detector's feature pyramid needs; cut scenes to e.g. 128 or 256 px")
    boxes = np.asarray(scene.boxes, dtype=np.float32).reshape(-1, 4)
    bad = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    if bad.size:
        raise ValueError(f"scene {i}: object {int(bad[0])} has an empty box {boxes[bad[0]].tolist()}")
    if np.any(np.asarray(scene.classes) < 1):
        raise ValueError(f"scene {i}: class ids must be >= 1 (0 is background), got {np.unique(scene.classes)}")
    return image.shape


def scenes_to_dataset(scenes, batch_size=2, *, max_objects=None, scaling=None, shuffle=True, seed=0,
                      progress=False):
    """A ``tf.data.Dataset`` of the dict batches :class:`~zoobot_tf.detection.MaskRCNN` trains on.

    Scenes are padded one at a time (only a batch of full-image masks is ever in memory as
    arrays), after the scaling is applied once to every image.

    Parameters
    ----------
    scenes : sequence of Scene, or a dict from ``scenes_to_batches``
        All of one size, a multiple of 32.
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

    Returns
    -------
    (dataset, info) where info is ``{"num_scenes", "image_shape", "max_objects"}``.
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
        images = np.asarray(scenes["images"])
        if images.shape[1] % 32 or images.shape[2] % 32:
            raise ValueError(f"image size {images.shape[1]} x {images.shape[2]} is not a multiple of 32")
        dataset = tf.data.Dataset.from_tensor_slices(dict(scenes))
        if shuffle:
            dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        info = {"num_scenes": len(images), "image_shape": tuple(images.shape[1:]),
                "max_objects": int(np.asarray(scenes["boxes"]).shape[1])}
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), info

    from tqdm.auto import tqdm

    scenes = list(scenes)
    if not scenes:
        raise ValueError("no scenes to train on")
    shape = None
    for i, scene in enumerate(scenes):
        shape = _check_scene(i, scene, shape)
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
                                                                  disable=not progress)]
    else:
        images = [np.asarray(s.image, dtype=np.float32) for s in scenes]
    height, width, channels = shape

    def generate():
        order = np.arange(len(scenes))
        if shuffle:
            generate.rng.shuffle(order)
        for i in order:
            scene = scenes[i]
            n = counts[i]
            boxes = np.full((max_objects, 4), -1.0, dtype=np.float32)
            classes = np.full((max_objects,), -1, dtype=np.int32)
            masks = np.zeros((max_objects, height, width), dtype=np.uint8)
            boxes[:n] = np.asarray(scene.boxes, dtype=np.float32).reshape(-1, 4)
            classes[:n] = np.asarray(scene.classes, dtype=np.int32)
            masks[:n] = np.asarray(scene.masks, dtype=bool)
            yield {"images": images[i], "boxes": boxes, "classes": classes, "masks": masks}

    generate.rng = np.random.default_rng(seed)
    signature = {
        "images": tf.TensorSpec((height, width, channels), tf.float32),
        "boxes": tf.TensorSpec((max_objects, 4), tf.float32),
        "classes": tf.TensorSpec((max_objects,), tf.int32),
        "masks": tf.TensorSpec((max_objects, height, width), tf.uint8),
    }
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    info = {"num_scenes": len(scenes), "image_shape": tuple(shape), "max_objects": int(max_objects)}
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), info


def _optimizer(name, learning_rate, clipnorm):
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, clipnorm=clipnorm)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {_OPTIMIZERS}")


def _as_dataset(scenes, batch_size, max_objects, scaling, shuffle, seed):
    import tensorflow as tf

    if isinstance(scenes, tf.data.Dataset):
        return scenes, {"num_scenes": None, "image_shape": tuple(scenes.element_spec["images"].shape[1:]),
                        "max_objects": scenes.element_spec["boxes"].shape[1]}
    return scenes_to_dataset(scenes, batch_size, max_objects=max_objects, scaling=scaling, shuffle=shuffle,
                             seed=seed, progress=True)


def plot_history(history_rows, path):
    """Save the loss terms per epoch (train solid, validation dashed) as a PNG; the phase change is marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoobot_tf.detection.mask_rcnn import LOSS_NAMES

    epochs = [row["epoch"] for row in history_rows]
    fig, ax = plt.subplots(figsize=(7, 4))
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
    plt.close(fig)
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
    scaling="lupton",
    batch_size=2,
    learning_rate=1e-3,
    learning_rate_all=None,
    optimizer="adam",
    clipnorm=5.0,
    max_objects=None,
    steps_per_epoch=None,
    backbone_weights=None,
    model_kwargs=None,
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
        Contrast scaling applied to scene images (recorded in the model for inference); None when
        the images are already network inputs.
    batch_size : int
    learning_rate : float
        Phase-1 learning rate; ``learning_rate_all`` (default ``learning_rate / 10``) for phase 2.
    optimizer : {'adam', 'sgd'}
        SGD uses momentum 0.9 (as Mask R-CNN); both clip gradients to ``clipnorm``.
    max_objects : int, optional
        Padded objects per scene (default: the most in any scene).
    steps_per_epoch : int, optional
        Batches per epoch (default: one pass over the scenes).
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

    from zoobot_tf.detection.mask_rcnn import MaskRCNN, build_mask_rcnn

    if epochs_heads < 0 or epochs_all < 0 or epochs_heads + epochs_all == 0:
        raise ValueError(f"need epochs_heads, epochs_all >= 0 and some training, got {epochs_heads}, {epochs_all}")
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {_OPTIMIZERS}")
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    train_ds, info = _as_dataset(scenes, batch_size, max_objects, scaling, True, seed)
    val_ds = None
    if val_scenes is not None:
        val_ds, _ = _as_dataset(val_scenes, batch_size, max_objects or info["max_objects"], scaling, False, seed)
    if steps_per_epoch is not None:
        train_ds = train_ds.repeat()
    elif isinstance(scenes, tf.data.Dataset) and scenes.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("an infinite dataset needs steps_per_epoch")

    if model is None:
        model = build_mask_rcnn(num_bands=info["image_shape"][-1], num_classes=num_classes, backbone=backbone,
                                backbone_weights=backbone_weights, scaling=scaling, **(model_kwargs or {}))
    elif not isinstance(model, MaskRCNN):
        raise TypeError(f"model must be a MaskRCNN, got {type(model).__name__}")
    elif scaling is not None:
        model.scaling = scaling

    learning_rate_all = learning_rate / 10.0 if learning_rate_all is None else learning_rate_all
    history = []
    phases = [("heads", epochs_heads, False, learning_rate), ("all", epochs_all, True, learning_rate_all)]
    epoch = 0
    for phase, epochs, backbone_trainable, lr in phases:
        if epochs == 0:
            continue
        model.set_backbone_trainable(backbone_trainable)
        model.compile(optimizer=_optimizer(optimizer, lr, clipnorm), run_eagerly=run_eagerly)
        fitted = model.fit(train_ds, validation_data=val_ds, initial_epoch=epoch, epochs=epoch + epochs,
                           steps_per_epoch=steps_per_epoch, callbacks=list(callbacks or []), verbose=verbose)
        for i in range(epochs):
            row = {"epoch": epoch + i + 1, "phase": phase, "learning_rate": lr}
            row.update({k: float(v[i]) for k, v in fitted.history.items()})
            history.append(row)
        epoch += epochs

    model.save(save_dir / "model.keras")
    import pandas as pd

    pd.DataFrame(history).to_csv(save_dir / "history.csv", index=False)
    (save_dir / "history.json").write_text(json.dumps(history, indent=2))
    plot_history(history, save_dir / "loss.png")
    config = {
        "epochs_heads": epochs_heads, "epochs_all": epochs_all, "batch_size": batch_size,
        "learning_rate": learning_rate, "learning_rate_all": learning_rate_all, "optimizer": optimizer,
        "clipnorm": clipnorm, "scaling": scaling, "seed": seed, "steps_per_epoch": steps_per_epoch,
        "num_scenes": info["num_scenes"], "image_shape": list(info["image_shape"]),
        "max_objects": info["max_objects"], "model": model.get_config(),
    }
    (save_dir / "config.json").write_text(json.dumps(config, indent=2, default=str))
    return model, history
