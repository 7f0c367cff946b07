"""Pretrained encoders from timm / zoobot checkpoints (``model.safetensors``), no torch needed.

See :mod:`~zoobot_tf.models.pretrained.mapping` for how timm's keys and layouts map onto the
ConvNeXt, ResNet, EfficientNet-B0 and MaxViT encoders (and how a stem is adapted to another
channel count), and ``zoobot-tf import-encoder`` (:mod:`zoobot_tf.commands.import_encoder`) for
the command line. zoobot's fine-tuned Lightning checkpoints (encoder + head) become whole Keras
models with :func:`import_zoobot_model`; :mod:`.torch_pickle` reads every ``torch.save`` file
without torch.
"""

from zoobot_tf.models.pretrained.checkpoint import Checkpoint, read_checkpoint
from zoobot_tf.models.pretrained.encoders import download_encoder, import_encoder, load_encoder_weights, save_encoder
from zoobot_tf.models.pretrained.torch_pickle import TorchFileError, load_torch_file
from zoobot_tf.models.pretrained.zoobot_model import import_zoobot_model, schema_from_hparams
from zoobot_tf.models.pretrained.mapping import (
    adapt_stem_weight,
    assign_timm_weights,
    export_timm_state_dict,
    timm_weight_plan,
)

__all__ = [
    "Checkpoint",
    "TorchFileError",
    "adapt_stem_weight",
    "assign_timm_weights",
    "download_encoder",
    "export_timm_state_dict",
    "import_encoder",
    "import_zoobot_model",
    "load_torch_file",
    "load_encoder_weights",
    "read_checkpoint",
    "save_encoder",
    "schema_from_hparams",
    "timm_weight_plan",
]
