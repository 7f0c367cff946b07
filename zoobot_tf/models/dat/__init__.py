"""Deformable Attention Transformer (Xia et al. 2022): layers, backbone, published configs.

Importing this package registers the architectures ``dat_tiny``, ``dat_small``, ``dat_base``
and ``dat_test`` (tiny, for tests), so ``get_model(..., architecture="dat_tiny")`` works, and
registers the custom layers with Keras so that a saved DAT loads with ``safe_mode=True``.
"""

from zoobot_tf.models.dat.backbone import dat_backbone, default_stage_spec, deformable_attention_maps
from zoobot_tf.models.dat.configs import DAT_CONFIGS
from zoobot_tf.models.dat.layers import DATBlock, DeformableAttention, DropPath, WindowAttention, bilinear_sample

__all__ = [
    "DAT_CONFIGS",
    "DATBlock",
    "DeformableAttention",
    "DropPath",
    "WindowAttention",
    "bilinear_sample",
    "dat_backbone",
    "default_stage_spec",
    "deformable_attention_maps",
]
