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
import json
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from zoobot_tf import __version__
from zoobot_tf.atomic import atomic_write_text, fsync_dir
from zoobot_tf.catalogs.tables import read_catalog
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
    PREDICT_SPLIT,
    SPLIT_COLUMN,
    SPLITS,
    assign_splits,
    check_unique_ids,
    order_ids,
    splits_from_column,
)

PLAN_NAME = "shard_plan.json"
SHARD_SUFFIX = ".tfrecord"
TEMP_MARK = ".tmp-"
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
    """Catalog label columns -> float32 (N, A) or int64 (N,), refusing NaN or unknown classes."""
    ids = catalog["id_str"].to_numpy()
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
    try:
        values = catalog[labels.cols].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"label columns of schema {labels.name!r} must be numeric: {err}") from None
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad_rows.size:
        shown = "; ".join(
            f"row {r} (id_str {ids[r]!r}): {[labels.cols[c] for c in np.flatnonzero(~np.isfinite(values[r]))][:5]}"
            for r in bad_rows[:10]
        )
        raise ValueError(f"{bad_rows.size} catalog rows have NaN/inf labels: {shown}")
    return values.astype(np.float32)


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
    catalog = catalog[kept].reset_index(drop=True).copy()
    for col in ("id_str", "file_loc"):
        empty = catalog[col].isna() | (catalog[col].astype(str).str.strip() == "")
        if empty.any():
            rows = np.flatnonzero(empty.to_numpy())[:10].tolist()
            raise ValueError(f"catalog column {col!r} is empty at rows {rows}")
    catalog["id_str"] = catalog["id_str"].astype(str)
    catalog["file_loc"] = catalog["file_loc"].astype(str)
    check_unique_ids(catalog["id_str"].tolist())
    return catalog


def catalog_sha256(catalog: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 of the canonical columns as CSV, rows sorted by ``id_str`` (row order is irrelevant)."""
    frame = catalog[columns].copy()
    frame["id_str"] = frame["id_str"].astype(str)
    frame = frame.sort_values("id_str", kind="stable")
    return hashlib.sha256(frame.to_csv(index=False, lineterminator="\n").encode("utf-8")).hexdigest()


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
            for start in range(0, len(shard.rows), _CHUNK):
                rows = shard.rows[start : start + _CHUNK]
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
                chunks = [shard.rows[i : i + _CHUNK] for i in range(0, len(shard.rows), _CHUNK)]
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

    tmp = path.parent / f".{path.name}{TEMP_MARK}{os.getpid()}"
    try:
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in records:
                writer.write(record)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    fsync_dir(path.parent)


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
    rows: list  # (id_str, file_loc, catalog row index)

    @property
    def ids(self) -> list[str]:
        return [r[0] for r in self.rows]


def _plan_shards(catalog: pd.DataFrame, order: dict[str, list[str]], shard_size: int) -> list[_Shard]:
    row_of = {id_str: i for i, id_str in enumerate(catalog["id_str"])}
    file_locs = catalog["file_loc"].tolist()
    shards = []
    for split, ids in order.items():
        n_files = -(-len(ids) // shard_size)
        for k in range(n_files):
            chunk = ids[k * shard_size : (k + 1) * shard_size]
            rows = [(i, file_locs[row_of[i]], row_of[i]) for i in chunk]
            shards.append(_Shard(split, f"{split}-{k:05d}-of-{n_files:05d}{SHARD_SUFFIX}", rows))
    return shards


# ----------------------------------------------------------------------------------------
# directory state
# ----------------------------------------------------------------------------------------
def _split_dirs(out_dir: Path) -> list[Path]:
    return [out_dir / s for s in (*SPLITS, PREDICT_SPLIT) if (out_dir / s).is_dir()]


def _our_files(out_dir: Path) -> list[Path]:
    files = [p for d in _split_dirs(out_dir) for p in d.iterdir() if p.name.endswith(SHARD_SUFFIX) or TEMP_MARK in p.name]
    files += [p for p in (out_dir / MANIFEST_NAME, out_dir / PLAN_NAME) if p.exists()]
    return files


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
    for directory in _split_dirs(out_dir):
        for path in directory.iterdir():
            if TEMP_MARK in path.name:
                path.unlink()
    planned = {(s.split, s.name) for s in shards}
    strays = [p for d in _split_dirs(out_dir) for p in d.glob(f"*{SHARD_SUFFIX}") if (d.name, p.name) not in planned]
    if strays:
        raise ValueError(f"{out_dir} holds shard files this run would not write: {[str(p) for p in strays[:5]]}")
    todo = []
    for shard in shards:
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
        if len(records) == len(shard.rows):
            _write_file_atomically(out_dir / shard.split / shard.name, records)
            records = []
            if delay:
                time.sleep(delay)


# ----------------------------------------------------------------------------------------
# public
# ----------------------------------------------------------------------------------------
def write_shards(
    catalog,
    out_dir,
    *,
    schema=None,
    size: int = 64,
    channels: int = 3,
    dtype: str = "uint8",
    scaling=None,
    nan_mask: bool = False,
    galaxy_mask: bool = False,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    shard_size: int = 256,
    seed: int = 42,
    workers: int = 1,
    labelled: bool = True,
    progress: bool = True,
    overwrite: bool = False,
) -> Manifest:
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
        pixel type ('uint8', 'float16' or 'float32').
    val_fraction, test_fraction : float
        Fractions of galaxies for validation and test (ignored when unlabelled, and when the
        catalog has a ``split`` column: then each galaxy goes to the split it names, ``train``,
        ``val`` or ``test``; any other value is an error naming the row).
    shard_size : int
        Records per shard file.
    seed : int
        Split seed: same seed, same split, whatever the catalog's row order.
    workers : int
        Processes preparing images (1: in this process).
    labelled : bool
        False writes one ``predict`` split with ids and images only.
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Replace shards in ``out_dir`` that came from a different catalog or options (otherwise
        that is an error).

    Returns
    -------
    Manifest
        The manifest of the finished shard directory.

    Raises
    ------
    ValueError
        Missing columns, duplicate ``id_str`` (naming the rows), NaN labels, unknown classes,
        an unreadable image (naming ``id_str`` and file), or an ``out_dir`` holding other shards.
    """
    import tensorflow  # noqa: F401 - pay the import before the progress bar starts timing

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if int(shard_size) < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    labels = _resolve_labels(schema, labelled)
    catalog = _check_catalog(read_catalog(catalog), labels)
    label_values = _label_array(catalog, labels)
    ids = catalog["id_str"].tolist()
    predefined = labelled and SPLIT_COLUMN in catalog.columns
    if predefined:
        order = splits_from_column(ids, catalog[SPLIT_COLUMN].tolist(), seed=seed)
        counts = {name: len(members) for name, members in order.items()}
        split_options = {"split_column": SPLIT_COLUMN,
                         "val_fraction": counts["val"] / len(ids), "test_fraction": counts["test"] / len(ids)}
    elif labelled:
        order = assign_splits(ids, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        split_options = {"val_fraction": float(val_fraction), "test_fraction": float(test_fraction)}
    else:
        order = {PREDICT_SPLIT: order_ids(ids, seed=seed)}
        split_options = {"val_fraction": 0.0, "test_fraction": 0.0}

    image_options = json.loads(
        json.dumps(
            {"size": int(size), "channels": int(channels), "scaling": scaling, "nan_mask": bool(nan_mask),
             "galaxy_mask": bool(galaxy_mask)},
            default=str,
        )
    )
    prepare_kwargs = {**image_options, "scaling": scaling, "dtype": dtype}
    shard_options = {**split_options, "shard_size": int(shard_size), "labelled": bool(labelled)}
    sha = catalog_sha256(catalog, ["id_str", "file_loc", *labels.catalog_cols, *([SPLIT_COLUMN] if predefined else [])])
    identity = {
        "catalog_sha256": sha, "label_kind": labels.kind, "label_cols": labels.cols, "schema": labels.name,
        "image_options": image_options, "dtype": dtype, "shard_options": shard_options, "seed": int(seed),
        "package_version": __version__, "format_version": FORMAT_VERSION,
    }
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = _prepare_dir(out_dir, fingerprint, overwrite)
    if done is not None:
        return done

    shards = _plan_shards(catalog, order, int(shard_size))
    atomic_write_text(out_dir / PLAN_NAME, json.dumps({"fingerprint": fingerprint, **identity}, indent=2) + "\n")
    todo = _shards_to_write(out_dir, shards)
    # the stored image shape comes from the first galaxy; every other image must match it
    first = shards[0].rows[0]
    image_shape = list(_load_chunk([(first[0], first[1])], prepare_kwargs)[0].shape)
    bar = tqdm(total=len(catalog), unit="img", desc=f"shards -> {out_dir.name}", disable=None if progress else True)
    bar.update(len(catalog) - sum(len(s.rows) for s in todo))
    with bar:
        _write_missing(todo, out_dir, prepare_kwargs, int(workers), label_values, labels.kind, image_shape, bar)

    splits = {}
    for split, ids_in_split in order.items():
        mine = [s for s in shards if s.split == split]
        splits[split] = SplitInfo(len(ids_in_split), [s.name for s in mine], [len(s.rows) for s in mine])
    manifest = Manifest(
        label_kind=labels.kind,
        label_cols=labels.cols,
        schema=labels.name,
        image_shape=image_shape,
        dtype=dtype,
        splits=splits,
        seed=int(seed),
        catalog_sha256=sha,
        image_options=image_options,
        shard_options=shard_options,
        package_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        fingerprint=fingerprint,
    )
    manifest.save(out_dir)
    (out_dir / PLAN_NAME).unlink()
    return manifest
