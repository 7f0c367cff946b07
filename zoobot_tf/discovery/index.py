"""Nearest neighbours over galaxy features (cosine or Euclidean distance), with faiss.

Why faiss: exact search is a matrix product per query, fine for 10^5 galaxies but not for a
survey; faiss's HNSW graph answers a query in ~log N distance evaluations with recall near 1
and holds 10^7-10^8 vectors of a few tens of PCA components in one machine's memory (about
``4 * dim + 8 * M`` bytes per vector: 320 B for 16 components and M = 32, i.e. 32 GB for 10^8).
For cosine, vectors are L2-normalised so that inner product = cosine similarity, and distance =
1 - similarity (look-alikes: the direction of the features, not their size). Euclidean distance
keeps the size, which is what makes an outlier an outlier (anomaly scores).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXACT_BELOW", "METRICS", "FeatureIndex"]

METRICS = ("cosine", "euclidean")

#: below this many vectors the index is exact (flat); above, an HNSW graph
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
    exact : bool, optional
        Flat (exact) index; default: when ``N < EXACT_BELOW``.
    m, ef_construction, ef_search : int
        HNSW graph degree and search breadths (larger: better recall, slower).
    threads : int, optional
        faiss threads (default: faiss's, i.e. all cores).
    """

    def __init__(self, features, metric: str = "cosine", exact: bool | None = None, m: int = 32,
                 ef_construction: int = 80, ef_search: int = 96, threads: int | None = None):
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
        self.exact = n < EXACT_BELOW if exact is None else bool(exact)
        faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
        if self.exact:
            self.index = faiss.IndexFlat(dim, faiss_metric)
        else:
            self.index = faiss.IndexHNSWFlat(dim, int(m), faiss_metric)
            self.index.hnsw.efConstruction = int(ef_construction)
            self.index.hnsw.efSearch = int(ef_search)
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
        if not self.exact:
            self.index.hnsw.efSearch = max(self.index.hnsw.efSearch, 2 * k)
        scores, rows = self.index.search(q, k)
        if self.metric == "cosine":
            return (1.0 - scores).clip(0.0, 2.0), rows
        return np.sqrt(np.maximum(scores, 0.0)), rows  # faiss gives squared L2
