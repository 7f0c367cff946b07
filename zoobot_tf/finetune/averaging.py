"""An exponential moving average of a model's weights, validated, checkpointed and kept in place of the raw weights.

Why: fine-tuned on a few hundred images, the raw weights of one epoch score a validation split
of a few hundred galaxies with swings of tens of points from epoch to epoch (issue 21: 0.26 to
0.70 on a real survey), and early stopping then keeps a lucky spike. The average over the last
epochs (Polyak averaging, timm's ``ModelEmaV2``, SWA's motivation) moves slowly and usually
scores better than any single iterate. Unlike Keras' ``use_ema`` optimizers, the average here
covers *every* weight, the BatchNorm moving statistics included, so the averaged model is
consistent with its own normalisation.

How it plugs into ``fit`` (:meth:`WeightAverage.callbacks`): the averaged weights are swapped in
when validation begins and stay in through ``on_epoch_end``, so the CSV log, the best
checkpoint and early stopping (``restore_best_weights``) all see the averaged model; a second
callback, placed just before ``BackupAndRestore``, swaps the raw weights back so that training
(and a resumed run) continues from them. The average is saved beside the backup for resuming.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

from zoobot_tf.atomic import atomic_path

__all__ = ["AVERAGE_STATE", "WeightAverage", "ema_momentum"]

logger = logging.getLogger(__name__)

#: where the running average waits for a resumed run (inside the run directory)
AVERAGE_STATE = "weight_average.npz"


def ema_momentum(ema_epochs: float, steps_per_epoch: int) -> float:
    """Per-step momentum of an average whose time constant is ``ema_epochs`` epochs (0: no averaging)."""
    if float(ema_epochs) < 0:
        raise ValueError(f"ema_epochs must be >= 0, got {ema_epochs}")
    if float(ema_epochs) == 0:
        return 0.0
    return float(np.exp(-1.0 / (float(ema_epochs) * max(int(steps_per_epoch), 1))))


class WeightAverage(keras.callbacks.Callback):
    """Exponential moving average of all model weights, updated after every training step.

    Parameters
    ----------
    momentum : float
        Per-step decay (see :func:`ema_momentum`); early steps use ``min(momentum, (1 + t) / (10 + t))``
        so that the freshly initialised head is soon forgotten.
    state_dir : path, optional
        Run directory: the average is written there each epoch (:data:`AVERAGE_STATE`) and read
        back when ``fit`` resumes at the epoch it was written for.
    """

    def __init__(self, momentum: float, state_dir=None):
        super().__init__()
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"weight-average momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.state_path = None if state_dir is None else Path(state_dir) / AVERAGE_STATE
        self.average = None
        self.updates = 0
        self.epoch = 0
        self._raw = None
        self._fitting = False

    def callbacks(self) -> tuple["WeightAverage", "_RestoreRaw"]:
        """``(self, restorer)``: ``self`` goes first in the list (before early stopping), ``restorer``
        just before ``BackupAndRestore``."""
        return self, _RestoreRaw(self)

    # --- state ------------------------------------------------------------------------------
    def _load(self, initial_epoch: int) -> bool:
        if self.state_path is None or not self.state_path.is_file() or initial_epoch == 0:
            return False
        with np.load(self.state_path) as state:
            if int(state["epoch"]) != initial_epoch or int(state["n"]) != len(self.model.weights):
                logger.warning("%s is for another epoch; the weight average restarts", self.state_path)
                return False
            self.average = [state[f"w{i}"] for i in range(int(state["n"]))]
            self.updates = int(state["updates"])
        return True

    def _save(self) -> None:
        if self.state_path is None:
            return
        arrays = {f"w{i}": w for i, w in enumerate(self.average)}
        with atomic_path(self.state_path, suffix=".npz") as tmp:  # np.savez appends .npz to other names
            np.savez(tmp, epoch=self.epoch + 1, n=len(self.average), updates=self.updates, **arrays)

    # --- the average ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._fitting = True
        self.average = None  # set at the first epoch, once BackupAndRestore has restored a resumed run

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = int(epoch)
        if self.average is None and not self._load(self.epoch):
            self.average = [np.array(w, dtype=np.float64) for w in self.model.get_weights()]
            self.updates = 0

    def on_train_batch_end(self, batch, logs=None):
        self.updates += 1
        decay = min(self.momentum, (1.0 + self.updates) / (10.0 + self.updates))
        for average, weight in zip(self.average, self.model.get_weights()):
            average *= decay
            average += (1.0 - decay) * weight.astype(np.float64)  # float64: a constant weight stays exact

    def swap_in(self) -> None:
        """Put the averaged weights into the model (the raw ones are kept to swap back)."""
        if self._raw is None:
            self._raw = self.model.get_weights()
            self.model.set_weights([a.astype(r.dtype) for a, r in zip(self.average, self._raw)])

    def swap_out(self) -> None:
        """Put the raw weights back (after the epoch's log, checkpoint and early stopping)."""
        if self._raw is not None:
            self.model.set_weights(self._raw)
            self._raw = None

    def on_test_begin(self, logs=None):
        if self._fitting:  # validation inside fit; a plain evaluate() sees the model as it is
            self.swap_in()

    def on_epoch_end(self, epoch, logs=None):
        self.swap_in()  # no validation data: the checkpoint and the log still see the average

    def on_train_end(self, logs=None):
        """End on the average (early stopping, placed after this callback, then restores its best epoch)."""
        self._fitting = False
        if self.average is not None:
            self.swap_in()
            self._raw = None
        if self.state_path is not None:
            self.state_path.unlink(missing_ok=True)


class _RestoreRaw(keras.callbacks.Callback):
    """Swap the raw weights back at the end of an epoch and save the average for a resumed run."""

    def __init__(self, average: WeightAverage):
        super().__init__()
        self.average = average

    def on_epoch_end(self, epoch, logs=None):
        self.average.swap_out()
        self.average._save()
