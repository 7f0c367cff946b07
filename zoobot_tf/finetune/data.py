"""Labelled data for fine-tuning: what the new head predicts, and the train/val/test splits.

Ids and labels are held in memory (they are small); images are streamed, read from their files
(a catalog) or TFRecord shards as each batch is drawn, so a fine-tuning set of any size fits.
A catalog with a ``split`` column (train/val/test, as many benchmark sets ship) keeps that split;
otherwise galaxies are split by hashing ``(seed, id_str)`` as for shards. Images are read in
their stored dtype (``uint8`` stays ``uint8``) and become float32 in [0, 1] per batch.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from zoobot_tf.data import augment as aug
from zoobot_tf.data.crops import CROP_RATIO, CROP_SCALE

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

    ``file_locs`` + ``image_options`` (a catalog: :func:`zoobot_tf.images.load_image` reads each
    image when its batch is drawn) or ``shard_dir`` (TFRecords; ``label_columns`` picks the
    stored label columns a vote/fraction head needs).
    """

    name: str
    ids: np.ndarray
    labels: np.ndarray
    file_locs: np.ndarray | None = None
    image_options: dict | None = None
    shard_dir: str | None = None
    label_columns: list | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def records(self, *, shuffle: bool, seed: int) -> tf.data.Dataset:
        """Unbatched ``(image, label)`` pairs in the stored dtype; in id order unless ``shuffle``."""
        if self.shard_dir is not None:
            return _shard_records(self, shuffle=shuffle, seed=seed)
        return _catalog_records(self, shuffle=shuffle, seed=seed)


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


def splits_from_catalog(
    catalog: pd.DataFrame,
    task: FinetuneTask,
    *,
    image_size: int,
    channels: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    image_kwargs: dict | None = None,
) -> dict:
    """Split a catalog train/val/test: by its ``split`` column when it has one, else by hashing ``(seed, id_str)``.

    Images are not read here (a missing file is reported now, naming its row); each is read
    when its batch is drawn.

    Returns
    -------
    dict of str -> Split
        Only the non-empty splits.
    """
    from zoobot_tf.images import is_fits
    from zoobot_tf.shards.split import SPLIT_COLUMN, assign_splits, splits_from_column

    labels = _catalog_labels(catalog, task)
    files = catalog["file_loc"].astype(str).to_numpy()
    ids = catalog["id_str"].tolist()
    absent = [r for r, f in enumerate(files) if not Path(f).expanduser().is_file()]
    if absent:
        shown = "; ".join(f"row {r} (id_str {ids[r]!r}): {files[r]!r}" for r in absent[:5])
        raise FileNotFoundError(f"{len(absent)} catalog images do not exist: {shown}")
    # 8-bit PNG/JPG stay uint8 until batched (scaled to [0, 1] per batch); FITS are float
    rasters = not (image_kwargs or {}).get("scaling") and not any(is_fits(f) for f in files)
    options = {"dtype": "uint8" if rasters else "float32", **(image_kwargs or {}),
               "size": int(image_size), "channels": int(channels)}
    if SPLIT_COLUMN in catalog.columns:
        assignment = splits_from_column(ids, catalog[SPLIT_COLUMN].tolist(), seed=seed)
    else:
        assignment = assign_splits(ids, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    row_of = {id_str: row for row, id_str in enumerate(ids)}
    splits = {}
    for name, split_ids in assignment.items():
        if split_ids:
            rows = np.array([row_of[i] for i in split_ids])
            splits[name] = Split(name, np.array(split_ids), labels[rows], file_locs=files[rows], image_options=options)
    return splits


def _catalog_records(split: Split, *, shuffle: bool, seed: int) -> tf.data.Dataset:
    from zoobot_tf.images import load_image

    options = dict(split.image_options)
    dtype = tf.uint8 if options["dtype"] == "uint8" else tf.float32
    size, channels = options["size"], options["channels"]
    ids = split.ids

    def read(index):
        index = int(index)
        try:
            return load_image(split.file_locs[index], **options)
        except Exception as err:  # noqa: BLE001 - re-raised naming the galaxy
            raise ValueError(
                f"{split.name} galaxy {str(ids[index])!r}: cannot read image {str(split.file_locs[index])!r}: {err}"
            ) from err

    def load(index, label):
        image = tf.numpy_function(read, [index], dtype, stateful=False)
        image.set_shape((size, size, channels))  # load_image always returns this shape or raises
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(split)), split.labels))
    if shuffle:  # shuffling indices is cheap: the whole split in one buffer
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


_READ_ERROR = re.compile(r"(\w+ galaxy '[^']*': cannot read image [^\n]*)")


@contextmanager
def image_read_errors():
    """Turn an image that fails to load inside tf.data (a long multi-line TF error) into a one-line ValueError."""
    try:
        yield
    except tf.errors.OpError as err:
        found = _READ_ERROR.search(str(err))
        if found is None:
            raise
        raise ValueError(found.group(1)) from None


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


def _shard_records(split: Split, *, shuffle: bool, seed: int) -> tf.data.Dataset:
    from zoobot_tf.shards import load_manifest
    from zoobot_tf.shards.reader import parse_record

    manifest = load_manifest(split.shard_dir)
    files = manifest.files(split.name)
    if shuffle:
        files_ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        records = files_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 16),
                                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        records = tf.data.TFRecordDataset(files)
    columns = split.label_columns

    def parse(serialized):
        record = parse_record(serialized, manifest)
        if columns is None:
            return record["image"], tf.cast(record["label"], tf.int32)
        return record["image"], tf.gather(record["labels"], columns)

    ds = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.shuffle(min(len(split), 2048), seed=seed, reshuffle_each_iteration=True) if shuffle else ds


# ----------------------------------------------------------------------------------------
# tf.data
# ----------------------------------------------------------------------------------------
def make_dataset(split: Split, batch_size: int, *, training: bool, image_size: int, channels: int, seed: int,
                 augment: bool = True):
    """Batches of ``(images, labels)``: float32 in [0, 1], random (training + augment) or centre crop.

    Images stream from ``split`` (files or shards); only the batches in flight are in memory.
    """
    stored = split.image_options["channels"] if split.image_options else None
    if stored is None:
        from zoobot_tf.shards import load_manifest

        stored = int(load_manifest(split.shard_dir).image_shape[-1])
    if stored != channels and (channels, stored) not in ((1, 3), (3, 1)):
        raise ValueError(f"the model takes {channels}-channel images but the {split.name} data has {stored} channels")
    ds = split.records(shuffle=training, seed=seed).batch(int(batch_size))
    random_crops = training and augment

    def prepare(images, labels, batch_seed=None):
        images = aug.to_float32(images)
        if channels == 1 and stored == 3:
            images = aug.to_greyscale(images)
        elif channels == 3 and stored == 1:
            images = tf.repeat(images, 3, axis=-1)
        if random_crops:
            images = aug.augment_images(
                images, batch_seed, output_size=image_size, crop_scale=CROP_SCALE, crop_ratio=CROP_RATIO
            )
        else:
            images = aug.centre_crop_images(images, output_size=image_size, crop_scale=CROP_SCALE)
        return images, labels

    if random_crops:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda b, s: prepare(*b, s), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    n_batches = -(-len(split) // int(batch_size))
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)


def catalog_path(catalog) -> str | None:
    """The catalog's path for the record (None for an in-memory DataFrame)."""
    return None if isinstance(catalog, pd.DataFrame) or catalog is None else str(Path(catalog).resolve())
