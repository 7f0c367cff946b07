"""Linformer ViT (Linformer self-attention in a ViT, as in the GZ2 eight-class study).

Importing this package registers the architectures ``linformer_vit`` (the published
configuration) and ``linformer_test`` (tiny, for tests), and the custom layers with Keras so a
saved model loads with ``safe_mode=True``.
"""

from zoobot_tf.models.linformer.backbone import LINFORMER_CONFIGS, linformer_vit_backbone
from zoobot_tf.models.linformer.layers import ClassTokenPositionEmbedding, LinformerBlock, LinformerSelfAttention

__all__ = [
    "LINFORMER_CONFIGS",
    "ClassTokenPositionEmbedding",
    "LinformerBlock",
    "LinformerSelfAttention",
    "linformer_vit_backbone",
]
