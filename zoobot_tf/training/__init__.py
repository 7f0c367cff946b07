"""Training and fine-tuning.

- :func:`train`: shards -> a model, under a ``tf.distribute`` strategy (MirroredStrategy by
  default), with early stopping, the best checkpoint, TensorBoard/CSV logs, and
  ``BackupAndRestore`` so that rerunning a killed run continues where it stopped.
- :func:`load_run`: a run directory -> ``(model, config)`` (``safe_mode`` loading).
- :func:`finetune`: a trained model + a few labels from a new survey -> a new classifier,
  regressor or decision-tree head, encoder frozen first, then its top blocks.
- :func:`get_encoder`: the encoder of a model, for representations.

Names are loaded lazily, so that the command-line parsers in :mod:`zoobot_tf.training.command`
are built without waiting for TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "train": "trainer",
    "resolve_task": "trainer",
    "RunExistsError": "trainer",
    "load_run": "config",
    "load_config": "config",
    "RunConfigMismatch": "config",
    "ResumeState": "callbacks",
    "resume_state": "callbacks",
    "make_callbacks": "callbacks",
    "STRATEGY_NAMES": "strategy",
    "get_strategy": "strategy",
    "is_chief": "strategy",
    "finetune": "finetuning",
    "FinetuneResult": "finetuning",
    "balanced_class_weights": "finetuning",
    "copy_encoder": "finetuning",
    "encoder_blocks": "freezing",
    "freeze_batchnorm": "freezing",
    "freeze_encoder": "freezing",
    "unfreeze_top_blocks": "freezing",
    "add_arguments": "command",
    "run": "command",
    "add_finetune_arguments": "command",
    "run_finetune": "command",
}

_EXPORTS["get_encoder"] = "zoobot_tf.models"  # the encoder of a trained model, for fine-tuning

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
