"""The one warm-up + cosine learning rate: by optimizer step, or by progress through a time budget.

Why one module: training from scratch (the DAT study's recipe), fine-tuning and detection all
warm up linearly and then decay on a half cosine; written three times, the three drifted. Here
:func:`cosine_factor` is the curve, :class:`WarmupCosineDecay` the Keras schedule of it (by step:
serialisable, resumable) and :class:`CosineByProgress` the callback that follows the same curve
over a wall-clock budget, whose step count nobody knows in advance (CPU-sized detection runs).
Written in ``keras.ops``, so a saved optimizer loads on any backend.
"""

from __future__ import annotations

import math
import time

import keras
from keras import ops

__all__ = ["CosineByProgress", "WarmupCosineDecay", "cosine_factor", "warmup_cosine"]


def cosine_factor(progress, final_fraction: float):
    """Half cosine from 1 at ``progress`` 0 to ``final_fraction`` at 1 (a float or a tensor)."""
    if isinstance(progress, (int, float)):
        progress = min(max(float(progress), 0.0), 1.0)
        return final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress))
    progress = ops.clip(progress, 0.0, 1.0)
    return final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + ops.cos(math.pi * progress))


@keras.saving.register_keras_serializable(package="zoobot_tf")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``warmup_initial_learning_rate`` to ``learning_rate`` over
    ``warmup_steps``, then cosine decay to ``minimum_learning_rate`` at ``total_steps`` (held after).

    Parameters
    ----------
    learning_rate : float
        Peak (base) learning rate, reached at the end of the warm-up.
    total_steps : int
        Step at which the cosine reaches ``minimum_learning_rate``.
    warmup_steps : int
        Steps of linear warm-up (0: start at the peak).
    minimum_learning_rate : float
        Floor of the cosine.
    warmup_initial_learning_rate : float
        Learning rate at step 0.
    """

    def __init__(self, learning_rate, total_steps, warmup_steps=0, minimum_learning_rate=0.0,
                 warmup_initial_learning_rate=0.0, name="warmup_cosine"):
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.minimum_learning_rate = float(minimum_learning_rate)
        self.warmup_initial_learning_rate = float(warmup_initial_learning_rate)
        self.name = name
        if self.warmup_steps < 0 or self.total_steps < max(self.warmup_steps, 1):
            raise ValueError(
                f"need 0 <= warmup_steps <= total_steps and total_steps >= 1, got warmup_steps={warmup_steps}, "
                f"total_steps={total_steps}"
            )
        if not 0.0 <= self.minimum_learning_rate <= self.learning_rate:
            raise ValueError(
                f"need 0 <= minimum_learning_rate <= learning_rate, got {minimum_learning_rate} and {learning_rate}"
            )

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak, start = self.learning_rate, self.warmup_initial_learning_rate
        warm = start + (peak - start) * step / float(max(self.warmup_steps, 1))
        progress = (step - self.warmup_steps) / float(max(self.total_steps - self.warmup_steps, 1))
        cosine = peak * cosine_factor(progress, self.minimum_learning_rate / peak if peak else 0.0)
        return ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "minimum_learning_rate": self.minimum_learning_rate,
            "warmup_initial_learning_rate": self.warmup_initial_learning_rate,
            "name": self.name,
        }


def warmup_cosine(learning_rate, *, steps_per_epoch, epochs, warmup_epochs, final_fraction=0.01, warmup_from=0.0):
    """:class:`WarmupCosineDecay` counted in epochs: linear warm-up from ``warmup_from * learning_rate``
    over ``warmup_epochs`` (fractions allowed), then cosine to ``final_fraction * learning_rate``."""
    total = max(int(epochs) * int(steps_per_epoch), 1)
    warmup = min(int(round(float(warmup_epochs) * int(steps_per_epoch))), total)
    return WarmupCosineDecay(float(learning_rate), total_steps=total, warmup_steps=warmup,
                             minimum_learning_rate=float(final_fraction) * float(learning_rate),
                             warmup_initial_learning_rate=float(warmup_from) * float(learning_rate))


class CosineByProgress(keras.callbacks.Callback):
    """Before each batch, set the learning rate to ``peak`` times :func:`cosine_factor` of the
    progress (down to ``alpha * peak``).

    Progress is the larger of the fraction of ``seconds`` elapsed since the callback was made
    (a wall-clock budget, whose step count is unknown in advance) and the fraction of
    ``total_steps`` done (when given).
    """

    def __init__(self, peak, *, seconds=None, total_steps=None, alpha=0.01):
        super().__init__()
        if seconds is None and total_steps is None:
            raise ValueError("CosineByProgress needs seconds or total_steps")
        self.peak, self.seconds, self.total_steps, self.alpha = float(peak), seconds, total_steps, float(alpha)
        self.start, self.steps = time.monotonic(), 0

    def progress(self):
        done = 0.0
        if self.seconds is not None:
            done = (time.monotonic() - self.start) / float(self.seconds)
        if self.total_steps:
            done = max(done, self.steps / float(self.total_steps))
        return min(max(done, 0.0), 1.0)

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.peak * cosine_factor(self.progress(), self.alpha))

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
