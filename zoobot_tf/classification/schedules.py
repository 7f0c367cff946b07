"""The optimizers of the two reference studies (their schedules: :mod:`zoobot_tf.training.schedules`).

Why here: the published results (DAT on Pan-STARRS Hubble types, Linformer ViT on GZ2 eight
classes) depend on their optimisation recipes as much as on the architectures, so each recipe is
one function whose defaults are the published values. Schedules count *optimizer steps*; the
recipes convert the studies' epochs with ``steps_per_epoch``. Everything serialises
(``keras.optimizers.serialize``), which is how :func:`zoobot_tf.training.train` records and
rebuilds an optimizer under a distribution strategy.
"""

from __future__ import annotations

import keras

from zoobot_tf.training.schedules import WarmupCosineDecay

__all__ = ["WarmupCosineDecay", "dat_study_optimizer", "linformer_study_optimizer"]


def dat_study_optimizer(
    steps_per_epoch,
    epochs,
    learning_rate=4e-4,
    minimum_learning_rate=5e-6,
    warmup_epochs=10,
    weight_decay=0.05,
    clip_norm=1.0,
    warmup_initial_learning_rate=5e-7,
):
    """AdamW of the DAT Hubble-sequence study: 10 warm-up epochs, then cosine to 5e-6.

    Parameters
    ----------
    steps_per_epoch, epochs : int
        Convert the schedule's epochs to optimizer steps (the cosine ends after ``epochs``).
    learning_rate, minimum_learning_rate : float
        Base (peak) and final learning rates (4e-4, 5e-6 as published).
    warmup_epochs : int
        Linear warm-up (10), capped at ``epochs``.
    weight_decay : float
        Decoupled weight decay (0.05), applied to every weight.
    clip_norm : float or None
        Gradient clipping by the global norm over all gradients (1.0); None: no clipping.
    warmup_initial_learning_rate : float
        Start of the warm-up (the Swin/DAT code base's ``WARMUP_LR``).

    Returns
    -------
    keras.optimizers.AdamW
    """
    steps_per_epoch, epochs = int(steps_per_epoch), int(epochs)
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError(f"steps_per_epoch and epochs must be >= 1, got {steps_per_epoch} and {epochs}")
    schedule = WarmupCosineDecay(
        learning_rate,
        total_steps=steps_per_epoch * epochs,
        warmup_steps=steps_per_epoch * min(int(warmup_epochs), epochs),
        minimum_learning_rate=minimum_learning_rate,
        warmup_initial_learning_rate=min(warmup_initial_learning_rate, learning_rate),
    )
    return keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=float(weight_decay),
        global_clipnorm=None if clip_norm is None else float(clip_norm),
        name="adamw_dat_study",  # a fixed name: Keras numbers auto-names per process, breaking resumption checks
    )


def linformer_study_optimizer(steps_per_epoch, learning_rate=3e-4, decay_rate=0.9, decay_epochs=5):
    """Adam of the Linformer GZ2 study: 3e-4, multiplied by 0.9 every 5 epochs (a staircase).

    Parameters
    ----------
    steps_per_epoch : int
    learning_rate : float
    decay_rate : float
    decay_epochs : int

    Returns
    -------
    keras.optimizers.Adam
    """
    steps_per_epoch, decay_epochs = int(steps_per_epoch), int(decay_epochs)
    if steps_per_epoch < 1 or decay_epochs < 1:
        raise ValueError(f"steps_per_epoch and decay_epochs must be >= 1, got {steps_per_epoch} and {decay_epochs}")
    schedule = keras.optimizers.schedules.ExponentialDecay(
        float(learning_rate), decay_steps=steps_per_epoch * decay_epochs, decay_rate=float(decay_rate), staircase=True
    )
    return keras.optimizers.Adam(learning_rate=schedule, name="adam_linformer_study")
