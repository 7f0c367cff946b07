"""Training and fine-tuning.

- :func:`train`: shards -> a model, under a ``tf.distribute`` strategy (MirroredStrategy by
  default), with early stopping, the best checkpoint, TensorBoard/CSV logs, and
  ``BackupAndRestore`` so that rerunning a killed run continues where it stopped.
- :func:`load_run`: a run directory -> ``(model, config)`` (``safe_mode`` loading).
- :func:`finetune`: a trained model + a few labels from a new survey -> a new classifier,
  regressor or decision-tree head, encoder frozen first, then its top blocks.
- :func:`get_encoder`: the encoder of a model, for representations.
"""

from zoobot_tf.models import get_encoder
from zoobot_tf.training.callbacks import ResumeState, resume_state
from zoobot_tf.training.config import RunConfigMismatch, load_config, load_run
from zoobot_tf.training.finetuning import FinetuneResult, balanced_class_weights, copy_encoder, finetune
from zoobot_tf.training.freezing import encoder_blocks, freeze_batchnorm, freeze_encoder, unfreeze_top_blocks
from zoobot_tf.training.strategy import STRATEGY_NAMES, get_strategy, is_chief
from zoobot_tf.training.trainer import RunExistsError, resolve_task, train

__all__ = [
    "STRATEGY_NAMES",
    "FinetuneResult",
    "ResumeState",
    "RunConfigMismatch",
    "RunExistsError",
    "balanced_class_weights",
    "copy_encoder",
    "encoder_blocks",
    "finetune",
    "freeze_batchnorm",
    "freeze_encoder",
    "get_encoder",
    "get_strategy",
    "is_chief",
    "load_config",
    "load_run",
    "resolve_task",
    "resume_state",
    "train",
    "unfreeze_top_blocks",
]
