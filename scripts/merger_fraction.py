"""Fraction of a catalog that is merging, above a chosen merger probability, with a bootstrap uncertainty.

Input: predictions of a trained model - the HDF5 of ``scripts/predict_catalog.py``, its summary
table (``zoobot-tf summarise``: ``<label>_fraction`` columns), or a Kaggle-model table with the 37
``Class*`` columns (``evaluation/predictions.csv`` of ``scripts/train_gz_kaggle.py``)::

    python scripts/merger_fraction.py --predictions preds/decals_summary.parquet --threshold 0.5
    python scripts/merger_fraction.py --predictions preds/decals.hdf5 --include-major-disturbance
    python scripts/merger_fraction.py --predictions runs/kaggle/run/evaluation/predictions.csv

The merger answer is ``merging_merger`` for GZ DECaLS (optionally with ``merging_major-disturbance``),
``Class8.6`` for the Kaggle outputs, ``odd-feature-gz2_merger`` x P(odd) for GZ2; ``--answers``
chooses others. See :func:`zoobot_tf.evaluation.merger_fraction.merger_fraction`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True, help="predictions HDF5, summary CSV/parquet or Kaggle table")
    parser.add_argument("--schema", default=None, help="decision tree (default: the file's / inferred)")
    parser.add_argument("--threshold", type=float, default=0.5, help="merging when P(merger) > threshold (default 0.5)")
    parser.add_argument("--answers", default=None, help="comma-separated merger answer column(s)")
    parser.add_argument("--include-major-disturbance", action="store_true", help="GZ DECaLS: count major disturbance")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--confidence", type=float, default=0.68, help="interval probability (default 0.68)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from zoobot_tf.evaluation.merger_fraction import merger_fraction

    answers = None if args.answers is None else [a.strip() for a in args.answers.split(",") if a.strip()]
    result = merger_fraction(
        args.predictions, args.schema, threshold=args.threshold, answers=answers,
        include_major_disturbance=args.include_major_disturbance, n_bootstrap=args.n_bootstrap,
        confidence=args.confidence, seed=args.seed,
    )
    print(result.summary())
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result.to_dict(), handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
