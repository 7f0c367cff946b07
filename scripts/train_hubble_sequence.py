"""Hubble-sequence classification (E, S0, Sab, Sc, Sdm, Im) of 5-band FITS with a Deformable
Attention Transformer, with the DAT study's recipe as defaults.

Defaults (the DAT Pan-STARRS study): DAT-tiny; AdamW, base learning rate 4e-4, minimum 5e-6, weight
decay 0.05, 10 warm-up epochs then cosine decay, gradient clipping 1.0 (global norm), batch 18.
Inputs are 11 channels: g, r, i, z, y (NaNs filled, min-max scaled per band) + 5 invalid-pixel
masks + 1 galaxy mask, stored as float16.

Your own data: a canonical catalog (``id_str``, ``file_loc`` of the FITS cut-outs, ``label`` with
E/S0/Sab/Sc/Sdm/Im) -> shards -> training::

    python scripts/train_hubble_sequence.py --catalog hubble.csv --out runs/dat_hubble

or shards you wrote already (``--shards DIR``). Without either, it renders synthetic 5-band
galaxies (the embedded default data set) and trains on those; for a quick CPU smoke run::

    python scripts/train_hubble_sequence.py --out /tmp/hubble --n-synthetic 60 --size 32 \\
        --architecture dat_test --epochs 2 --batch-size 8

Rerun the same command to resume after a kill. The held-out report (top-1/2/3 accuracy,
per-class accuracy, confusion matrix, top-2 accuracy by galaxy-mask size) lands in
``<out>/run/evaluation/``.
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
    source.add_argument("--catalog", help="canonical catalog: id_str, file_loc (FITS), label (Hubble type)")
    source.add_argument("--shards", help="hubble_sequence shards (11-channel float16) to train on directly")
    parser.add_argument("--out", required=True, help="output folder: shards/ (when made here) and run/")
    parser.add_argument("--n-synthetic", type=int, default=2000, help="synthetic galaxies when no data is given")
    parser.add_argument("--size", type=int, default=224, help="stored (and model input) image side (default 224)")
    parser.add_argument("--architecture", default="dat_tiny", help="dat_tiny (default), dat_small, dat_base, ...")
    parser.add_argument("--imbalance", default="none", choices=IMBALANCE, help="class-imbalance strategy")
    parser.add_argument("--mixup-alpha", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=300, help="schedule length in epochs (default 300)")
    parser.add_argument("--batch-size", type=int, default=18, help="global batch size (default 18)")
    parser.add_argument("--learning-rate", type=float, default=4e-4, help="base (peak) learning rate")
    parser.add_argument("--min-learning-rate", type=float, default=5e-6, help="end of the cosine")
    parser.add_argument("--warmup-epochs", type=int, default=10)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--clip-norm", type=float, default=1.0, help="global gradient-norm clip (0: none)")
    parser.add_argument("--patience", type=int, default=None, help="early stopping (default: run the full schedule)")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--processes", "--workers", dest="processes", type=int, default=4,
                        help="processes preparing FITS images for the shards (default 4)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def make_shards(args, out: Path) -> Path:
    """The catalog (or synthetic galaxies) as 11-channel shards under ``out/shards``."""
    from zoobot_tf.shards import write_shards

    if args.catalog:
        catalog = args.catalog
    else:
        from zoobot_tf.synthetic import make_synthetic_dataset

        catalog = make_synthetic_dataset(out / "synthetic", n=args.n_synthetic, size=args.size, fits=True,
                                         seed=args.seed, progress=not args.no_progress)
    shard_dir = out / "shards"
    write_shards(catalog, shard_dir, schema="hubble_sequence", size=args.size, channels=5, dtype="float16",
                 scaling="minmax", nan_mask=True, galaxy_mask=True, val_fraction=0.1, test_fraction=0.2,
                 seed=args.seed, workers=args.processes, progress=not args.no_progress)
    return shard_dir


def main(argv=None) -> int:
    args = parse_args(argv)
    from zoobot_tf.allocator import keep_freed_memory

    keep_freed_memory()  # this script owns its process: see zoobot_tf.allocator
    from zoobot_tf.classification import dat_study_optimizer, train_classifier
    from zoobot_tf.shards import load_manifest

    out = Path(args.out)
    shard_dir = Path(args.shards) if args.shards else make_shards(args, out)
    steps_per_epoch = load_manifest(shard_dir).n_records("train") // args.batch_size
    optimizer = dat_study_optimizer(
        max(steps_per_epoch, 1), args.epochs, learning_rate=args.learning_rate,
        minimum_learning_rate=args.min_learning_rate, warmup_epochs=args.warmup_epochs,
        weight_decay=args.weight_decay, clip_norm=args.clip_norm or None,
    )
    _, history, report = train_classifier(
        out / "run", shard_dir, "hubble_sequence", architecture=args.architecture, imbalance=args.imbalance,
        mixup_alpha=args.mixup_alpha, optimizer=optimizer, epochs=args.epochs, batch_size=args.batch_size,
        patience=args.patience, mixed_precision=args.mixed_precision, seed=args.seed, progress=not args.no_progress,
    )
    print(f"trained {len(history['epoch'])} epochs: {out / 'run' / 'model.keras'}")
    if report is not None:
        print(f"test top-1 {report['top1_accuracy']:.3f}, top-2 {report['top2_accuracy']:.3f} (n={report['n']}); "
              f"report in {out / 'run' / 'evaluation'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
