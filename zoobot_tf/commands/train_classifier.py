"""Command line ``zoobot-tf train-classifier``: ``add_arguments`` / ``run`` mount
:func:`zoobot_tf.classification.train_classifier`. TensorFlow is imported only in ``run``, so
building the parser stays fast (``zoobot-tf attention-maps`` is :mod:`.attention_command`).
"""

from __future__ import annotations

import argparse
import json

from zoobot_tf.classification.options import IMBALANCE_STRATEGIES, OPTIMIZERS
from zoobot_tf.options import (
    add_distribution_arguments,
    add_encoder_weights_argument,
    add_recipe_arguments,
    augmentation_from_args,
    encoder_weights_kwargs,
    mixed_precision_from_args,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the :func:`~zoobot_tf.classification.train_classifier` options to ``parser`` (returns it)."""
    parser.add_argument("--shards", required=True, help="class-label shard directory (train, val and test splits)")
    parser.add_argument("--out", required=True, help="run directory; rerun the same command to resume after a kill")
    parser.add_argument("--label-set", default=None, help="label set, e.g. hubble_sequence (default: the shards')")
    parser.add_argument("--architecture", default="dat_tiny",
                        help="backbone: dat_tiny (default), dat_small, dat_base, linformer_vit, efficientnet_b0, ...")
    add_encoder_weights_argument(parser)
    parser.add_argument("--imbalance", default="none", choices=IMBALANCE_STRATEGIES,
                        help="class-imbalance strategy (default none)")
    parser.add_argument("--mixup-alpha", type=float, default=0.2, help="MixUp lambda ~ Beta(alpha, alpha) (default 0.2)")
    parser.add_argument("--optimizer", default="adam", choices=OPTIMIZERS,
                        help="adam; dat: AdamW 4e-4, 10 warm-up epochs + cosine to 5e-6, wd 0.05, clip 1.0; "
                             "linformer: Adam 3e-4 x 0.9 every 5 epochs (default adam)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="(peak) learning rate (default: 1e-3 for adam, the recipe's otherwise)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs (default 100)")
    parser.add_argument("--batch-size", type=int, default=18, help="global batch size (default 18, as the DAT study)")
    parser.add_argument("--patience", type=int, default=None, help="early-stopping patience (default: no early stop)")
    parser.add_argument("--dropout-rate", type=float, default=0.2, help="head dropout rate (default 0.2)")
    add_distribution_arguments(parser)
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--no-augment", action="store_true", help="no random rotation/flip/crop")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the held-out report on the test split")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_recipe_arguments(parser, training=True, files=False)
    return parser


def run(args: argparse.Namespace) -> int:
    """Train (and evaluate) as described by parsed ``args``; print the held-out metrics; return 0."""
    from zoobot_tf.classification.train import train_classifier

    _, history, report = train_classifier(
        args.out,
        args.shards,
        args.label_set,
        architecture=args.architecture,
        imbalance=args.imbalance,
        mixup_alpha=args.mixup_alpha,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        evaluate=not args.no_evaluate,
        progress=not args.no_progress,
        seed=args.seed,
        image_size=args.image_size,
        augmentation=augmentation_from_args(args),
        eval_crop=args.eval_crop,
        dropout_rate=args.dropout_rate,
        mixed_precision=mixed_precision_from_args(args),
        strategy=args.strategy,
        augment=not args.no_augment,
        overwrite=args.overwrite,
        **encoder_weights_kwargs(args),
    )
    n_epochs = len(history.get("epoch", []))
    print(f"trained {n_epochs} epochs; model: {args.out}/model.keras")
    if report is not None:
        shown = {k: round(v, 4) for k, v in report.items() if k.endswith("accuracy") and isinstance(v, float)}
        print(f"held-out ({report['split']}, n={report['n']}): {json.dumps(shown)}; report: {args.out}/evaluation/")
    return 0
