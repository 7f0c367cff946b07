"""Training: ``train`` under a ``tf.distribute`` strategy (resumable), ``load_run``, and ``finetune``."""

from zoobot_tf.models import get_encoder
from zoobot_tf.training.config import load_config, load_run
from zoobot_tf.training.strategy import STRATEGY_NAMES, get_strategy
from zoobot_tf.training.trainer import RunExistsError, train

__all__ = ["STRATEGY_NAMES", "RunExistsError", "get_encoder", "get_strategy", "load_config", "load_run", "train"]
