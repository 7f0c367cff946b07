"""Command-line options shared by several verbs; imports nothing heavy (parsers stay fast).

``--encoder-weights`` is taken by ``train``, ``train-classifier`` and ``finetune``: a timm /
zoobot checkpoint or an encoder from ``zoobot-tf import-encoder`` to start the encoder from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_encoder_weights_argument", "encoder_weights_kwargs"]


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
