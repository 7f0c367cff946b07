"""Pretrained encoders from timm / zoobot checkpoints (``model.safetensors``), no torch needed.

See :mod:`~zoobot_tf.models.pretrained.mapping` for how timm's keys and layouts map onto the
ConvNeXt, ResNet, EfficientNet-B0 and MaxViT encoders (and how a stem is adapted to another
channel count), and ``zoobot-tf import-encoder`` (:mod:`zoobot_tf.training.encoder_command`) for
the command line.
"""

from zoobot_tf.models.pretrained.checkpoint import Checkpoint, read_checkpoint
from zoobot_tf.models.pretrained.encoders import download_encoder, import_encoder, load_encoder_weights, save_encoder
from zoobot_tf.models.pretrained.mapping import (
    adapt_stem_weight,
    assign_timm_weights,
    export_timm_state_dict,
    timm_weight_plan,
)

__all__ = [
    "Checkpoint",
    "adapt_stem_weight",
    "assign_timm_weights",
    "download_encoder",
    "export_timm_state_dict",
    "import_encoder",
    "load_encoder_weights",
    "read_checkpoint",
    "save_encoder",
    "timm_weight_plan",
]
