"""``zoobot-tf import-encoder``: a pretrained encoder (or a zoobot fine-tuned model) into Keras.

``import-encoder`` writes the encoder of a timm / zoobot checkpoint, or, for a zoobot fine-tuned
checkpoint (a Lightning ``.ckpt`` or ``.safetensors`` with ``encoder.`` / ``head.`` keys), the
whole model (encoder + head, with its task saved inside) unless ``--encoder-only``.

The work is :mod:`zoobot_tf.models.pretrained`'s; this module only parses, and imports
TensorFlow only when a verb runs (parsers stay fast).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf import-encoder`` (returns ``parser``)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--checkpoint",
        help="model.safetensors, pytorch_model.bin, a zoobot Lightning .ckpt, or a folder holding one (no torch needed)",
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
        "--channels", type=int, default=None,
        help="input channels (default: the checkpoint's); another number adapts the stem: colour -> 1 sums its "
        "weights, 1 -> N repeats them / N (timm's adapt_input_conv)",
    )
    parser.add_argument(
        "--schema", default=None,
        help="zoobot Dirichlet-tree checkpoint: its decision tree (default: from the checkpoint's hyper-parameters)",
    )
    parser.add_argument(
        "--encoder-only", action="store_true",
        help="zoobot fine-tuned checkpoint: write only its encoder (default: encoder + head)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Import, save atomically, print what was written; return 0."""
    from zoobot_tf.models.pretrained import download_encoder, import_encoder, read_checkpoint, save_encoder

    source = download_encoder(args.from_hub) if args.from_hub else args.checkpoint
    checkpoint = read_checkpoint(source)
    if checkpoint.is_zoobot_model and not args.encoder_only:
        return _run_zoobot_model(checkpoint, args)
    if args.schema is not None:
        raise ValueError("--schema applies to a zoobot checkpoint with a Dirichlet head, which this is not")
    encoder = import_encoder(checkpoint, architecture=args.architecture, image_size=args.image_size,
                             channels=args.channels)
    out = save_encoder(encoder, args.out)
    shape = tuple(encoder.input.shape[1:])
    print(f"imported {len(encoder.weights)} weights; encoder {shape} -> {encoder.output.shape[-1]} features: {out}")
    return 0


def _run_zoobot_model(checkpoint, args) -> int:
    """A zoobot encoder + head checkpoint -> a whole model, its task (head, tree, outputs) saved inside."""
    from zoobot_tf.models.pretrained import import_zoobot_model
    from zoobot_tf.saving import attach_metadata, save_model

    if Path(args.out).suffix != ".keras":
        raise ValueError(f"{args.out}: the model file must end in .keras")
    model, head, tree = import_zoobot_model(
        checkpoint, architecture=args.architecture, schema=args.schema, image_size=args.image_size,
        channels=args.channels,
    )
    n_outputs = int(model.output.shape[-1])
    label_cols = tree.label_cols if tree is not None else [f"output_{i}" for i in range(n_outputs)]
    attach_metadata(model, task={"head": head.kind, "schema": None if tree is None else tree.name,
                                 "label_cols": label_cols},
                    source_checkpoint=str(checkpoint.path))
    out = save_model(model, args.out)
    what = f"{head.kind} head, {n_outputs} output(s)" + (f", schema {tree.name}" if tree is not None else "")
    print(f"imported zoobot model: {model.input.shape[1:]} images -> {what}: {out}")
    return 0
