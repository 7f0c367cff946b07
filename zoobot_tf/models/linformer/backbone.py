"""The Linformer ViT backbone: patch embedding, class token, position embedding, pre-norm blocks.

Layout of ``vit_pytorch.efficient.ViT`` wrapped around ``linformer.Linformer``, the code of the
GZ2 eight-class study: non-overlapping ``patch_size`` patches are flattened and linearly embedded
(a ``patch_size`` stride-``patch_size`` convolution, the same parameters), a class token is
prepended and a learned position embedding added, ``depth`` Linformer blocks follow, and the
class token (or the token mean) is layer-normalised as the pooled feature vector (that
LayerNorm sits in the reference's ``mlp_head``; our head is dropout + dense).

Published configuration (``linformer_vit``): 224 px, patch 28 (8 x 8 = 64 patches + 1 class
token = sequence 65), depth 12, width 128, k 64, 8 heads (head width 16), MLP ratio 4. Parameter
breakdown for 3-band input and a softmax head over 8 classes::

    patch embedding   2352 * 128 + 128            =   301,184
    class token + position embedding  128 + 65 * 128 =  8,448
    per block: 2 LayerNorms 512; q, k, v 3 * 128 * 128 = 49,152; E, F 2 * 65 * 64 = 8,320;
               output 128 * 128 + 128 = 16,512; MLP 128 * 512 + 512 + 512 * 128 + 128 = 131,712
               -> 206,208; x 12                   = 2,474,496
    final LayerNorm                                =       256
    head (dense 128 -> 8)                          =     1,032
    total                                          = 2,785,416  (published: 2.79 M)
"""

from __future__ import annotations

import keras

from zoobot_tf.models.linformer.layers import ClassTokenPositionEmbedding, LinformerBlock
from zoobot_tf.models.registry import register_architecture

__all__ = ["LINFORMER_CONFIGS", "linformer_vit_backbone"]

#: keyword arguments of :func:`linformer_vit_backbone` per registered architecture
LINFORMER_CONFIGS = {
    "linformer_vit": dict(patch_size=28, depth=12, dim=128, k=64, heads=8, mlp_ratio=4.0),
    # tiny, for tests and CPU smoke runs (32 px -> 16 patches + class token)
    "linformer_test": dict(patch_size=8, depth=2, dim=32, k=8, heads=4, mlp_ratio=2.0),
}


def linformer_vit_backbone(
    input_shape,
    patch_size=28,
    depth=12,
    dim=128,
    k=64,
    heads=8,
    mlp_ratio=4.0,
    head_dim=None,
    share_kv=False,
    dropout=0.0,
    embedding_dropout=0.0,
    pool="cls",
    name="encoder",
):
    """Linformer ViT encoder: ``(batch, H, W, C)`` images -> ``(batch, dim)`` features.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``; H and W must be multiples of ``patch_size``; any number of channels.
    patch_size : int
    depth : int
        Number of transformer blocks.
    dim : int
        Token width.
    k : int
        Projected sequence length of keys and values (at most the sequence length makes sense,
        but larger is allowed, as in the reference).
    heads : int
    mlp_ratio : float
    head_dim : int, optional
        Width per head (default ``dim // heads``).
    share_kv : bool
        Share the key/value projections (Linformer's "shared" variant).
    dropout, embedding_dropout : float
        Dropout in the blocks and after the embedding (training only).
    pool : {'cls', 'mean'}
        Pool the class token or the mean of all tokens.
    name : str

    Returns
    -------
    keras.Model
    """
    height, width, channels = (int(d) for d in input_shape)
    patch_size, depth, dim, k, heads = int(patch_size), int(depth), int(dim), int(k), int(heads)
    if min(patch_size, dim, k, heads) < 1 or depth < 0:
        raise ValueError(
            f"patch_size, dim, k and heads must be positive and depth >= 0, "
            f"got patch_size={patch_size}, dim={dim}, k={k}, heads={heads}, depth={depth}"
        )
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image size {height}x{width} is not a multiple of patch_size {patch_size}; "
            "resize the images or choose a patch size that divides both sides"
        )
    if pool not in ("cls", "mean"):
        raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
    n_patches = (height // patch_size) * (width // patch_size)

    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = keras.layers.Conv2D(dim, patch_size, strides=patch_size, name="patch_embedding")(inputs)
    x = keras.layers.Reshape((n_patches, dim), name="patch_tokens")(x)
    x = ClassTokenPositionEmbedding(name="class_token_position")(x)
    x = keras.layers.Dropout(float(embedding_dropout), name="embedding_dropout")(x)
    for i in range(depth):
        x = LinformerBlock(
            heads, k, head_dim=head_dim, share_kv=share_kv, mlp_ratio=mlp_ratio, dropout=dropout, name=f"block{i + 1}"
        )(x)
    if pool == "cls":  # built-in layers only (no Lambda), so the model loads in safe mode
        x = keras.layers.Cropping1D((0, n_patches), name="class_token")(x)
        x = keras.layers.Reshape((dim,), name="pooled")(x)
    else:
        x = keras.layers.GlobalAveragePooling1D(name="pooled")(x)
    outputs = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    return keras.Model(inputs, outputs, name=name)


def _register(config_name):
    def builder(input_shape, name="encoder", **overrides):
        return linformer_vit_backbone(input_shape, **{**LINFORMER_CONFIGS[config_name], **overrides}, name=name)

    builder.__doc__ = (
        f"``{config_name}``: :func:`linformer_vit_backbone` with ``LINFORMER_CONFIGS[{config_name!r}]``; "
        "kwargs override."
    )
    register_architecture(config_name)(builder)


for _config_name in LINFORMER_CONFIGS:
    _register(_config_name)
