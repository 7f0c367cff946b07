"""``zoobot-tf finetune``: the fine-tuning command line under the ``add_arguments``/``run`` names
that :mod:`zoobot_tf.cli` mounts (defined in :mod:`zoobot_tf.training.command`)."""

from zoobot_tf.training.command import add_finetune_arguments as add_arguments
from zoobot_tf.training.command import run_finetune as run

__all__ = ["add_arguments", "run"]
