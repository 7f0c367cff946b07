"""The choices of classification training, without TensorFlow: the one definition that both the
training code and ``zoobot-tf train-classifier``'s parser (built before TensorFlow loads) read."""

__all__ = ["IMBALANCE_STRATEGIES", "OPTIMIZERS"]

#: how class imbalance is handled (:func:`zoobot_tf.classification.plan_imbalance`)
IMBALANCE_STRATEGIES = ("none", "class_weight", "uniform_sampling", "mixup", "balanced_mixup")
#: optimizer recipes: plain Adam, or those of the DAT and Linformer studies
OPTIMIZERS = ("adam", "dat", "linformer")
