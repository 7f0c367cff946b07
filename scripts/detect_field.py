"""Detect, deblend and classify every source of survey FITS fields with a trained Mask R-CNN.

Writes one catalog (parquet or CSV) with a row per source: box, class (galaxy/star), score, mask
area, centroid, flux per band (sum of the image in the mask), magnitudes when the header has a
zeropoint (``MAGZERO``...), and RA/Dec when it has a celestial WCS. Large fields are cut into
overlapping tiles and the detections merged so each source appears once (see
:mod:`zoobot_tf.detection.tiling`). The same as ``zoobot-tf detect``::

    python scripts/detect_field.py hsc_g_r_i_*.fits --model detection/model.keras \\
        --out catalogs/hsc.parquet --tile-size 256 --overlap 48

    # one file per band: quote the ';'-joined list
    python scripts/detect_field.py "calexp-g.fits;calexp-r.fits;calexp-i.fits" --model model.keras --out cat.csv

The scaling defaults to the one the model was trained with (stored in the model); the tile size to
the model's input size when it was built for a fixed one. Choose ``--overlap`` larger than the
largest source you expect (in pixels) so no source is cut in every tile that sees it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    from zoobot_tf.detection.command import add_arguments, run

    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
