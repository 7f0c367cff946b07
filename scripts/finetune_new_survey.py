"""Fine-tune a trained Zoobot model on a new survey with a few hundred labels.

A new head on the trained encoder, everything trained with per-block learning-rate decay,
BatchNorm re-estimated on the new images, early stopping on the validation loss (the defaults of
``zoobot-tf finetune``, with a longer budget). Reports accuracy and a confusion matrix
(classifier) or RMSE (regressor) on a held-out split.

    python scripts/finetune_new_survey.py --model runs/decals_b0 \
        --catalog new_survey_labels.csv --head classifier --label-set star_galaxy --out runs/new_survey

The catalog needs ``id_str``, ``file_loc`` and a ``label`` column (class names) for a classifier.
"""

import argparse
import sys

from zoobot_tf.finetune.command import add_arguments, run

FULL_SIZE = dict(epochs=100, patience=15, batch_size=64)


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.set_defaults(**FULL_SIZE)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
