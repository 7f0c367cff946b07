"""Save and load models: the one place that writes ``.keras`` files and knows what they carry.

Why one place: a ``.keras`` file names its custom layers, losses and schedules
(``"zoobot_tf>MCDropout"``), which Keras finds only if the module defining each was imported;
and a model is only useful with its image recipe (:mod:`zoobot_tf.recipe`) and what its outputs
mean (schema, label columns). So :func:`save_model` writes Keras' archive and adds one entry of
its own, ``zoobot_tf_model.json`` (the metadata: package version, a format number, the recipe and the
task), and :func:`load_model` imports the modules that register Keras objects (listed here *by
name*: the model layer must not import the applications built on it), loads with
``safe_mode=True`` and attaches the metadata to the model as ``model.zoobot_metadata``. Keras
ignores the extra entry, so plain ``keras.saving.load_model`` still reads the file.

A file without the entry was saved before recipes travelled in models (or by plain
``model.save``): :func:`zoobot_tf.runs.recipe_for_model` then falls back to the run directory's
``config.json``. A file written by a newer format than this code reads is refused with both
versions named. ``tests/test_layering.py`` checks that every module registering a Keras object
is listed.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from zoobot_tf.atomic import atomic_path
from zoobot_tf.recipe import ImageRecipe

__all__ = [
    "KERAS_OBJECT_MODULES",
    "METADATA_ENTRY",
    "MODEL_FORMAT",
    "ModelMetadata",
    "OPTIONAL_KERAS_OBJECT_MODULES",
    "attach_metadata",
    "load_model",
    "model_metadata",
    "read_metadata",
    "save_model",
]

#: modules whose Keras objects any saved morphology / classification model may reference
KERAS_OBJECT_MODULES = (
    "zoobot_tf.losses",  # DirichletMultinomialLoss, SmoothedSparseCrossentropy
    "zoobot_tf.optimizers",  # LayerDecayAdamW (fine-tuning)
    "zoobot_tf.models.layers",  # MCDropout, DirichletConcentration
    "zoobot_tf.models.dat.layers",
    "zoobot_tf.models.linformer.layers",
    "zoobot_tf.models.convnext.layers",  # LayerScale
    "zoobot_tf.models.maxvit.layers",  # PartitionAttention, gelu_tanh
    "zoobot_tf.classification.losses",  # class-weighted / MixUp losses
    "zoobot_tf.training.schedules",  # warm-up + cosine schedule
    "zoobot_tf.kaggle.model",  # RMSE loss
    "zoobot_tf.kaggle.reweighting",  # decision-tree re-weighting layer
)

#: modules with heavy optional dependencies (the ``[detection]`` extra): imported only when the
#: saved file names one of their classes
OPTIONAL_KERAS_OBJECT_MODULES = {
    "zoobot_tf.detection.model.mask_rcnn": ("zoobot_tf>MaskRCNN",),
}

#: the archive entry holding :class:`ModelMetadata`
METADATA_ENTRY = "zoobot_tf_model.json"
#: format of that entry written by this code (1: the first with a recipe; files without it are 0)
MODEL_FORMAT = 1


@dataclass(frozen=True)
class ModelMetadata:
    """What a saved model carries besides its weights.

    ``task`` is ``{"head": "dirichlet" | "softmax" | "regression" | ..., "schema": name or None,
    "label_cols": [...]}``: what each output means, so a bare file can name its predictions.
    """

    recipe: ImageRecipe | None = None
    task: dict | None = None
    zoobot_tf_version: str | None = None
    format: int = MODEL_FORMAT
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        from zoobot_tf import __version__

        return {"format": MODEL_FORMAT, "zoobot_tf_version": __version__,
                "recipe": None if self.recipe is None else self.recipe.to_dict(),
                "task": self.task, **({"extra": self.extra} if self.extra else {})}

    @classmethod
    def from_dict(cls, data: dict, source: str) -> "ModelMetadata":
        from zoobot_tf import __version__

        version = int(data.get("format", 0))
        if version > MODEL_FORMAT:
            raise ValueError(
                f"{source} was saved by zoobot_tf {data.get('zoobot_tf_version')} (model format {version}); "
                f"this is zoobot_tf {__version__}, which reads formats up to {MODEL_FORMAT}: upgrade zoobot_tf "
                "to load it"
            )
        recipe = data.get("recipe")
        return cls(recipe=None if recipe is None else ImageRecipe.from_dict(recipe), task=data.get("task"),
                   zoobot_tf_version=data.get("zoobot_tf_version"), format=version, extra=data.get("extra") or {})


def attach_metadata(model, recipe: ImageRecipe | None = None, task: dict | None = None, **extra):
    """Give an in-memory model its recipe and task (what :func:`save_model` writes); returns it."""
    previous = model_metadata(model) or ModelMetadata()
    model.zoobot_metadata = ModelMetadata(
        recipe=recipe if recipe is not None else previous.recipe,
        task=task if task is not None else previous.task,
        extra={**previous.extra, **extra},
    )
    return model


def model_metadata(model) -> ModelMetadata | None:
    """The metadata attached to a model (by :func:`attach_metadata` or :func:`load_model`), or None."""
    return getattr(model, "zoobot_metadata", None)


def save_model(model, path) -> Path:
    """Save ``model`` as a ``.keras`` file with its metadata, atomically.

    The archive is written beside ``path`` and renamed into place only when complete, so a kill
    never leaves a half-written model under the final name.
    """
    with atomic_path(path, suffix=".keras") as tmp:  # Keras picks the format by the extension
        model.save(tmp, overwrite=True)
        metadata = model_metadata(model)
        if metadata is not None:
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(METADATA_ENTRY, json.dumps(metadata.to_dict(), indent=2, sort_keys=True))
    return Path(path)


def _archive_entry(path: Path, name: str) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        return None  # not a .keras zip (keras reports that itself), or no such entry


def read_metadata(path) -> ModelMetadata | None:
    """The metadata of a saved ``.keras`` file without loading the model (None: saved without it)."""
    path = Path(path)
    text = _archive_entry(path, METADATA_ENTRY)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: its {METADATA_ENTRY} is not valid JSON ({err})") from err
    return ModelMetadata.from_dict(data, str(path))


def load_model(path, compile=True):
    """Load a ``.keras`` model with ``safe_mode=True`` (no arbitrary code runs on load).

    Parameters
    ----------
    path : path
        A ``.keras`` file saved by this package (or plain Keras).
    compile : bool
        Restore the loss and optimizer too (needed only to continue training).

    Returns
    -------
    keras.Model
        With ``model.zoobot_metadata`` (:class:`ModelMetadata`, None for a file without it).
    """
    import keras

    path = Path(path)
    metadata = read_metadata(path)  # first: a newer format is refused before Keras tries the file
    for module in KERAS_OBJECT_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # a TensorFlow-only module (schedules, Kaggle loss) on JAX or torch: the
            if keras.backend.backend() == "tensorflow":  # models and losses load there without it
                raise
    config_text = None
    for module, registered_names in OPTIONAL_KERAS_OBJECT_MODULES.items():
        config_text = (_archive_entry(path, "config.json") or "") if config_text is None else config_text
        if any(name in config_text for name in registered_names):
            importlib.import_module(module)
    model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    model.zoobot_metadata = metadata
    return model
