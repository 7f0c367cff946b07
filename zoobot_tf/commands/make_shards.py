"""Command line for shard writing: ``zoobot-tf make-shards``.

:func:`add_arguments` and :func:`run` let the top-level CLI mount this as a sub-command.
"""

from __future__ import annotations

import argparse

from zoobot_tf.options import add_split_arguments, add_worker_arguments
from zoobot_tf.recipe import DEFAULT_STORED_SIZE
from zoobot_tf.shards.split import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the :func:`~zoobot_tf.shards.write_shards` options to ``parser`` (returns it)."""
    parser.add_argument("--catalog", required=True, help="canonical catalog CSV/parquet (id_str, file_loc, labels)")
    parser.add_argument("--out", required=True, help="output shard directory")
    parser.add_argument(
        "--schema",
        default=None,
        help="decision-tree schema (e.g. decals_dr5, gz2) or label set (e.g. hubble_sequence); "
        "required unless --unlabelled",
    )
    parser.add_argument("--size", type=int, default=DEFAULT_STORED_SIZE,
                        help=f"stored image side in pixels (default {DEFAULT_STORED_SIZE}: the training resolution of "
                             "a 224 px model, whose 0.75 evaluation crop is 224 px)")
    parser.add_argument("--channels", type=int, default=3, help="image channels/bands (default 3)")
    parser.add_argument("--dtype", default="uint8", choices=["uint8", "float16", "float32"], help="stored pixel type")
    parser.add_argument("--scaling", default=None,
                        help="image scaling (see zoobot_tf.images), default none; 'auto' looks at the files and "
                             "stretches a dark, linearly scaled survey with asinh, as finetune does")
    parser.add_argument("--nan-mask", action="store_true", help="add a NaN-mask channel (FITS)")
    parser.add_argument("--galaxy-mask", action="store_true", help="add a galaxy-mask channel")
    add_split_arguments(parser, val_fraction=DEFAULT_VAL_FRACTION, test_fraction=DEFAULT_TEST_FRACTION)
    parser.add_argument("--shard-size", type=int, default=256, help="records per shard file (default 256)")
    parser.add_argument("--seed", type=int, default=42, help="split seed (default 42)")
    parser.add_argument("--processes", type=int, default=1,
                        help="image-preparing processes on this machine (default 1; --num-workers splits over jobs)")
    parser.add_argument("--unlabelled", action="store_true", help="write ids + images only (a 'predict' split)")
    parser.add_argument("--overwrite", action="store_true", help="replace shards made from another catalog/options")
    add_worker_arguments(parser, "writes (jobs sharing --out: each writes its share, then one --finalize)")
    parser.add_argument("--finalize", action="store_true",
                        help="after every share of --num-workers finished: check them and write manifest.json")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write shards as described by parsed ``args``; print a one-line summary; return 0."""
    from zoobot_tf.shards.writer import write_shards
    from zoobot_tf.workers import resolve_worker, worker_from_env

    if not args.unlabelled and args.schema is None:
        raise SystemExit("--schema is required for labelled shards (or pass --unlabelled)")
    if args.num_workers not in (None, 1) and args.worker_index is None and not args.finalize and not worker_from_env():
        raise ValueError("--num-workers N needs --worker-index I (this job's share) or --finalize")
    worker_index, num_workers = resolve_worker(None if args.finalize else args.worker_index, args.num_workers)
    if args.finalize and num_workers < 2:
        raise ValueError("--finalize needs --num-workers N (N > 1), the number of shares written")
    manifest = write_shards(
        args.catalog,
        args.out,
        schema=args.schema,
        size=args.size,
        channels=args.channels,
        dtype=args.dtype,
        scaling=args.scaling,
        nan_mask=args.nan_mask,
        galaxy_mask=args.galaxy_mask,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        shard_size=args.shard_size,
        seed=args.seed,
        workers=args.processes,
        labelled=not args.unlabelled,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        num_workers=num_workers,
        worker_index=None if args.finalize else worker_index,
    )
    if manifest is None:
        print(f"wrote share {worker_index} of {num_workers} into {args.out}; when all shares are done, "
              "rerun with the same arguments and --finalize instead of --worker-index")
        return 0
    counts = ", ".join(f"{name} {info.n_records}" for name, info in manifest.splits.items())
    print(f"wrote {args.out}: {counts} records; image {manifest.image_shape} {manifest.dtype}")
    if manifest.image_options.get("scaling_choice"):
        print(f"scaling: {manifest.image_options['scaling']}, {manifest.image_options['scaling_choice']}")
    return 0
