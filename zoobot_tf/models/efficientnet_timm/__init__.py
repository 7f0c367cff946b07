"""EfficientNet-B0 laid out as timm's ``efficientnet_b0`` (zoobot's published EfficientNet encoder).

Importing this package registers ``efficientnet_b0_timm``; the shared blocks (timm padding,
BatchNorm+activation, squeeze-excite) are reused by :mod:`zoobot_tf.models.maxvit`.
"""

from zoobot_tf.models.efficientnet_timm.backbone import EFFICIENTNET_B0_STAGES, efficientnet_timm_backbone

__all__ = ["EFFICIENTNET_B0_STAGES", "efficientnet_timm_backbone"]
