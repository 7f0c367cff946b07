"""``zoobot-tf evaluate``: the command line of :mod:`zoobot_tf.evaluation.report`."""

from __future__ import annotations

import argparse

from zoobot_tf.evaluation.report import evaluate_files
from zoobot_tf.schemas import SCHEMA_NAMES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", required=True, help="predictions HDF5 (or summary CSV/parquet)")
    parser.add_argument("--catalog", required=True, help="catalog with id_str and vote columns (+ true fractions)")
    parser.add_argument("--schema", default=None, help=f"decision tree ({', '.join(SCHEMA_NAMES)}); default: from the file")
    parser.add_argument("--train-catalog", default=None,
                        help="training catalog for the 'predict the training mean' baseline "
                             "(default: the catalog's galaxies that were not predicted)")
    parser.add_argument("--out", required=True, help="folder for comparison.csv/.txt and PNG plots")
    parser.add_argument("--min-votes", type=int, default=1, help="votes a question needs to count in RMSE vs volunteers")
    parser.add_argument("--majority-min-votes", type=int, default=5,
                        help="votes a question needs for majority-answer accuracy / confusion matrices")
    parser.add_argument("--training-log", default=None, help="Keras CSVLogger file to plot as training curves")
    parser.add_argument("--label-column", default="label",
                        help="classifier predictions: the catalog column with each galaxy's class (default label)")


def run(args: argparse.Namespace) -> int:
    result = evaluate_files(
        args.predictions, args.catalog, schema=args.schema, train_catalog=args.train_catalog, out_dir=args.out,
        min_votes=args.min_votes, majority_min_votes=args.majority_min_votes, training_log=args.training_log,
        label_column=args.label_column,
    )
    print(result["text"])
    ignored = result["n_catalog"] - result["n_predicted"]
    if ignored:
        print(f"\n{ignored} catalog galaxies have no prediction and were not evaluated")
    print("\nwritten:")
    for path in result["files"].values():
        print(f"  {path}")
    return 0
