"""Training: the engine that turns shards into a model.

- :func:`train`: shards -> a model, under a ``tf.distribute`` strategy (MirroredStrategy by
  default), with early stopping, the best checkpoint, TensorBoard/CSV logs, and
  ``BackupAndRestore`` so that rerunning a killed run continues where it stopped.
- :func:`load_run`: a run directory -> ``(model, config)`` (``safe_mode`` loading).
- fine-tuning builds on this package and lives beside it: :mod:`zoobot_tf.finetune`.
- :func:`get_encoder`: the encoder of a model, for representations.

Names are loaded lazily, so that the command-line parsers (:mod:`zoobot_tf.commands`) are built
without waiting for TensorFlow.
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
}

_EXPORTS["get_encoder"] = "zoobot_tf.models"  # the encoder of a trained model, for fine-tuning

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
