"""The run directory's ``config.json``: the one writer and reader.

Why a file next to ``model.keras``: prediction needs more than the weights (label columns, the
schema, image size and channels, the evaluation crop), and a resumed run must prove it is the
same run. Everything is plain JSON so that people and other tools can read it.

Training, fine-tuning and detection write it with :func:`save_config` (atomically); prediction,
evaluation and attention maps read it through :class:`RunConfig` and :class:`ImageRecipe`
instead of picking string keys out of the JSON themselves.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from zoobot_tf.atomic import atomic_write_text
from zoobot_tf.recipe import ImageRecipe

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIG_NAME",
    "MODEL_NAME",
    "RunConfig",
    "RunConfigMismatch",
    "check_resume_config",
    "load_config",
    "load_run",
    "open_run",
    "now_iso",
    "recipe_for_model",
    "save_config",
    "software_versions",
    "task_for_model",
]

CONFIG_NAME = "config.json"
#: format of the run directories this code writes (0: before the number was recorded, read as 1)
RUN_FORMAT = 1
MODEL_NAME = "model.keras"
#: keys that may differ between a run and its resumption (everything else must match)
RESUMABLE_KEYS = (
    "epochs", "progress", "sessions", "versions", "created", "status", "best_epoch", "run_format",
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
    """Write ``config`` as ``save_dir/name`` atomically (sorted keys, indented), with the run format."""
    path = Path(save_dir) / name
    config = {**config, "run_format": RUN_FORMAT}
    atomic_write_text(path, json.dumps(_jsonable(config), indent=2, sort_keys=True) + "\n")
    return path


def load_config(save_dir, name: str = CONFIG_NAME) -> dict:
    """Read ``save_dir/config.json`` (FileNotFoundError / ValueError naming the file; a run written
    by a newer format than this code reads is refused with both versions named)."""
    from zoobot_tf import __version__

    path = Path(save_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {save_dir} is not a zoobot_tf run directory")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if int(config.get("run_format", 0)) > RUN_FORMAT:
        written = (config.get("versions") or {}).get("zoobot_tf", "a newer zoobot_tf")
        raise ValueError(f"{path} was written by zoobot_tf {written} (run format {config['run_format']}); this is "
                         f"zoobot_tf {__version__}, which reads run formats up to {RUN_FORMAT}: upgrade zoobot_tf")
    return config


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
        :func:`zoobot_tf.finetune.finetune`.
    compile : bool
        Restore the loss and optimizer too (only needed to continue training).

    Returns
    -------
    (keras.Model, dict)
        The model and the run's config (``label_cols``, ``schema``, ``input_shape``,
        ``image_options`` describe the inputs and outputs).
    """
    from zoobot_tf.saving import load_model

    save_dir = Path(save_dir)
    config = load_config(save_dir)
    model_path = save_dir / config.get("model_file", MODEL_NAME)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"{model_path} does not exist: the run in {save_dir} has not finished "
            "(rerun the same training command to resume it)"
        )
    return load_model(model_path, compile=compile), config


@dataclass(frozen=True)
class RunConfig:
    """A run directory's ``config.json``, read once, with the fields other code needs typed.

    ``raw`` keeps the whole dictionary for anything not named here.
    """

    run_dir: Path
    raw: dict = field(repr=False)

    @classmethod
    def read(cls, run_dir) -> "RunConfig":
        """Read ``run_dir/config.json`` (FileNotFoundError / ValueError naming the file)."""
        return cls(Path(run_dir), load_config(run_dir))

    @classmethod
    def from_dict(cls, config: dict) -> "RunConfig":
        """Wrap a config already in memory (e.g. from :func:`load_run`)."""
        return cls(Path(config.get("save_dir") or "."), config)

    @classmethod
    def beside(cls, model_path) -> "RunConfig | None":
        """The config of the run holding ``model_path`` (a run directory or a file in one), or None."""
        path = Path(model_path)
        run_dir = path if path.is_dir() else path.parent
        if not (run_dir / CONFIG_NAME).is_file():
            return None
        return cls.read(run_dir)

    @property
    def kind(self) -> str | None:
        return self.raw.get("kind")

    @property
    def schema(self) -> str | None:
        """Name of the schema or label set the run predicts (None for custom label columns)."""
        return self.raw.get("schema")

    @property
    def label_kind(self) -> str | None:
        return self.raw.get("label_kind")

    @property
    def label_cols(self) -> list:
        return list(self.raw.get("label_cols") or [])

    @property
    def image_size(self) -> int | None:
        return self.raw.get("image_size")

    @property
    def greyscale(self) -> bool:
        return bool(self.raw.get("greyscale"))

    @property
    def shard_dir(self) -> Path | None:
        value = self.raw.get("shard_dir")
        return None if value is None else Path(value)

    @property
    def model_path(self) -> Path:
        return self.run_dir / self.raw.get("model_file", MODEL_NAME)

    @property
    def image(self) -> ImageRecipe | None:
        """The run's image recipe: its ``recipe`` entry, or the one an older config implies."""
        if self.raw.get("recipe"):
            return ImageRecipe.from_dict(self.raw["recipe"])
        return ImageRecipe.from_legacy_config(self.raw)

    @property
    def task(self) -> dict:
        """What the outputs mean: ``head``, ``schema`` and ``label_cols`` (as :class:`~zoobot_tf.saving.ModelMetadata`)."""
        return {"head": self.raw.get("head"), "schema": self.schema, "label_cols": self.label_cols}


def recipe_for_model(model, model_path=None) -> ImageRecipe | None:
    """The image recipe of a model: the one saved inside it, else (models saved before recipes
    travelled with them) its run directory's ``config.json``, with a warning; None when neither
    says. ``model_path`` is the ``.keras`` file or run directory the model came from."""
    from zoobot_tf.saving import model_metadata

    metadata = model_metadata(model)
    if metadata is not None and metadata.recipe is not None:
        return metadata.recipe
    run = RunConfig.beside(model_path) if model_path is not None else None
    recipe = run.image if run is not None else None
    if recipe is not None:
        logger.warning("%s has no image recipe inside (saved before zoobot_tf 0.2, or by plain model.save): "
                       "using the one in %s", model_path, run.run_dir / CONFIG_NAME)
    return recipe


def task_for_model(model, model_path=None) -> dict:
    """``{head, schema, label_cols}`` of a model: saved inside it, else from its run's config ({} if neither)."""
    from zoobot_tf.saving import model_metadata

    metadata = model_metadata(model)
    if metadata is not None and metadata.task:
        return dict(metadata.task)
    run = RunConfig.beside(model_path) if model_path is not None else None
    return run.task if run is not None else {}


def open_run(run, out_dir=None, shard_dir=None):
    """``(model, config, out_dir, shard_dir)`` of a run directory or a ``(model, config)`` pair.

    For evaluations written beside a run: ``out_dir`` defaults to ``<run>/evaluation`` (created),
    ``shard_dir`` to the run's shards.
    """
    if isinstance(run, tuple):
        model, config = run
        run_dir = Path(config["save_dir"])
    else:
        run_dir = Path(run)
        model, config = load_run(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "evaluation"
    out_dir.mkdir(parents=True, exist_ok=True)
    return model, config, out_dir, Path(shard_dir or config["shard_dir"])
