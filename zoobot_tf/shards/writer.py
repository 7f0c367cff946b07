"""Catalog + images -> TFRecord shards, in parallel, atomically and resumably.

Why this shape:

* **Deterministic**: splits and record order come from hashing ``(seed, id_str)``
  (:mod:`zoobot_tf.shards.split`), and examples are serialised deterministically, so the same
  catalog, options and seed always give byte-identical shard files.
* **Atomic**: each shard is written to a hidden temp file in the same directory, fsynced and
  renamed, so a ``*.tfrecord`` file only ever exists complete. ``manifest.json`` is written last;
  a directory without it is an unfinished run.
* **Resumable**: a plan (``shard_plan.json``) fingerprints the catalog and options. A rerun with
  the same fingerprint skips the shard files that already exist (after checking their ids) and
  writes the rest; a rerun with a different catalog or options refuses instead of mixing.
* **Parallel**: images are decoded and prepared in ``workers`` spawned processes, which never
  import TensorFlow (only the parent serialises and writes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
import json
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from zoobot_tf import __version__
from zoobot_tf.atomic import TEMP_MARK, atomic_path, atomic_write_text
from zoobot_tf.recipe import DEFAULT_STORED_SIZE
from zoobot_tf.typed_options import options_from
from zoobot_tf.catalogs.tables import read_catalog, release_arrow_memory
from zoobot_tf.schemas import LabelSet, Schema, get_schema_or_label_set
from zoobot_tf.shards.manifest import (
    DTYPES,
    FORMAT_VERSION,
    MANIFEST_NAME,
    Manifest,
    SplitInfo,
    load_manifest,
)
from zoobot_tf.shards.split import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    PREDICT_SPLIT,
    SPLIT_COLUMN,
    SPLITS,
    hash_order,
    split_rows,
    split_rows_from_column,
)

PLAN_NAME = "shard_plan.json"
#: one per finished share of a split write (``num_workers > 1``); the final step reads them
RECEIPT_GLOB = "share-*-of-*.json"
SHARD_SUFFIX = ".tfrecord"
#: test hook: seconds to sleep after each completed shard (makes kill-and-resume tests reliable)
DELAY_ENV = "ZOOBOT_TF_SHARD_DELAY"
_CHUNK = 16  # rows per worker task


# ----------------------------------------------------------------------------------------
# labels
# ----------------------------------------------------------------------------------------
@dataclass
class _Labels:
    kind: str | None  # 'votes' | 'weighted_fractions' | 'class' | None
    cols: list[str]  # answer columns, or class names for 'class'
    name: str | None  # schema / label-set name
    catalog_cols: list[str]  # catalog columns holding the labels


def _resolve_labels(schema, labelled: bool) -> _Labels:
    if not labelled:
        return _Labels(None, [], None, [])
    if schema is None:
        raise ValueError(
            "labelled shards need schema= (a decision-tree schema such as 'decals_dr5' or a label set "
            "such as 'hubble_sequence'); pass labelled=False to write unlabelled prediction shards"
        )
    schema = get_schema_or_label_set(schema)
    if isinstance(schema, Schema):
        return _Labels(schema.value_kind, list(schema.label_cols), schema.name, list(schema.label_cols))
    if isinstance(schema, LabelSet):
        return _Labels("class", list(schema.classes), schema.name, ["label"])
    raise TypeError(f"schema must be a name, Schema or LabelSet, got {type(schema).__name__}")


def _label_array(catalog: pd.DataFrame, labels: _Labels) -> np.ndarray | None:
    """Catalog label columns -> float32 (N, A) or int64 (N,), refusing NaN or unknown classes.

    Vote columns are taken out of ``catalog`` (in place) one at a time as they are copied, so a
    survey catalog's labels are never held twice.
    """
    ids = catalog["id_str"].array
    if labels.kind is None:
        return None
    if labels.kind == "class":
        index = {name: i for i, name in enumerate(labels.cols)}
        values = catalog["label"].to_numpy()
        bad = [(row, ids[row], v) for row, v in enumerate(values) if v not in index]
        if bad:
            shown = "; ".join(f"row {r} (id_str {i!r}): {v!r}" for r, i, v in bad[:10])
            raise ValueError(
                f"{len(bad)} catalog rows have a 'label' outside label set {labels.name!r} "
                f"{labels.cols}: {shown}"
            )
        return np.array([index[v] for v in values], dtype=np.int64)
    # column-major, so that filling one column touches only that column's pages
    values = np.empty((len(catalog), len(labels.cols)), dtype=np.float32, order="F")
    finite = np.ones(len(catalog), dtype=bool)
    for j, col in enumerate(labels.cols):
        try:
            values[:, j] = catalog.pop(col).to_numpy(dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"label column {col!r} of schema {labels.name!r} must be numeric: {err}") from None
        finite &= np.isfinite(values[:, j])
    bad_rows = np.flatnonzero(~finite)
    if bad_rows.size:
        shown = "; ".join(
            f"row {r} (id_str {ids[r]!r}): {[labels.cols[c] for c in np.flatnonzero(~np.isfinite(values[r]))][:5]}"
            for r in bad_rows[:10]
        )
        raise ValueError(f"{bad_rows.size} catalog rows have NaN/inf labels: {shown}")
    return values


# ----------------------------------------------------------------------------------------
# catalog
# ----------------------------------------------------------------------------------------
def _check_catalog(catalog: pd.DataFrame, labels: _Labels) -> pd.DataFrame:
    required = ["id_str", "file_loc", *labels.catalog_cols]
    missing = [c for c in required if c not in catalog.columns]
    if missing:
        raise ValueError(f"catalog is missing columns {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    if len(catalog) == 0:
        raise ValueError("catalog has no rows")
    kept = required + ([SPLIT_COLUMN] if labels.kind is not None and SPLIT_COLUMN in catalog.columns else [])
    catalog = catalog[kept]  # one copy of the needed columns; no further full copies
    catalog.index = pd.RangeIndex(len(catalog))
    for col in ("id_str", "file_loc"):
        missing = catalog[col].isna().to_numpy()
        values = catalog[col].astype(str)
        empty = missing | (values.str.len() == 0).to_numpy() | values.str.isspace().to_numpy(dtype=bool)
        if empty.any():
            rows = np.flatnonzero(empty)[:10].tolist()
            raise ValueError(f"catalog column {col!r} is empty at rows {rows}")
        catalog[col] = values
    return catalog  # ids are checked unique by plan_shards' hash_order (no hash table of strings)


def catalog_sha256(catalog: pd.DataFrame, columns: list[str], rows_per_block: int = 16384) -> str:
    """SHA-256 of the canonical columns as CSV, rows sorted by ``id_str`` (row order is irrelevant).

    Hashed block by block: the digest equals that of the whole table's CSV, without ever holding
    that CSV (gigabytes for a survey catalog) as one string.
    """
    # sorted in place of the column (Arrow-backed for parquet), not as 10^6 Python strings
    order = catalog["id_str"].astype(str).argsort(kind="stable").to_numpy()
    digest = hashlib.sha256()
    digest.update((",".join(columns) + "\n").encode("utf-8"))
    for start in range(0, len(order), rows_per_block):
        block = catalog.iloc[order[start : start + rows_per_block]][columns]  # rows first: copy one block
        block = block.assign(id_str=block["id_str"].astype(str))
        digest.update(block.to_csv(index=False, header=False, lineterminator="\n").encode("utf-8"))
    release_arrow_memory()  # the sorted takes of Arrow-backed columns
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------
# images (runs in worker processes: no TensorFlow here)
# ----------------------------------------------------------------------------------------
def _load_chunk(rows: list[tuple[str, str]], prepare_kwargs: dict) -> list[np.ndarray]:
    from zoobot_tf.images import load_image

    out = []
    for id_str, file_loc in rows:
        try:
            out.append(load_image(file_loc, **prepare_kwargs))
        except Exception as err:  # noqa: BLE001 - re-raised with the row named
            raise ValueError(f"cannot prepare image of id_str {id_str!r} (file_loc {file_loc!r}): {err}") from err
    return out


def _iter_loaded(shards, prepare_kwargs: dict, workers: int):
    """Yield ``(shard, image, row)`` in order; workers run one shard ahead of the writer."""
    if workers <= 1:
        for shard in shards:
            shard_rows = shard.rows
            for start in range(0, len(shard_rows), _CHUNK):
                rows = shard_rows[start : start + _CHUNK]
                images = _load_chunk([(r[0], r[1]) for r in rows], prepare_kwargs)
                yield from ((shard, img, row) for img, row in zip(images, rows))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque = deque()
        queue = iter(shards)

        def submit_next() -> None:
            shard = next(queue, None)
            if shard is not None:
                shard_rows = shard.rows
                chunks = [shard_rows[i : i + _CHUNK] for i in range(0, len(shard_rows), _CHUNK)]
                futures = [pool.submit(_load_chunk, [(r[0], r[1]) for r in c], prepare_kwargs) for c in chunks]
                pending.append((shard, chunks, futures))

        submit_next()
        submit_next()
        try:
            while pending:
                shard, chunks, futures = pending.popleft()
                submit_next()
                for chunk, future in zip(chunks, futures):
                    yield from ((shard, img, row) for img, row in zip(future.result(), chunk))
        except BaseException:
            for _, _, futures in pending:
                for future in futures:
                    future.cancel()
            raise


# ----------------------------------------------------------------------------------------
# records and shard files (parent process)
# ----------------------------------------------------------------------------------------
def serialize_example(id_str: str, image: np.ndarray, labels: np.ndarray | None, label_kind: str | None) -> bytes:
    """One galaxy -> serialised ``tf.train.Example`` (deterministic bytes)."""
    import tensorflow as tf

    feature = {
        "id_str": tf.train.Feature(bytes_list=tf.train.BytesList(value=[id_str.encode("utf-8")])),
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(image).tobytes()])),
    }
    if label_kind == "class":
        feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(labels)]))
    elif label_kind is not None:
        feature["labels"] = tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(labels, np.float32)))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def _write_file_atomically(path: Path, records: list[bytes]) -> None:
    import tensorflow as tf

    with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for record in records:
            writer.write(record)


def _ids_in_file(path: Path) -> list[str] | None:
    """Ids stored in a shard file, or None if it cannot be read completely."""
    import tensorflow as tf

    spec = {"id_str": tf.io.FixedLenFeature([], tf.string)}
    try:
        dataset = tf.data.TFRecordDataset(str(path)).batch(1024).map(lambda s: tf.io.parse_example(s, spec)["id_str"])
        return [i.decode("utf-8") for batch in dataset.as_numpy_iterator() for i in batch]
    except tf.errors.OpError:  # truncated, corrupt or not a shard of ours
        return None


@dataclass
class _Shard:
    split: str
    name: str
    index: np.ndarray  # catalog rows of its records, in record order
    catalog_ids: Sequence[str] = field(repr=False)
    catalog_locs: Sequence[str] = field(repr=False)
    mine: bool = True  # written by this worker (shard number % num_workers == worker_index)

    @property
    def rows(self) -> list:
        """``(id_str, file_loc, catalog row)`` of each record, built when the shard is written."""
        return [(self.catalog_ids[r], self.catalog_locs[r], int(r)) for r in self.index]

    @property
    def ids(self) -> list[str]:
        return [self.catalog_ids[r] for r in self.index]

    def __len__(self) -> int:
        return len(self.index)


def _plan_shards(catalog: pd.DataFrame, order: dict[str, np.ndarray], shard_size: int) -> list[_Shard]:
    """Cut each split's row order into shard files of ``shard_size`` records (views, not copies)."""
    # the columns' own arrays (Arrow-backed strings for a parquet catalog), not object arrays:
    # 10^6 ids and paths as Python strings would cost ~170 MB more
    ids, locs = catalog["id_str"].array, catalog["file_loc"].array
    shards = []
    for split, index in order.items():
        n_files = -(-len(index) // shard_size)
        for k in range(n_files):
            chunk = index[k * shard_size : (k + 1) * shard_size]
            shards.append(_Shard(split, f"{split}-{k:05d}-of-{n_files:05d}{SHARD_SUFFIX}", chunk, ids, locs))
    return shards


# ----------------------------------------------------------------------------------------
# directory state
# ----------------------------------------------------------------------------------------
def _split_dirs(out_dir: Path) -> list[Path]:
    return [out_dir / s for s in (*SPLITS, PREDICT_SPLIT) if (out_dir / s).is_dir()]


def _our_files(out_dir: Path) -> list[Path]:
    files = [p for d in _split_dirs(out_dir) for p in d.iterdir() if p.name.endswith(SHARD_SUFFIX) or TEMP_MARK in p.name]
    files += [p for p in (out_dir / MANIFEST_NAME, out_dir / PLAN_NAME) if p.exists()]
    return files + sorted(out_dir.glob(RECEIPT_GLOB))


def _clear(out_dir: Path) -> None:
    for path in _our_files(out_dir):
        path.unlink()
    for directory in _split_dirs(out_dir):
        if not any(directory.iterdir()):
            directory.rmdir()


def _prepare_dir(out_dir: Path, fingerprint: str, overwrite: bool) -> Manifest | None:
    """Return the finished manifest if this exact job is already done; clear or refuse otherwise."""
    refuse = (
        "{what} in {dir} was made from a different catalog or different options; never mixing them. "
        "Pass overwrite=True (CLI: --overwrite) to replace it, or choose another output directory."
    )
    if (out_dir / MANIFEST_NAME).exists():
        manifest = load_manifest(out_dir)
        if manifest.fingerprint == fingerprint and not overwrite:
            missing = [f for s in manifest.splits for f in manifest.files(s) if not os.path.isfile(f)]
            if not missing:
                return manifest
            raise FileNotFoundError(f"{out_dir} has a manifest but is missing shard files: {missing[:5]}")
        if not overwrite:
            raise ValueError(refuse.format(what="The finished shard set", dir=out_dir))
        _clear(out_dir)
    elif (out_dir / PLAN_NAME).exists():
        plan = json.loads((out_dir / PLAN_NAME).read_text())
        if plan.get("fingerprint") != fingerprint:
            if not overwrite:
                raise ValueError(refuse.format(what="The unfinished shard run", dir=out_dir))
            _clear(out_dir)
        elif overwrite:
            _clear(out_dir)
    elif _our_files(out_dir):
        if not overwrite:
            raise ValueError(
                f"{out_dir} holds shard files but neither {MANIFEST_NAME} nor {PLAN_NAME}; refusing to mix. "
                "Pass overwrite=True to replace them, or choose another output directory."
            )
        _clear(out_dir)
    return None


def _shards_to_write(out_dir: Path, shards: list[_Shard]) -> list[_Shard]:
    """Make split dirs, drop a killed run's temp files, keep verified complete shards; return the rest."""
    for split in dict.fromkeys(s.split for s in shards):
        (out_dir / split).mkdir(exist_ok=True)
    mine = {(s.split, s.name) for s in shards if s.mine}
    for directory in _split_dirs(out_dir):
        for path in directory.iterdir():
            # a killed run's temp files; other workers' are theirs to clean
            if TEMP_MARK in path.name and (directory.name, path.name[1:].split(TEMP_MARK)[0]) in mine:
                path.unlink()
    planned = {(s.split, s.name) for s in shards}
    strays = [p for d in _split_dirs(out_dir) for p in d.glob(f"*{SHARD_SUFFIX}") if (d.name, p.name) not in planned]
    if strays:
        raise ValueError(f"{out_dir} holds shard files this run would not write: {[str(p) for p in strays[:5]]}")
    todo = []
    for shard in (s for s in shards if s.mine):
        path = out_dir / shard.split / shard.name
        if path.exists():
            if _ids_in_file(path) == shard.ids:
                continue
            path.unlink()  # unreadable or not what the plan says: rewrite it
        todo.append(shard)
    return todo


def _write_missing(todo, out_dir: Path, prepare_kwargs: dict, workers: int, label_values, label_kind, image_shape, bar):
    """Prepare, serialise and atomically write every shard in ``todo``, in order."""
    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    dtype = np.dtype(prepare_kwargs["dtype"])
    records: list[bytes] = []
    for shard, image, (id_str, file_loc, row) in _iter_loaded(todo, prepare_kwargs, workers):
        if list(image.shape) != image_shape or image.dtype != dtype:
            raise ValueError(
                f"image of id_str {id_str!r} ({file_loc}) prepared to shape {image.shape} {image.dtype}, "
                f"expected {tuple(image_shape)} {dtype} like the first galaxy"
            )
        label = None if label_values is None else label_values[row]
        records.append(serialize_example(id_str, image, label, label_kind))
        bar.update(1)
        if len(records) == len(shard):
            _write_file_atomically(out_dir / shard.split / shard.name, records)
            records = []
            if delay:
                time.sleep(delay)


# ----------------------------------------------------------------------------------------
# public
# ----------------------------------------------------------------------------------------
@dataclass
class _Job:
    """What :func:`plan_shards` works out from the catalog and options (before any image)."""

    catalog: pd.DataFrame
    labels: _Labels
    label_values: np.ndarray | None
    order: dict
    image_options: dict
    prepare_kwargs: dict
    shard_options: dict
    sha: str
    identity: dict
    fingerprint: str


@dataclass(frozen=True)
class ShardOptions:
    """How :func:`write_shards` stores images and splits galaxies (see there for each)."""

    size: int = DEFAULT_STORED_SIZE
    channels: int = 3
    dtype: str = "uint8"
    scaling: str | None = None
    nan_mask: bool = False
    galaxy_mask: bool = False
    val_fraction: float = DEFAULT_VAL_FRACTION
    test_fraction: float = DEFAULT_TEST_FRACTION
    shard_size: int = 256
    seed: int = 42
    labelled: bool = True


def plan_shards(catalog, *, schema=None, options: ShardOptions | None = None, **kwargs) -> tuple[list[_Shard], _Job]:
    """Read and check the catalog, split it, hash it and plan every shard file (no image read).

    Every job of a split write computes the same plan, which is what makes their files agree.
    Arguments as :func:`write_shards`; returns the planned shards and the job description.
    """
    o = options_from(ShardOptions, options, **kwargs)
    size, channels, dtype, scaling, seed, labelled = o.size, o.channels, o.dtype, o.scaling, o.seed, o.labelled
    labels = _resolve_labels(schema, labelled)
    wanted = ["id_str", "file_loc", *labels.catalog_cols, SPLIT_COLUMN]
    catalog = _check_catalog(read_catalog(catalog, columns=wanted), labels)
    ranked = hash_order(catalog["id_str"].array, seed, check_unique=True)
    predefined = labelled and SPLIT_COLUMN in catalog.columns
    # hashed before the labels are taken out of the catalog (see _label_array)
    sha = catalog_sha256(catalog, ["id_str", "file_loc", *labels.catalog_cols, *([SPLIT_COLUMN] if predefined else [])])
    label_values = _label_array(catalog, labels)
    if predefined:  # the catalog's own train/val/test column wins over the hash split
        order = split_rows_from_column(ranked, catalog[SPLIT_COLUMN].tolist(), catalog["id_str"].tolist())
        counts = {name: len(rows) for name, rows in order.items()}
        split_options = {"split_column": SPLIT_COLUMN,
                         "val_fraction": counts["val"] / len(ranked), "test_fraction": counts["test"] / len(ranked)}
    elif labelled:
        order = split_rows(ranked, o.val_fraction, o.test_fraction)
        split_options = {"val_fraction": float(o.val_fraction), "test_fraction": float(o.test_fraction)}
    else:
        order = {PREDICT_SPLIT: ranked}
        split_options = {"val_fraction": 0.0, "test_fraction": 0.0}
    del ranked

    choice = None
    if scaling == "auto":  # resolved once, the way finetune resolves it; the manifest records the name
        from zoobot_tf.images import choose_scaling

        scaling, choice = choose_scaling(catalog["file_loc"].astype(str), scaling)
    stored = json.loads(
        json.dumps(
            {"size": int(size), "channels": int(channels), "scaling": scaling, "nan_mask": bool(o.nan_mask),
             "galaxy_mask": bool(o.galaxy_mask)},
            default=str,
        )
    )
    image_options = {**stored, "scaling_choice": choice} if choice else stored
    prepare_kwargs = {**stored, "scaling": scaling, "dtype": dtype}
    shard_options = {**split_options, "shard_size": int(o.shard_size), "labelled": bool(labelled)}
    catalog = catalog[["id_str", "file_loc"]]  # labels now live in label_values only
    identity = {
        "catalog_sha256": sha, "label_kind": labels.kind, "label_cols": labels.cols, "schema": labels.name,
        "image_options": image_options, "dtype": dtype, "shard_options": shard_options, "seed": int(seed),
        "package_version": __version__, "format_version": FORMAT_VERSION,
    }
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    return _plan_shards(catalog, order, int(o.shard_size)), _Job(
        catalog, labels, label_values, order, image_options, prepare_kwargs, shard_options, sha, identity, fingerprint
    )


def write_shards(catalog, out_dir, *, schema=None, options: ShardOptions | None = None, workers: int = 1,
                 progress: bool = True, overwrite: bool = False, num_workers: int = 1, worker_index: int | None = None,
                 **kwargs) -> Manifest | None:
    """Write a canonical catalog and its images as TFRecord shards plus ``manifest.json``.

    Parameters
    ----------
    catalog : pandas.DataFrame or path
        Canonical catalog (``id_str``, ``file_loc`` and label columns), or a CSV/parquet path.
    out_dir : path
        Output directory; gets ``train/ val/ test/`` (``predict/`` when unlabelled) and
        ``manifest.json``. Rerunning on an unfinished directory resumes it.
    schema : str, Schema or LabelSet
        Decision-tree schema (labels = its vote / weighted-fraction columns, stored as float32
        ``labels``) or flat label set (catalog column ``label`` holds class names, stored as int64
        ``label``). Required when ``labelled``.
    size, channels, scaling, nan_mask, galaxy_mask, dtype
        Image options passed to :func:`zoobot_tf.images.load_image`; ``dtype`` is the stored
        pixel type ('uint8', 'float16' or 'float32'). ``scaling="auto"`` chooses from a sample of
        the files as ``finetune`` does (:func:`zoobot_tf.images.choose_scaling`); the manifest
        records the name chosen (``image_options["scaling"]``) and why (``"scaling_choice"``).
    val_fraction, test_fraction : float
        Fractions of galaxies for validation and test (ignored when unlabelled, and when the
        catalog has a ``split`` column: then each galaxy goes to the split it names, ``train``,
        ``val`` or ``test``; any other value is an error naming the row).
    shard_size : int
        Records per shard file.
    seed : int
        Split seed: same seed, same split, whatever the catalog's row order.
    workers : int
        Processes preparing images on this machine (1: in this process).
    labelled : bool
        False writes one ``predict`` split with ids and images only.
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Replace shards in ``out_dir`` that came from a different catalog or options (otherwise
        that is an error).
    options : ShardOptions, optional
        ``size`` ... ``labelled`` above as one object; keyword arguments override its fields.
    num_workers, worker_index : int
        Split the writing over ``num_workers`` independent jobs (machines, array tasks) sharing
        ``out_dir``: job ``worker_index`` writes shard files ``k`` with
        ``k % num_workers == worker_index`` and a receipt, and returns None. Then one call with
        the same arguments and ``worker_index=None`` (CLI: ``--finalize``) checks every share is
        done and writes the manifest. Every job plans the same shards, so the files are
        byte-identical to a single writer's.

    Returns
    -------
    Manifest or None
        The manifest of the finished shard directory (None from a share of a split write).

    Raises
    ------
    ValueError
        Missing columns, duplicate ``id_str`` (naming the rows), NaN labels, unknown classes,
        an unreadable image (naming ``id_str`` and file), an ``out_dir`` holding other shards,
        or a final step before every share finished (naming the missing shares).
    """
    import tensorflow  # noqa: F401 - pay the import before the progress bar starts timing

    o = options_from(ShardOptions, options, **kwargs)
    if o.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {o.dtype!r}")
    if int(o.shard_size) < 1:
        raise ValueError(f"shard_size must be >= 1, got {o.shard_size}")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    num_workers = int(num_workers)
    if num_workers < 1 or (worker_index is not None and not 0 <= int(worker_index) < num_workers):
        raise ValueError(f"worker_index must be in [0, num_workers={num_workers}), got {worker_index}")
    share = num_workers > 1 and worker_index is not None
    if share and overwrite:
        raise ValueError("overwrite=True would delete other workers' shards; clear the directory once before starting them")
    shards, job = plan_shards(catalog, schema=schema, options=o)
    labels, order, fingerprint, identity, sha = job.labels, job.order, job.fingerprint, job.identity, job.sha
    prepare_kwargs, image_options, shard_options = job.prepare_kwargs, job.image_options, job.shard_options
    label_values, catalog = job.label_values, job.catalog

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = _prepare_dir(out_dir, fingerprint, overwrite)
    if done is not None:
        return done

    if num_workers > 1:
        for k, shard in enumerate(shards):
            shard.mine = worker_index is not None and k % num_workers == int(worker_index)
    if num_workers > 1 and not share:
        image_shape = _shares_done(out_dir, shards, fingerprint, num_workers)
    else:
        atomic_write_text(out_dir / PLAN_NAME, json.dumps({"fingerprint": fingerprint, **identity}, indent=2) + "\n")
        todo = _shards_to_write(out_dir, shards)
        # the stored image shape comes from the first galaxy; every other image must match it
        first = shards[0].rows[0]
        image_shape = list(_load_chunk([(first[0], first[1])], prepare_kwargs)[0].shape)
        n_mine = sum(len(s) for s in shards if s.mine)
        desc = f"shards -> {out_dir.name}" + (f" (share {worker_index}/{num_workers})" if share else "")
        bar = tqdm(total=n_mine, unit="img", desc=desc, disable=None if progress else True)
        bar.update(n_mine - sum(len(s) for s in todo))
        with bar:
            _write_missing(todo, out_dir, prepare_kwargs, int(workers), label_values, labels.kind, image_shape, bar)
        if share:
            receipt = {"fingerprint": fingerprint, "image_shape": image_shape,
                       "files": [f"{s.split}/{s.name}" for s in shards if s.mine]}
            atomic_write_text(out_dir / _receipt_name(int(worker_index), num_workers), json.dumps(receipt) + "\n")
            return None

    splits = {}
    for split, ids_in_split in order.items():
        in_split = [s for s in shards if s.split == split]
        splits[split] = SplitInfo(len(ids_in_split), [s.name for s in in_split], [len(s) for s in in_split])
    manifest = Manifest(
        label_kind=labels.kind,
        label_cols=labels.cols,
        schema=labels.name,
        image_shape=image_shape,
        dtype=o.dtype,
        splits=splits,
        seed=int(o.seed),
        catalog_sha256=sha,
        image_options=image_options,
        shard_options=shard_options,
        package_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        fingerprint=fingerprint,
    )
    manifest.save(out_dir)
    for path in [out_dir / PLAN_NAME, *out_dir.glob(RECEIPT_GLOB)]:
        path.unlink()
    return manifest


def _receipt_name(worker_index: int, num_workers: int) -> str:
    return RECEIPT_GLOB.replace("*-of-*", f"{worker_index:05d}-of-{num_workers:05d}")


def _shares_done(out_dir: Path, shards: list[_Shard], fingerprint: str, num_workers: int) -> list[int]:
    """Final step of a split write: every share's receipt and file present; the image shape."""
    missing, shapes = [], set()
    for index in range(num_workers):
        path = out_dir / _receipt_name(index, num_workers)
        receipt = json.loads(path.read_text()) if path.is_file() else None
        if receipt is None or receipt.get("fingerprint") != fingerprint:
            missing.append(index)
        else:
            shapes.add(tuple(receipt["image_shape"]))
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise ValueError(
            f"{out_dir}: {len(missing)} of {num_workers} shares are not finished (worker index {shown}); "
            "run (or rerun) `make-shards --num-workers N --worker-index I` for them, with the same arguments"
        )
    absent = [f"{s.split}/{s.name}" for s in shards if not (out_dir / s.split / s.name).is_file()]
    if absent:
        raise ValueError(f"{out_dir}: shard files missing although every share finished: {absent[:5]}")
    if len(shapes) != 1:
        raise ValueError(f"{out_dir}: shares stored different image shapes {sorted(shapes)}")
    return list(shapes.pop())
