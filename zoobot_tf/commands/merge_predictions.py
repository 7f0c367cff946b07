"""``zoobot-tf merge-predictions``: the HDF5 files
of prediction workers into one, refusing a set that misses a worker's file."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf merge-predictions`` (see :func:`zoobot_tf.predictions.merge_predictions`)."""
    parser.add_argument("inputs", nargs="+", help="complete worker HDF5 files (e.g. preds_worker*of8.hdf5)")
    parser.add_argument("--out", required=True, help="merged HDF5 file (must not exist)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="merge even when some workers' files of a split run are not among the inputs")
    return parser


def run(args: argparse.Namespace) -> int:
    """Merge complete worker files into one; print what it holds."""
    from zoobot_tf.predictions.hdf5 import merge_predictions, read_attrs

    path = merge_predictions(args.inputs, args.out, require_all_workers=not args.allow_partial)
    print(f"merged {len(args.inputs)} files into {path}: {read_attrs(path)['n_rows']} galaxies")
    return 0
