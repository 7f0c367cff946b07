"""Command line ``zoobot-tf detect FITS... --model M --out catalog.parquet`` (see :func:`detect_field`).

A pair ``add_arguments(parser)`` / ``run(args)`` that :mod:`zoobot_tf.cli` mounts; TensorFlow is
imported only when the verb runs (by loading the model).
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf detect``."""
    from zoobot_tf.detection.scalings import DEFAULT_SCALING
    from zoobot_tf.images.scalings import SCALINGS

    parser.add_argument("fits", nargs="+",
                        help="FITS field(s): a cube or one band per extension; 'g.fits;r.fits;i.fits' for one file per band")
    parser.add_argument("--model", required=True, help="trained Mask R-CNN (.keras)")
    parser.add_argument("--out", required=True, help="catalog to write (.parquet or .csv)")
    parser.add_argument("--scaling", default=None, choices=SCALINGS,
                        help=f"contrast scaling, as in training (default: the model's, else {DEFAULT_SCALING})")
    parser.add_argument("--tile-size", type=int, default=None,
                        help="tile side in pixels (default: the model's input size, else 256)")
    parser.add_argument("--overlap", type=int, default=32,
                        help="tile overlap in pixels; more than the largest source diameter (default 32)")
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="minimum detection score (default 0.5; with --augment, whose score is a mean of 8, the "
                             "model's augmented_score_threshold)")
    parser.add_argument("--augment", action="store_true",
                        help="merge the detections of each tile's 8 flips / 90-degree rotations (8x slower; "
                             "finds more blended sources)")
    parser.add_argument("--max-detections", type=int, default=200, help="detections per tile (default 200)")
    parser.add_argument("--hdu", default=None, help="FITS HDU (index or name) holding the image (default: auto)")
    parser.add_argument("--bands", default=None, help="comma-separated band names (default: header BANDS/FILTER)")
    parser.add_argument("--zeropoint", type=float, default=None,
                        help="AB zeropoint for mag_<band> columns (default: header MAGZERO etc.)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``zoobot-tf detect``; prints how many sources of each class were written where."""
    from zoobot_tf.detection.catalog import detect_field

    hdu = args.hdu
    if hdu is not None and hdu.lstrip("-").isdigit():
        hdu = int(hdu)
    catalog = detect_field(
        args.fits,
        args.model,
        scaling=args.scaling,
        tile_size=args.tile_size,
        overlap=args.overlap,
        score_threshold=args.score_threshold,
        max_detections=args.max_detections,
        augment=args.augment,
        hdu=hdu,
        bands=[b.strip() for b in args.bands.split(",")] if args.bands else None,
        zeropoint=args.zeropoint,
        out=args.out,
        progress=not args.no_progress,
    )
    counts = catalog["class_name"].value_counts().to_dict() if len(catalog) else {}
    summary = ", ".join(f"{n} {name}{'s' if n != 1 else ''}" for name, n in sorted(counts.items())) or "no sources"
    print(f"wrote {args.out}: {len(catalog)} sources ({summary}) from {len(args.fits)} field(s)")
    return 0
