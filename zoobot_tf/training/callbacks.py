"""Callbacks of a training run, and the bookkeeping that lets a killed run resume exactly.

``keras.callbacks.BackupAndRestore`` restores the weights, the optimizer and the epoch counter,
but not the state of the other callbacks: after a restart ``EarlyStopping`` would forget the best
validation loss and its weights, ``ModelCheckpoint(save_best_only=True)`` would overwrite the best
model with the first (possibly worse) resumed epoch, and the CSV log would repeat any epoch that
was logged but not yet backed up when the process died. :func:`resume_state` rebuilds all three
from the backup metadata and the CSV log, so a resumed run behaves as if it had never stopped.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from zoobot_tf.atomic import atomic_write_text

__all__ = [
    "BACKUP_DIR",
    "BEST_MODEL",
    "LOG_NAME",
    "TENSORBOARD_DIR",
    "BestModelCheckpoint",
    "ResumableEarlyStopping",
    "ResumeState",
    "TqdmProgress",
    "make_callbacks",
    "read_log",
    "resume_state",
]

logger = logging.getLogger(__name__)

BACKUP_DIR = "backup"
BEST_MODEL = "checkpoints/best.keras"
LOG_NAME = "training_log.csv"
TENSORBOARD_DIR = "tensorboard"
_METADATA = "training_metadata.json"


@dataclass
class ResumeState:
    """Where a run stands before ``fit``: epochs done and the early-stopping state after them."""

    initial_epoch: int = 0
    best: float | None = None
    best_epoch: int = 0
    wait: int = 0
    best_weights: list | None = field(default=None, repr=False)

    @property
    def resuming(self) -> bool:
        return self.initial_epoch > 0


def read_log(path) -> list[dict]:
    """Rows of a Keras CSV log as dicts (``epoch`` as int, metrics as float); [] if absent."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            epoch = int(row["epoch"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path} line {line}: no valid 'epoch' in training log row {row!r}") from err
        out.append({"epoch": epoch, **{k: _float(v) for k, v in row.items() if k != "epoch"}})
    return out


def _float(value) -> float:
    """A logged metric; Keras writes 'NA' for a metric missing from an epoch."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _write_log(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.unlink(missing_ok=True)
        return
    names = list(rows[0])
    lines = [",".join(names)] + [",".join(repr(r[k]) if k != "epoch" else str(r[k]) for k in names) for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _backed_up_epochs(backup_dir: Path) -> int:
    """Epochs completed according to ``BackupAndRestore``'s metadata (0 when there is none)."""
    for name in (_METADATA, _METADATA + ".bkp"):
        path = backup_dir / name
        if path.is_file():
            try:
                return int(json.loads(path.read_text())["epoch"])
            except (ValueError, KeyError, TypeError) as err:
                logger.warning("cannot read %s (%s); trying the previous backup", path, err)
    return 0


def resume_state(save_dir, monitor: str | None = "val_loss", min_delta: float = 0.0, load_best: bool = True, *,
                 log_name: str = LOG_NAME, best_model: str = BEST_MODEL, backup_dir=None,
                 first_epoch: int = 0) -> ResumeState:
    """Reconcile the backup, the CSV log and the best checkpoint of ``save_dir`` before ``fit``.

    Log rows of epochs that were not backed up are removed (they will be run again), and the
    early-stopping state is replayed from the remaining rows.

    Parameters
    ----------
    save_dir : path
        The run directory.
    monitor, min_delta
        As for ``EarlyStopping``.
    load_best : bool
        Load the best checkpoint's weights for ``restore_best_weights``.
    log_name, best_model : str
        The run's CSV log and best checkpoint, relative to ``save_dir``.
    backup_dir : path, optional
        Where ``BackupAndRestore`` keeps this fit's state (default ``save_dir/backup``).
    first_epoch : int
        The epoch this fit starts at when nothing is backed up (a later phase of a run): the
        rows before it are kept.
    """
    save_dir = Path(save_dir)
    initial_epoch = max(_backed_up_epochs(Path(backup_dir) if backup_dir else save_dir / BACKUP_DIR), int(first_epoch))
    log_path = save_dir / log_name
    rows = read_log(log_path)
    kept = [r for r in rows if r["epoch"] < initial_epoch]
    if len(kept) != len(rows):
        logger.info("dropping %d log rows of epochs after the last backup", len(rows) - len(kept))
        _write_log(log_path, kept)
    state = ResumeState(initial_epoch=initial_epoch)
    if initial_epoch and len(kept) != initial_epoch:
        logger.warning(
            "%s has %d rows but the backup is at epoch %d; early stopping uses the rows present",
            log_path, len(kept), initial_epoch,
        )
    for row in kept if monitor else []:
        value = row.get(monitor)
        if value is None or not math.isfinite(value):
            continue
        state.wait += 1
        if state.best is None or value - min_delta < state.best:
            state.best, state.best_epoch, state.wait = value, row["epoch"], 0
    best_path = save_dir / best_model
    if initial_epoch and load_best and monitor and best_path.is_file():
        from zoobot_tf.saving import load_model

        state.best_weights = load_model(best_path, compile=False).get_weights()
    return state


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that starts from a :class:`ResumeState` instead of from scratch."""

    def __init__(self, resume: ResumeState | None = None, **kwargs):
        super().__init__(**kwargs)
        self.resume = resume or ResumeState()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.resume.best is not None:
            self.best = self.resume.best
            self.best_epoch = self.resume.best_epoch
            self.wait = self.resume.wait
            if self.restore_best_weights and self.resume.best_weights is not None:
                self.best_weights = self.resume.best_weights


class BestModelCheckpoint(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` reaches a new minimum, through :func:`zoobot_tf.saving.save_model`.

    Why not ``keras.callbacks.ModelCheckpoint``: its ``model.save`` writes no image recipe, so a
    ``best.keras`` copied out of its run directory would not know how to prepare images.
    """

    def __init__(self, path, monitor: str = "val_loss", initial_value_threshold: float | None = None):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.best = math.inf if initial_value_threshold is None else float(initial_value_threshold)

    def on_epoch_end(self, epoch, logs=None):
        from zoobot_tf.saving import save_model

        value = (logs or {}).get(self.monitor)
        if value is None:
            logger.warning("best-model checkpoint: %r is not among the epoch's metrics %s", self.monitor,
                           sorted(logs or {}))
            return
        if float(value) < self.best:
            self.best = float(value)
            save_model(self.model, self.path)


class TqdmProgress(keras.callbacks.Callback):
    """One tqdm bar per epoch (batches), closed with the epoch's metrics as its postfix.

    Where output is not a terminal (a batch job's log) the bar switches itself off and each
    epoch's metrics are logged as one line instead.
    """

    def __init__(self, epochs: int, steps: int | None = None):
        super().__init__()
        self.epochs = int(epochs)
        self.steps = steps
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self.bar = tqdm(total=self.steps, desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=True,
                        disable=None)

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            if logs and "loss" in logs and batch % 10 == 0:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4g}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            shown = {k: f"{float(v):.4g}" for k, v in (logs or {}).items() if np.ndim(v) == 0}
            if self.bar.disable:
                logger.info("epoch %d/%d: %s", epoch + 1, self.epochs, ", ".join(f"{k} {v}" for k, v in shown.items()))
            self.bar.set_postfix(shown)
            self.bar.close()
            self.bar = None

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def make_callbacks(
    save_dir,
    *,
    patience: int,
    resume: ResumeState,
    epochs: int,
    steps_per_epoch: int | None = None,
    progress: bool = True,
    backup_dir=None,
    monitor: str | None = "val_loss",
    log_name: str = LOG_NAME,
    best_model: str = BEST_MODEL,
    tensorboard: bool = True,
):
    """The callbacks of :func:`zoobot_tf.training.train`, in the order they must run.

    The log, the best checkpoint and early stopping come *before* the backup at the end of an
    epoch: a run killed in between then repeats the epoch (its log row is dropped on resume)
    rather than missing its row.

    Parameters
    ----------
    save_dir : path
        Gets ``training_log.csv``, ``checkpoints/best.keras``, ``tensorboard/`` and ``backup/``.
    patience : int
        Epochs without improvement of ``monitor`` before stopping.
    resume : ResumeState
        From :func:`resume_state`.
    epochs, steps_per_epoch : int
        For the progress bar.
    progress : bool
        Show tqdm bars.
    backup_dir : path, optional
        Where ``BackupAndRestore`` keeps its state (default ``save_dir/backup``).
    monitor : str or None
        The quantity early stopping and the best checkpoint watch; None (no validation data):
        neither, the last epoch is kept.
    log_name, best_model : str
        File names of the CSV log and the best checkpoint inside ``save_dir``.
    tensorboard : bool
        Write TensorBoard logs to ``save_dir/tensorboard``.
    """
    save_dir = Path(save_dir)
    (save_dir / best_model).parent.mkdir(parents=True, exist_ok=True)
    callbacks = [keras.callbacks.CSVLogger(str(save_dir / log_name), append=True)]
    if monitor:
        callbacks += [
            BestModelCheckpoint(save_dir / best_model, monitor=monitor, initial_value_threshold=resume.best),
            ResumableEarlyStopping(resume=resume, monitor=monitor, patience=int(patience), restore_best_weights=True),
        ]
    if tensorboard and importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(save_dir / TENSORBOARD_DIR)))
    elif tensorboard:
        logger.warning("the tensorboard package is not installed: no TensorBoard logs (pip install tensorboard)")
    callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir or save_dir / BACKUP_DIR), double_checkpoint=True))
    if progress:
        callbacks.append(TqdmProgress(epochs, steps_per_epoch))
    return callbacks
