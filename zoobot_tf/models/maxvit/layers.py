"""MaxViT's custom layer (and activation): multi-head self-attention inside windows (block) or a dilated grid.

:class:`PartitionAttention` takes the output of the ``qkv`` projection (a Dense layer in the
graph, timm's ``attn.qkv``), cuts the map into ``size x size`` partitions, attends within each
with timm's relative-position bias, and puts the map back together; the output projection is
again a Dense layer (``attn.proj``). The bias is one of timm's three kinds, all owned here:

``mlp``      ``RelPosMlp`` (mode ``cr``): a 2-layer ReLU MLP of signed log relative coordinates
             (``maxvit_rmlp_*``); works at any partition size, so at any image size.
``bias``     ``RelPosBias``: a learned table over relative offsets (``maxvit_tiny_rw_224``).
``bias_tf``  ``RelPosBiasTf``: the TensorFlow MaxViT table (``maxvit_*_tf_*``), indexed by the
             key-minus-query offset.

Only ``keras.ops``: runs on any Keras backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["REL_POS_KINDS", "PartitionAttention", "gelu_tanh", "relative_index"]

REL_POS_KINDS = ("mlp", "bias", "bias_tf")


@keras.saving.register_keras_serializable(package="zoobot_tf")
def gelu_tanh(x):
    """timm's ``GELUTanh`` (the ``tf`` models' tanh-approximated GELU), registered for safe-mode loading."""
    return keras.activations.gelu(x, approximate=True)


def relative_index(size, key_minus_query=False):
    """``(N, N)`` index into a ``(2 size - 1)^2`` table of offsets, ``N = size^2``, row-major.

    timm's ``gen_relative_position_index`` (query minus key); ``key_minus_query`` for the TF table.
    """
    coords = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij")).reshape(2, -1)
    delta = coords[:, :, None] - coords[:, None, :]
    if key_minus_query:
        delta = -delta
    delta = delta + size - 1
    return (delta[0] * (2 * size - 1) + delta[1]).astype("int32")


def _log_coords(size):
    """timm's ``cr`` log coordinates: sign(d) log(1 + |d|) for offsets d, shape (2s-1, 2s-1, 2)."""
    offsets = np.arange(-(size - 1), size, dtype=np.float32)
    grid = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), axis=-1)
    return (np.sign(grid) * np.log1p(np.abs(grid))).astype(np.float32)


@keras.saving.register_keras_serializable(package="zoobot_tf")
class PartitionAttention(keras.layers.Layer):
    """Self-attention within partitions of a ``(batch, H, W, 3 C)`` qkv map -> ``(batch, H, W, C)``.

    Parameters
    ----------
    partition : {'block', 'grid'}
        ``block``: contiguous ``size x size`` windows; ``grid``: a ``size x size`` grid of pixels
        ``H / size`` apart (MaxViT's global, dilated attention).
    size : int
        Partition side; H and W must be multiples of it.
    num_heads : int
    head_first : bool
        timm's qkv channel order: per head ``[q, k, v]`` (True, the ``rw`` models) or
        ``[q all heads, k ..., v ...]`` (False, the ``tf`` models).
    rel_pos : {'mlp', 'bias', 'bias_tf'}
    rel_pos_dim : int
        Hidden width of the ``mlp`` bias (timm's 512).
    """

    def __init__(self, partition, size, num_heads, head_first=True, rel_pos="mlp", rel_pos_dim=512, **kwargs):
        super().__init__(**kwargs)
        if partition not in ("block", "grid"):
            raise ValueError(f"partition must be 'block' or 'grid', got {partition!r}")
        if rel_pos not in REL_POS_KINDS:
            raise ValueError(f"rel_pos must be one of {REL_POS_KINDS}, got {rel_pos!r}")
        self.partition, self.size, self.num_heads = partition, int(size), int(num_heads)
        self.head_first, self.rel_pos, self.rel_pos_dim = bool(head_first), rel_pos, int(rel_pos_dim)
        self._index = relative_index(self.size, key_minus_query=rel_pos == "bias_tf").reshape(-1)

    def build(self, input_shape):
        span = 2 * self.size - 1
        if self.rel_pos == "mlp":
            self.fc1_kernel = self.add_weight(name="fc1_kernel", shape=(2, self.rel_pos_dim))
            self.fc1_bias = self.add_weight(name="fc1_bias", shape=(self.rel_pos_dim,), initializer="zeros")
            self.fc2_kernel = self.add_weight(name="fc2_kernel", shape=(self.rel_pos_dim, self.num_heads))
            self.fc2_bias = self.add_weight(name="fc2_bias", shape=(self.num_heads,), initializer="zeros")
            self._coords = _log_coords(self.size).reshape(-1, 2)
            self.dropout_seed = keras.random.SeedGenerator(0)
        else:
            shape = (span * span, self.num_heads) if self.rel_pos == "bias" else (self.num_heads, span, span)
            init = keras.initializers.TruncatedNormal(stddev=0.02)
            self.table = self.add_weight(name="table", shape=shape, initializer=init)

    def timm_rules(self):
        """Keras weight name -> (timm key, layout) for :mod:`zoobot_tf.models.pretrained.mapping`."""
        if self.rel_pos == "mlp":
            return {
                "fc1_kernel": (f"{self.name}.mlp.fc1.weight", "dense"),
                "fc1_bias": (f"{self.name}.mlp.fc1.bias", "same"),
                "fc2_kernel": (f"{self.name}.mlp.fc2.weight", "dense"),
                "fc2_bias": (f"{self.name}.mlp.fc2.bias", "same"),
            }
        return {"table": (f"{self.name}.relative_position_bias_table", "same")}

    def _bias(self, training):
        """``(heads, N, N)`` relative-position bias."""
        n = self.size * self.size
        if self.rel_pos == "mlp":
            hidden = ops.relu(ops.matmul(ops.convert_to_tensor(self._coords), self.fc1_kernel) + self.fc1_bias)
            if training:  # timm's RelPosMlp drops 1/8 of the hidden units while training
                hidden = keras.random.dropout(hidden, 0.125, seed=self.dropout_seed)
            table = ops.matmul(hidden, self.fc2_kernel) + self.fc2_bias  # ((2s-1)^2, heads)
            return ops.transpose(ops.reshape(ops.take(table, self._index, axis=0), (n, n, self.num_heads)), (2, 0, 1))
        if self.rel_pos == "bias":
            return ops.transpose(ops.reshape(ops.take(self.table, self._index, axis=0), (n, n, self.num_heads)), (2, 0, 1))
        flat = ops.reshape(self.table, (self.num_heads, -1))
        return ops.reshape(ops.take(flat, self._index, axis=1), (self.num_heads, n, n))

    def _split(self, x):
        height, width, channels = (int(d) for d in x.shape[1:])
        s, gh, gw = self.size, height // self.size, width // self.size
        if self.partition == "block":
            x = ops.reshape(x, (-1, gh, s, gw, s, channels))
            x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        else:
            x = ops.reshape(x, (-1, s, gh, s, gw, channels))
            x = ops.transpose(x, (0, 2, 4, 1, 3, 5))
        return ops.reshape(x, (-1, s * s, channels))

    def _merge(self, x, height, width):
        channels, s = int(x.shape[-1]), self.size
        x = ops.reshape(x, (-1, height // s, width // s, s, s, channels))
        order = (0, 1, 3, 2, 4, 5) if self.partition == "block" else (0, 3, 1, 4, 2, 5)
        return ops.reshape(ops.transpose(x, order), (-1, height, width, channels))

    def call(self, qkv, training=None):
        height, width = int(qkv.shape[1]), int(qkv.shape[2])
        dim = int(qkv.shape[-1]) // 3
        head_dim, n = dim // self.num_heads, self.size * self.size
        windows = self._split(qkv)
        if self.head_first:
            parts = ops.reshape(windows, (-1, n, self.num_heads, 3, head_dim))
            q, k, v = (ops.transpose(parts[:, :, :, i], (0, 2, 1, 3)) for i in range(3))
        else:
            parts = ops.reshape(windows, (-1, n, 3, self.num_heads, head_dim))
            q, k, v = (ops.transpose(parts[:, :, i], (0, 2, 1, 3)) for i in range(3))
        scores = ops.matmul(q * (head_dim**-0.5), ops.transpose(k, (0, 1, 3, 2)))
        scores = scores + ops.cast(self._bias(training), scores.dtype)[None]
        out = ops.matmul(ops.softmax(scores, axis=-1), v)  # (windows, heads, n, head_dim)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, n, dim))
        return self._merge(out, height, width)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (int(input_shape[-1]) // 3,)

    def get_config(self):
        return {
            **super().get_config(),
            "partition": self.partition,
            "size": self.size,
            "num_heads": self.num_heads,
            "head_first": self.head_first,
            "rel_pos": self.rel_pos,
            "rel_pos_dim": self.rel_pos_dim,
        }
