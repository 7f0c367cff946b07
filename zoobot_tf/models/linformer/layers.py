"""Layers of a Linformer ViT (Wang et al. 2020, "Linformer: self-attention with linear complexity").

* :class:`LinformerSelfAttention` - keys and values are projected along the *sequence* from
  ``n`` to ``k`` tokens by learned matrices E and F, so attention costs ``O(n k)`` not ``O(n^2)``.
* :class:`LinformerBlock` - pre-norm transformer block (attention, then a GELU MLP).
* :class:`ClassTokenPositionEmbedding` - prepends a learned class token and adds a learned
  position embedding.

Mirrors ``linformer.LinformerSelfAttention`` and ``vit_pytorch.efficient.ViT`` (the code of the
GZ2 study) so parameter counts match; registered with Keras for ``safe_mode`` loading.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["ClassTokenPositionEmbedding", "LinformerBlock", "LinformerSelfAttention"]


def _layer_norm(name):
    return keras.layers.LayerNormalization(epsilon=1e-5, name=name)


@keras.saving.register_keras_serializable(package="zoobot_tf")
class LinformerSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with keys/values projected along the sequence to ``k`` tokens.

    Input ``(batch, n, dim)`` with static ``n`` (E and F are ``(n, k)`` matrices). Queries, keys and
    values are bias-free projections to ``num_heads * head_dim``; the output projection has a bias.

    Parameters
    ----------
    num_heads : int
    k : int
        Projected sequence length of keys and values.
    head_dim : int, optional
        Default ``dim // num_heads``.
    share_kv : bool
        One projection (and one E = F) for keys and values.
    dropout : float
        Dropout on the attention weights (training only).
    """

    def __init__(self, num_heads, k, head_dim=None, share_kv=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.k = int(k)
        self.head_dim = None if head_dim is None else int(head_dim)
        self.share_kv = bool(share_kv)
        self.dropout = float(dropout)
        if self.num_heads < 1 or self.k < 1:
            raise ValueError(f"num_heads and k must be positive, got {num_heads!r}, {k!r}")
        self.attn_drop = keras.layers.Dropout(self.dropout, name="attention_dropout")

    def build(self, input_shape):
        _, seq_len, dim = input_shape
        if seq_len is None or dim is None:
            raise ValueError(f"LinformerSelfAttention needs a static (n, dim) input shape, got {input_shape}")
        self.seq_len, self.dim = int(seq_len), int(dim)
        if self.head_dim is None and self.dim % self.num_heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads}), or give head_dim")
        self.inner_dim = self.num_heads * (self.head_dim or self.dim // self.num_heads)
        self.to_q = keras.layers.Dense(self.inner_dim, use_bias=False, name="to_q")
        self.to_k = keras.layers.Dense(self.inner_dim, use_bias=False, name="to_k")
        self.to_v = None if self.share_kv else keras.layers.Dense(self.inner_dim, use_bias=False, name="to_v")
        self.to_out = keras.layers.Dense(self.dim, name="to_out")
        for dense in (self.to_q, self.to_k, self.to_v):
            if dense is not None:
                dense.build((None, self.seq_len, self.dim))
        self.to_out.build((None, self.seq_len, self.inner_dim))
        bound = 1.0 / math.sqrt(self.k)  # the reference init: U(-1/sqrt(k), 1/sqrt(k))
        init = keras.initializers.RandomUniform(-bound, bound)
        shape = (self.seq_len, self.k)
        self.proj_k = self.add_weight(name="proj_k", shape=shape, initializer=init)
        self.proj_v = None if self.share_kv else self.add_weight(name="proj_v", shape=shape, initializer=init)
        self.built = True

    def _heads(self, x):
        """(B, L, inner) -> (B, heads, L, head_dim)."""
        x = ops.reshape(x, (-1, x.shape[1], self.num_heads, self.inner_dim // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, inputs, training=None):
        queries = self._heads(self.to_q(inputs))
        keys = self.to_k(inputs)
        values = keys if self.share_kv else self.to_v(inputs)
        proj_v = self.proj_k if self.share_kv else self.proj_v
        keys = self._heads(ops.einsum("bnd,nk->bkd", keys, ops.cast(self.proj_k, keys.dtype)))
        values = self._heads(ops.einsum("bnd,nk->bkd", values, ops.cast(proj_v, values.dtype)))
        scale = ops.cast((self.inner_dim // self.num_heads) ** -0.5, queries.dtype)
        attention = ops.softmax(ops.einsum("bhnd,bhkd->bhnk", queries, keys) * scale, axis=-1)
        out = ops.einsum("bhnk,bhkd->bhnd", self.attn_drop(attention, training=training), values)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, self.seq_len, self.inner_dim))
        return self.to_out(out)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "k": self.k,
            "head_dim": self.head_dim,
            "share_kv": self.share_kv,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="zoobot_tf")
class LinformerBlock(keras.layers.Layer):
    """Pre-norm block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))`` (``dim * mlp_ratio`` GELU units).

    Parameters
    ----------
    num_heads, k, head_dim, share_kv
        As :class:`LinformerSelfAttention`.
    mlp_ratio : float
    dropout : float
        Dropout on attention weights and after the MLP activation (training only).
    """

    def __init__(self, num_heads, k, head_dim=None, share_kv=False, mlp_ratio=4.0, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if float(mlp_ratio) <= 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio!r}")
        self.num_heads = int(num_heads)
        self.k = int(k)
        self.head_dim = None if head_dim is None else int(head_dim)
        self.share_kv = bool(share_kv)
        self.mlp_ratio = float(mlp_ratio)
        self.dropout = float(dropout)
        self.norm1 = _layer_norm("norm1")
        self.norm2 = _layer_norm("norm2")
        self.attention = LinformerSelfAttention(
            self.num_heads,
            self.k,
            head_dim=self.head_dim,
            share_kv=self.share_kv,
            dropout=self.dropout,
            name="attention",
        )
        self.mlp_act = keras.layers.Activation("gelu", name="mlp_gelu")
        self.mlp_drop = keras.layers.Dropout(self.dropout, name="mlp_dropout")

    def build(self, input_shape):
        dim = int(input_shape[-1])
        hidden = max(1, int(round(dim * self.mlp_ratio)))
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)
        self.attention.build(input_shape)
        self.mlp_in = keras.layers.Dense(hidden, name="mlp_in")
        self.mlp_out = keras.layers.Dense(dim, name="mlp_out")
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (hidden,))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs + self.attention(self.norm1(inputs), training=training)
        hidden = self.mlp_drop(self.mlp_act(self.mlp_in(self.norm2(x))), training=training)
        return x + self.mlp_out(hidden)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "k": self.k,
            "head_dim": self.head_dim,
            "share_kv": self.share_kv,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="zoobot_tf")
class ClassTokenPositionEmbedding(keras.layers.Layer):
    """``(batch, n, dim)`` patch tokens -> ``(batch, n + 1, dim)``: a learned class token first,
    plus a learned position embedding for all ``n + 1`` tokens (truncated normal, std 0.02)."""

    def build(self, input_shape):
        _, n, dim = input_shape
        if n is None or dim is None:
            raise ValueError(f"ClassTokenPositionEmbedding needs a static (n, dim) input shape, got {input_shape}")
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.class_token = self.add_weight(name="class_token", shape=(1, 1, int(dim)), initializer=init)
        self.position_embedding = self.add_weight(
            name="position_embedding", shape=(1, int(n) + 1, int(dim)), initializer=init
        )
        self.built = True

    def call(self, inputs):
        token = ops.cast(self.class_token, inputs.dtype)
        token = ops.broadcast_to(token, (ops.shape(inputs)[0], 1, inputs.shape[-1]))
        return ops.concatenate([token, inputs], axis=1) + ops.cast(self.position_embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        n = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], n, input_shape[2])
