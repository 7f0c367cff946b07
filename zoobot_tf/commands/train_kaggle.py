"""``zoobot-tf train-kaggle``: the Galaxy Zoo Kaggle challenge model (the Galaxy Zoo course lab).

37 sigmoid outputs re-weighted down the decision tree, trained on RMSE, scored beside the "predict
the training mean" baseline. ``--table training_solutions_rev1.csv --images images_training_rev1/``
builds the canonical catalog (format ``kaggle``), writes ``gz_kaggle37`` shards into ``--out/shards``
and trains into ``--out/run``; ``--shards DIR`` trains on shards written before; without either it
renders synthetic galaxies whose GZ2 votes become Kaggle targets. ``--preset kaggle_b0`` has the
full-size settings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf train-kaggle``."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--table", help="training_solutions_rev1.csv (GalaxyID, Class1.1 ... Class11.6)")
    source.add_argument("--shards", help="gz_kaggle37 shards to train on directly")
    parser.add_argument("--images", help="folder of <GalaxyID>.jpg (with --table)")
    parser.add_argument("--out", required=True, help="output folder: shards/ (when made here) and run/")
    parser.add_argument("--n-synthetic", type=int, default=2000, help="synthetic galaxies when no data is given")
    parser.add_argument("--size", type=int, default=128, help="stored (and model input) image side (default 128)")
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1, help="image-preparing processes for the shards (default 1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--strict", action="store_true", help="--table: fail on any rejected row")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def make_shards(args, out: Path) -> Path:
    """Kaggle table (or synthetic galaxies) -> ``gz_kaggle37`` shards in ``out/shards``."""
    from zoobot_tf.shards.split import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION

    shard_dir = out / "shards"
    if args.table:
        from zoobot_tf.shards.from_table import table_to_shards

        args.out, args.shard_size = shard_dir, 1024
        args.val_fraction, args.test_fraction = DEFAULT_VAL_FRACTION, DEFAULT_TEST_FRACTION
        table_to_shards("kaggle", args.table, args, schema="gz_kaggle37")
        return shard_dir
    from zoobot_tf.kaggle import make_synthetic_kaggle_catalog
    from zoobot_tf.shards import write_shards

    catalog = make_synthetic_kaggle_catalog(out / "synthetic", n=args.n_synthetic, size=args.size, seed=args.seed,
                                            progress=not args.no_progress)
    write_shards(catalog, shard_dir, schema="gz_kaggle37", size=args.size,
                 seed=args.seed, workers=args.processes, progress=not args.no_progress)
    return shard_dir


def run(args: argparse.Namespace) -> int:
    """Make the shards (unless given), train and evaluate; print the test RMSE beside the baseline."""
    if args.table and not args.images:
        raise ValueError("--table needs --images")
    from zoobot_tf.kaggle import train_kaggle

    out = Path(args.out)
    shard_dir = Path(args.shards) if args.shards else make_shards(args, out)
    _, history, report = train_kaggle(
        out / "run", shard_dir, architecture=args.architecture, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, patience=args.patience, seed=args.seed, progress=not args.no_progress,
    )
    print(f"trained {len(history['epoch'])} epochs: {out / 'run' / 'model.keras'}")
    if report is not None:
        print(f"test RMSE {report['rmse']:.4f} vs training-mean baseline {report['baseline_rmse']:.4f}")
    return 0
