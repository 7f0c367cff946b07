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

import argparse

import numpy as np
import pandas as pd

from zoobot_tf.discovery.common import catalog_locations, gallery_images, gallery_path, load_features, write_table

__all__ = ["add_arguments", "anomaly_scores", "run"]


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


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--features", required=True, help="PCA parquet from zoobot-tf embed --pca")
    parser.add_argument("--k", type=int, default=10, help="neighbours in the score (default 10)")
    parser.add_argument("--out", required=True, help="score table (.csv or .parquet), every galaxy, most anomalous first")
    parser.add_argument("--catalog", default=None, help="catalog (id_str, file_loc) for the gallery PNG")
    parser.add_argument("--top", type=int, default=24, help="galaxies in the gallery (default 24)")
    return parser


def run(args: argparse.Namespace) -> int:
    ids, x, _ = load_features(args.features)
    if args.catalog:
        catalog_locations(args.catalog, ids, args.features)  # disagreeing inputs fail before the work
    table = anomaly_scores(ids, x, k=args.k)
    print(table.head(10).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {write_table(table, args.out)}")
    if args.catalog:
        from zoobot_tf.evaluation.gallery import gallery_figure, save_figure

        top = table.head(args.top)
        images = gallery_images(catalog_locations(args.catalog, top["id_str"], args.features))
        titles = [f"#{r} {i}\nscore {s:.3f}" for r, i, s in zip(top["rank"], top["id_str"], top["anomaly_score"])]
        figure = gallery_figure(images, titles, title=f"the {len(top)} most anomalous galaxies (k={args.k})")
        print(f"wrote {save_figure(figure, gallery_path(args.out))}")
    return 0
