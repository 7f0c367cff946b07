"""Command line ``zoobot-tf finetune``: ``add_arguments`` / ``run`` mount :func:`zoobot_tf.finetune.finetune`.

TensorFlow is imported only in ``run``, so building the parser stays fast.
"""

from __future__ import annotations

import argparse
import json

from zoobot_tf.finetune.modes import BATCHNORM_MODES
from zoobot_tf.shards.split import FEW_LABEL_TEST_FRACTION, FEW_LABEL_VAL_FRACTION
from zoobot_tf.options import (
    add_distribution_arguments,
    add_encoder_weights_argument,
    add_recipe_arguments,
    add_split_arguments,
    augmentation_from_args,
    mixed_precision_from_args,
)

__all__ = ["add_arguments", "run"]


def _parse_weights(text):
    if text in (None, "balanced", "none"):
        return None if text == "none" else text
    try:
        weights = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--class-weight must be 'balanced', 'none' or a JSON object, got {text!r}") from err
    if not isinstance(weights, dict):
        raise ValueError(f"--class-weight JSON must be an object {{class: weight}}, got {text!r}")
    return weights


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the :func:`~zoobot_tf.finetune.finetune` options to ``parser`` (returns it)."""
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--model", help="trained model (.keras file or run directory) or an imported encoder (.keras)")
    add_encoder_weights_argument(start)
    parser.add_argument(
        "--architecture", default=None, help="with --encoder-weights CHECKPOINT: convnext_nano, ... (default: config.json)"
    )
    parser.add_argument("--out", required=True, help="output directory (model.keras, metrics.json, plots)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--catalog", help="CSV/parquet with id_str, file_loc and the label column(s)")
    source.add_argument("--shards", help="labelled shard directory (train/val/test splits)")
    parser.add_argument(
        "--head",
        default="classifier",
        help="'classifier' (softmax, column 'label'), a label-set name (classifier over its classes), "
        "'regressor' (MSE on --label-cols) or a schema name (Dirichlet head on its vote columns); "
        "default classifier",
    )
    parser.add_argument(
        "--label-set", default=None, help="classifier classes: a label-set name or comma-separated names"
    )
    parser.add_argument("--label-cols", default=None, help="comma-separated label columns (regressor; classifier: one)")
    parser.add_argument("--class-weight", default="none", help="'none' (default), 'balanced' or JSON {class: w}")
    parser.add_argument("--epochs", type=int, default=40, help="epochs of the warm-up + cosine schedule (default 40)")
    parser.add_argument("--patience", type=int, default=8, help="early-stopping patience in epochs, with --keep best "
                        "(default 8)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak AdamW rate of head and top block (default 1e-3)")
    parser.add_argument(
        "--n-blocks", type=int, default=None, help="encoder blocks trained, from the top (default all; 0: head only)"
    )
    parser.add_argument("--lr-decay", type=float, default=0.75, help="rate factor per block down (default 0.75)")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (default 0.05)")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="linear warm-up before cosine decay (default 1)")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="classifier label smoothing (default 0)")
    parser.add_argument(
        "--batchnorm", default=None, choices=BATCHNORM_MODES,
        help="BatchNorm on the new images: re-estimate then train (adapt) or keep fixed (fixed), train, or keep "
             "the source's (frozen); default: finetune's",
    )
    parser.add_argument("--no-augment", action="store_true", help="no random rotation/flip/crop")
    parser.add_argument(
        "--ema-epochs", type=float, default=None,
        help="time constant (epochs) of the weight average that is validated, checkpointed and kept; 0: none "
             "(default 2)",
    )
    parser.add_argument(
        "--keep", default=None, choices=["best", "last"],
        help="last: the whole schedule, the last (averaged) weights kept (default); best: early stopping on the "
             "validation loss, the best epoch kept",
    )
    parser.add_argument(
        "--head-init", default=None, choices=["probe", "random"],
        help="start the new head as the linear probe on the frozen features, or at random (default: finetune's)",
    )
    parser.add_argument("--no-probe-fallback", action="store_true",
                        help="keep the fine-tuned weights even when the linear probe has the lower validation loss")
    parser.add_argument("--no-probe-blend", action="store_true",
                        help="choose only between the probe and the fine-tune, not the blends of their weights")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the linear probe / majority-class baselines scored beside the fine-tuned model")
    parser.add_argument("--channels", type=int, default=None,
                        help="with --encoder-weights: adapt the checkpoint's stem to this many image channels "
                             "(1 for a greyscale survey from a colour encoder; default: the checkpoint's)")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    add_distribution_arguments(parser)
    add_split_arguments(parser, val_fraction=FEW_LABEL_VAL_FRACTION, test_fraction=FEW_LABEL_TEST_FRACTION,
                        scope="catalog: ")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--seed", type=int, default=42, help="split and training seed (default 42)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_recipe_arguments(parser, training=True)
    return parser


def _given(args, *names) -> dict:
    """The options the user gave; the others take :func:`~zoobot_tf.finetune.finetune`'s defaults (one place)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _split_list(text):
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace) -> int:
    """Fine-tune as described by parsed ``args``; print the held-out metrics; return 0."""
    from zoobot_tf.schemas import LABEL_SETS
    from zoobot_tf.finetune.finetuning import finetune

    label_set = args.label_set
    if label_set is not None and label_set not in LABEL_SETS:
        label_set = _split_list(label_set)
    model = args.model
    if model is None:
        from zoobot_tf.models.pretrained.encoders import encoder_from_weights

        model = encoder_from_weights(args.encoder_weights, args.architecture, args.image_size, channels=args.channels)
    elif args.channels is not None:
        raise ValueError("--channels adapts an imported checkpoint: use it with --encoder-weights")
    result = finetune(
        model,
        args.out,
        head=args.head,
        catalog=args.catalog,
        shard_dir=args.shards,
        label_set=label_set,
        label_cols=_split_list(args.label_cols),
        class_weight=_parse_weights(args.class_weight),
        image_size=args.image_size,
        epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.learning_rate,
        n_blocks=args.n_blocks,
        lr_decay=args.lr_decay,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing,
        augment=not args.no_augment,
        mixed_precision=mixed_precision_from_args(args),
        overwrite=args.overwrite,
        strategy=args.strategy,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.no_progress,
        stored_size=args.stored_size,
        scaling=args.scaling,
        eval_crop=args.eval_crop,
        augmentation=augmentation_from_args(args),
        baselines=not args.no_baselines,
        probe_fallback=not args.no_probe_fallback,
        probe_blend=not args.no_probe_blend,
        **_given(args, "ema_epochs", "keep", "head_init", "batchnorm"),
    )
    metrics = result.metrics
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if metrics.get("image_recipe"):
        print(f"image recipe: {metrics['image_recipe']}")
    if metrics.get("scaling_choice"):
        print(f"scaling: {metrics['scaling_choice']}")
    print(f"fine-tuned model: {result.paths['model']}; held-out metrics: {json.dumps(shown)}")
    if metrics.get("kept"):
        print(f"model kept: {metrics['kept']}")
    for line in baseline_lines(metrics):
        print(line)
    return 0


def baseline_lines(metrics: dict) -> list[str]:
    """The fine-tuned model and its baselines on the held-out split, one line each, for the printout."""
    baselines = metrics.get("baselines") or {}
    names = [k for k in baselines if isinstance(baselines[k], dict)]
    if not names:
        return []
    keys = [k for k in ("accuracy", "balanced_accuracy", "macro_f1", "rmse", "vote_fraction_rmse") if k in metrics]

    def line(name, values):
        parts = []
        for key in keys:
            if key in values:
                low_high = (values.get("intervals") or {}).get(key)
                interval = f" [{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else ""
                parts.append(f"{key} {values[key]:.3f}{interval}")
        return f"  {name:<16}" + ", ".join(parts)

    lines = [f"on the {baselines.get('split', 'held-out')} split ({metrics.get('n', '?')} galaxies; 95% bootstrap "
             "intervals):", line("fine-tuned", metrics)]
    lines += [line(name.replace("_", " "), baselines[name]) for name in names]
    if metrics.get("beats_probe") is False and "probe" not in str(metrics.get("kept", "")):
        lines.append("  WARNING: the fine-tuned model does not beat the probe on the frozen encoder's features")
    return lines
