"""The Galaxy Zoo Kaggle challenge model (the Galaxy Zoo course lab): 37 sigmoid outputs re-weighted
down the decision tree, trained on RMSE, scored beside the "predict the training mean" baseline.

The challenge's table and images (``training_solutions_rev1.csv``, ``images_training_rev1/``)::

    python scripts/train_gz_kaggle.py --table training_solutions_rev1.csv \\
        --images images_training_rev1/ --out runs/kaggle

builds the canonical catalog (``zoobot_tf.catalogs``, format ``kaggle``), writes ``gz_kaggle37``
shards and trains. ``--shards DIR`` trains on shards written before. Without either it renders
synthetic galaxies whose GZ2 votes become Kaggle targets; a quick CPU smoke run::

    python scripts/train_gz_kaggle.py --out /tmp/kaggle --n-synthetic 60 --size 32 \\
        --architecture small_cnn --epochs 2 --batch-size 8
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    parser.add_argument("--workers", type=int, default=4, help="image-preparing processes for the shards")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--strict", action="store_true", help="--table: fail on any rejected row")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.table and not args.images:
        parser.error("--table needs --images")
    return args


def make_shards(args, out: Path) -> Path:
    """Kaggle table (or synthetic galaxies) -> ``gz_kaggle37`` shards in ``out/shards``."""
    shard_dir = out / "shards"
    if args.table:
        from zoobot_tf.shards.from_table import table_to_shards

        args.out_dir, args.shard_size, args.val_fraction, args.test_fraction = shard_dir, 1024, 0.1, 0.2
        table_to_shards("kaggle", args.table, args, schema="gz_kaggle37")
        return shard_dir
    from zoobot_tf.kaggle import make_synthetic_kaggle_catalog
    from zoobot_tf.shards import write_shards

    catalog = make_synthetic_kaggle_catalog(out / "synthetic", n=args.n_synthetic, size=args.size, seed=args.seed,
                                            progress=not args.no_progress)
    write_shards(catalog, shard_dir, schema="gz_kaggle37", size=args.size, val_fraction=0.1, test_fraction=0.2,
                 seed=args.seed, workers=args.workers, progress=not args.no_progress)
    return shard_dir


def main(argv=None) -> int:
    args = parse_args(argv)
    from zoobot_tf.allocator import keep_freed_memory

    keep_freed_memory()  # this script owns its process: see zoobot_tf.allocator
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


if __name__ == "__main__":
    sys.exit(main())
