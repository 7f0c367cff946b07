"""``zoobot-tf summarise``: the ``add_arguments`` / ``run`` pair :mod:`zoobot_tf.cli` mounts."""

from zoobot_tf.predictions.command import add_summarise_arguments as add_arguments
from zoobot_tf.predictions.command import run_summarise as run

__all__ = ["add_arguments", "run"]
