"""timm's MaxViT presets that zoobot publishes encoders for, as data.

zoobot's Hugging Face repos (``mwalmsley/zoobot-encoder-<name>``) and the timm models they hold:
``maxvit_rmlp_tiny_rw_224`` (timm's ``maxvit_rmlp_tiny_rw_256`` layout at 224 pixels: the MLP
bias has no size of its own; the import maps timm's name onto this one), ``maxvit_rmlp_small_rw_224``, ``maxvit_base_rw_224`` (whose
config.json names ``maxvit_rmlp_base_rw_224``) and ``maxvit_large_tf_224``; GZ Evo's baselines
also use ``maxvit_tiny_rw_224`` (table bias). Two families:

``rw``  Ross Wightman's timm configs: MBConv expands from its input width, no bias on its output
        conv and shortcut, squeeze-excite to 1/16 of the expanded width, SiLU, BatchNorm eps
        1e-5, PyTorch padding; attention heads first in qkv, LayerNorm eps 1e-6, exact GELU.
``tf``  ported TensorFlow MaxViT: MBConv expands from its output width with biases, SE to 1/4
        of the output width, tanh-GELU, BatchNorm eps 1e-3, TensorFlow "same" padding; qkv
        interleaved, LayerNorm eps 1e-5, the TF relative-position table.

``head``: ``norm`` (LayerNorm on the last map, then average pool) or ``mlp`` (pool, LayerNorm,
``pre_logits`` linear + tanh: timm's ``NormMlpClassifierHead``, kept with ``num_classes=0``).
"""

from __future__ import annotations

__all__ = ["FAMILIES", "MAXVIT_CONFIGS"]

FAMILIES = {
    "rw": {
        "expand_from": "in", "conv_bias": False, "se_ratio": 1 / 16, "se_from": "mid", "conv_act": "silu",
        "bn_eps": 1e-5, "same": False, "head_first": True, "ln_eps": 1e-6, "attn_act": "gelu",
    },
    "tf": {
        "expand_from": "out", "conv_bias": True, "se_ratio": 0.25, "se_from": "out", "conv_act": "gelu_tanh",
        "bn_eps": 1e-3, "same": True, "head_first": False, "ln_eps": 1e-5, "attn_act": "gelu_tanh",
    },
}

_RMLP_TINY = {
    "family": "rw", "dims": (64, 128, 256, 512), "depths": (2, 2, 5, 2), "stem": (32, 64), "stem_bias": False,
    "rel_pos": "mlp", "layer_scale": None, "head": "norm",
}

MAXVIT_CONFIGS = {
    "maxvit_tiny_rw_224": {**_RMLP_TINY, "rel_pos": "bias"},
    "maxvit_rmlp_tiny_rw_224": _RMLP_TINY,
    "maxvit_rmlp_small_rw_224": {
        "family": "rw", "dims": (96, 192, 384, 768), "depths": (2, 2, 5, 2), "stem": (32, 64), "stem_bias": False,
        "rel_pos": "mlp", "layer_scale": 1e-6, "head": "norm",
    },
    "maxvit_rmlp_base_rw_224": {
        "family": "rw", "dims": (96, 192, 384, 768), "depths": (2, 6, 14, 2), "stem": (32, 64), "stem_bias": False,
        "rel_pos": "mlp", "layer_scale": None, "head": "mlp",
    },
    "maxvit_large_tf_224": {
        "family": "tf", "dims": (128, 256, 512, 1024), "depths": (2, 6, 14, 2), "stem": (128, 128),
        "stem_bias": True, "rel_pos": "bias_tf", "layer_scale": None, "head": "mlp",
    },
}
