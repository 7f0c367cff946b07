"""``zoobot-tf demo``: the command line of :mod:`zoobot_tf.demo`."""

from __future__ import annotations

import os

from zoobot_tf.demo import DEMO_TRAINING
from zoobot_tf.demo import run_demo

__all__ = ["add_arguments", "run"]


def add_arguments(parser):
    parser.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    d = DEMO_TRAINING
    parser.add_argument("--n", type=int, default=d["n"], help=f"number of synthetic galaxies (default {d['n']})")
    parser.add_argument("--size", type=int, default=d["render_size"],
                        help=f"rendered and stored image size (default {d['render_size']})")
    parser.add_argument("--image-size", type=int, default=d["image_size"],
                        help=f"model input size (default {d['image_size']})")
    parser.add_argument("--epochs", type=int, default=d["epochs"], help=f"maximum training epochs (default {d['epochs']})")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="no random rotation/flip/crop of the training images")
    parser.add_argument("--architecture", default=d["architecture"], help=f"backbone (default {d['architecture']})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    run_demo(args.out, n=args.n, size=args.size, image_size=args.image_size, epochs=args.epochs, augment=args.augment,
             architecture=args.architecture, seed=args.seed, progress=not args.no_progress)
    return 0
