"""What the discovery verbs share: features + catalog matched by id, images for galleries,
tables written whole or not at all.

Features come from ``zoobot-tf embed`` (a ``pca_*`` parquet or an embedding HDF5) or as
published: the GZ DESI representations (Walmsley et al. 2023) are a parquet of ``id_str``,
``ra``, ``dec`` and ``feat_pca_0`` ... ``feat_pca_<K-1>``, read as they are (other columns ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["catalog_locations", "gallery_images", "load_features", "read_published_features", "write_table"]

#: pixels of a gallery thumbnail
THUMBNAIL = 128
#: feature columns of the published GZ DESI representations
PUBLISHED_PREFIX = "feat_pca_"


def _column_names(path: Path) -> list[str]:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, nrows=0).columns)


def read_published_features(path) -> tuple[np.ndarray, np.ndarray]:
    """``(id_str, features float32)`` of a ``feat_pca_*`` table (GZ DESI's published representations).

    Only ``id_str`` and the feature columns are read (an 8.7M-row release stays small); the
    features must be ``feat_pca_0`` .. ``feat_pca_<K-1>``, finite, one row per ``id_str``.
    """
    path = Path(path)
    names = _column_names(path)
    found = {int(c[len(PUBLISHED_PREFIX):]): c for c in names
             if c.startswith(PUBLISHED_PREFIX) and c[len(PUBLISHED_PREFIX):].isdigit()}
    if "id_str" not in names or not found:
        raise ValueError(f"{path}: needs id_str and {PUBLISHED_PREFIX}0.. columns")
    if sorted(found) != list(range(len(found))):
        gap = min(set(range(max(found) + 1)) - set(found))
        raise ValueError(f"{path}: feature column {PUBLISHED_PREFIX}{gap} is missing ({len(found)} {PUBLISHED_PREFIX}* columns)")
    columns = ["id_str"] + [found[i] for i in range(len(found))]
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path, columns=columns)
    else:
        frame = pd.read_csv(path, usecols=columns, dtype={"id_str": str})
    ids = frame["id_str"].astype(str).to_numpy(dtype=object)
    dupes = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dupes):
        raise ValueError(f"{path}: {len(dupes)} duplicated id_str, e.g. {list(dupes[:5])}")
    features = frame[columns[1:]].to_numpy(dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if bad.size:
        raise ValueError(f"{path}: non-finite features for id_str {ids[bad[0]]!r} (and {bad.size - 1} more)")
    return ids, features


def load_features(path):
    """``(id_str, features, pca)`` of a PCA parquet from ``zoobot-tf embed --pca``, an embedding
    HDF5 (its full representations), or a published ``feat_pca_*`` table (GZ DESI; pca None)."""
    from zoobot_tf.predictions.hdf5 import HDF5_SUFFIXES, load_representations
    from zoobot_tf.predictions.pca import read_pca_table

    if os.fspath(path).lower().endswith(HDF5_SUFFIXES):
        ids, features = load_representations(path)
        return ids, np.asarray(features, dtype=np.float32), None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such feature file")
    names = _column_names(path)
    if any(c.startswith(PUBLISHED_PREFIX) for c in names) and not any(c.startswith("pca_") for c in names):
        ids, features = read_published_features(path)
        return ids, features, None
    return read_pca_table(path)


def catalog_locations(catalog, ids, source: str) -> pd.Series:
    """``file_loc`` of every id (a Series indexed by ``id_str``); ValueError naming the ids that
    the catalog lacks (features and catalog that disagree)."""
    from zoobot_tf.catalogs import read_table

    name = "<DataFrame>" if isinstance(catalog, pd.DataFrame) else os.fspath(catalog)
    table = read_table(catalog, str_columns=("id_str",))
    missing = [c for c in ("id_str", "file_loc") if c not in table.columns]
    if missing:
        raise ValueError(f"catalog {name}: missing column(s) {missing}")
    table = table.drop_duplicates("id_str").set_index("id_str")["file_loc"].astype(str)
    absent = pd.Index(ids).difference(table.index)
    if len(absent):
        raise ValueError(f"{source} and catalog {name} disagree: {len(absent)} of {len(ids)} id_str are not in "
                         f"the catalog, e.g. {list(absent[:3])}")
    return table.loc[list(ids)]


def gallery_images(file_locs, size: int = THUMBNAIL) -> list[np.ndarray]:
    """Thumbnails for a gallery, read with :func:`zoobot_tf.images.load_image` (3 channels shown)."""
    from zoobot_tf.images import load_image

    return [load_image(loc, size=(size, size), dtype="float32") for loc in file_locs]


def write_table(table: pd.DataFrame, out) -> str:
    """CSV or parquet (by suffix), written atomically (:func:`zoobot_tf.atomic.atomic_path`)."""
    from zoobot_tf.atomic import atomic_path

    out = Path(out)
    with atomic_path(out) as tmp:
        if out.suffix.lower() in (".parquet", ".pq"):
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    return str(out)


def gallery_path(out) -> Path:
    """``top.csv`` -> ``top.png``: a table's gallery sits beside it."""
    return Path(out).with_suffix(".png")
