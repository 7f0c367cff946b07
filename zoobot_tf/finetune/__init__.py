"""Fine-tuning: a trained model + a few labels from a new survey -> a new classifier, regressor or
decision-tree head; the encoder trains with per-block learning-rate decay, BatchNorm adapted to
the new images (zoobot 2.x's ``FinetuneableZoobot*`` recipe).

- :func:`finetune` (:mod:`.finetuning`): one phase, early stopping, held-out metrics, a run directory.
- :mod:`.data`: labelled catalogs / shards (``split`` column honoured) -> streamed tf.data; head names -> tasks.
- :mod:`.freezing`: encoder blocks, their learning rates, BatchNorm re-estimation.
- ``zoobot-tf finetune``: :mod:`zoobot_tf.commands.finetune`.

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
    "FinetuneOptions": "finetuning",
    "FINETUNE_HEADS": "data",
    "FinetuneTask": "data",
    "resolve_finetune_task": "data",
    "encoder_blocks": "freezing",
    "freeze_batchnorm": "freezing",
    "freeze_encoder": "freezing",
    "unfreeze_top_blocks": "freezing",
    "block_learning_rates": "freezing",
    "recalibrate_batchnorm": "freezing",
    "register_block_pattern": "freezing",
    "set_batchnorm_momentum": "freezing",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
