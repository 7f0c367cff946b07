"""Nearest neighbours by cosine distance over galaxy features, with faiss.

Why faiss: exact search is a matrix product per query, fine for 10^5 galaxies but not for a
survey; faiss's HNSW graph answers a query in ~log N distance evaluations with recall near 1
and holds 10^7-10^8 vectors of a few tens of PCA components in one machine's memory (about
``4 * dim + 8 * M`` bytes per vector: 320 B for 16 components and M = 32, i.e. 32 GB for 10^8).
Vectors are L2-normalised so that inner product = cosine similarity; distance = 1 - similarity.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXACT_BELOW", "FeatureIndex"]

#: below this many vectors the index is exact (flat); above, an HNSW graph
EXACT_BELOW = 50_000


def _unit(x) -> np.ndarray:
    import faiss

    x = np.array(x, dtype=np.float32, order="C", copy=True)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-d (n, dim), got shape {x.shape}")
    faiss.normalize_L2(x)
    return x


class FeatureIndex:
    """A cosine nearest-neighbour index over ``features`` ``(N, dim)``.

    Parameters
    ----------
    features : array (N, dim)
    exact : bool, optional
        Flat (exact) index; default: when ``N < EXACT_BELOW``.
    m, ef_construction, ef_search : int
        HNSW graph degree and search breadths (larger: better recall, slower).
    threads : int, optional
        faiss threads (default: faiss's, i.e. all cores).
    """

    def __init__(self, features, exact: bool | None = None, m: int = 32, ef_construction: int = 80,
                 ef_search: int = 96, threads: int | None = None):
        import faiss

        if threads is not None:
            faiss.omp_set_num_threads(int(threads))
        x = _unit(features)
        n, dim = x.shape
        if n == 0:
            raise ValueError("no features to index")
        self.exact = n < EXACT_BELOW if exact is None else bool(exact)
        if self.exact:
            self.index = faiss.IndexFlatIP(dim)
        else:
            self.index = faiss.IndexHNSWFlat(dim, int(m), faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = int(ef_construction)
            self.index.hnsw.efSearch = int(ef_search)
        self.index.add(x)
        self.dim = dim

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(cosine distances (Q, k), row indices (Q, k))`` of the ``k`` nearest rows, nearest first."""
        q = _unit(queries)
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have {q.shape[1]} features but the index has {self.dim}")
        k = min(int(k), len(self))
        if not self.exact:
            self.index.hnsw.efSearch = max(self.index.hnsw.efSearch, 2 * k)
        similarity, rows = self.index.search(q, k)
        return (1.0 - similarity).clip(0.0, 2.0), rows
