"""ResNet encoders laid out as timm's, so zoobot's pretrained checkpoints load into them.

Importing this package registers ``resnet18``, ``resnet50`` and ``resnet101``.
"""

from zoobot_tf.models.resnet.backbone import resnet_backbone
from zoobot_tf.models.resnet.configs import RESNET_CONFIGS

__all__ = ["RESNET_CONFIGS", "resnet_backbone"]
