"""Train EfficientNet-B0 on GZ DECaLS shards with Zoobot's full-size settings.

224 px input, global batch 128, MirroredStrategy over every local GPU (MultiWorker from
TF_CONFIG with --strategy multiworker), Dirichlet-multinomial loss on every DECaLS question,
early stopping with patience 8. Every option of ``zoobot-tf train`` can be overridden:

    python scripts/make_decals_shards.py --table gz_decals_volunteers_5.csv --images png/ --out-dir shards
    python scripts/train_decals.py --shards shards --out runs/decals_b0
    python scripts/train_decals.py --shards shards --out runs/decals_b0   # resumes after a kill
"""

import argparse
import sys

from zoobot_tf.training.command import add_arguments, run

FULL_SIZE = dict(architecture="efficientnet_b0", image_size=224, batch_size=128, epochs=200, patience=8)


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.set_defaults(**FULL_SIZE)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
