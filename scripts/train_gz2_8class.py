"""GZ2 eight-class classification with a Linformer ViT, with the Linformer study's recipe as defaults.

Defaults (the Linformer GZ2 study, 80.55% accuracy): Linformer ViT (patch 28, depth 12, width 128,
k 64, 8 heads) on 224 px colour images; Adam, learning rate 3e-4 multiplied by 0.9 every 5 epochs.
Classes (label set ``gz2_8class``): round, in-between and cigar-shaped smooth galaxies, edge-on
disks, barred and unbarred spirals, irregulars and mergers - each the most probable path down the
GZ2 tree for its galaxy (:func:`zoobot_tf.classification.gz2_eight_class_labels`); galaxies where
no path reaches ``--min-probability`` are left out, and counted.

Your data: a canonical GZ2 vote catalog (``zoobot-tf make-catalog --format gz2`` or
``scripts/make_gz2_shards.py``'s ``catalog.csv``: ``id_str``, ``file_loc``, GZ2 vote counts)::

    python scripts/train_gz2_8class.py --catalog gz2_shards/catalog.csv --out runs/linformer_gz2

or ``gz2_8class`` shards (``--shards``). Without either it renders synthetic GZ2 galaxies; a quick
CPU smoke run::

    python scripts/train_gz2_8class.py --out /tmp/gz2 --n-synthetic 60 --size 32 \\
        --architecture linformer_test --epochs 2 --batch-size 8 --min-probability 0
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMBALANCE = ("none", "class_weight", "uniform_sampling", "mixup", "balanced_mixup")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--catalog", help="canonical GZ2 catalog: id_str, file_loc, GZ2 vote counts")
    source.add_argument("--shards", help="gz2_8class shards to train on directly")
    parser.add_argument("--out", required=True, help="output folder: catalog, shards/ (when made here) and run/")
    parser.add_argument("--n-synthetic", type=int, default=3000, help="synthetic galaxies when no data is given")
    parser.add_argument("--size", type=int, default=224, help="stored (and model input) image side (default 224)")
    parser.add_argument("--min-probability", type=float, default=0.5,
                        help="least path probability for a galaxy to get a class (default 0.5)")
    parser.add_argument("--architecture", default="linformer_vit", help="linformer_vit (default), ...")
    parser.add_argument("--imbalance", default="none", choices=IMBALANCE, help="class-imbalance strategy")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--decay-rate", type=float, default=0.9, help="learning-rate factor per step (default 0.9)")
    parser.add_argument("--decay-epochs", type=int, default=5, help="epochs per step (default 5)")
    parser.add_argument("--patience", type=int, default=None, help="early stopping (default: run every epoch)")
    parser.add_argument("--processes", "--workers", dest="processes", type=int, default=4,
                        help="processes preparing images for the shards (default 4)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def make_shards(args, out: Path) -> Path:
    """GZ2 votes -> eight-class catalog (``out/catalog_8class.csv``) -> 3-channel shards."""
    from zoobot_tf.classification import gz2_eight_class_labels
    from zoobot_tf.shards import read_catalog, write_shards

    if args.catalog:
        catalog = read_catalog(args.catalog)
    else:
        from zoobot_tf.synthetic import make_synthetic_dataset

        catalog = make_synthetic_dataset(out / "synthetic", n=args.n_synthetic, schema="gz2", size=args.size,
                                         seed=args.seed, progress=not args.no_progress)
    labels = gz2_eight_class_labels(catalog, min_probability=args.min_probability)
    catalog = catalog.assign(label=labels["label"].to_numpy(), path_probability=labels["probability"].to_numpy())
    ambiguous = catalog["label"].isna()
    out.mkdir(parents=True, exist_ok=True)
    catalog.loc[ambiguous, ["id_str", "file_loc", "path_probability"]].to_csv(out / "ambiguous.csv", index=False)
    catalog = catalog.loc[~ambiguous, ["id_str", "file_loc", "label", "path_probability"]]
    catalog.to_csv(out / "catalog_8class.csv", index=False)
    print(f"{len(catalog)} galaxies classified, {int(ambiguous.sum())} ambiguous (below {args.min_probability}; "
          f"listed in {out / 'ambiguous.csv'}); classes: {catalog['label'].value_counts().to_dict()}")
    shard_dir = out / "shards"
    write_shards(catalog, shard_dir, schema="gz2_8class", size=args.size, channels=3, val_fraction=0.1,
                 test_fraction=0.2, seed=args.seed, workers=args.processes, progress=not args.no_progress)
    return shard_dir


def main(argv=None) -> int:
    args = parse_args(argv)
    from zoobot_tf.allocator import keep_freed_memory

    keep_freed_memory()  # this script owns its process: see zoobot_tf.allocator
    from zoobot_tf.classification import linformer_study_optimizer, train_classifier
    from zoobot_tf.shards import load_manifest

    out = Path(args.out)
    shard_dir = Path(args.shards) if args.shards else make_shards(args, out)
    steps_per_epoch = max(load_manifest(shard_dir).n_records("train") // args.batch_size, 1)
    optimizer = linformer_study_optimizer(steps_per_epoch, learning_rate=args.learning_rate,
                                          decay_rate=args.decay_rate, decay_epochs=args.decay_epochs)
    _, history, report = train_classifier(
        out / "run", shard_dir, "gz2_8class", architecture=args.architecture, imbalance=args.imbalance,
        optimizer=optimizer, epochs=args.epochs, batch_size=args.batch_size, patience=args.patience, seed=args.seed,
        progress=not args.no_progress,
    )
    print(f"trained {len(history['epoch'])} epochs: {out / 'run' / 'model.keras'}")
    if report is not None:
        print(f"test accuracy {report['accuracy']:.3f} (n={report['n']}); report in {out / 'run' / 'evaluation'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
