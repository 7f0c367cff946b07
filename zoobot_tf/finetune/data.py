"""Labelled data for fine-tuning: what the new head predicts, and the train/val/test splits.

Ids and labels are held in memory (they are small); images are streamed, read from their files
(a catalog) or TFRecord shards as each batch is drawn, so a fine-tuning set of any size fits.
A catalog with a ``split`` column (train/val/test, as many benchmark sets ship) keeps that split;
otherwise galaxies are split by hashing ``(seed, id_str)`` as for shards. Every image becomes
model input through the fine-tuned model's image recipe (:mod:`zoobot_tf.data.inputs`), the same
functions ``predict`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from zoobot_tf.data.inputs import batched_inputs, catalog_dataset, image_read_errors, shard_records

__all__ = [
    "FINETUNE_HEADS",
    "FinetuneTask",
    "Split",
    "image_read_errors",
    "make_dataset",
    "resolve_finetune_task",
    "splits_from_catalog",
    "splits_from_shards",
]

FINETUNE_HEADS = ("classifier", "regressor")


@dataclass
class FinetuneTask:
    """What the new head predicts.

    ``kind`` is ``'classifier'`` (softmax over ``outputs`` = class names; integer labels),
    ``'regressor'`` (linear outputs = ``outputs`` label columns; MSE) or ``'dirichlet'`` (a
    decision-tree ``schema``; vote counts; Dirichlet-multinomial loss).
    """

    kind: str
    outputs: list
    schema: object = None
    label_column: str | None = None  # classifier: the catalog column holding the class

    @property
    def head(self) -> str:
        return {"classifier": "softmax", "regressor": "regression", "dirichlet": "dirichlet"}[self.kind]

    @property
    def name(self) -> str:
        return self.schema.name if self.schema is not None else self.kind


@dataclass
class Split:
    """One split: ids and labels in memory (small), images streamed from their files or shards.

    ``file_locs`` (a catalog: each image is read when its batch is drawn) or ``shard_dir``
    (TFRecords; ``label_columns`` picks the stored label columns a vote/fraction head needs).
    """

    name: str
    ids: np.ndarray
    labels: np.ndarray
    file_locs: np.ndarray | None = None
    shard_dir: str | None = None
    label_columns: list | None = None

    def __len__(self) -> int:
        return len(self.ids)


def _classes(label_set) -> list | None:
    from zoobot_tf.schemas import LABEL_SETS, LabelSet, get_label_set

    if label_set is None:
        return None
    if isinstance(label_set, LabelSet):
        return list(label_set.classes)
    if isinstance(label_set, str):
        if label_set not in LABEL_SETS:
            raise KeyError(
                f"unknown label set {label_set!r}; built in: {', '.join(LABEL_SETS)} (or pass a list of classes)"
            )
        return list(get_label_set(label_set).classes)
    classes = [str(c) for c in label_set]
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"label_set must list at least 2 distinct classes, got {list(label_set)!r}")
    return classes


def resolve_finetune_task(head, *, label_set=None, label_cols=None, catalog: pd.DataFrame | None = None, manifest=None):
    """Decide the new head's outputs from ``head`` and the data (a catalog or a shard manifest).

    Parameters
    ----------
    head : {'classifier', 'regressor'}, str, Schema or LabelSet
        A schema name or :class:`~zoobot_tf.schemas.Schema` asks for a Dirichlet head; a label
        set name or :class:`~zoobot_tf.schemas.LabelSet`, for a classifier over its classes.
    label_set : str, LabelSet or list of str, optional
        Classifier classes in index order (default: the catalog's distinct values, sorted, or
        the class shards' own).
    label_cols : list of str, optional
        Regressor targets (required with a catalog); classifier: one column holding the class
        (default ``'label'``).
    """
    from zoobot_tf.schemas import LABEL_SETS, SCHEMA_NAMES, LabelSet, Schema, get_schema

    if isinstance(head, LabelSet) or (isinstance(head, str) and head in LABEL_SETS):
        if label_set is not None and _classes(label_set) != _classes(head):
            raise ValueError(f"head={head!r} is a label set; it conflicts with label_set={label_set!r}")
        head, label_set = "classifier", head
    if isinstance(head, Schema) or (isinstance(head, str) and head in SCHEMA_NAMES):
        schema = get_schema(head)
        task = FinetuneTask("dirichlet", list(schema.label_cols), schema=schema)
    elif head == "classifier":
        if label_cols is not None and len(label_cols) != 1:
            raise ValueError(f"a classifier reads one label column, got label_cols={label_cols!r}")
        column = label_cols[0] if label_cols else "label"
        classes = _classes(label_set)
        if classes is None and manifest is not None:
            classes = list(manifest.label_cols)
        if classes is None and catalog is not None:
            if column not in catalog.columns:
                raise ValueError(f"catalog has no label column {column!r} (pass label_cols=[COLUMN])")
            values = catalog[column]
            if values.isna().any():
                rows = np.flatnonzero(values.isna().to_numpy())[:10].tolist()
                raise ValueError(f"catalog label column {column!r} is empty at rows {rows}")
            classes = sorted(values.astype(str).unique().tolist())
        if classes is None or len(classes) < 2:
            raise ValueError(f"a classifier needs at least 2 classes, found {classes!r}")
        task = FinetuneTask("classifier", classes, label_column=column)
    elif head == "regressor":
        if label_cols is None:
            if manifest is None:
                raise ValueError("a regressor needs label_cols (the catalog columns to predict)")
            label_cols = list(manifest.label_cols)
        task = FinetuneTask("regressor", list(label_cols))
    else:
        raise ValueError(
            f"unknown head {head!r}; use 'classifier', 'regressor', a schema name ({', '.join(SCHEMA_NAMES)}) "
            f"or a label set name ({', '.join(LABEL_SETS)})"
        )
    if manifest is not None:
        _check_manifest(task, manifest)
    return task


def _check_manifest(task: FinetuneTask, manifest) -> None:
    where = manifest.path
    if not manifest.labelled:
        raise ValueError(f"shards in {where} are unlabelled; fine-tuning needs labels")
    if task.kind == "classifier":
        if manifest.label_kind != "class" or list(manifest.label_cols) != task.outputs:
            raise ValueError(
                f"a classifier over {task.outputs} needs class shards with those classes; {where} holds "
                f"{manifest.label_kind!r} labels {list(manifest.label_cols)[:8]}"
            )
        return
    if manifest.label_kind not in ("votes", "weighted_fractions"):
        raise ValueError(f"a {task.kind} head needs vote/fraction shards; {where} holds {manifest.label_kind!r} labels")
    missing = [c for c in task.outputs if c not in manifest.label_cols]
    if missing:
        raise ValueError(f"shards in {where} have no label columns {missing[:8]}")


# ----------------------------------------------------------------------------------------
# catalog
# ----------------------------------------------------------------------------------------
def _catalog_labels(catalog: pd.DataFrame, task: FinetuneTask) -> np.ndarray:
    ids = catalog["id_str"].to_numpy()
    if task.kind == "classifier":
        column = task.label_column
        if column not in catalog.columns:
            raise ValueError(f"catalog has no label column {column!r}")
        index = {name: i for i, name in enumerate(task.outputs)}
        values = catalog[column]
        bad = [(r, ids[r], v) for r, v in enumerate(values) if pd.isna(v) or str(v) not in index]
        if bad:
            shown = "; ".join(f"row {r} (id_str {i!r}): {v!r}" for r, i, v in bad[:10])
            raise ValueError(f"{len(bad)} catalog rows have a {column!r} outside the classes {task.outputs}: {shown}")
        return np.array([index[str(v)] for v in values], dtype=np.int32)
    missing = [c for c in task.outputs if c not in catalog.columns]
    if missing:
        raise ValueError(f"catalog is missing label columns {missing[:10]}")
    try:
        values = catalog[task.outputs].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"label columns must be numeric: {err}") from None
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad_rows.size:
        shown = "; ".join(f"row {r} (id_str {ids[r]!r})" for r in bad_rows[:10])
        raise ValueError(f"{bad_rows.size} catalog rows have NaN/inf labels: {shown}")
    if task.kind == "dirichlet" and (values < 0).any():
        rows = np.flatnonzero((values < 0).any(axis=1))[:10].tolist()
        raise ValueError(f"vote counts must be >= 0; negative votes at catalog rows {rows}")
    return values.astype(np.float32)


def read_labelled_catalog(catalog) -> pd.DataFrame:
    """A DataFrame or CSV/parquet path with ``id_str`` and ``file_loc``, checked for empty/duplicate ids."""
    from zoobot_tf.shards.split import check_unique_ids
    from zoobot_tf.catalogs.tables import read_catalog

    frame = read_catalog(catalog).reset_index(drop=True)
    missing = [c for c in ("id_str", "file_loc") if c not in frame.columns]
    if missing:
        raise ValueError(f"catalog is missing columns {missing}")
    if len(frame) == 0:
        raise ValueError("catalog has no rows")
    for col in ("id_str", "file_loc"):
        empty = frame[col].isna() | (frame[col].astype(str).str.strip() == "")
        if empty.any():
            rows = np.flatnonzero(empty.to_numpy())[:10].tolist()
            raise ValueError(f"catalog column {col!r} is empty at rows {rows}")
    frame["id_str"] = frame["id_str"].astype(str)
    check_unique_ids(frame["id_str"].tolist())
    return frame


def splits_from_catalog(catalog: pd.DataFrame, task: FinetuneTask, *, val_fraction: float, test_fraction: float,
                        seed: int) -> dict:
    """Split a catalog train/val/test: by its ``split`` column when it has one, else by hashing ``(seed, id_str)``.

    Images are not read here (a missing file is reported now, naming its row); each is read
    when its batch is drawn.

    Returns
    -------
    dict of str -> Split
        Only the non-empty splits.
    """
    from zoobot_tf.shards.split import SPLIT_COLUMN, assign_splits, splits_from_column

    labels = _catalog_labels(catalog, task)
    files = catalog["file_loc"].astype(str).to_numpy()
    ids = catalog["id_str"].tolist()
    absent = [r for r, f in enumerate(files) if not all(Path(p.strip()).expanduser().is_file() for p in f.split(";"))]
    if absent:
        shown = "; ".join(f"row {r} (id_str {ids[r]!r}): {files[r]!r}" for r in absent[:5])
        raise FileNotFoundError(f"{len(absent)} catalog images do not exist: {shown}")
    if SPLIT_COLUMN in catalog.columns:
        assignment = splits_from_column(ids, catalog[SPLIT_COLUMN].tolist(), seed=seed)
    else:
        assignment = assign_splits(ids, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    row_of = {id_str: row for row, id_str in enumerate(ids)}
    splits = {}
    for name, split_ids in assignment.items():
        if split_ids:
            rows = np.array([row_of[i] for i in split_ids])
            splits[name] = Split(name, np.array(split_ids), labels[rows], file_locs=files[rows])
    return splits


# ----------------------------------------------------------------------------------------
# shards
# ----------------------------------------------------------------------------------------
def splits_from_shards(shard_dir, task: FinetuneTask, *, progress: bool = True) -> dict:
    """The labelled splits of a shard directory: ids and labels read once, images streamed later."""
    from zoobot_tf.shards import load_manifest
    from zoobot_tf.shards.reader import parse_record

    manifest = load_manifest(shard_dir)
    _check_manifest(task, manifest)
    columns = None if task.kind == "classifier" else [manifest.label_cols.index(c) for c in task.outputs]
    splits = {}
    total = sum(manifest.n_records(s) for s in manifest.splits)
    with tqdm(total=total, disable=None if progress else True, desc="fine-tuning labels", unit="img") as bar:
        for name in manifest.splits:
            if manifest.n_records(name) == 0:
                continue
            key = "label" if columns is None else "labels"

            def id_and_label(serialized, key=key):
                record = parse_record(serialized, manifest)
                return record["id_str"], record[key]

            records = tf.data.TFRecordDataset(manifest.files(name)).map(id_and_label)
            ids, labels = [], []
            for id_str, label in records.as_numpy_iterator():
                ids.append(id_str.decode())
                labels.append(label if columns is None else label[columns])
                bar.update(1)
            dtype = np.int32 if columns is None else np.float32
            splits[name] = Split(name, np.array(ids), np.asarray(labels, dtype=dtype), shard_dir=str(shard_dir),
                                 label_columns=columns)
    return splits


def _shard_labels(split: Split) -> tf.data.Dataset:
    """Unbatched ``{"image", "label"}`` records of a shard split (the columns the head needs)."""
    from zoobot_tf.shards import load_manifest

    manifest = load_manifest(split.shard_dir)
    columns = split.label_columns

    def pick(record):
        if columns is None:
            return {"image": record["image"], "label": tf.cast(record["label"], tf.int32)}
        return {"image": record["image"], "label": tf.gather(record["labels"], columns)}

    return manifest, pick


# ----------------------------------------------------------------------------------------
# tf.data
# ----------------------------------------------------------------------------------------
def make_dataset(split: Split, batch_size: int, *, recipe, training: bool, seed: int, augment: bool = True):
    """Batches of ``(images, labels)`` through the model's image ``recipe``: training views when
    ``training`` and ``augment``, the evaluation crop otherwise. Only the batches in flight are in
    memory."""
    views = training and augment
    if split.shard_dir is not None:
        manifest, pick = _shard_labels(split)
        recipe.check_stored(manifest.stored_format(), f"shards {split.shard_dir}", "the fine-tuned model")
        records = shard_records(manifest, split.name, shuffle=training, seed=seed,
                                shuffle_buffer=min(len(split), 2048)).map(pick, num_parallel_calls=tf.data.AUTOTUNE)
        ds = batched_inputs(records, recipe, batch_size, training=views, seed=seed).prefetch(tf.data.AUTOTUNE)
    else:
        ds = catalog_dataset(split.file_locs, recipe, batch_size, labels=split.labels, ids=split.ids,
                             split=split.name, training=views, shuffle=training, seed=seed)
    ds = ds.map(lambda batch: (batch["image"], batch["label"]), num_parallel_calls=tf.data.AUTOTUNE)
    n_batches = -(-len(split) // int(batch_size))
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches))


def catalog_path(catalog) -> str | None:
    """The catalog's path for the record (None for an in-memory DataFrame)."""
    return None if isinstance(catalog, pd.DataFrame) or catalog is None else str(Path(catalog).resolve())
