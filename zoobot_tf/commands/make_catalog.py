"""``zoobot-tf make-catalog``: the command-line face of :func:`zoobot_tf.catalogs.build_catalog`."""

from __future__ import annotations

import argparse

from zoobot_tf.catalogs.build import FORMATS, build_catalog
from zoobot_tf.schemas import LABEL_SETS, SCHEMA_ALIASES, SCHEMA_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the make-catalog flags to ``parser``."""
    parser.add_argument(
        "--format", required=True, choices=FORMATS,
        help="source table format (galaxy_datasets: zoobot's catalogs; gz_evo: Hugging Face parquet with images)",
    )
    parser.add_argument("--table", required=True, help="vote / label table (CSV, CSV.gz, Parquet or FITS)")
    parser.add_argument(
        "--images", help="folder holding the images (searched recursively by file name); gz_evo: written to"
    )
    parser.add_argument("--out", required=True, help="catalog CSV to write; rejected rows go to <out>.rejected.csv")
    parser.add_argument(
        "--schema",
        help=f"decision tree ({', '.join((*SCHEMA_NAMES, *SCHEMA_ALIASES))}; inferred for decals, galaxy_datasets, "
        "gz_evo) or, for --format labels, "
        f"a label set ({', '.join(LABEL_SETS)})",
    )
    parser.add_argument("--mapping", help="GZ2 filename mapping CSV (objid, sample, asset_id)")
    parser.add_argument("--strict", action="store_true", help="fail if any row is rejected")
    parser.add_argument("--id-column", help="galaxy id column (default per format, e.g. iauname, dr7objid)")
    parser.add_argument("--path-column", help="image path column (labels: default file_loc; decals: png_loc)")
    parser.add_argument("--label-column", help="class column for --format labels (default: label)")
    parser.add_argument("--image-exts", nargs="+", help="image file endings to look for, e.g. .png .jpg")
    parser.add_argument("--no-image-check", action="store_true", help="skip decoding every image (faster, riskier)")
    parser.add_argument("--workers", type=int, help="threads decoding images")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    """Build the catalog from parsed arguments; a :class:`CatalogError` propagates to the caller."""
    build_catalog(
        args.format,
        args.table,
        args.images,
        schema=args.schema,
        mapping=args.mapping,
        strict=args.strict,
        out=args.out,
        id_column=args.id_column,
        path_column=args.path_column,
        label_column=args.label_column,
        progress=not args.no_progress,
        check_images=not args.no_image_check,
        image_exts=args.image_exts,
        workers=args.workers,
    )
    return 0
