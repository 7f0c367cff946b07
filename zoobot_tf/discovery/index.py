"""Nearest neighbours over galaxy features (cosine or Euclidean distance), with faiss.

Why faiss: exact search is a matrix product per query, fine for 10^5 galaxies but not for a
survey. Three kinds of index (``kind``):

* ``'flat'``: exact, ``4 * dim`` bytes per vector; the default below :data:`EXACT_BELOW`.
* ``'ivf'``: inverted file (k-means cells, ``nprobe`` of them searched per query), the default
  above: builds in seconds per million vectors, ``4 * dim + 8`` bytes per vector (72 B for 16
  PCA components: 10^8 galaxies in ~7 GB).
* ``'hnsw'``: a graph searched in ~log N steps, the best recall per query time but a slower
  build and ``4 * dim + 8 * M`` bytes per vector (320 B for 16 components, M = 32).
For cosine, vectors are L2-normalised so that inner product = cosine similarity, and distance =
1 - similarity (look-alikes: the direction of the features, not their size). Euclidean distance
keeps the size, which is what makes an outlier an outlier (anomaly scores).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXACT_BELOW", "METRICS", "FeatureIndex"]

METRICS = ("cosine", "euclidean")

#: below this many vectors the default index is exact (flat); above, IVF
EXACT_BELOW = 50_000


def _prepare(x, metric) -> np.ndarray:
    import faiss

    x = np.array(x, dtype=np.float32, order="C", copy=True)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-d (n, dim), got shape {x.shape}")
    if metric == "cosine":
        faiss.normalize_L2(x)
    return x


class FeatureIndex:
    """A nearest-neighbour index over ``features`` ``(N, dim)``.

    Parameters
    ----------
    features : array (N, dim)
    metric : {'cosine', 'euclidean'}
    kind : {'auto', 'flat', 'ivf', 'hnsw'}
        ``'auto'``: flat (exact) below :data:`EXACT_BELOW` vectors, else IVF.
    exact : bool, optional
        Shorthand: True = ``'flat'``, False = ``'hnsw'``.
    nprobe : int
        IVF cells searched per query (larger: better recall, slower).
    m, ef_construction, ef_search : int
        HNSW graph degree and search breadths (larger: better recall, slower).
    threads : int, optional
        faiss threads (default: faiss's, i.e. all cores).
    """

    def __init__(self, features, metric: str = "cosine", kind: str = "auto", exact: bool | None = None,
                 nprobe: int = 32, m: int = 32, ef_construction: int = 80, ef_search: int = 96,
                 threads: int | None = None):
        import faiss

        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.metric = metric
        if threads is not None:
            faiss.omp_set_num_threads(int(threads))
        x = _prepare(features, metric)
        n, dim = x.shape
        if n == 0:
            raise ValueError("no features to index")
        if exact is not None:
            kind = "flat" if exact else "hnsw"
        if kind == "auto":
            kind = "flat" if n < EXACT_BELOW else "ivf"
        if kind not in ("flat", "ivf", "hnsw"):
            raise ValueError(f"kind must be 'auto', 'flat', 'ivf' or 'hnsw', got {kind!r}")
        self.kind, self.exact = kind, kind == "flat"
        faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
        if kind == "flat":
            self.index = faiss.IndexFlat(dim, faiss_metric)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, int(m), faiss_metric)
            self.index.hnsw.efConstruction = int(ef_construction)
            self.index.hnsw.efSearch = int(ef_search)
        else:
            n_cells = int(np.clip(np.sqrt(n), 1, max(1, n // 40)))
            self._quantizer = faiss.IndexFlat(dim, faiss_metric)
            self.index = faiss.IndexIVFFlat(self._quantizer, dim, n_cells, faiss_metric)
            sample = x[np.random.default_rng(0).choice(n, size=min(n, 40 * n_cells), replace=False)]
            self.index.train(sample)
            self.index.nprobe = min(int(nprobe), n_cells)
        self.index.add(x)
        self.dim = dim

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances (Q, k), row indices (Q, k))`` of the ``k`` nearest rows, nearest first."""
        q = _prepare(queries, self.metric)
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have {q.shape[1]} features but the index has {self.dim}")
        k = min(int(k), len(self))
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.index.hnsw.efSearch, 2 * k)
        scores, rows = self.index.search(q, k)
        if self.metric == "cosine":
            return (1.0 - scores).clip(0.0, 2.0), rows
        return np.sqrt(np.maximum(scores, 0.0)), rows  # faiss gives squared L2
