"""Pretrained encoders on the command line: the ``zoobot-tf import-encoder`` verb
(``add_arguments`` / ``run``) and the ``--encoder-weights`` option that ``train``,
``train-classifier`` and ``finetune`` share.

The work is :mod:`zoobot_tf.models.pretrained`'s; this module only parses, and imports
TensorFlow only when a verb runs (parsers stay fast).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "add_arguments",
    "add_encoder_weights_argument",
    "encoder_from_weights",
    "encoder_weights_kwargs",
    "run",
]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf import-encoder`` (returns ``parser``)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--checkpoint",
        help="model.safetensors (or pytorch_model.bin with torch installed), or a folder holding one",
    )
    source.add_argument(
        "--from-hub",
        metavar="REPO_ID",
        help="download from Hugging Face first, e.g. mwalmsley/zoobot-encoder-convnext_nano (needs huggingface_hub)",
    )
    parser.add_argument(
        "--architecture", default=None, help="convnext_nano, resnet50, ... (default: the folder's config.json)"
    )
    parser.add_argument("--out", required=True, help="Keras encoder file to write (.keras)")
    parser.add_argument("--image-size", type=int, default=224, help="input side of the saved encoder (default 224)")
    parser.add_argument(
        "--channels", type=int, default=None, help="input channels (default: the checkpoint's; must match it)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Import, save atomically, print what was written; return 0."""
    from zoobot_tf.models.pretrained import download_encoder, import_encoder, save_encoder

    checkpoint = download_encoder(args.from_hub) if args.from_hub else args.checkpoint
    encoder = import_encoder(
        checkpoint, architecture=args.architecture, image_size=args.image_size, channels=args.channels
    )
    out = save_encoder(encoder, args.out)
    shape = tuple(encoder.input.shape[1:])
    print(f"imported {len(encoder.weights)} weights; encoder {shape} -> {encoder.output.shape[-1]} features: {out}")
    return 0


def add_encoder_weights_argument(parser, **kwargs):
    """``--encoder-weights PATH`` on ``parser`` (or on a mutually exclusive group)."""
    return parser.add_argument(
        "--encoder-weights",
        default=None,
        help="pretrained encoder: model.safetensors / Hugging Face snapshot folder (ConvNeXt, ResNet) "
        "or a .keras file from import-encoder",
        **kwargs,
    )


def encoder_weights_kwargs(args: argparse.Namespace) -> dict:
    """``{'encoder_weights': absolute path}`` when given (so the run's config records it), else ``{}``."""
    path = getattr(args, "encoder_weights", None)
    return {} if path is None else {"encoder_weights": str(Path(path).expanduser().resolve())}


def encoder_from_weights(path, architecture=None, image_size=None):
    """The encoder ``finetune --encoder-weights`` starts from: a ``.keras`` encoder as saved, or a
    checkpoint imported now (at ``image_size``, default 224)."""
    path = Path(path).expanduser()
    if path.suffix == ".keras":
        from zoobot_tf.saving import load_model

        if not path.is_file():
            raise FileNotFoundError(f"encoder weights {path} do not exist")
        return load_model(path, compile=False)
    from zoobot_tf.models.pretrained.encoders import DEFAULT_IMAGE_SIZE, import_encoder

    return import_encoder(path, architecture=architecture, image_size=image_size or DEFAULT_IMAGE_SIZE)
