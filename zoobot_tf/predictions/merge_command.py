"""Merging the HDF5 files of prediction workers: ``add_arguments`` / ``run`` for
``scripts/predict_catalog.py --merge``."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``scripts/predict_catalog.py --merge`` (see :func:`zoobot_tf.predictions.merge_predictions`)."""
    parser.add_argument("inputs", nargs="+", help="complete worker HDF5 files")
    parser.add_argument("--out", required=True, help="merged HDF5 file (must not exist)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Merge complete worker files into one; print what it holds."""
    from zoobot_tf.predictions.hdf5 import merge_predictions, read_attrs

    path = merge_predictions(args.inputs, args.out)
    print(f"merged {len(args.inputs)} files into {path}: {read_attrs(path)['n_rows']} galaxies")
    return 0
