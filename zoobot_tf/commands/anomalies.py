"""``zoobot-tf anomalies``: the command line of :mod:`zoobot_tf.discovery.anomalies`."""

from __future__ import annotations

import argparse

from zoobot_tf.discovery.anomalies import anomaly_scores
from zoobot_tf.discovery.common import catalog_locations
from zoobot_tf.discovery.common import gallery_images
from zoobot_tf.discovery.common import gallery_path
from zoobot_tf.discovery.common import load_features
from zoobot_tf.discovery.common import write_table

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--features", required=True, help="PCA parquet from zoobot-tf embed --pca, or a published "
                        "representation table (id_str, feat_pca_0 ..., as GZ DESI's)")
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
