"""How dark a survey's 8-bit images are: the level ``--scaling auto`` decides on, per image folder.

For each folder (or glob), the 95th-percentile pixel of up to 64 images as a fraction of white,
the median over images (:func:`zoobot_tf.images.suggest_scaling`, through
:func:`zoobot_tf.images.choose_scaling`), and the scaling ``auto`` picks::

    python benchmarks/scaling_levels.py tests/data/galaxy_zoo/decals 'work/target_sparse/images'
"""

from __future__ import annotations

import argparse
import glob
import os

from zoobot_tf.images import RASTER_SUFFIXES, choose_scaling


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="image folders (searched recursively) or globs")
    args = parser.parse_args(argv)
    for folder in args.folders:
        pattern = os.path.join(folder, "**", "*") if os.path.isdir(folder) else folder
        files = sorted(f for f in glob.glob(pattern, recursive=True) if f.lower().endswith(RASTER_SUFFIXES))
        if not files:
            raise SystemExit(f"{folder}: no PNG/JPG/TIFF images")
        name, reason = choose_scaling(files, "auto")
        print(f"{folder}: {len(files)} images; {reason} -> {name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
