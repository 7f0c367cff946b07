"""Principal components of an embedding file, fitted on a sample and applied block by block.

Why a sample: the components of a few ten thousand galaxies are those of millions to well
within the noise, and the fit then costs the same whatever the catalog size; applying them is a
matrix product per block, written to parquet as it goes, so memory stays flat in N. The fitted
projection travels inside the parquet file (key ``zoobot_tf.pca`` of its metadata), so a new
image can be projected into the same space later (``zoobot-tf similar --image``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zoobot_tf.atomic import atomic_path
from zoobot_tf.predictions.hdf5 import iter_representation_blocks, read_attrs

__all__ = ["PCA", "apply_pca", "fit_pca", "pca_columns", "read_pca_table"]

METADATA_KEY = b"zoobot_tf.pca"
#: galaxies the components are fitted on by default
DEFAULT_SAMPLE = 20000


def pca_columns(n_components: int) -> list[str]:
    return [f"pca_{i}" for i in range(int(n_components))]


@dataclass
class PCA:
    """A fitted projection: ``(x - mean) @ components.T``."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (K, D), rows orthonormal, by decreasing variance
    explained_variance_ratio: np.ndarray  # (K,)
    n_fitted: int
    #: how the features were made (model file, image options, tta): to embed a new image alike
    embedding_attrs: dict | None = None

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features of shape {x.shape} do not match the PCA's {self.mean.shape[0]} inputs")
        return ((x - self.mean) @ self.components.T).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({
            "mean": self.mean.tolist(), "components": self.components.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(), "n_fitted": self.n_fitted,
            "embedding_attrs": self.embedding_attrs or {},
        })

    @classmethod
    def from_json(cls, text) -> "PCA":
        d = json.loads(text)
        return cls(np.asarray(d["mean"]), np.asarray(d["components"]), np.asarray(d["explained_variance_ratio"]),
                   int(d["n_fitted"]), d.get("embedding_attrs") or None)


def fit_pca(embeddings, n_components: int, sample: int = DEFAULT_SAMPLE, seed: int = 0, rows: int = 8192) -> PCA:
    """Fit ``n_components`` principal components on up to ``sample`` random galaxies of an
    embedding file (one pass over the file, memory ``sample x D``)."""
    n = int(read_attrs(embeddings)["n_rows"])
    k = int(n_components)
    if n < 2:
        raise ValueError(f"{embeddings}: {n} galaxies; PCA needs at least 2")
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=min(int(sample), n), replace=False))
    parts, start = [], 0
    for _, block in iter_representation_blocks(embeddings, rows):
        picked = chosen[(chosen >= start) & (chosen < start + len(block))] - start
        parts.append(np.asarray(block[picked], dtype=np.float64))
        start += len(block)
    x = np.concatenate(parts)
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"n_components must be in [1, {min(x.shape)}] for {x.shape[0]} sampled galaxies "
                         f"x {x.shape[1]} features, got {k}")
    if not np.isfinite(x).all():
        raise ValueError(f"{embeddings}: non-finite representations; re-run embed")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    variance = s**2
    attrs = read_attrs(embeddings)
    keep = ("model_file", "image_recipe", "image_size", "image_channels", "tta")
    return PCA(mean, vt[:k], variance[:k] / max(variance.sum(), 1e-300), len(x),
               {key: attrs[key] for key in keep if key in attrs})


def apply_pca(embeddings, out, pca: PCA, rows: int = 65536) -> Path:
    """Project every galaxy of an embedding file into ``out`` (parquet: ``id_str``,
    ``pca_0..K-1`` float32), block by block; written under a temporary name and renamed when complete."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = pca_columns(pca.n_components)
    schema = pa.schema([("id_str", pa.string())] + [(c, pa.float32()) for c in columns])
    schema = schema.with_metadata({METADATA_KEY: pca.to_json().encode(),
                                   b"zoobot_tf.source": os.fspath(embeddings).encode()})
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for ids, block in iter_representation_blocks(embeddings, rows):
            z = pca.transform(block)
            arrays = [pa.array(ids.astype(str), pa.string())] + [pa.array(z[:, i]) for i in range(z.shape[1])]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return out


def read_pca_table(path) -> tuple[np.ndarray, np.ndarray, PCA | None]:
    """``(id_str (N,), features float32 (N, K), PCA or None)`` from a parquet file of :func:`apply_pca`
    (or any parquet/CSV with ``id_str`` and ``pca_*`` columns)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such PCA feature file")
    pca = None
    if path.suffix.lower() in (".parquet", ".pq"):
        table = pq.read_table(path)
        meta = table.schema.metadata or {}
        if METADATA_KEY in meta:
            pca = PCA.from_json(meta[METADATA_KEY])
        frame = table.to_pandas()
    else:
        frame = pd.read_csv(path, dtype={"id_str": str})
    columns = [c for c in frame.columns if c.startswith("pca_")]
    if "id_str" not in frame.columns or not columns:
        raise ValueError(f"{path}: needs id_str and pca_0.. columns (from zoobot-tf embed --pca)")
    if columns != pca_columns(len(columns)):
        raise ValueError(f"{path}: PCA columns are not pca_0..pca_{len(columns) - 1} in order")
    ids = frame["id_str"].astype(str).to_numpy(dtype=object)
    dupes = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dupes):
        raise ValueError(f"{path}: {len(dupes)} duplicated id_str, e.g. {list(dupes[:5])}")
    features = frame[columns].to_numpy(dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if bad.size:
        raise ValueError(f"{path}: non-finite features for id_str {ids[bad[0]]!r} (and {bad.size - 1} more)")
    return ids, features, pca
