"""Train EfficientNet-B0 on GZ2 shards (Hart et al. 2016 votes) with Zoobot's full-size settings.

Same recipe as ``train_decals.py`` (224 px, batch 128, MirroredStrategy, Dirichlet loss) on the
11-task GZ2 tree; greyscale by default as in Walmsley et al. 2022 (GZ2 SDSS colours differ from
DECaLS'), override with ``--no-greyscale``.

    python scripts/make_gz2_shards.py --table gz2_hart16.csv --mapping gz2_filename_mapping.csv \
        --images gz2/ --out-dir gz2_shards
    python scripts/train_gz2.py --shards gz2_shards --out runs/gz2_b0
"""

import argparse
import sys

from zoobot_tf.training.command import add_arguments, run

FULL_SIZE = dict(architecture="efficientnet_b0", image_size=224, batch_size=128, epochs=200, patience=8, greyscale=True)


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--no-greyscale", dest="greyscale", action="store_false", help="keep the colour channels")
    parser.set_defaults(**FULL_SIZE)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
