"""The names of fine-tuning's modes, without TensorFlow: the command line builds its choices from them."""

__all__ = ["BATCHNORM_MODES", "REESTIMATED"]

#: how BatchNorm meets the new images (see :func:`zoobot_tf.finetune.finetune`)
BATCHNORM_MODES = ("adapt", "fixed", "train", "frozen")
#: the modes that re-estimate the statistics on the new images before training
REESTIMATED = ("adapt", "fixed")
