"""Command line ``zoobot-tf summarise``: the ``add_arguments`` / ``run`` pair :mod:`zoobot_tf.cli` mounts."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf summarise`` (see :func:`zoobot_tf.predictions.summarise`)."""
    parser.add_argument("--predictions", required=True, help="HDF5 file from zoobot-tf predict")
    parser.add_argument("--schema", default=None, help="decision tree (default: the one stored in the file)")
    parser.add_argument("--out", required=True, help="output table path; writes OUT.parquet (streamed, row groups)")
    parser.add_argument("--csv", action="store_true", help="also write OUT.csv (large for a survey)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``zoobot-tf summarise``: streams block by block, memory flat in the number of galaxies."""
    import pyarrow.parquet as pq

    from zoobot_tf.predictions.summary import write_summary

    path = write_summary(args.predictions, args.out, schema=args.schema, csv=args.csv)
    also = f" and {path.with_suffix('.csv')}" if args.csv else ""
    print(f"summarised {pq.ParquetFile(path).metadata.num_rows} galaxies into {path}{also}")
    return 0
