"""Command line ``zoobot-tf train``: ``add_arguments`` / ``run`` mount :func:`zoobot_tf.training.train`.

TensorFlow is imported only in ``run``, so building the parser stays fast.
"""

from __future__ import annotations

import argparse

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
    """Add the :func:`~zoobot_tf.training.train` options to ``parser`` (returns it)."""
    parser.add_argument("--shards", required=True, help="shard directory (from make-shards) with train and val splits")
    parser.add_argument("--out", required=True, help="run directory; rerun the same command to resume after a kill")
    parser.add_argument(
        "--schema",
        default=None,
        help="decision-tree schema or label set (default: the one the shards were written with)",
    )
    parser.add_argument("--architecture", default="efficientnet_b0", help="backbone (default efficientnet_b0)")
    add_encoder_weights_argument(parser)
    parser.add_argument("--epochs", type=int, default=100, help="maximum epochs (default 100)")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch size (default 128)")
    parser.add_argument("--patience", type=int, default=8, help="early-stopping patience in epochs (default 8)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--dropout-rate", type=float, default=0.2, help="head (MC) dropout rate (default 0.2)")
    add_distribution_arguments(parser)
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--greyscale", action="store_true", help="average the image channels into one")
    parser.add_argument("--no-augment", action="store_true", help="no random rotation/flip/crop")
    parser.add_argument(
        "--batchnorm-momentum",
        type=float,
        default=None,
        help="BatchNorm momentum of the backbone (e.g. 0.9 for short runs; default: the backbone's)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_recipe_arguments(parser, training=True, files=False)
    return parser


def run(args: argparse.Namespace) -> int:
    """Train as described by parsed ``args``; print where the model is; return 0."""
    from zoobot_tf.training.trainer import train

    backbone_kwargs = encoder_weights_kwargs(args)
    if args.batchnorm_momentum is not None:
        backbone_kwargs["batchnorm_momentum"] = args.batchnorm_momentum
    _, history = train(
        args.out,
        args.schema,
        args.shards,
        architecture=args.architecture,
        batch_size=args.batch_size,
        epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.learning_rate,
        mixed_precision=mixed_precision_from_args(args),
        strategy=args.strategy,
        seed=args.seed,
        image_size=args.image_size,
        greyscale=args.greyscale,
        augmentation=augmentation_from_args(args),
        eval_crop=args.eval_crop,
        dropout_rate=args.dropout_rate,
        augment=not args.no_augment,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        **backbone_kwargs,
    )
    val = history.get("val_loss") or [float("nan")]
    n_epochs = len(history.get("epoch", []))
    print(f"trained {n_epochs} epochs (best val_loss {min(val):.4g}); model: {args.out}/model.keras")
    return 0
