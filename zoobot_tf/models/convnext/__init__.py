"""ConvNeXt encoders laid out as timm's, so zoobot's pretrained checkpoints load into them.

Importing this package registers ``convnext_atto`` ... ``convnext_large`` and the
:class:`LayerScale` layer (so a saved ConvNeXt loads with ``safe_mode=True``).
"""

from zoobot_tf.models.convnext.backbone import convnext_backbone
from zoobot_tf.models.convnext.configs import CONVNEXT_CONFIGS
from zoobot_tf.models.convnext.layers import LayerScale

__all__ = ["CONVNEXT_CONFIGS", "LayerScale", "convnext_backbone"]
