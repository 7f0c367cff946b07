"""The run engine: one run directory layout and its life cycle, for every verb that trains.

Why one engine: training, fine-tuning, train-classifier, the Kaggle model and detection each had
their own folder layout, log name, checkpoint place and resume rules; a user met three of each.
:class:`RunDirectory` owns them: the layout below, ``config.json`` (written through
:func:`zoobot_tf.runs.save_config` from a typed options object, never from ``locals()``), the
CSV log, the best checkpoint, ``BackupAndRestore`` resume after a kill (a rerun with other
options is refused by name; a finished run is refused unless ``overwrite``), early stopping and
the final model and metrics::

    config.json              options, data, label columns, image recipe (a copy), versions, sessions
    model.keras              final model, with its image recipe inside
    checkpoints/best.keras   best model so far (updated during training)
    training_log.csv         one row per epoch (appended across resumptions)
    metrics.json             held-out metrics of the final model
    tensorboard/             TensorBoard logs
    backup/                  BackupAndRestore state while the run is unfinished

Run directories written before the engine (fine-tuning's ``finetune_log.csv`` / ``best.keras``)
stay readable: :func:`zoobot_tf.runs.load_run` reads ``model.keras`` and ``config.json``.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from zoobot_tf.typed_options import asdict_shallow, options_from  # noqa: F401 - re-exported
from zoobot_tf.runs import CONFIG_NAME, MODEL_NAME, check_resume_config, load_config, now_iso, save_config
from zoobot_tf.training.callbacks import (
    BACKUP_DIR,
    BEST_MODEL,
    LOG_NAME,
    TENSORBOARD_DIR,
    ResumeState,
    make_callbacks,
    read_log,
    resume_state,
)

__all__ = ["METRICS_NAME", "RunDirectory", "RunExistsError", "history_of", "options_from"]

logger = logging.getLogger(__name__)

METRICS_NAME = "metrics.json"


class RunExistsError(ValueError):
    """``save_dir`` already holds a finished run (pass ``overwrite=True`` to replace it)."""


def history_of(rows: list[dict]) -> dict:
    """``{metric: [value per epoch]}`` of CSV log rows (as Keras' ``History``, resumed epochs included)."""
    history: dict = {}
    for row in rows:
        for key, value in row.items():
            history.setdefault(key, []).append(value)
    return history


@dataclass
class RunDirectory:
    """A run directory (see the module docstring): prepare, start a session, finish.

    ``kind`` names the verb (``train``, ``finetune``, ``train_detection``...), recorded in the
    config. ``resumable`` are the config keys a resumed run may change (epochs, directories that
    moved, display options).
    """

    path: Path
    kind: str
    resumable: tuple = ()
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        self.path = Path(self.path).expanduser().resolve()

    # --- files ------------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        return self.path / MODEL_NAME

    @property
    def best_path(self) -> Path:
        return self.path / BEST_MODEL

    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    @property
    def backup_dir(self) -> Path:
        return self.path / BACKUP_DIR

    # --- life cycle -------------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every file of a run (``overwrite``)."""
        for name in (MODEL_NAME, CONFIG_NAME, LOG_NAME, METRICS_NAME):
            (self.path / name).unlink(missing_ok=True)
        for name in (BACKUP_DIR, TENSORBOARD_DIR, Path(BEST_MODEL).parent.name):
            shutil.rmtree(self.path / name, ignore_errors=True)

    def _previous(self, config: dict, overwrite: bool) -> dict | None:
        """The config of an unfinished run to resume (None for a fresh start); refuses a finished
        run unless ``overwrite`` and a resumption with changed options."""
        if overwrite:
            self.clear()
            return None
        if self.backup_dir.is_dir() and any(self.backup_dir.iterdir()):
            if not (self.path / CONFIG_NAME).is_file():
                return None
            previous = load_config(self.path)
            check_resume_config(previous, config, self.path)
            return previous
        if self.model_path.is_file():
            raise RunExistsError(
                f"{self.path} already holds a finished run ({MODEL_NAME}); use a new directory or overwrite=True"
            )
        self.clear()  # what a run killed before its first backup left
        return None

    def start(self, config: dict, session: dict, *, overwrite: bool = False, progress: bool = True,
              monitor: str | None = "val_loss", backup_dir=None, first_epoch: int = 0) -> ResumeState:
        """Prepare the directory (fresh, resumed or refused), record a new session, write the config
        with ``status='running'``; the :class:`ResumeState` for ``fit`` (from ``backup_dir``, default
        ``backup/``: a run of several fits, such as detection's phases, passes the one it continues,
        and ``first_epoch``, where that fit starts)."""
        self.path.mkdir(parents=True, exist_ok=True)
        config = {"kind": self.kind, **config}
        previous = self._previous(config, overwrite)
        resume = resume_state(self.path, monitor, backup_dir=backup_dir, first_epoch=first_epoch)
        if resume.resuming:
            logger.info("resuming %s from epoch %d", self.path, resume.initial_epoch)
            if progress:
                print(f"resuming {self.path} from epoch {resume.initial_epoch}", flush=True)
        sessions = list((previous or {}).get("sessions", [])) if resume.resuming else []
        session = {"started": now_iso(), "initial_epoch": resume.initial_epoch, **session}
        created = (previous or {}).get("created", now_iso()) if resume.resuming else now_iso()
        self.config = {**config, "created": created, "status": "running", "sessions": sessions + [session]}
        save_config(self.path, self.config)
        return resume

    def callbacks(self, resume: ResumeState, *, patience: int, epochs: int, steps_per_epoch=None, progress=True,
                  monitor: str | None = "val_loss", tensorboard: bool = True, backup_dir=None) -> list:
        """Log, best checkpoint, early stopping, TensorBoard, backup, progress: in that order."""
        return make_callbacks(self.path, patience=patience, resume=resume, epochs=epochs,
                              steps_per_epoch=steps_per_epoch, progress=progress, monitor=monitor,
                              tensorboard=tensorboard, backup_dir=backup_dir)

    def finish(self, model, *, metrics: dict | None = None, **extra) -> list[dict]:
        """Save the final model (with its metadata), ``metrics.json``, and close the session in the
        config (``status='finished'``, ``best_epoch``); returns the log rows."""
        from zoobot_tf.evaluation.held_out import write_metrics
        from zoobot_tf.saving import save_model

        save_model(model, self.model_path)
        rows = read_log(self.log_path)
        if metrics is not None:
            write_metrics(self.path, metrics)
        session = self.config["sessions"][-1]
        session["finished"] = now_iso()
        session["epochs_run"] = max(0, (rows[-1]["epoch"] + 1 if rows else 0) - session["initial_epoch"])
        scored = [r for r in rows if "val_loss" in r]
        self.config.update(status="finished", best_epoch=min(scored, key=lambda r: r["val_loss"])["epoch"]
                           if scored else None, **extra)
        save_config(self.path, self.config)
        return rows
