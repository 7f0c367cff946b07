"""MaxViT encoders laid out as timm's, so zoobot's pretrained MaxViT checkpoints load into them.

Importing this package registers timm's names (``maxvit_rmlp_tiny_rw_224`` ... ``maxvit_large_tf_224``,
see :data:`MAXVIT_CONFIGS`) and the :class:`PartitionAttention` layer (so a saved MaxViT loads
with ``safe_mode=True``).
"""

from zoobot_tf.models.maxvit.backbone import maxvit_backbone
from zoobot_tf.models.maxvit.configs import MAXVIT_CONFIGS
from zoobot_tf.models.maxvit.layers import PartitionAttention

__all__ = ["MAXVIT_CONFIGS", "PartitionAttention", "maxvit_backbone"]
