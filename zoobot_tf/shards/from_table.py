"""A published vote table + its images straight to shards: what the per-survey scripts run.

Builds the canonical catalog (``<out_dir>/catalog.csv`` and its rejected-rows file) with
:func:`zoobot_tf.catalogs.build_catalog`, then writes the shards into ``out_dir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoobot_tf.options import add_split_arguments
from zoobot_tf.shards.split import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION


def add_table_arguments(parser: argparse.ArgumentParser, *, size=300) -> argparse.ArgumentParser:
    """The options every per-survey shard script shares (full-size defaults)."""
    parser.add_argument("--images", required=True, help="folder holding the images (searched recursively)")
    parser.add_argument("--out", "--out-dir", dest="out", required=True,
                        help="shard directory (catalog.csv is written there too)")
    parser.add_argument("--size", type=int, default=size, help=f"stored image side (default {size})")
    parser.add_argument("--shard-size", type=int, default=1024, help="records per shard file")
    add_split_arguments(parser, val_fraction=DEFAULT_VAL_FRACTION, test_fraction=DEFAULT_TEST_FRACTION)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--processes", "--workers", dest="processes", type=int, default=8,
                        help="image-preparing processes (default 8)")
    parser.add_argument("--strict", action="store_true", help="fail on any rejected row")
    return parser


def table_to_shards(format, table, args, *, schema=None, mapping=None):
    """Catalog + shards from a table of ``format`` using the options of :func:`add_table_arguments`."""
    from zoobot_tf.catalogs import build_catalog
    from zoobot_tf.shards import write_shards

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = build_catalog(
        format, table, args.images, schema=schema, mapping=mapping, strict=args.strict, out=out_dir / "catalog.csv"
    )
    manifest = write_shards(
        result.catalog, out_dir, schema=result.schema, size=args.size, channels=3, shard_size=args.shard_size,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed, workers=args.processes,
    )
    print(f"{out_dir}: " + ", ".join(f"{s} {manifest.n_records(s)}" for s in manifest.split_names()))
    return manifest
