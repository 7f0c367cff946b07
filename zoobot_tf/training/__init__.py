"""Training and fine-tuning.

- :func:`train`: shards -> a model, under a ``tf.distribute`` strategy (MirroredStrategy by
  default), with early stopping, the best checkpoint, TensorBoard/CSV logs, and
  ``BackupAndRestore`` so that rerunning a killed run continues where it stopped.
- :func:`load_run`: a run directory -> ``(model, config)`` (``safe_mode`` loading).
- fine-tuning lives beside this package in :mod:`zoobot_tf.finetune` (its names are re-exported
  here for existing code).
- :func:`get_encoder`: the encoder of a model, for representations.

Names are loaded lazily, so that the command-line parsers in :mod:`zoobot_tf.training.command`
are built without waiting for TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "train": "trainer",
    "resolve_training_task": "trainer",
    "RunExistsError": "trainer",
    "load_run": "zoobot_tf.runs",
    "load_config": "zoobot_tf.runs",
    "RunConfigMismatch": "zoobot_tf.runs",
    "ResumeState": "callbacks",
    "resume_state": "callbacks",
    "make_callbacks": "callbacks",
    "STRATEGY_NAMES": "strategy",
    "get_strategy": "strategy",
    "is_chief": "strategy",
    "finetune": "zoobot_tf.finetune.finetuning",
    "FinetuneResult": "zoobot_tf.finetune.finetuning",
    "balanced_class_weights": "zoobot_tf.finetune.finetuning",
    "copy_encoder": "zoobot_tf.finetune.finetuning",
    "encoder_blocks": "zoobot_tf.finetune.freezing",
    "freeze_batchnorm": "zoobot_tf.finetune.freezing",
    "freeze_encoder": "zoobot_tf.finetune.freezing",
    "unfreeze_top_blocks": "zoobot_tf.finetune.freezing",
    "add_arguments": "command",
    "run": "command",
}

_EXPORTS["get_encoder"] = "zoobot_tf.models"  # the encoder of a trained model, for fine-tuning

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
