"""Turn on TensorFlow's oneDNN kernels in a process that has not imported TensorFlow yet.

Why: TensorFlow switches its oneDNN custom operations on by default only on some Intel CPUs. On
this project's AMD EPYC machine they were off, and turning them on made an EfficientNet-B0
training step at 224 px 2.2x faster on one core (3.9 -> 8.6 images/s at batch 8, one channel:
benchmarks/results/train_step_vs_torch and train_step_vs_torch_onednn, where it is 1.28x torch's
NCHW step and 0.95x its channels_last step). At 128 px it changed nothing (15.6 images/s), and
numbers differ from the default kernels only by floating-point round-off.

Like :mod:`zoobot_tf.allocator` it changes the whole process and must come before TensorFlow is
imported, so the library never calls it: the command line does, for the verbs that train or
predict (``zoobot_tf.cli.HEAVY_VERBS``), and a script opts in by calling :func:`enable_onednn`
first. A ``TF_ENABLE_ONEDNN_OPTS`` the user set wins.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ONEDNN_VARIABLE", "enable_onednn"]

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def enable_onednn() -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` unless the user set it or TensorFlow is already imported
    (then it would have no effect); returns whether it was set."""
    if ONEDNN_VARIABLE in os.environ or "tensorflow" in sys.modules:
        return False
    os.environ[ONEDNN_VARIABLE] = "1"
    return True
