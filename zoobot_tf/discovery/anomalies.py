"""`zoobot-tf anomalies`: how unlike every other galaxy each galaxy is.

Score = mean Euclidean distance to the ``k`` nearest other galaxies in PCA feature space (a
k-nearest-neighbour density score: oddities sit where the features are sparse). Euclidean, not
the cosine of ``similar``: an oddity often differs from everything by the *size* of its
features along a common direction, which cosine distance cannot see. It needs no
training, scales with the faiss index (one query per galaxy), and ranks rare kinds -- artifacts,
mergers, lenses, classes the encoder never saw -- at the top, as long as there are fewer of a
kind than ``k``.
"""

from __future__ import annotations


import numpy as np
import pandas as pd


__all__ = ["anomaly_scores"]


def anomaly_scores(ids, features, k: int = 10, batch: int = 65536) -> pd.DataFrame:
    """Per galaxy the mean Euclidean distance to its ``k`` nearest neighbours (itself excluded).

    Returns
    -------
    pandas.DataFrame
        ``rank`` (1 = most anomalous), ``id_str``, ``anomaly_score``, sorted by decreasing score.
    """
    from zoobot_tf.discovery.index import FeatureIndex

    x = np.asarray(features, dtype=np.float32)
    if len(x) < 2:
        raise ValueError(f"anomaly scores need at least 2 galaxies, got {len(x)}")
    k = max(1, min(int(k), len(x) - 1))
    index = FeatureIndex(x, metric="euclidean")
    scores = np.empty(len(x))
    for start in range(0, len(x), batch):
        distances, rows = index.search(x[start : start + batch], k + 1)
        own = rows == np.arange(start, start + len(rows))[:, None]
        # drop the galaxy itself (or, for exact duplicates found in its place, the farthest one)
        drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
        keep = np.ones_like(own)
        keep[np.arange(len(rows)), drop] = False
        scores[start : start + len(rows)] = (distances * keep).sum(axis=1) / k
    order = np.argsort(-scores, kind="stable")
    return pd.DataFrame({"rank": np.arange(1, len(x) + 1), "id_str": np.asarray(ids)[order],
                         "anomaly_score": scores[order]})
