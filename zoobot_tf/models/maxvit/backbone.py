"""MaxViT (Tu et al. 2022) laid out as timm's ``MaxxVit`` with ``num_classes=0``.

Every stage is a stack of timm's ``MaxxVitBlock``: an MBConv (stride 2 in a stage's first block),
then window ("block") attention and grid attention, each followed by an MLP, both pre-norm with
residuals. Layers are named after timm's modules (``stem.conv1``, ``stages.0.blocks.0.conv.
conv2_kxk``, ``stages.0.blocks.0.attn_grid.attn.qkv``, ``norm`` / ``head.pre_logits.fc``), so
zoobot's checkpoints map onto them key by key (:mod:`zoobot_tf.models.pretrained`).

As in timm, the partition side is the image side / 32 (7 at 224 pixels): images must be a
multiple of 32 pixels. The ``rmlp`` models' MLP bias works at any such size; the table biases
(``maxvit_tiny_rw_224``, ``maxvit_large_tf_224``) have the shape of the partition, so their
checkpoints load only at the size they were trained at (224).
"""

from __future__ import annotations

import keras

from zoobot_tf.models.convnext.layers import LayerScale
from zoobot_tf.models.dat.layers import DropPath
from zoobot_tf.models.efficientnet_timm.blocks import activation, batch_norm, conv, squeeze_excite
from zoobot_tf.models.maxvit.configs import FAMILIES, MAXVIT_CONFIGS
from zoobot_tf.models.maxvit.layers import PartitionAttention, gelu_tanh
from zoobot_tf.models.registry import register_architecture

__all__ = ["maxvit_backbone"]

HEAD_DIM = 32  # timm's dim_head
MLP_RATIO = 4


def _mbconv(x, out, stride, prefix, fam, momentum, drop_path_rate):
    """timm's ``MbConvBlock``: pre-norm BN, 1x1 expand, BN+act, 3x3 depthwise, BN+act, SE, 1x1 project."""
    in_chs = int(x.shape[-1])
    mid = 4 * (in_chs if fam["expand_from"] == "in" else out)
    shortcut = x
    if stride == 2:
        shortcut = keras.layers.AveragePooling2D(2, name=f"{prefix}.shortcut.pool")(x)
        if in_chs != out:
            shortcut = conv(shortcut, out, 1, f"{prefix}.shortcut.expand", bias=fam["conv_bias"])
    x = batch_norm(x, f"{prefix}.pre_norm", eps=fam["bn_eps"], momentum=momentum)
    x = conv(x, mid, 1, f"{prefix}.conv1_1x1")
    x = batch_norm(x, f"{prefix}.norm1", eps=fam["bn_eps"], momentum=momentum, act=fam["conv_act"])
    x = conv(x, mid, 3, f"{prefix}.conv2_kxk", stride=stride, depthwise=True, same=fam["same"])
    x = batch_norm(x, f"{prefix}.norm2", eps=fam["bn_eps"], momentum=momentum, act=fam["conv_act"])
    reduced = int(fam["se_ratio"] * (mid if fam["se_from"] == "mid" else out))
    x = squeeze_excite(x, reduced, f"{prefix}.se", names=("fc1", "fc2"), act="silu")
    x = conv(x, out, 1, f"{prefix}.conv3_1x1", bias=fam["conv_bias"])
    if drop_path_rate > 0:
        x = DropPath(drop_path_rate, name=f"{prefix}.drop_path")(x)
    return keras.layers.Add(name=f"{prefix}.add")([shortcut, x])


def _branch(x, shortcut, prefix, layer_scale, drop_path_rate):
    if layer_scale is not None:
        x = LayerScale(layer_scale, name=f"{prefix}.gamma")(x)
    if drop_path_rate > 0:
        x = DropPath(drop_path_rate, name=f"{prefix}.drop_path")(x)
    return keras.layers.Add(name=f"{prefix}.add")([shortcut, x])


def _partition_attention(x, partition, size, prefix, config, fam, drop_path_rate):
    """timm's ``PartitionAttentionCl``: LN, partitioned attention, residual; LN, MLP, residual."""
    dim = int(x.shape[-1])
    y = keras.layers.LayerNormalization(epsilon=fam["ln_eps"], name=f"{prefix}.norm1")(x)
    y = keras.layers.Dense(3 * dim, name=f"{prefix}.attn.qkv")(y)
    y = PartitionAttention(
        partition, size, dim // HEAD_DIM, head_first=fam["head_first"], rel_pos=config["rel_pos"],
        name=f"{prefix}.attn.rel_pos",
    )(y)
    y = keras.layers.Dense(dim, name=f"{prefix}.attn.proj")(y)
    x = _branch(y, x, f"{prefix}.ls1", config["layer_scale"], drop_path_rate)
    y = keras.layers.LayerNormalization(epsilon=fam["ln_eps"], name=f"{prefix}.norm2")(x)
    y = keras.layers.Dense(MLP_RATIO * dim, name=f"{prefix}.mlp.fc1")(y)
    y = activation(y, fam["attn_act"], f"{prefix}.mlp.act")
    y = keras.layers.Dense(dim, name=f"{prefix}.mlp.fc2")(y)
    return _branch(y, x, f"{prefix}.ls2", config["layer_scale"], drop_path_rate)


def _family(name):
    """The family's settings with its activation names resolved (the tf models' tanh GELU)."""
    fam = dict(FAMILIES[name])
    for key in ("conv_act", "attn_act"):
        fam[key] = gelu_tanh if fam[key] == "gelu_tanh" else fam[key]
    return fam


def maxvit_backbone(input_shape, variant="maxvit_rmlp_tiny_rw_224", drop_path_rate=0.0, batchnorm_momentum=0.9,
                    name="encoder"):
    """MaxViT encoder: ``(batch, H, W, C)`` images in [0, 1] -> pooled features.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``, any ``C``; H = W, a multiple of 32 (224 for zoobot's checkpoints).
    variant : str
        A key of :data:`~zoobot_tf.models.maxvit.configs.MAXVIT_CONFIGS` (timm's name).
    drop_path_rate : float
        Stochastic depth, rising linearly over the blocks to this (training only).
    batchnorm_momentum : float
        Keras momentum of the BatchNorm moving statistics (0.9 is PyTorch's 0.1).
    name : str
        Name of the returned model.
    """
    if variant not in MAXVIT_CONFIGS:
        raise KeyError(f"unknown MaxViT variant {variant!r}; choose from {', '.join(MAXVIT_CONFIGS)}")
    if not 0.0 <= float(drop_path_rate) < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}")
    height, width, _ = (int(d) for d in input_shape)
    if height != width or height % 32:
        raise ValueError(f"MaxViT needs square images whose side is a multiple of 32, got input_shape {tuple(input_shape)}")
    config = MAXVIT_CONFIGS[variant]
    fam, momentum, size = _family(config["family"]), float(batchnorm_momentum), height // 32
    n_blocks = sum(config["depths"])

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = conv(inputs, config["stem"][0], 3, "stem.conv1", stride=2, bias=config["stem_bias"], same=fam["same"])
    x = batch_norm(x, "stem.norm1", eps=fam["bn_eps"], momentum=momentum, act=fam["conv_act"])
    x = conv(x, config["stem"][1], 3, "stem.conv2", bias=config["stem_bias"], same=fam["same"])
    index = 0
    for stage, (depth, dim) in enumerate(zip(config["depths"], config["dims"])):
        for b in range(depth):
            rate = float(drop_path_rate) * index / max(n_blocks - 1, 1)
            prefix = f"stages.{stage}.blocks.{b}"
            x = _mbconv(x, dim, 2 if b == 0 else 1, f"{prefix}.conv", fam, momentum, rate)
            x = _partition_attention(x, "block", size, f"{prefix}.attn_block", config, fam, rate)
            x = _partition_attention(x, "grid", size, f"{prefix}.attn_grid", config, fam, rate)
            index += 1
    if config["head"] == "norm":
        x = keras.layers.LayerNormalization(epsilon=fam["ln_eps"], name="norm")(x)
        outputs = keras.layers.GlobalAveragePooling2D(name="head.global_pool")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="head.global_pool")(x)
        x = keras.layers.LayerNormalization(epsilon=fam["ln_eps"], name="head.norm")(x)
        x = keras.layers.Dense(config["dims"][-1], name="head.pre_logits.fc")(x)
        outputs = activation(x, "tanh", "head.pre_logits.act")
    return keras.Model(inputs, outputs, name=name)


for _variant in MAXVIT_CONFIGS:

    def _builder(input_shape, name="encoder", _variant=_variant, **kwargs):
        return maxvit_backbone(input_shape, variant=_variant, name=name, **kwargs)

    register_architecture(_variant)(_builder)
