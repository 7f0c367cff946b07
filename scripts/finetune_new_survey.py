"""Fine-tune a trained Zoobot model on a new survey with a few hundred labels.

A new head on the trained encoder: first with the encoder frozen, then with its top blocks
unfrozen at a 10x lower learning rate (BatchNorm stays frozen throughout). Reports accuracy and
a confusion matrix (classifier) or RMSE (regressor) on a held-out split.

    python scripts/finetune_new_survey.py --model runs/decals_b0 \
        --catalog new_survey_labels.csv --head classifier --label-set star_galaxy --out runs/new_survey

The catalog needs ``id_str``, ``file_loc`` and a ``label`` column (class names) for a classifier.
"""

import argparse
import sys

from zoobot_tf.finetune.command import add_arguments, run

FULL_SIZE = dict(epochs_frozen=30, epochs_unfrozen=30, batch_size=64, n_blocks_unfrozen=2)


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.set_defaults(**FULL_SIZE)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
