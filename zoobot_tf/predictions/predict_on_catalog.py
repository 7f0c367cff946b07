"""Predict a catalog with MC dropout, straight from its images, into a resumable HDF5 file.

``predict(catalog, model, n_samples=5, save_loc='preds.hdf5')`` is the survey-scale job: it
streams images from ``file_loc`` through a ``tf.data`` pipeline (decoding overlaps the model),
prepared by the model's own image recipe (:mod:`zoobot_tf.data.inputs`, as in training),
draws ``n_samples`` forward passes per galaxy (encoder once when only the head is stochastic),
and appends each batch to the file, so memory stays bounded whatever the catalog size. Killed
runs resume; several workers split a catalog by a stable hash of ``id_str``.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from zoobot_tf.catalogs.tables import read_catalog
from zoobot_tf.data.inputs import catalog_dataset, load_model_input
from zoobot_tf.images import ImageReadError
from zoobot_tf.predictions.hdf5 import PredictionWriter, chunk_rows_for, existing_state
from zoobot_tf.recipe import ImageRecipe, StoredFormat
from zoobot_tf.typed_options import options_from
from zoobot_tf.predictions.sampling import Sampler, resolve_fast_path
from zoobot_tf.predictions.tta import TTASampler, check_views

__all__ = ["PredictOptions", "fill_file", "predict", "prepare_rows", "resolve_recipe", "worker_file", "worker_of"]

logger = logging.getLogger(__name__)
#: A fresh run whose first this-many images (or all, if fewer) are unreadable stops with an error.
SYSTEMATIC_FAILURES = 256


def worker_of(id_str, num_workers: int) -> np.ndarray:
    """Worker index of each id: CRC-32 of its UTF-8 bytes modulo ``num_workers``.

    Stable across runs, machines and library versions (unlike Python's ``hash``), so a
    restarted worker picks up exactly the same galaxies.
    """
    ids = [id_str] if isinstance(id_str, str) else list(id_str)
    hashes = (zlib.crc32(str(i).encode("utf-8")) % int(num_workers) for i in ids)
    return np.fromiter(hashes, dtype=np.int64, count=len(ids))


def worker_file(save_loc, num_workers: int, worker_index: int) -> Path:
    """``preds.hdf5`` -> ``preds_worker1of4.hdf5`` when ``num_workers > 1`` (else unchanged)."""
    save_loc = Path(save_loc)
    if int(num_workers) <= 1:
        return save_loc
    return save_loc.with_name(f"{save_loc.stem}_worker{int(worker_index)}of{int(num_workers)}{save_loc.suffix}")


def _check_catalog(df: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in ("id_str", "file_loc") if c not in df.columns]
    if missing:
        raise ValueError(f"catalog {name}: missing column(s) {missing}; a catalog needs id_str and file_loc")
    df = df[["id_str", "file_loc"]].reset_index(drop=True)
    for col in ("id_str", "file_loc"):
        bad = np.flatnonzero(df[col].isna().to_numpy() | (df[col].astype(str).str.strip() == "").to_numpy())
        if bad.size:
            raise ValueError(f"catalog {name}: empty {col} in {bad.size} row(s), e.g. rows {bad[:5].tolist()}")
    df = df.astype({"id_str": str, "file_loc": str})
    dupes = df["id_str"][df["id_str"].duplicated()]
    if len(dupes):
        raise ValueError(
            f"catalog {name}: {len(dupes)} duplicated id_str, e.g. {dupes.unique()[:5].tolist()}; "
            "each galaxy must appear once"
        )
    return df


def _load_model(model):
    """``(keras model, path it came from or None, description)`` of a model, a ``.keras`` file or a run directory."""
    if isinstance(model, (str, os.PathLike)):
        from zoobot_tf.saving import load_model

        path = Path(model)
        if path.is_dir():  # a run directory written by zoobot_tf.training
            path = path / "model.keras"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such model file")
        return load_model(path, compile=False), path, str(path.resolve())
    return model, None, f"<in-memory model {model.name!r}>"


def resolve_recipe(model, model_path=None, recipe: ImageRecipe | None = None, *, stored_size=None, eval_crop=None,
                   scaling=None) -> ImageRecipe:
    """The image recipe to predict with: ``recipe``, else the model's own (saved inside it, or in its
    run's ``config.json`` for older models), with any of ``stored_size`` / ``eval_crop`` /
    ``scaling`` overriding it (logged: the model then sees other pixels than in training).

    A model that carries no recipe needs those three options; ValueError says so.
    """
    from zoobot_tf.runs import recipe_for_model

    shape = tuple(model.input_shape[1:])
    if len(shape) != 3:
        raise ValueError(f"model input shape {shape} is not (height, width, channels)")
    base = recipe or recipe_for_model(model, model_path)
    overrides = {k: v for k, v in {"stored_size": stored_size, "eval_crop": eval_crop, "scaling": scaling}.items()
                 if v is not None}
    if base is None:
        if not overrides:
            raise ValueError(
                f"{model_path or 'the model'} carries no image recipe (saved before zoobot_tf 0.2, or by plain "
                "model.save) and has no config.json beside it: say how its training images were prepared with "
                f"--stored-size (side they were stored at), --crop-scale (evaluation crop, 0.75 for models trained "
                f"by zoobot_tf) and --scaling; its input is --image-size {shape[0]}"
            )
        if None in shape:
            raise ValueError(f"the model accepts any image size {shape}: it needs its image recipe")
        stored = StoredFormat(size=stored_size or shape[0], channels=shape[2], scaling=scaling,
                              dtype="uint8" if scaling in (None, "none") else "float32")
        recipe = ImageRecipe(stored=stored, size=shape[0], channels=shape[2], eval_crop=eval_crop or 1.0)
        logger.warning("predicting with an image recipe from the options: %s", recipe.describe())
    elif overrides:
        stored_changes = {k: v for k, v in (("size", stored_size), ("scaling", scaling)) if v is not None}
        if "scaling" in stored_changes and stored_changes["scaling"] != "none" and base.stored.dtype == "uint8":
            stored_changes["dtype"] = "float32"
        stored = StoredFormat(**{**base.stored.to_dict(), **stored_changes})
        recipe = base.with_changes(stored=stored, eval_crop=eval_crop if eval_crop is not None else base.eval_crop)
        if recipe != base:
            logger.warning("overriding the model's image recipe (%s): the model sees other pixels than it was "
                           "evaluated on in training", ", ".join(f"{k}={v}" for k, v in overrides.items()))
    else:
        recipe = base
    want = tuple(d for d in shape)
    if (want[0] not in (None, recipe.size)) or (want[2] not in (None, recipe.channels)):
        raise ValueError(f"the image recipe makes {recipe.input_shape} inputs but the model takes {want}")
    return recipe


def _resolve_labels(schema, label_cols, n_outputs: int) -> tuple[str, list[str]]:
    """``(schema name or '', label_cols)`` checked against the model's output width."""
    from zoobot_tf.schemas import get_schema_or_label_set

    name, from_schema = "", None
    if schema is not None:
        resolved = get_schema_or_label_set(schema)
        name = resolved.name
        from_schema = resolved.outputs
    if label_cols is None:
        if from_schema is None:
            logger.warning("no schema or label_cols given: naming the %d outputs output_0...", n_outputs)
        label_cols = from_schema or [f"output_{i}" for i in range(n_outputs)]
    label_cols = [str(c) for c in label_cols]
    if from_schema is not None and label_cols != list(from_schema):
        raise ValueError(f"label_cols differ from the label columns of schema {name!r}")
    if len(label_cols) != n_outputs:
        raise ValueError(f"the model has {n_outputs} outputs but {len(label_cols)} label_cols were given")
    if len(set(label_cols)) != len(label_cols):
        raise ValueError("label_cols contain duplicates")
    return name, label_cols


@dataclass(frozen=True)
class PredictOptions:
    """The options of :func:`predict` (see there for each)."""

    n_samples: int = 5
    label_cols: list | None = None
    batch_size: int = 64
    recipe: ImageRecipe | None = None
    stored_size: int | None = None
    eval_crop: float | None = None
    scaling: str | None = None
    fast_path: object = "auto"
    num_workers: int = 1
    worker_index: int = 0
    schema: object = None
    progress: bool = True
    retry_errors: bool = False
    tta: int = 1
    seed: int = 0


def predict(catalog, model, save_loc="preds.hdf5", options: PredictOptions | None = None, **kwargs) -> Path:
    """Predict every galaxy of a catalog ``n_samples`` times (MC dropout) into an HDF5 file.

    Parameters
    ----------
    catalog : DataFrame or path
        ``id_str`` and ``file_loc`` columns (CSV via :func:`zoobot_tf.catalogs.read_catalog`,
        or parquet). Ids must be unique.
    model : keras.Model or path
        A model, a ``.keras`` file or a training run directory (loaded with ``safe_mode=True``): images ``(H, W, C)`` float32
        in [0, 1] -> ``(A,)`` outputs (Dirichlet concentrations for a Dirichlet head).
    n_samples : int
        Forward passes per galaxy; with MC dropout, samples of the posterior.
    label_cols : list of str, optional
        A name per output; default: the schema's label columns.
    save_loc : str or Path
        The HDF5 file (see :mod:`zoobot_tf.predictions.hdf5` for the layout). An existing file is
        resumed: ids already in it are skipped. With ``num_workers > 1`` the name gets
        ``_worker{i}of{n}`` before the suffix.
    batch_size : int
        Images per model call; also rows per HDF5 chunk (capped near 512 KiB).
    recipe : ImageRecipe, optional
        How files become model input; default the model's own (:func:`resolve_recipe`): saved
        inside the ``.keras`` file, or for older models in the run directory's ``config.json``.
    stored_size, eval_crop, scaling : optional
        Override those parts of the recipe (a model saved without a recipe needs them).
    fast_path : {'auto', True, False}
        Run the encoder once per image and only the head ``n_samples`` times
        (:func:`zoobot_tf.predictions.sampling.resolve_fast_path`); same distribution, ~n x faster.
    num_workers, worker_index : int
        Predict only the ids with ``crc32(id_str) % num_workers == worker_index``; merge the
        files with :func:`zoobot_tf.predictions.merge_predictions`.
    schema : str or Schema, optional
        Decision tree (or label-set name) the outputs follow; stored for :func:`summarise`.
    progress : bool
        Show a tqdm progress bar.
    retry_errors : bool
        When resuming, try again the images recorded as unreadable (default: they count as done).
    tta : int
        Test-time views per galaxy (1 = off, up to 8 rotations/flips, see
        :func:`zoobot_tf.predictions.tta.dihedral_views`): each view adds its ``n_samples`` MC
        samples, so the file holds ``n_samples * tta`` samples (attribute ``tta``).
    seed : int
        Seed of the MC-dropout streams (:func:`zoobot_tf.predictions.sampling.seed_dropout`): a
        fresh process with the same model, catalog, batch size and seed writes the same samples.
    options : PredictOptions, optional
        The options above from ``n_samples`` on, as one object; keyword arguments override its
        fields.

    Returns
    -------
    Path
        The file written, marked ``complete``. Unreadable images are listed under ``errors``
        (id, file, reason) and left out of ``predictions``.

    Raises
    ------
    ValueError
        Bad catalog rows (named), options that disagree with the model or with an existing
        file, or no readable image among the first :data:`SYSTEMATIC_FAILURES` of a fresh run
        (a systematic problem such as a wrong image directory; nothing is recorded then).
    """
    o = options_from(PredictOptions, options, **kwargs)
    batch_size, tta, num_workers, worker_index = int(o.batch_size), check_views(o.tta), o.num_workers, o.worker_index
    rows = prepare_rows(catalog, batch_size, num_workers, worker_index)
    model, model_path, model_file = _load_model(model)
    recipe = resolve_recipe(model, model_path, o.recipe, stored_size=o.stored_size, eval_crop=o.eval_crop,
                            scaling=o.scaling)
    task = _task(model, model_path)
    schema, label_cols = o.schema, o.label_cols
    if schema is None and label_cols is None:
        schema, label_cols = task.get("schema"), task.get("label_cols") or None
    n_outputs = int(model.output_shape[-1])
    schema_name, label_cols = _resolve_labels(schema, label_cols, n_outputs)
    use_fast = resolve_fast_path(model, o.fast_path)
    sampler = Sampler(model, int(o.n_samples), use_fast, seed=o.seed)
    if tta > 1:
        sampler = TTASampler(sampler, tta)

    save_loc = worker_file(save_loc, num_workers, worker_index)
    attrs = {
        "schema": schema_name,
        "model_file": model_file,
        "num_workers": int(num_workers),
        "worker_index": int(worker_index),
        "tta": tta,
        "head": task.get("head") or "",
        **recipe_attrs(recipe),
    }
    check = ("num_workers", "worker_index", "tta", "image_recipe")
    total = sampler.n_samples
    chunk_rows = chunk_rows_for(len(label_cols), total, batch_size)
    return fill_file(
        save_loc, rows, sampler, recipe,
        open_writer=lambda: PredictionWriter(save_loc, label_cols, total, attrs=attrs, chunk_rows=chunk_rows,
                                             check_attrs=check),
        read_state=lambda: existing_state(save_loc, label_cols, total, attrs, check),
        batch_size=batch_size, progress=o.progress, retry_errors=o.retry_errors,
        finish_attrs={"fast_path": bool(use_fast)}, desc="predict",
    )


def _task(model, model_path) -> dict:
    from zoobot_tf.runs import task_for_model

    return task_for_model(model, model_path)


def recipe_attrs(recipe: ImageRecipe) -> dict:
    """HDF5 attributes recording how the images were prepared (the recipe as JSON, and its sizes)."""
    return {"image_recipe": json.dumps(recipe.to_dict(), sort_keys=True), "image_size": [recipe.size, recipe.size],
            "image_channels": recipe.channels}


def prepare_rows(catalog, batch_size: int, num_workers: int, worker_index: int) -> pd.DataFrame:
    """The checked ``id_str``/``file_loc`` rows of a catalog that this worker handles."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= int(worker_index) < int(num_workers):
        raise ValueError(f"worker_index must be in [0, num_workers={num_workers}), got {worker_index}")
    name = str(catalog) if not isinstance(catalog, pd.DataFrame) else "<DataFrame>"
    rows = _check_catalog(read_catalog(catalog), name)
    if int(num_workers) > 1:
        rows = rows[worker_of(rows["id_str"], num_workers) == int(worker_index)].reset_index(drop=True)
    return rows


def fill_file(save_loc, rows, transform, recipe, *, open_writer, read_state, batch_size, progress,
              retry_errors, finish_attrs, desc) -> Path:
    """The resumable loop shared by :func:`predict` and :func:`~zoobot_tf.predictions.embed`.

    Skips the ids already in ``save_loc`` (rows or recorded errors), streams the others' images
    through ``transform`` (images -> rows) into the writer that ``open_writer()`` returns, and
    marks the file complete. A complete file holding every id is left untouched.
    """
    if save_loc.is_file() and not retry_errors:
        complete, done = read_state()
        if complete and rows["id_str"].isin(pd.Index(done)).all():
            logger.info("%s: complete, nothing to do", save_loc)
            return save_loc  # leave the file untouched
    with open_writer() as writer:
        if retry_errors:
            writer.clear_errors()
        done = pd.Index(np.concatenate([writer.written_ids(), writer.error_ids()]))
        todo = rows[~rows["id_str"].isin(done)].reset_index(drop=True)
        if len(done):
            logger.info("%s: resuming, %d ids already done, %d to go", save_loc, len(done), len(todo))
        if len(todo):
            _run(todo, recipe, transform, writer, batch_size, progress, desc)
        writer.finish(n_errors=len(writer.error_ids()), **finish_attrs)
    return save_loc


class _Errors:
    """Unreadable images, held back until the first image loads: if none of the first
    ``threshold`` images can be read the problem is systematic (wrong directory, wrong channels),
    and raising *before* recording them keeps a rerun from skipping them as done."""

    def __init__(self, writer, threshold=None):
        self.writer, self.threshold = writer, threshold
        self.n_ok, self.pending = 0, []

    def ok(self, n):
        self.n_ok += int(n)
        if self.n_ok:
            self._write()

    def bad(self, id_str, file_loc, reason):
        logger.warning("skipping %s: %s", id_str, reason)
        self.pending.append((id_str, file_loc, reason))
        if self.n_ok:
            self._write()
        elif self.threshold is not None and len(self.pending) >= self.threshold:
            raise ValueError(
                f"none of the first {len(self.pending)} images could be read, e.g. {self.pending[0][2]}; "
                "nothing was recorded, fix the catalog or image options and rerun"
            )

    def _write(self):
        if self.pending:
            ids, locs, reasons = zip(*self.pending)
            self.writer.add_errors(ids, locs, reasons)
            self.pending = []

    def close(self):
        self._write()


def _run(todo: pd.DataFrame, recipe, sampler, writer, batch_size, progress, desc="predict") -> None:
    ids = todo["id_str"].to_numpy(dtype=object)
    paths = todo["file_loc"].tolist()
    dataset = catalog_dataset(paths, recipe, batch_size, skip_unreadable=True)
    # the systematic-failure check only for a fresh file: a resumed one has read images before
    fresh = writer.n_written == 0 and len(writer.error_ids()) == 0
    errors = _Errors(writer, threshold=min(SYSTEMATIC_FAILURES, len(todo)) if fresh else None)
    next_index = 0  # every row below this one was predicted or recorded as an error
    with tqdm(total=len(todo), disable=None if progress else True, desc=desc, unit="galaxy") as bar:
        for batch in dataset:
            indices = batch["index"].numpy()
            writer.add(ids[indices], sampler(batch["image"]))
            errors.ok(len(indices))
            gaps = np.setdiff1d(np.arange(next_index, int(indices[-1]) + 1), indices)
            _recover(gaps, ids, paths, recipe, sampler, writer, errors)
            next_index = int(indices[-1]) + 1
            bar.update(len(indices) + len(gaps))
        gaps = np.arange(next_index, len(todo))
        _recover(gaps, ids, paths, recipe, sampler, writer, errors)
        bar.update(len(gaps))
    errors.close()


def _recover(gaps, ids, paths, recipe, sampler, writer, errors: _Errors) -> None:
    """Rows the pipeline dropped: load each alone with the same recipe; predict those that load
    (a transient failure), record the reason for the others."""
    good, images = [], []
    for i in gaps:
        try:
            images.append(load_model_input(paths[i], recipe))
            good.append(i)
        except (ImageReadError, OSError, ValueError) as err:
            errors.bad(ids[i], paths[i], str(err))
    if good:
        writer.add(ids[good], sampler(np.stack(images)))
        errors.ok(len(good))
