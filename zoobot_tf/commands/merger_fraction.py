"""``zoobot-tf merger-fraction``: the fraction of a catalog that is merging, above a merger
probability, with a bootstrap uncertainty.

Input: predictions of a trained model (the HDF5 of ``zoobot-tf predict``), its summary table
(``zoobot-tf summarise``: ``<label>_fraction`` columns), or a Kaggle-model table with the 37
``Class*`` columns (``evaluation/predictions.csv`` of ``zoobot-tf train-kaggle``). The merger answer
is ``merging_merger`` for GZ DECaLS (optionally with ``merging_major-disturbance``), ``Class8.6``
for the Kaggle outputs, ``odd-feature-gz2_merger`` x P(odd) for GZ2; ``--answers`` chooses others
(:func:`zoobot_tf.evaluation.merger_fraction.merger_fraction`).
"""

from __future__ import annotations

import argparse
import json

from zoobot_tf.atomic import atomic_write_text

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf merger-fraction``."""
    parser.add_argument("--predictions", required=True, help="predictions HDF5, summary CSV/parquet or Kaggle table")
    parser.add_argument("--schema", default=None, help="decision tree (default: the file's / inferred)")
    parser.add_argument("--threshold", type=float, default=0.5, help="merging when P(merger) > threshold (default 0.5)")
    parser.add_argument("--answers", default=None, help="comma-separated merger answer column(s)")
    parser.add_argument("--include-major-disturbance", action="store_true", help="GZ DECaLS: count major disturbance")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--confidence", type=float, default=0.68, help="interval probability (default 0.68)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the merger fraction and its interval (and write it as JSON with ``--out``)."""
    from zoobot_tf.evaluation.merger_fraction import merger_fraction

    answers = None if args.answers is None else [a.strip() for a in args.answers.split(",") if a.strip()]
    result = merger_fraction(
        args.predictions, args.schema, threshold=args.threshold, answers=answers,
        include_major_disturbance=args.include_major_disturbance, n_bootstrap=args.n_bootstrap,
        confidence=args.confidence, seed=args.seed,
    )
    print(result.summary())
    if args.out:
        atomic_write_text(args.out, json.dumps(result.to_dict(), indent=2) + "\n")
    return 0
