"""``zoobot-tf similar``: the command line of :mod:`zoobot_tf.discovery.similar`."""

from __future__ import annotations

import argparse

from zoobot_tf.discovery.common import catalog_locations
from zoobot_tf.discovery.common import gallery_path
from zoobot_tf.discovery.common import write_table
from zoobot_tf.discovery.similar import find_similar
from zoobot_tf.discovery.similar import similar_gallery

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--features", required=True, help="PCA parquet from zoobot-tf embed --pca, or a published "
                        "representation table (id_str, feat_pca_0 ..., as GZ DESI's)")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--id", dest="query_id", help="id_str of the query galaxy")
    query.add_argument("--image", help="a new image file as the query")
    parser.add_argument("--k", type=int, default=8, help="neighbours to return (default 8)")
    parser.add_argument("--catalog", default=None, help="catalog (id_str, file_loc) for the gallery PNG")
    parser.add_argument("--model", default=None, help="model for --image (default: the one the features record)")
    parser.add_argument("--out", required=True, help="neighbours CSV; the gallery goes beside it as .png")
    return parser


def run(args: argparse.Namespace) -> int:
    found = find_similar(args.features, query_id=args.query_id, image=args.image, k=args.k, model=args.model)
    print(found.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {write_table(found, args.out)}")
    if args.catalog:
        from zoobot_tf.evaluation.gallery import save_figure

        if args.query_id is not None:
            query_file = catalog_locations(args.catalog, [args.query_id], args.features).iloc[0]
        else:
            query_file = args.image
        figure = similar_gallery(found, args.catalog, args.query_id or str(args.image), query_file, args.features)
        print(f"wrote {save_figure(figure, gallery_path(args.out))}")
    return 0
