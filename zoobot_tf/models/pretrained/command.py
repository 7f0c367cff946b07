"""``zoobot-tf import-encoder`` (``add_arguments`` / ``run``), and the encoder that
``finetune --encoder-weights`` starts from (:func:`encoder_from_weights`).

The ``--encoder-weights`` option itself is in :mod:`zoobot_tf.cli_options`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "encoder_from_weights", "run"]


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
    from zoobot_tf.models.pretrained.encoders import download_encoder, import_encoder, save_encoder

    checkpoint = download_encoder(args.from_hub) if args.from_hub else args.checkpoint
    encoder = import_encoder(
        checkpoint, architecture=args.architecture, image_size=args.image_size, channels=args.channels
    )
    out = save_encoder(encoder, args.out)
    shape = tuple(encoder.input.shape[1:])
    print(f"imported {len(encoder.weights)} weights; encoder {shape} -> {encoder.output.shape[-1]} features: {out}")
    return 0


def encoder_from_weights(path, architecture=None, image_size=None):
    """An encoder to fine-tune: a ``.keras`` encoder as saved, or a checkpoint imported now."""
    from zoobot_tf.models.pretrained.encoders import DEFAULT_IMAGE_SIZE, import_encoder

    path = Path(path).expanduser()
    if path.suffix == ".keras":
        from zoobot_tf.models.get_model import load_model

        if not path.is_file():
            raise FileNotFoundError(f"encoder weights {path} do not exist")
        return load_model(path, compile=False)
    return import_encoder(path, architecture=architecture, image_size=image_size or DEFAULT_IMAGE_SIZE)
