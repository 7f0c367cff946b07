"""The ``zoobot-tf synthetic`` verb: argparse wiring around :func:`make_synthetic_dataset`."""

from __future__ import annotations

import argparse

from zoobot_tf.synthetic.fractions import SUPPORTED_SCHEMAS


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the flags of the synthetic verb to ``parser`` (a sub-parser of the main CLI, or standalone)."""
    parser.add_argument("--n", type=int, default=300, help="number of galaxies (default 300)")
    parser.add_argument("--out", required=True, help="output folder: images/, catalog.csv, README.txt")
    parser.add_argument("--schema", default="decals_dr5", choices=SUPPORTED_SCHEMAS, help="decision tree of the votes")
    parser.add_argument("--size", type=int, default=96, help="image size in pixels (default 96)")
    parser.add_argument("--fits", action="store_true", help="5-band FITS with NaN pixels and object masks instead of PNG")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files")
    parser.add_argument("--bands", default=None, help="comma-separated bands, e.g. 'i' for greyscale PNGs (default g,r,z)")
    parser.add_argument("--noise", type=float, default=1.0, help="r-band sky sigma per pixel (default 1)")
    parser.add_argument("--psf-fwhm", type=float, default=None, help="PSF FWHM in pixels (default 1.5 px at 96 px)")
    parser.add_argument("--pixel-scale", type=float, default=1.0, help="pixel size relative to the default (2: galaxies half as wide)")
    parser.add_argument("--survey", default=None, choices=["domain", "sparse"],
                        help="render as another survey: domain (DOMAIN_SHIFT) or sparse (SPARSE_SHIFT: radio-like, "
                             "4 classes, galaxies reaching the edge, a linear stretch on a dark background); "
                             "replaces --bands/--noise/--psf-fwhm/--pixel-scale")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the verb; prints where the catalog went. Returns the exit status."""
    from zoobot_tf.synthetic.dataset import DOMAIN_SHIFT, SPARSE_SHIFT, make_synthetic_dataset

    survey = {"bands": None if args.bands is None else [b.strip() for b in args.bands.split(",") if b.strip()],
              "noise": args.noise, "psf_fwhm": args.psf_fwhm, "pixel_scale": args.pixel_scale}
    if getattr(args, "survey", None):
        survey = {"domain": DOMAIN_SHIFT, "sparse": SPARSE_SHIFT}[args.survey]
    catalog = make_synthetic_dataset(
        args.out,
        n=args.n,
        schema=args.schema,
        size=args.size,
        fits=args.fits,
        seed=args.seed,
        progress=not getattr(args, "no_progress", False),
        **survey,
    )
    out = catalog["file_loc"].iloc[0].rsplit("/images/", 1)[0]
    print(f"wrote {len(catalog)} synthetic galaxies to {out} (catalog.csv, README.txt, images/)")
    return 0
