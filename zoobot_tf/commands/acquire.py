"""``zoobot-tf acquire``: the command line of :mod:`zoobot_tf.discovery.acquire`."""

from __future__ import annotations

import argparse
import pandas as pd

from zoobot_tf.discovery.acquire import TYPICAL_VOLUNTEERS
from zoobot_tf.discovery.acquire import acquisition_scores
from zoobot_tf.discovery.common import catalog_locations
from zoobot_tf.discovery.common import gallery_images
from zoobot_tf.discovery.common import gallery_path
from zoobot_tf.discovery.common import write_table

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--predictions", required=True, help="HDF5 from zoobot-tf predict (MC samples)")
    parser.add_argument("--catalog", required=True, help="catalog (id_str, file_loc) of the predicted galaxies")
    parser.add_argument("--out", required=True,
                        help="CSV of the top galaxies for a Zooniverse subject upload (id_str, file_loc, scores); "
                             "the gallery goes beside it as .png and every galaxy's scores as .parquet")
    parser.add_argument("--top", type=int, default=100, help="galaxies to select (default 100)")
    parser.add_argument("--schema", default=None, help="decision tree (default: the file's)")
    parser.add_argument("--n-volunteers", type=int, default=TYPICAL_VOLUNTEERS,
                        help=f"volunteers per question (default {TYPICAL_VOLUNTEERS})")
    parser.add_argument("--gallery", type=int, default=24, help="galaxies in the gallery PNG (default 24, 0: none)")
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    table = acquisition_scores(args.predictions, schema=args.schema, n_volunteers=args.n_volunteers)
    locations = catalog_locations(args.catalog, table["id_str"], args.predictions)
    top = table.head(args.top)
    upload = pd.DataFrame({"id_str": top["id_str"], "file_loc": locations.loc[top["id_str"]].to_numpy(),
                           "mutual_information": top["mutual_information"],
                           "predictive_entropy": top["predictive_entropy"], "rank": top["rank"]})
    print(upload.head(10).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {write_table(upload, args.out)} (top {len(upload)} by tree-weighted mutual information)")
    print(f"wrote {write_table(table, Path(args.out).with_suffix('.parquet'))} (every galaxy, per question)")
    if args.gallery:
        from zoobot_tf.evaluation.gallery import gallery_figure, save_figure

        shown = upload.head(args.gallery)
        titles = [f"#{r} {i}\nMI {m:.3f}" for r, i, m in
                  zip(shown["rank"], shown["id_str"], shown["mutual_information"])]
        figure = gallery_figure(gallery_images(shown["file_loc"]), titles,
                                title="galaxies to label next (highest mutual information)")
        print(f"wrote {save_figure(figure, gallery_path(args.out))}")
    return 0
