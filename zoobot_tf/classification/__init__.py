"""Classification over flat label sets (Hubble types, GZ2 eight classes): training with imbalance
strategies and the reference studies' optimizers, held-out metrics, attention maps.

- :func:`train_classifier`: shards -> a softmax classifier + ``evaluation/`` report.
- :func:`plan_imbalance` and friends (:mod:`.imbalance`): class weights, class-uniform sampling,
  MixUp, balanced MixUp.
- :class:`WarmupCosineDecay`, :func:`dat_study_optimizer`, :func:`linformer_study_optimizer`.
- :func:`evaluate_classifier`, :func:`classification_report`, :func:`top_k_accuracy_by_bin`.
- :func:`compute_attention_maps`, :func:`write_attention_maps`: where DAT / Linformer models look.
- :func:`gz2_eight_class_labels`: GZ2 votes -> the eight classes of the Linformer study.

Names are loaded lazily, so that the command-line parsers (:mod:`zoobot_tf.commands`) are built
without waiting for TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "train_classifier": "train",
    "build_optimizer": "train",
    "classification_metrics": "train",
    "IMBALANCE_STRATEGIES": "imbalance",
    "ImbalancePlan": "imbalance",
    "ImbalanceTransform": "imbalance",
    "plan_imbalance": "imbalance",
    "class_counts": "imbalance",
    "class_weights": "imbalance",
    "class_uniform_batches": "imbalance",
    "mixup_batches": "imbalance",
    "ClassWeightedCrossEntropy": "losses",
    "TopKAccuracy": "losses",
    "WarmupCosineDecay": "schedules",
    "dat_study_optimizer": "schedules",
    "linformer_study_optimizer": "schedules",
    # held-out metrics and figures live in the engine (zoobot_tf.evaluation), re-exported here
    "classification_report": "zoobot_tf.evaluation.classification",
    "galaxy_mask_sizes": "zoobot_tf.evaluation.classification",
    "per_class_accuracy": "zoobot_tf.evaluation.classification",
    "top_k_accuracy": "zoobot_tf.evaluation.classification",
    "top_k_accuracy_by_bin": "zoobot_tf.evaluation.classification",
    "plot_accuracy_by_size": "zoobot_tf.evaluation.plots",
    "predict_split": "zoobot_tf.evaluation.predict_split",
    "read_split_labels": "zoobot_tf.shards.reader",
    "gz2_eight_class_labels": "gz2_classes",
    "gz2_eight_class_probabilities": "gz2_classes",
    "evaluate_classifier": "evaluate",
    "compute_attention_maps": "attention_maps",
    "linformer_class_token_attention": "attention_maps",
    "plot_attention_map": "attention_maps",
    "write_attention_maps": "attention_maps",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
