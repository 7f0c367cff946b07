"""Command-line option groups that several verbs share: one name, one default, one help per concept.

Why here, at the bottom of the package: every verb module builds its parser from these without
importing TensorFlow, and a concept (the image recipe) is spelled the same in ``train``,
``finetune``, ``predict`` and ``embed``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoobot_tf.recipe import ROTATIONS, SCALING_NAMES, Augmentation

__all__ = [
    "add_distribution_arguments",
    "add_encoder_weights_argument",
    "add_recipe_arguments",
    "add_split_arguments",
    "add_worker_arguments",
    "augmentation_from_args",
    "encoder_weights_kwargs",
    "mixed_precision_from_args",
    "parse_crop_range",
    "recipe_overrides",
]

STRATEGIES = ("mirrored", "multiworker", "default")


def add_worker_arguments(parser: argparse.ArgumentParser, what: str) -> argparse.ArgumentParser:
    """``--num-workers`` / ``--worker-index``: this job's share of the work (``what`` it does), from the
    flags or a SLURM job array (:func:`zoobot_tf.workers.resolve_worker`)."""
    parser.add_argument("--num-workers", type=int, default=None,
                        help="split the work over this many jobs (default: SLURM_ARRAY_TASK_COUNT, else 1)")
    parser.add_argument("--worker-index", type=int, default=None,
                        help=f"which share this job {what}, 0-based "
                             "(default: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN, else 0)")
    return parser


def add_distribution_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--strategy`` and ``--mixed-precision`` of every training verb (one default each)."""
    parser.add_argument("--strategy", default="mirrored", choices=STRATEGIES,
                        help="tf.distribute strategy: all local GPUs (default), a TF_CONFIG cluster, or none")
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                        help="float16 compute (default: on with a tensor-core GPU, off on CPU)")
    return parser


def add_split_arguments(parser: argparse.ArgumentParser, *, val_fraction: float, test_fraction: float,
                        scope: str = "") -> argparse.ArgumentParser:
    """``--val-fraction`` / ``--test-fraction`` with the caller's defaults (from
    :mod:`zoobot_tf.shards.split`); ``scope`` prefixes the help (e.g. ``'catalog: '``)."""
    parser.add_argument("--val-fraction", type=float, default=val_fraction,
                        help=f"{scope}validation fraction (default {val_fraction}; a catalog column 'split' = "
                             "train/val/test overrides both fractions)")
    parser.add_argument("--test-fraction", type=float, default=test_fraction,
                        help=f"{scope}test fraction (default {test_fraction})")
    return parser


def mixed_precision_from_args(args: argparse.Namespace):
    """``'auto'`` unless ``--mixed-precision`` / ``--no-mixed-precision`` was given."""
    return "auto" if args.mixed_precision is None else bool(args.mixed_precision)


def parse_crop_range(text: str) -> tuple[float, float]:
    """``'0.7,0.8'`` -> (0.7, 0.8); ``'none'`` -> (1.0, 1.0), i.e. no random crop."""
    if text.strip().lower() == "none":
        return (1.0, 1.0)
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH area fractions or 'none', got {text!r}") from None
    return (low, high)


def add_recipe_arguments(parser: argparse.ArgumentParser, *, training: bool, files: bool = True
                         ) -> argparse.ArgumentParser:
    """The image-recipe options (:mod:`zoobot_tf.recipe`).

    Training verbs (``training=True``) choose the recipe the model will carry; prediction verbs
    override the one a model carries (for models saved without one, or on purpose). ``files``:
    the verb reads image files (catalogs), so how they are stored is an option; shards fix it.
    """
    group = parser.add_argument_group("image recipe" if training else "image recipe (default: the model's own)")
    if training:
        group.add_argument("--image-size", type=int, default=None,
                           help="model input side in pixels (default: the stored size, or the source model's)")
    if files:
        group.add_argument("--stored-size", type=int, default=None,
                           help="side images are stored/loaded at before the crop "
                                + ("(catalogs; default: the side whose evaluation crop is --image-size)" if training
                                   else "(the size the model's training images were stored at)"))
    group.add_argument("--eval-crop", "--crop-scale", dest="eval_crop", type=float, default=None,
                       help="area fraction of the centred square kept at evaluation and prediction, 1 = whole image "
                            + ("(default: the middle of --crop-range)" if training else "(e.g. 0.75)"))
    if files:
        group.add_argument("--scaling", default=None, choices=SCALING_NAMES + (("auto",) if training else ()),
                           help="intensity scaling of FITS / high-bit images" + (
                               " (catalogs; default auto: asinh for dark, linearly stretched 8-bit surveys, else none)"
                               if training else ""))
    if training:
        default = Augmentation()
        group.add_argument("--crop-range", type=parse_crop_range, default=None, metavar="LOW,HIGH",
                           help="area fraction of the stored image a random training crop keeps, or 'none' "
                                f"(default {default.crop_scale[0]:g},{default.crop_scale[1]:g})")
        group.add_argument("--rotation", choices=ROTATIONS, default=None,
                           help=f"training rotations: any angle, multiples of 90 degrees, or none (default {default.rotation})")
        group.add_argument("--no-flip", action="store_true", help="no random flips in training")
        group.add_argument("--greyscale-views", type=float, default=None, metavar="P",
                           help="probability that a colour training view loses its colour, so the encoder also "
                                f"suits one-band surveys (default {default.greyscale:g})")
    return parser


def augmentation_from_args(args: argparse.Namespace) -> Augmentation:
    """The :class:`~zoobot_tf.recipe.Augmentation` that training options ask for."""
    default = Augmentation()
    return Augmentation(crop_scale=args.crop_range or default.crop_scale, crop_ratio=default.crop_ratio,
                        rotation=args.rotation or default.rotation, flip=not args.no_flip,
                        greyscale=default.greyscale if args.greyscale_views is None else args.greyscale_views)


def recipe_overrides(args: argparse.Namespace) -> dict:
    """``stored_size``, ``eval_crop`` and ``scaling`` as given (None where not given)."""
    return {"stored_size": args.stored_size, "eval_crop": args.eval_crop, "scaling": args.scaling}


def add_encoder_weights_argument(parser, **kwargs):
    """``--encoder-weights PATH`` on ``parser`` (or on a mutually exclusive group)."""
    return parser.add_argument(
        "--encoder-weights",
        default=None,
        help="pretrained encoder: model.safetensors / pytorch_model.bin / Hugging Face snapshot folder (ConvNeXt, "
        "ResNet, EfficientNet-B0, MaxViT), a zoobot .ckpt (its encoder), or a .keras file from import-encoder; "
        "a stem made for another channel count is adapted",
        **kwargs,
    )


def encoder_weights_kwargs(args: argparse.Namespace) -> dict:
    """``{'encoder_weights': absolute path}`` when given (so the run's config records it), else ``{}``."""
    path = getattr(args, "encoder_weights", None)
    return {} if path is None else {"encoder_weights": str(Path(path).expanduser().resolve())}
