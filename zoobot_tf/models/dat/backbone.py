"""The DAT backbone: patch embedding, four stages with down-sampling, pooled features.

Layout of the reference model (Xia et al. 2022): a 4x4 stride-4 convolution + LayerNorm embeds
patches; stage ``i`` runs ``depths[i]`` pre-norm blocks at ``dims[i]`` channels (local window
attention ``L``, shifted windows ``S``, deformable attention ``D``; ``LS`` repeated in stages 1-2,
``LD`` in stages 3-4); a 2x2 stride-2 convolution (no bias) + LayerNorm halves the map between
stages; a final LayerNorm and global average pooling give the ``dims[-1]`` features.

Input sizes: convolutions use ``'same'`` padding, so the maps are ``ceil(H / 4)``, then halved
(rounding up) per stage - identical to the reference for 224 px (56-28-14-7). Maps that are not a
multiple of the window are padded inside the window attention (padding is masked), so any input
size works; the position-bias tables follow the map sizes, so a model is built for one size.
"""

from __future__ import annotations

import keras
import numpy as np

from zoobot_tf.models.dat.configs import DAT_CONFIGS
from zoobot_tf.models.dat.layers import DATBlock
from zoobot_tf.models.registry import register_architecture

__all__ = ["dat_backbone", "deformable_attention_maps", "default_stage_spec"]

_KIND_OF_LETTER = {"L": "local", "S": "shift", "D": "deformable"}


def default_stage_spec(depths):
    """Block letters per stage as in DAT: ``LSLS..`` in the first two stages, ``LDLD..`` after."""
    return tuple(("LS" if i < 2 else "LD") * (d // 2) + ("L" if d % 2 else "") for i, d in enumerate(depths))


def _per_stage(value, n_stages, what, cast=int):
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * n_stages
    if len(values) != n_stages:
        raise ValueError(f"{what} needs one value per stage ({n_stages}), got {value!r}")
    return tuple(cast(v) for v in values)


def dat_backbone(
    input_shape,
    dims,
    depths,
    heads,
    groups=1,
    stage_spec=None,
    window_size=7,
    offset_range_factor=2.0,
    offset_kernel_sizes=None,
    offset_strides=1,
    mlp_ratio=4.0,
    drop_path_rate=0.0,
    attention_dropout=0.0,
    patch_size=4,
    name="encoder",
):
    """Deformable Attention Transformer encoder: ``(batch, H, W, C)`` images -> ``(batch, dims[-1])``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``, any number of channels ``C`` (e.g. 11: 5 bands, 5 invalid-pixel masks and
        a galaxy mask).
    dims, depths, heads : sequence of int
        Channels, blocks and attention heads per stage (``heads`` divides ``dims``).
    groups : int or sequence of int
        Offset groups of the deformable blocks per stage (divides ``heads``).
    stage_spec : sequence of str, optional
        Block letters per stage (``L`` local, ``S`` shifted window, ``D`` deformable), each of
        length ``depths[i]``; default :func:`default_stage_spec`.
    window_size : int or sequence of int
        Window side of the local attention (7 for 224 px inputs).
    offset_range_factor : float or sequence of float
        Offset bound of the deformable blocks (see :class:`DeformableAttention`).
    offset_kernel_sizes : int or sequence of int, optional
        Depthwise-conv kernel of the offset networks per stage; default 9, 7, 5, 3 (3 for any
        further stage), as the reference uses for 56, 28, 14 and 7 px maps.
    offset_strides : int or sequence of int
        Stride of that conv (1: one reference point per pixel).
    mlp_ratio : float
        Hidden width of the MLPs relative to the stage width.
    drop_path_rate : float
        Stochastic depth, rising linearly from 0 to this over all blocks.
    attention_dropout : float
        Dropout on attention weights (training only).
    patch_size : int
        Side and stride of the patch-embedding convolution.
    name : str

    Returns
    -------
    keras.Model
    """
    height, width, channels = (int(d) for d in input_shape)
    dims, depths, heads = (tuple(int(v) for v in seq) for seq in (dims, depths, heads))
    n_stages = len(dims)
    if n_stages < 1 or len(depths) != n_stages or len(heads) != n_stages:
        raise ValueError(f"dims, depths and heads need one value per stage each, got {dims}, {depths}, {heads}")
    if min(dims + heads) < 1 or min(depths) < 0:
        raise ValueError(f"dims and heads must be positive and depths non-negative, got {dims}, {depths}, {heads}")
    for stage, (dim, head) in enumerate(zip(dims, heads), start=1):
        if dim % head:
            raise ValueError(f"stage {stage}: dims ({dim}) must be divisible by heads ({head})")
    groups = _per_stage(groups, n_stages, "groups")
    windows = _per_stage(window_size, n_stages, "window_size")
    ranges = _per_stage(offset_range_factor, n_stages, "offset_range_factor", float)
    if offset_kernel_sizes is None:
        offset_kernel_sizes = tuple((9, 7, 5, 3)[min(i, 3)] for i in range(n_stages))
    kernels = _per_stage(offset_kernel_sizes, n_stages, "offset_kernel_sizes")
    strides = _per_stage(offset_strides, n_stages, "offset_strides")
    spec = default_stage_spec(depths) if stage_spec is None else tuple(str(s).upper() for s in stage_spec)
    if len(spec) != n_stages or any(len(s) != d for s, d in zip(spec, depths)):
        raise ValueError(f"stage_spec {stage_spec!r} needs one string of depths[i] letters per stage (depths {depths})")
    if any(letter not in _KIND_OF_LETTER for s in spec for letter in s):
        raise ValueError(f"stage_spec {stage_spec!r} may only contain 'L', 'S' and 'D'")
    if not 0.0 <= float(drop_path_rate) < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}")
    if int(patch_size) < 1:
        raise ValueError(f"patch_size must be positive, got {patch_size!r}")
    rates = np.linspace(0.0, float(drop_path_rate), max(sum(depths), 1))

    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = keras.layers.Conv2D(dims[0], int(patch_size), strides=int(patch_size), padding="same", name="stem_conv")(inputs)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="stem_norm")(x)
    block_index = 0
    for stage in range(n_stages):
        prefix = f"stage{stage + 1}"
        if stage > 0:
            x = keras.layers.Conv2D(
                dims[stage], 2, strides=2, padding="same", use_bias=False, name=f"{prefix}_down_conv"
            )(x)
            x = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_down_norm")(x)
        for j, letter in enumerate(spec[stage]):
            x = DATBlock(
                _KIND_OF_LETTER[letter],
                heads[stage],
                window_size=windows[stage],
                num_groups=groups[stage],
                offset_range_factor=ranges[stage],
                offset_kernel_size=kernels[stage],
                offset_stride=strides[stage],
                mlp_ratio=mlp_ratio,
                drop_path_rate=float(rates[block_index]),
                attention_dropout=attention_dropout,
                name=f"{prefix}_block{j + 1}_{_KIND_OF_LETTER[letter]}",
            )(x)
            block_index += 1
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, outputs, name=name)


def _register(config_name):
    def builder(input_shape, name="encoder", **overrides):
        return dat_backbone(input_shape, **{**DAT_CONFIGS[config_name], **overrides}, name=name)

    builder.__doc__ = f"``{config_name}``: :func:`dat_backbone` with ``DAT_CONFIGS[{config_name!r}]``; kwargs override."
    register_architecture(config_name)(builder)


for _config_name in DAT_CONFIGS:
    _register(_config_name)


def deformable_attention_maps(model, images, block=-1, batch_size=16):
    """Sampling points and attention weights of one deformable block, for visualisation.

    Parameters
    ----------
    model : keras.Model
        A DAT encoder, or a model from ``get_model`` containing one (layer ``'encoder'``).
    images : array
        ``(N, H, W, C)`` images as the model takes them.
    block : int
        Which deformable block (index into all deformable blocks in order; -1: the last).
    batch_size : int

    Returns
    -------
    dict of np.ndarray
        ``sampling_points`` and ``reference_points``: ``(N, groups, H_k, W_k, 2)`` as ``(y, x)``
        in *image* pixel coordinates (centres of pixels at integers), ready to overlay;
        ``attention``: ``(N, heads, H_q * W_q, H_k * W_k)`` softmax weights;
        ``key_weights``: ``(N, groups, H_k, W_k)``, the attention each sampling point receives,
        averaged over its group's heads and all queries; ``block``: the block's name.
    """
    try:
        encoder = model.get_layer("encoder")
    except ValueError:
        encoder = model
    blocks = [layer for layer in encoder.layers if isinstance(layer, DATBlock) and layer.kind == "deformable"]
    if not blocks:
        raise ValueError(f"model {model.name!r} has no deformable attention blocks")
    try:
        chosen = blocks[block]
    except IndexError:
        raise IndexError(f"block {block} out of range: the model has {len(blocks)} deformable blocks") from None
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[1:] != tuple(encoder.input.shape[1:]):
        raise ValueError(f"images must have shape (N,) + {tuple(encoder.input.shape[1:])}, got {images.shape}")
    probe = keras.Model(encoder.input, chosen.input)
    parts = {"sampling_points": [], "reference_points": [], "attention": []}
    for start in range(0, len(images), int(batch_size)):
        features = probe(images[start : start + int(batch_size)], training=False)
        _, info = chosen(features, return_attention=True, training=False)
        for key in parts:
            parts[key].append(keras.ops.convert_to_numpy(info[key]))
    out = {key: np.concatenate(values) for key, values in parts.items()}
    # feature-map pixel -> image pixel (centres), then per-point attention averaged per group
    feature_hw = np.array(chosen.input.shape[1:3], "float32")
    scale = np.array(images.shape[1:3], "float32") / feature_hw
    for key in ("sampling_points", "reference_points"):
        out[key] = (out[key] + 0.5) * scale - 0.5
    n, groups, key_h, key_w, _ = out["sampling_points"].shape
    per_group = out["attention"].reshape(n, groups, -1, out["attention"].shape[2], key_h * key_w)
    out["key_weights"] = per_group.mean(axis=(2, 3)).reshape(n, groups, key_h, key_w)
    out["block"] = chosen.name
    return out
