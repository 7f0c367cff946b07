"""Command line ``zoobot-tf predict``: the ``add_arguments`` / ``run`` pair :mod:`zoobot_tf.cli` mounts.

TensorFlow is imported only when the verb runs.
"""

from __future__ import annotations

import argparse

from zoobot_tf.options import add_recipe_arguments, add_worker_arguments, recipe_overrides

__all__ = ["add_arguments", "run"]


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
    add_worker_arguments(parser, "predicts")
    parser.add_argument("--no-fast-path", action="store_true",
                        help="run n full forward passes even when only the head is stochastic")
    parser.add_argument("--retry-errors", action="store_true", help="retry images recorded as unreadable")
    parser.add_argument("--tta", type=int, default=1,
                        help="test-time views (1 = off .. 8 rotations/flips), each adding n-samples samples")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the MC-dropout samples (default 0: a rerun writes the same samples)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_recipe_arguments(parser, training=False)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``zoobot-tf predict``; prints where the file is and what it holds."""
    from zoobot_tf.predictions.hdf5 import read_attrs
    from zoobot_tf.predictions.predict_on_catalog import predict
    from zoobot_tf.workers import resolve_worker

    worker_index, num_workers = resolve_worker(args.worker_index, args.num_workers)
    label_cols = [c.strip() for c in args.label_cols.split(",")] if args.label_cols else None
    path = predict(
        args.catalog,
        args.model,
        n_samples=args.n_samples,
        label_cols=label_cols,
        save_loc=args.out,
        batch_size=args.batch_size,
        **recipe_overrides(args),
        fast_path=False if args.no_fast_path else "auto",
        num_workers=num_workers,
        worker_index=worker_index,
        schema=args.schema,
        progress=not args.no_progress,
        retry_errors=args.retry_errors,
        tta=args.tta,
        seed=args.seed,
    )
    attrs = read_attrs(path)
    print(f"wrote {path}: {attrs['n_rows']} galaxies x {attrs['n_samples']} samples, "
          f"{attrs.get('n_errors', 0)} unreadable image(s)")
    return 0
