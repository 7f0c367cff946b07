"""Command line ``zoobot-tf summarise``: the ``add_arguments`` / ``run`` pair :mod:`zoobot_tf.cli` mounts."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf summarise`` (see :func:`zoobot_tf.predictions.summarise`)."""
    parser.add_argument("--predictions", required=True, help="HDF5 file from zoobot-tf predict")
    parser.add_argument("--schema", default=None, help="decision tree (default: the one stored in the file)")
    parser.add_argument("--out", required=True, help="output table path; writes OUT.parquet and OUT.csv")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``zoobot-tf summarise``."""
    from zoobot_tf.predictions.summary import summarise

    table = summarise(args.predictions, schema=args.schema, out=args.out)
    print(f"summarised {len(table)} galaxies into {args.out} (.parquet, .csv; the friendly table beside it, *_friendly)")
    return 0
