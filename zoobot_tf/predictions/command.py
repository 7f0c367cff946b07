"""Command lines: ``zoobot-tf predict`` and ``zoobot-tf summarise`` (and merging worker files).

Each verb is a pair ``add_*arguments(parser)`` / ``run*(args)`` that :mod:`zoobot_tf.cli` mounts;
TensorFlow is imported only when a verb runs.
"""

from __future__ import annotations

import argparse

__all__ = [
    "add_arguments",
    "add_merge_arguments",
    "add_summarise_arguments",
    "run",
    "run_merge",
    "run_summarise",
]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf predict`` (see :func:`zoobot_tf.predictions.predict`)."""
    parser.add_argument("--catalog", required=True, help="catalog CSV/parquet with id_str and file_loc")
    parser.add_argument("--model", required=True, help="trained model (.keras, loaded with safe_mode)")
    parser.add_argument("--out", required=True, help="output HDF5 file (resumed if it exists)")
    parser.add_argument("--n-samples", type=int, default=5, help="MC-dropout forward passes per galaxy (default 5)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call (default 64)")
    parser.add_argument("--schema", default=None,
                        help="decision tree of the outputs (e.g. decals_dr5), stored in the file")
    parser.add_argument("--label-cols", default=None, help="comma-separated output names (default: the schema's)")
    parser.add_argument("--crop-scale", type=float, default=None,
                        help="centre crop keeping this area fraction before resizing (0.75 = training's eval crop)")
    parser.add_argument("--scaling", default=None, help="image scaling for FITS (see zoobot_tf.images)")
    parser.add_argument("--num-workers", type=int, default=1, help="split the catalog over this many workers")
    parser.add_argument("--worker-index", type=int, default=0, help="which share this process predicts (0-based)")
    parser.add_argument("--no-fast-path", action="store_true",
                        help="run n full forward passes even when only the head is stochastic")
    parser.add_argument("--retry-errors", action="store_true", help="retry images recorded as unreadable")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``zoobot-tf predict``; prints where the file is and what it holds."""
    from zoobot_tf.predictions.hdf5 import read_attrs
    from zoobot_tf.predictions.predict_on_catalog import predict

    label_cols = [c.strip() for c in args.label_cols.split(",")] if args.label_cols else None
    path = predict(
        args.catalog,
        args.model,
        n_samples=args.n_samples,
        label_cols=label_cols,
        save_loc=args.out,
        batch_size=args.batch_size,
        scaling=args.scaling,
        crop_scale=args.crop_scale,
        fast_path=False if args.no_fast_path else "auto",
        num_workers=args.num_workers,
        worker_index=args.worker_index,
        schema=args.schema,
        progress=not args.no_progress,
        retry_errors=args.retry_errors,
    )
    attrs = read_attrs(path)
    print(f"wrote {path}: {attrs['n_rows']} galaxies x {attrs['n_samples']} samples, "
          f"{attrs.get('n_errors', 0)} unreadable image(s)")
    return 0


def add_summarise_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf summarise`` (see :func:`zoobot_tf.predictions.summarise`)."""
    parser.add_argument("--predictions", required=True, help="HDF5 file from zoobot-tf predict")
    parser.add_argument("--schema", default=None, help="decision tree (default: the one stored in the file)")
    parser.add_argument("--out", required=True, help="output table path; writes OUT.parquet and OUT.csv")
    return parser


def run_summarise(args: argparse.Namespace) -> int:
    """Run ``zoobot-tf summarise``."""
    from zoobot_tf.predictions.summary import summarise

    table = summarise(args.predictions, schema=args.schema, out=args.out)
    print(f"summarised {len(table)} galaxies into {args.out} (.parquet, .csv)")
    return 0


def add_merge_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of a ``merge-predictions`` verb (see :func:`zoobot_tf.predictions.merge_predictions`)."""
    parser.add_argument("inputs", nargs="+", help="complete worker HDF5 files")
    parser.add_argument("--out", required=True, help="merged HDF5 file (must not exist)")
    return parser


def run_merge(args: argparse.Namespace) -> int:
    from zoobot_tf.predictions.hdf5 import merge_predictions, read_attrs

    path = merge_predictions(args.inputs, args.out)
    print(f"merged {len(args.inputs)} files into {path}: {read_attrs(path)['n_rows']} galaxies")
    return 0
