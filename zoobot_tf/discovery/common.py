"""What the discovery verbs share: features + catalog matched by id, images for galleries,
tables written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["catalog_locations", "gallery_images", "load_features", "write_table"]

#: pixels of a gallery thumbnail
THUMBNAIL = 128


def load_features(path):
    """``(id_str, features, pca)`` of a PCA parquet from ``zoobot-tf embed --pca`` (or an
    embedding HDF5, whose full representations are used)."""
    from zoobot_tf.predictions.hdf5 import HDF5_SUFFIXES, load_representations
    from zoobot_tf.predictions.pca import read_pca_table

    if os.fspath(path).lower().endswith(HDF5_SUFFIXES):
        ids, features = load_representations(path)
        return ids, np.asarray(features, dtype=np.float32), None
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
    """CSV or parquet (by suffix), written under a temporary name and renamed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".writing")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return str(out)


def gallery_path(out) -> Path:
    """``top.csv`` -> ``top.png``: a table's gallery sits beside it."""
    return Path(out).with_suffix(".png")
