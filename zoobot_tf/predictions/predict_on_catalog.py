"""Predict a catalog with MC dropout, straight from its images, into a resumable HDF5 file.

``predict(catalog, model, n_samples=5, save_loc='preds.hdf5')`` is the survey-scale job: it
streams images from ``file_loc`` through a ``tf.data`` pipeline (decoding overlaps the model),
draws ``n_samples`` forward passes per galaxy (encoder once when only the head is stochastic),
and appends each batch to the file, so memory stays bounded whatever the catalog size. Killed
runs resume; several workers split a catalog by a stable hash of ``id_str``.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from zoobot_tf.catalogs.tables import read_catalog
from zoobot_tf.images import ImageReadError
from zoobot_tf.predictions.hdf5 import PredictionWriter, chunk_rows_for, existing_state
from zoobot_tf.predictions.images_dataset import ImageOptions, image_dataset
from zoobot_tf.predictions.sampling import Sampler, resolve_fast_path
from zoobot_tf.predictions.tta import TTASampler, check_views

__all__ = ["fill_file", "predict", "prepare_rows", "worker_file", "worker_of"]

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
    if isinstance(model, (str, os.PathLike)):
        from zoobot_tf.saving import load_model

        path = Path(model)
        if path.is_dir():  # a run directory written by zoobot_tf.training
            path = path / "model.keras"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such model file")
        return load_model(path, compile=False), str(path.resolve())
    return model, f"<in-memory model {model.name!r}>"


def _run_defaults(model) -> dict:
    """What the run directory beside ``model`` says prediction should repeat (empty for in-memory
    models or files without a config): a model saw centre crops of its shard images at
    evaluation time and a stored scaling, and predicting with the same transform keeps the inputs
    in the distribution it learned."""
    if not isinstance(model, (str, os.PathLike)):
        return {}
    from zoobot_tf.runs import RunConfig

    run = RunConfig.beside(model)
    return {} if run is None else run.prediction_defaults()


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


def _image_options(model, image_size, channels, scaling, crop_scale) -> ImageOptions:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3:
        raise ValueError(f"model input shape {shape} is not (height, width, channels)")
    model_hw, model_c = shape[:2], shape[2]
    if image_size is None:
        if None in model_hw:
            raise ValueError(f"the model accepts any image size {shape}; pass image_size")
        image_size = model_hw
    size = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(int(s) for s in image_size)
    if None not in model_hw and size != tuple(model_hw):
        raise ValueError(f"image_size {size} does not match the model input {tuple(model_hw)}")
    channels = model_c if channels is None else int(channels)
    if model_c is not None and channels != model_c:
        raise ValueError(f"channels={channels} does not match the model input ({model_c} channels)")
    return ImageOptions(size, channels, scaling, crop_scale)


def predict(
    catalog,
    model,
    n_samples: int = 5,
    label_cols=None,
    save_loc="preds.hdf5",
    batch_size: int = 64,
    image_size=None,
    channels=None,
    scaling=None,
    crop_scale=None,
    fast_path="auto",
    num_workers: int = 1,
    worker_index: int = 0,
    schema=None,
    progress: bool = True,
    decoder: str = "auto",
    retry_errors: bool = False,
    tta: int = 1,
    seed: int = 0,
) -> Path:
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
    image_size, channels : optional
        Default from the model's input shape (and must agree with it).
    scaling : str, optional
        Image scaling for FITS (see :data:`zoobot_tf.images.SCALINGS`); PNG/JPG: leave ``None``.
    crop_scale : float, optional
        Centre crop keeping this fraction of the image area before resizing, to show galaxies
        at the scale a model trained on :mod:`zoobot_tf.data` crops saw (0.75 there); ``None``:
        from the training run's ``config.json`` beside the model file when there is one
        (:meth:`zoobot_tf.runs.RunConfig.prediction_defaults`, which also supplies ``schema`` and ``scaling``), else the whole
        image, resized.
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
    decoder : {'auto', 'tf', 'pil'}
        Image decoding (see :mod:`zoobot_tf.predictions.images_dataset`).
    retry_errors : bool
        When resuming, try again the images recorded as unreadable (default: they count as done).
    tta : int
        Test-time views per galaxy (1 = off, up to 8 rotations/flips, see
        :func:`zoobot_tf.predictions.tta.dihedral_views`): each view adds its ``n_samples`` MC
        samples, so the file holds ``n_samples * tta`` samples (attribute ``tta``).
    seed : int
        Seed of the MC-dropout streams (:func:`zoobot_tf.predictions.sampling.seed_dropout`): a
        fresh process with the same model, catalog, batch size and seed writes the same samples.

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
    from zoobot_tf.allocator import keep_freed_memory

    keep_freed_memory()  # no page faults on every batch's tensors: see zoobot_tf.allocator
    n_samples, batch_size, tta = int(n_samples), int(batch_size), check_views(tta)
    rows = prepare_rows(catalog, batch_size, num_workers, worker_index)
    defaults = _run_defaults(model)
    schema = defaults.get("schema") if schema is None and label_cols is None else schema
    scaling = defaults.get("scaling") if scaling is None else scaling
    crop_scale = defaults.get("crop_scale") if crop_scale is None else crop_scale
    model, model_file = _load_model(model)
    n_outputs = int(model.output_shape[-1])
    schema_name, label_cols = _resolve_labels(schema, label_cols, n_outputs)
    options = _image_options(model, image_size, channels, scaling, crop_scale)
    use_fast = resolve_fast_path(model, fast_path)
    sampler = Sampler(model, n_samples, use_fast, seed=seed)
    if tta > 1:
        sampler = TTASampler(sampler, tta)

    save_loc = worker_file(save_loc, num_workers, worker_index)
    attrs = {
        "schema": schema_name,
        "model_file": model_file,
        "num_workers": int(num_workers),
        "worker_index": int(worker_index),
        "tta": tta,
        **options.as_attrs(),
    }
    check = ("num_workers", "worker_index", "tta")
    total = sampler.n_samples
    chunk_rows = chunk_rows_for(len(label_cols), total, batch_size)
    return fill_file(
        save_loc, rows, sampler, options,
        open_writer=lambda: PredictionWriter(save_loc, label_cols, total, attrs=attrs, chunk_rows=chunk_rows,
                                             check_attrs=check),
        read_state=lambda: existing_state(save_loc, label_cols, total, attrs, check),
        batch_size=batch_size, decoder=decoder, progress=progress, retry_errors=retry_errors,
        finish_attrs={"fast_path": bool(use_fast)}, desc="predict",
    )


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


def fill_file(save_loc, rows, transform, options, *, open_writer, read_state, batch_size, decoder, progress,
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
            _run(todo, options, transform, writer, batch_size, decoder, progress, desc)
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


def _run(todo: pd.DataFrame, options, sampler, writer, batch_size, decoder, progress, desc="predict") -> None:
    ids = todo["id_str"].to_numpy(dtype=object)
    paths = todo["file_loc"].tolist()
    dataset = image_dataset(paths, options, batch_size, decoder=decoder)
    # the systematic-failure check only for a fresh file: a resumed one has read images before
    fresh = writer.n_written == 0 and len(writer.error_ids()) == 0
    errors = _Errors(writer, threshold=min(SYSTEMATIC_FAILURES, len(todo)) if fresh else None)
    next_index = 0  # every row below this one was predicted or recorded as an error
    with tqdm(total=len(todo), disable=None if progress else True, desc=desc, unit="galaxy") as bar:
        for indices, images in dataset:
            indices = indices.numpy()
            writer.add(ids[indices], sampler(images))
            errors.ok(len(indices))
            gaps = np.setdiff1d(np.arange(next_index, int(indices[-1]) + 1), indices)
            _recover(gaps, ids, paths, options, sampler, writer, errors)
            next_index = int(indices[-1]) + 1
            bar.update(len(indices) + len(gaps))
        gaps = np.arange(next_index, len(todo))
        _recover(gaps, ids, paths, options, sampler, writer, errors)
        bar.update(len(gaps))
    errors.close()


def _recover(gaps, ids, paths, options, sampler, writer, errors: _Errors) -> None:
    """Rows the pipeline dropped: load each with the reference loader; predict those that load
    (only the fast decoder failed), record the reason for the others."""
    good, images = [], []
    for i in gaps:
        try:
            images.append(options.load(paths[i]))
            good.append(i)
        except (ImageReadError, OSError, ValueError) as err:
            errors.bad(ids[i], paths[i], str(err))
    if good:
        writer.add(ids[good], sampler(np.stack(images)))
        errors.ok(len(good))
