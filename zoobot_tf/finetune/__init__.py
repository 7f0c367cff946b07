"""Fine-tuning: a trained model + a few labels from a new survey -> a new classifier, regressor or
decision-tree head; encoder frozen first, then its top blocks (BatchNorm always frozen).

- :func:`finetune` (:mod:`.finetuning`): the two phases, held-out metrics and a run directory.
- :mod:`.data`: labelled catalogs / shards -> splits and tf.data datasets; head names -> tasks.
- :mod:`.freezing`: which encoder blocks train in which phase.
- :mod:`.command`: ``zoobot-tf finetune``.

Names are loaded lazily, so that the command-line parser is built without waiting for TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "finetune": "finetuning",
    "FinetuneResult": "finetuning",
    "balanced_class_weights": "finetuning",
    "copy_encoder": "finetuning",
    "finetune_log": "finetuning",
    "load_source_model": "finetuning",
    "FINETUNE_HEADS": "data",
    "FinetuneTask": "data",
    "resolve_finetune_task": "data",
    "encoder_blocks": "freezing",
    "freeze_batchnorm": "freezing",
    "freeze_encoder": "freezing",
    "unfreeze_top_blocks": "freezing",
    "add_arguments": "command",
    "run": "command",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
