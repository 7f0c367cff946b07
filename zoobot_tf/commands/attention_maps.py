"""Command line ``zoobot-tf attention-maps``: the ``add_arguments`` / ``run`` pair :mod:`zoobot_tf.cli` mounts."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the :func:`~zoobot_tf.classification.write_attention_maps` options to ``parser``."""
    parser.add_argument("--model", required=True, help="run directory (or a .keras file inside one) of a DAT / Linformer")
    parser.add_argument("--catalog", required=True, help="CSV/parquet with id_str and file_loc")
    parser.add_argument("--out", required=True, help="folder for the PNGs (<id_str>.png)")
    parser.add_argument("--n", type=int, default=8, help="galaxies to draw: the first N rows (default 8)")
    parser.add_argument("--band", type=int, default=1, help="channel under the attention (default 1: r of grizy)")
    parser.add_argument("--block", type=int, default=-1, help="DAT: deformable block index (default -1: the last)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the attention-map PNGs described by parsed ``args``; return 0."""
    from zoobot_tf.classification.attention_maps import write_attention_maps

    paths = write_attention_maps(args.model, args.catalog, args.out, n=args.n, band=args.band, block=args.block)
    print(f"wrote {len(paths)} attention maps to {args.out}")
    return 0
