"""``config.json`` of a run directory: what was trained, on what, with which software.

Why a file next to ``model.keras``: prediction needs more than the weights (label columns, the
schema, image size and channels, the evaluation crop), and a resumed run must prove it is the
same run. Everything is plain JSON so that people and other tools can read it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from zoobot_tf.shards.manifest import atomic_write_text

__all__ = [
    "CONFIG_NAME",
    "MODEL_NAME",
    "RunConfigMismatch",
    "check_resume_config",
    "load_config",
    "load_run",
    "now_iso",
    "save_config",
    "software_versions",
]

CONFIG_NAME = "config.json"
MODEL_NAME = "model.keras"
#: keys that may differ between a run and its resumption (everything else must match)
RESUMABLE_KEYS = (
    "epochs", "progress", "sessions", "versions", "created", "status", "best_epoch",
    "strategy",  # a run may resume on other hardware: the global batch size stays fixed
    "save_dir", "shard_dir", "manifest",  # directories may move; the data is identified by its fingerprint
)


class RunConfigMismatch(ValueError):
    """A run directory holds a backup of a run with different arguments."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def software_versions() -> dict:
    """Versions of the packages that decide what a saved model means."""
    import keras
    import tensorflow as tf

    from zoobot_tf import __version__

    versions = {
        "zoobot_tf": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    try:
        import tensorflow_probability as tfp

        versions["tensorflow_probability"] = tfp.__version__
    except ImportError:  # pragma: no cover - a hard dependency, but the config must still save
        pass
    return versions


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return repr(value)


def save_config(save_dir, config: dict, name: str = CONFIG_NAME) -> Path:
    """Write ``config`` as ``save_dir/name`` atomically (sorted keys, indented)."""
    path = Path(save_dir) / name
    atomic_write_text(path, json.dumps(_jsonable(config), indent=2, sort_keys=True) + "\n")
    return path


def load_config(save_dir, name: str = CONFIG_NAME) -> dict:
    """Read ``save_dir/config.json`` (FileNotFoundError / ValueError naming the file)."""
    path = Path(save_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {save_dir} is not a zoobot_tf run directory")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def check_resume_config(previous: dict, current: dict, save_dir) -> None:
    """Refuse to resume a run whose arguments changed (other than ``epochs`` and display options)."""
    keys = (set(previous) | set(current)) - set(RESUMABLE_KEYS)
    changed = sorted(k for k in keys if _jsonable(previous.get(k)) != _jsonable(current.get(k)))
    if changed:
        shown = ", ".join(f"{k} ({_short(previous.get(k))} -> {_short(current.get(k))})" for k in changed[:5])
        if len(changed) > 5:
            shown += f" and {', '.join(changed[5:])}"
        raise RunConfigMismatch(
            f"{save_dir} holds an unfinished run with different settings: {shown}; "
            "rerun with the same arguments to resume it, or use a new save_dir"
        )


def _short(value, limit=80):
    text = repr(_jsonable(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_run(save_dir, compile: bool = False):
    """Load a finished run: its ``model.keras`` (``safe_mode=True``) and ``config.json``.

    Parameters
    ----------
    save_dir : path
        A directory written by :func:`zoobot_tf.training.train` or
        :func:`zoobot_tf.training.finetune`.
    compile : bool
        Restore the loss and optimizer too (only needed to continue training).

    Returns
    -------
    (keras.Model, dict)
        The model and the run's config (``label_cols``, ``schema``, ``input_shape``,
        ``image_options`` describe the inputs and outputs).
    """
    from zoobot_tf.models import load_model

    save_dir = Path(save_dir)
    config = load_config(save_dir)
    model_path = save_dir / config.get("model_file", MODEL_NAME)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"{model_path} does not exist: the run in {save_dir} has not finished "
            "(rerun the same training command to resume it)"
        )
    return load_model(model_path, compile=compile), config
