"""Layers of the Deformable Attention Transformer (DAT, Xia et al. 2022), channels-last.

* :func:`bilinear_sample` - differentiable bilinear sampling at continuous points, the
  core of deformable attention: gradients flow to the *positions* through the interpolation
  weights, which is how the offset network learns where to look.
* :class:`DeformableAttention` - queries from every pixel; keys and values from features sampled
  at a uniform grid of reference points shifted by learned, bounded offsets.
* :class:`WindowAttention` - Swin-style local (optionally shifted) window attention, padding
  feature maps that are not a multiple of the window.
* :class:`DropPath`, :class:`DATBlock` - stochastic depth and the pre-norm transformer block.

All layers are registered with Keras (package ``zoobot_tf``) and have a full ``get_config``, so
a DAT saves as ``.keras`` and loads with ``safe_mode=True``. Sizes of the position-bias tables
depend on the feature-map size, so the spatial input shape must be static (as it is in a
backbone built for a fixed image size). Written in ``keras.ops``: runs on any Keras backend.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = ["DATBlock", "DeformableAttention", "DropPath", "WindowAttention", "bilinear_sample"]

BLOCK_KINDS = ("local", "shift", "deformable")
_MASK_VALUE = -100.0  # as Swin: exp(-100) is 0 in float32 and float16 alike, and -100 never overflows
_LN_EPSILON = 1e-5  # PyTorch's LayerNorm default, as in the reference implementation


def _layer_norm(name):
    return keras.layers.LayerNormalization(epsilon=_LN_EPSILON, name=name)


def bilinear_sample(features, points):
    """Sample ``features`` bilinearly at continuous pixel positions, zero outside the map.

    Parameters
    ----------
    features : tensor
        ``(N, H, W, C)`` with static ``H, W, C``.
    points : tensor
        ``(N, P, 2)`` positions ``(y, x)`` in pixel units of ``features`` (pixel centres at
        integers: ``(0, 0)`` is the first pixel, ``(H - 1, W - 1)`` the last).

    Returns
    -------
    tensor
        ``(N, P, C)``, differentiable w.r.t. ``features`` and ``points`` (like PyTorch's
        ``grid_sample(mode='bilinear', padding_mode='zeros', align_corners=True)``).
    """
    height, width, channels = features.shape[1], features.shape[2], features.shape[3]
    if height is None or width is None or channels is None:
        raise ValueError(f"bilinear_sample needs static (H, W, C) features, got shape {features.shape}")
    # a static count where known; under a trace with an unknown batch it may not be, and a reshape
    # takes one -1 only: the count is then read from the tensor
    n_points = points.shape[1] if points.shape[1] is not None else ops.shape(points)[1]
    points = ops.cast(points, "float32")
    base = ops.floor(points)
    frac = points - base  # (N, P, 2): the interpolation weights carry the gradient w.r.t. points
    # the four neighbours as a trailing axis: (dy, dx) = (0, 0), (0, 1), (1, 0), (1, 1)
    dy = ops.convert_to_tensor(np.array([0.0, 0.0, 1.0, 1.0], "float32"))
    dx = ops.convert_to_tensor(np.array([0.0, 1.0, 0.0, 1.0], "float32"))
    y, x = base[..., 0:1] + dy, base[..., 1:2] + dx  # (N, P, 4)
    fy, fx = frac[..., 0:1], frac[..., 1:2]
    weight = ((1.0 - dy) + (2.0 * dy - 1.0) * fy) * ((1.0 - dx) + (2.0 * dx - 1.0) * fx)
    h_max, w_max = float(height - 1), float(width - 1)
    inside = ops.logical_and(ops.logical_and(y >= 0.0, y <= h_max), ops.logical_and(x >= 0.0, x <= w_max))
    weight = ops.cast(weight * ops.cast(inside, "float32"), features.dtype)
    index = ops.cast(ops.clip(y, 0.0, h_max) * (w_max + 1.0) + ops.clip(x, 0.0, w_max), "int32")
    # one gather from the flattened batch: offset each sample's indices by its map's start
    offset = ops.arange(ops.shape(features)[0], dtype="int32") * (height * width)
    index = ops.reshape(index + offset[:, None, None], (-1,))
    values = ops.take(ops.reshape(features, (-1, channels)), index, axis=0)  # (N * P * 4, C)
    values = ops.reshape(values, (-1, n_points, 4, channels))
    return ops.sum(values * weight[..., None], axis=2)


def _check_divisible(value, divisor, what, by_what):
    if divisor < 1 or value % divisor:
        raise ValueError(f"{what} ({value}) must be divisible by {by_what} ({divisor})")


@keras.saving.register_keras_serializable(package="zoobot_tf")
class DropPath(keras.layers.Layer):
    """Stochastic depth: drop a residual branch for whole samples during training only.

    Parameters
    ----------
    rate : float
        Probability of dropping the branch for a sample, in [0, 1).
    seed : int, optional
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"drop path rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype) < keep
        return inputs * ops.cast(mask, inputs.dtype) / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="zoobot_tf")
class DeformableAttention(keras.layers.Layer):
    """Deformable multi-head attention on a ``(batch, H, W, C)`` feature map.

    Every pixel is a query. Channels are split into ``num_groups`` groups; for each group an
    offset network (depthwise conv with stride ``stride`` -> LayerNorm -> GELU -> 1x1 conv to 2
    channels; shared by the groups, as in the reference code) predicts an offset for each point of
    a uniform ``ceil(H / stride) x ceil(W / stride)`` grid of reference points. Offsets are
    bounded by ``tanh`` times ``offset_range_factor / H_k`` in normalised [-1, 1] coordinates
    (i.e. at most ``offset_range_factor / 2`` grid cells), as in the reference implementation.
    The input features are sampled bilinearly at the shifted points and projected to keys and
    values; each head attends from all queries to its group's sampled keys, with a relative
    position bias sampled bilinearly from a learned ``(2H - 1) x (2W - 1)`` table per head at the
    continuous query-key displacement.

    Parameters
    ----------
    num_heads : int
        Attention heads; divides the channels and is a multiple of ``num_groups``.
    num_groups : int
        Offset groups (each with its own sampling points), dividing ``num_heads``.
    offset_range_factor : float
        Bound of the offsets (see above); 0 disables the offsets (a fixed sampling grid).
    offset_kernel_size : int
        Kernel of the depthwise conv of the offset network (9, 7, 5, 3 in stages 1-4 of DAT).
    stride : int
        Stride of that conv: the reference grid has ``ceil(H / stride) * ceil(W / stride)`` points.
    use_position_bias : bool
        Add the sampled relative position bias to the attention logits.
    attention_dropout : float
        Dropout on the attention weights (training only).

    Call arguments
    --------------
    inputs : ``(batch, H, W, C)``
    return_attention : bool
        Also return a dict with ``sampling_points`` and ``reference_points``
        ``(batch, groups, H_k, W_k, 2)`` as ``(y, x)`` in pixel units of the feature map, and
        ``attention`` ``(batch, heads, H * W, H_k * W_k)`` (softmax weights). Use it in eager
        calls (e.g. :func:`zoobot_tf.models.dat.deformable_attention_maps`); the saved model
        never stores it, so nothing but weights needs serialising.
    """

    def __init__(
        self,
        num_heads,
        num_groups=1,
        offset_range_factor=2.0,
        offset_kernel_size=5,
        stride=1,
        use_position_bias=True,
        attention_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.num_groups = int(num_groups)
        self.offset_range_factor = float(offset_range_factor)
        self.offset_kernel_size = int(offset_kernel_size)
        self.stride = int(stride)
        self.use_position_bias = bool(use_position_bias)
        self.attention_dropout = float(attention_dropout)
        _check_divisible(self.num_heads, self.num_groups, "num_heads", "num_groups")
        if self.offset_range_factor < 0:
            raise ValueError(f"offset_range_factor must be >= 0, got {offset_range_factor!r}")
        if self.stride < 1 or self.offset_kernel_size < 1:
            raise ValueError(f"stride and offset_kernel_size must be positive, got {stride!r}, {offset_kernel_size!r}")
        self.offset_conv = keras.layers.DepthwiseConv2D(
            self.offset_kernel_size, strides=self.stride, padding="same", name="offset_dwconv"
        )
        self.offset_norm = _layer_norm("offset_norm")
        self.offset_act = keras.layers.Activation("gelu", name="offset_gelu")
        self.offset_proj = keras.layers.Conv2D(2, 1, use_bias=False, name="offset_proj")
        self.attn_drop = keras.layers.Dropout(self.attention_dropout, name="attention_dropout")

    def build(self, input_shape):
        _, height, width, channels = input_shape
        if height is None or width is None or channels is None:
            raise ValueError(f"DeformableAttention needs a static (H, W, C) input shape, got {input_shape}")
        _check_divisible(channels, self.num_heads, "channels", "num_heads")
        self.height, self.width, self.channels = int(height), int(width), int(channels)
        self.head_dim = self.channels // self.num_heads
        self.group_channels = self.channels // self.num_groups
        self.group_heads = self.num_heads // self.num_groups
        self.key_height = math.ceil(self.height / self.stride)
        self.key_width = math.ceil(self.width / self.stride)
        # the projections need the channel count, so they are created here rather than in __init__
        self.proj_q = keras.layers.Dense(self.channels, name="proj_q")
        self.proj_k = keras.layers.Dense(self.channels, name="proj_k")
        self.proj_v = keras.layers.Dense(self.channels, name="proj_v")
        self.proj_out = keras.layers.Dense(self.channels, name="proj_out")
        for dense in (self.proj_q, self.proj_k, self.proj_v, self.proj_out):
            dense.build((None, None, self.channels))
        group_shape = (None, self.height, self.width, self.group_channels)
        self.offset_conv.build(group_shape)
        key_shape = (None, self.key_height, self.key_width, self.group_channels)
        self.offset_norm.build(key_shape)
        self.offset_proj.build(key_shape)
        if self.use_position_bias:
            self.position_bias = self.add_weight(
                name="position_bias_table",
                shape=(2 * self.height - 1, 2 * self.width - 1, self.num_heads),
                initializer=keras.initializers.TruncatedNormal(stddev=0.01),
            )
        # reference points (centres of the key grid cells) and query positions, in pixels (y, x)
        cell_y, cell_x = self.height / self.key_height, self.width / self.key_width
        ref_y = (np.arange(self.key_height) + 0.5) * cell_y - 0.5
        ref_x = (np.arange(self.key_width) + 0.5) * cell_x - 0.5
        self._reference = np.stack(np.meshgrid(ref_y, ref_x, indexing="ij"), -1).astype("float32")
        self._offset_scale = np.array([cell_y, cell_x], "float32") * self.offset_range_factor / 2.0
        queries = np.stack(np.meshgrid(np.arange(self.height), np.arange(self.width), indexing="ij"), -1)
        self._queries = queries.reshape(-1, 2).astype("float32")
        self.built = True

    def _split_heads(self, x):
        """(B, N, C) -> (B, heads, N, head_dim)."""
        x = ops.reshape(x, (-1, x.shape[1], self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _position_bias(self, positions, n_keys):
        """Bias (B, heads, HW, Nk) sampled at query - key displacements."""
        g, hg = self.num_groups, self.group_heads
        table = ops.reshape(self.position_bias, (2 * self.height - 1, 2 * self.width - 1, g, hg))
        table = ops.transpose(ops.cast(table, self.compute_dtype), (2, 0, 1, 3))  # (g, 2H-1, 2W-1, hg)
        # displacement (B, g, HW, Nk, 2), shifted so that zero displacement is the table centre
        centre = np.array([self.height - 1, self.width - 1], "float32")
        queries = ops.convert_to_tensor(self._queries[None, None, :, None, :] + centre)
        displacement = queries - positions[:, :, None, :, :]
        points = ops.reshape(ops.transpose(displacement, (1, 0, 2, 3, 4)), (g, -1, 2))
        bias = bilinear_sample(table, points)  # (g, B * HW * Nk, hg)
        bias = ops.reshape(bias, (g, -1, self.height * self.width, n_keys, hg))
        bias = ops.transpose(bias, (1, 0, 4, 2, 3))  # (B, g, hg, HW, Nk)
        return ops.reshape(bias, (-1, self.num_heads, self.height * self.width, n_keys))

    def _grouped(self, x):
        """(B, H, W, C) -> (B * groups, H, W, C / groups), groups folded into the batch."""
        x = ops.reshape(x, (-1, self.height, self.width, self.num_groups, self.group_channels))
        return ops.reshape(ops.transpose(x, (0, 3, 1, 2, 4)), (-1, self.height, self.width, self.group_channels))

    def call(self, inputs, return_attention=False, training=None):
        g, cg = self.num_groups, self.group_channels
        hk, wk = self.key_height, self.key_width
        n_keys = hk * wk

        query = self.proj_q(inputs)  # (B, H, W, C)
        # offsets per group: one offset network for all groups
        offsets = self.offset_proj(self.offset_act(self.offset_norm(self.offset_conv(self._grouped(query)))))
        scale, reference = ops.convert_to_tensor(self._offset_scale), ops.convert_to_tensor(self._reference)
        offsets = ops.tanh(ops.cast(offsets, "float32")) * scale  # (B*g, Hk, Wk, 2) pixels
        positions = ops.reshape(offsets + reference, (-1, g, n_keys, 2))

        # keys and values from the input sampled at the shifted points, group by group
        sampled = bilinear_sample(self._grouped(inputs), ops.reshape(positions, (-1, n_keys, 2)))  # (B*g, Nk, cg)
        sampled = ops.transpose(ops.reshape(sampled, (-1, g, n_keys, cg)), (0, 2, 1, 3))
        sampled = ops.reshape(sampled, (-1, n_keys, self.channels))

        q = self._split_heads(ops.reshape(query, (-1, self.height * self.width, self.channels)))
        k = self._split_heads(self.proj_k(sampled))
        v = self._split_heads(self.proj_v(sampled))
        logits = ops.matmul(q, ops.swapaxes(k, -1, -2)) * ops.cast(self.head_dim**-0.5, q.dtype)  # (B, h, HW, Nk)
        if self.use_position_bias:
            logits = logits + self._position_bias(positions, n_keys)
        attention = ops.softmax(logits, axis=-1)
        out = ops.matmul(self.attn_drop(attention, training=training), v)  # (B, h, HW, hd)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, self.height, self.width, self.channels))
        out = self.proj_out(out)
        if not return_attention:
            return out
        shape = (ops.shape(inputs)[0], g, hk, wk, 2)
        reference = ops.broadcast_to(reference, shape)
        info = {"sampling_points": ops.reshape(positions, shape), "reference_points": reference, "attention": attention}
        return out, info

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "num_groups": self.num_groups,
            "offset_range_factor": self.offset_range_factor,
            "offset_kernel_size": self.offset_kernel_size,
            "stride": self.stride,
            "use_position_bias": self.use_position_bias,
            "attention_dropout": self.attention_dropout,
        }


def window_layout(height, width, window_size, shift):
    """Effective window and shift for a ``height x width`` map (Swin's rule).

    A map no larger than the window in its smaller side gets one window of that side and no
    shift; otherwise ``window_size`` and, when ``shift``, a shift of ``ceil(window / 2)`` (DAT).
    """
    if min(height, width) <= window_size:
        return min(height, width), 0
    return window_size, (math.ceil(window_size / 2) if shift else 0)


def _window_mask(height, width, window, shift):
    """(n_windows, N, N) additive mask, or None: keys from another region of a shifted window, and
    padding pixels, are masked (so results do not depend on the padding)."""
    padded_h, padded_w = -(-height // window) * window, -(-width // window) * window
    if shift == 0 and (padded_h, padded_w) == (height, width):
        return None
    # pixel of the (padded, rolled) frame -> original coordinates and "wrapped around" region
    y = np.arange(padded_h)[:, None] + np.zeros((1, padded_w), int)
    x = np.arange(padded_w)[None, :] + np.zeros((padded_h, 1), int)
    region = (y + shift >= padded_h) * 2 + (x + shift >= padded_w)
    valid = (((y + shift) % padded_h) < height) & (((x + shift) % padded_w) < width)

    def windows(a):
        a = a.reshape(padded_h // window, window, padded_w // window, window).transpose(0, 2, 1, 3)
        return a.reshape(-1, window * window)

    region, valid = windows(region), windows(valid)
    allowed = (region[:, :, None] == region[:, None, :]) & valid[:, None, :]
    return np.where(allowed, 0.0, _MASK_VALUE).astype("float32")


def _to_windows(x, n_rows, n_cols, window):
    """(B, rows * w, cols * w, C) -> (B * rows * cols, w * w, C), windows in row-major order."""
    channels = x.shape[-1]
    x = ops.reshape(x, (-1, n_rows, window, n_cols, window, channels))
    return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, window * window, channels))


def _from_windows(x, n_rows, n_cols, window):
    """Inverse of :func:`_to_windows`."""
    channels = x.shape[-1]
    x = ops.reshape(x, (-1, n_rows, n_cols, window, window, channels))
    return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, n_rows * window, n_cols * window, channels))


def _relative_position_index(window):
    """(N, N) index into the ((2w - 1)^2, heads) bias table (Swin)."""
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return (relative[..., 0] * (2 * window - 1) + relative[..., 1]).astype("int32")


@keras.saving.register_keras_serializable(package="zoobot_tf")
class WindowAttention(keras.layers.Layer):
    """Multi-head self-attention inside non-overlapping windows (Swin / DAT local attention).

    The ``(batch, H, W, C)`` map is zero-padded at the bottom/right to a multiple of the window;
    padded pixels are masked out as keys and cropped from the output, so any ``H, W`` works. With
    ``shift=True`` the map is rolled by ``ceil(window / 2)`` first (shifted windows) and keys from
    different regions are masked. A learned relative position bias per head is added.

    Parameters
    ----------
    num_heads : int
    window_size : int
        Requested window side; see :func:`window_layout` for small maps.
    shift : bool
    attention_dropout : float
    """

    def __init__(self, num_heads, window_size=7, shift=False, attention_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.shift = bool(shift)
        self.attention_dropout = float(attention_dropout)
        if self.num_heads < 1 or self.window_size < 1:
            raise ValueError(f"num_heads and window_size must be positive, got {num_heads!r}, {window_size!r}")
        self.attn_drop = keras.layers.Dropout(self.attention_dropout, name="attention_dropout")

    def build(self, input_shape):
        _, height, width, channels = input_shape
        if height is None or width is None or channels is None:
            raise ValueError(f"WindowAttention needs a static (H, W, C) input shape, got {input_shape}")
        _check_divisible(channels, self.num_heads, "channels", "num_heads")
        self.height, self.width, self.channels = int(height), int(width), int(channels)
        self.head_dim = self.channels // self.num_heads
        self.window, self.shift_size = window_layout(self.height, self.width, self.window_size, self.shift)
        self.qkv = keras.layers.Dense(3 * self.channels, name="qkv")
        self.proj_out = keras.layers.Dense(self.channels, name="proj_out")
        self.qkv.build((None, None, self.channels))
        self.proj_out.build((None, None, self.channels))
        self.position_bias = self.add_weight(
            name="position_bias_table",
            shape=((2 * self.window - 1) ** 2, self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.01),
        )
        self._index = _relative_position_index(self.window)
        self._mask = _window_mask(self.height, self.width, self.window, self.shift_size)
        self.built = True

    def call(self, inputs, training=None):
        w, s = self.window, self.shift_size
        pad_h, pad_w = -self.height % w, -self.width % w
        x = inputs
        if pad_h or pad_w:
            x = ops.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        if s:
            x = ops.roll(x, shift=(-s, -s), axis=(1, 2))
        nh, nw, n = (self.height + pad_h) // w, (self.width + pad_w) // w, w * w
        windows = _to_windows(x, nh, nw, w)  # (B * nW, N, C)

        qkv = ops.reshape(self.qkv(windows), (-1, n, 3, self.num_heads, self.head_dim))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (B*nW, h, N, hd)
        logits = ops.matmul(q, ops.swapaxes(k, -1, -2)) * ops.cast(self.head_dim**-0.5, q.dtype)
        bias = ops.transpose(ops.take(ops.cast(self.position_bias, logits.dtype), self._index, axis=0), (2, 0, 1))
        logits = logits + bias[None]
        if self._mask is not None:
            logits = ops.reshape(logits, (-1, nh * nw, self.num_heads, n, n))
            logits = logits + ops.cast(ops.convert_to_tensor(self._mask), logits.dtype)[None, :, None]
            logits = ops.reshape(logits, (-1, self.num_heads, n, n))
        attention = self.attn_drop(ops.softmax(logits, axis=-1), training=training)
        out = ops.reshape(ops.transpose(ops.matmul(attention, v), (0, 2, 1, 3)), (-1, n, self.channels))
        out = self.proj_out(out)

        out = _from_windows(out, nh, nw, w)
        if s:
            out = ops.roll(out, shift=(s, s), axis=(1, 2))
        return out[:, : self.height, : self.width, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "shift": self.shift,
            "attention_dropout": self.attention_dropout,
        }


@keras.saving.register_keras_serializable(package="zoobot_tf")
class DATBlock(keras.layers.Layer):
    """Pre-norm transformer block on a ``(batch, H, W, C)`` map: ``x + attn(LN(x))``, then
    ``x + MLP(LN(x))`` (GELU, ``mlp_ratio`` expansion), each branch with stochastic depth.

    Parameters
    ----------
    kind : {'local', 'shift', 'deformable'}
        Window attention, shifted-window attention, or :class:`DeformableAttention`.
    num_heads, window_size : int
    num_groups, offset_range_factor, offset_kernel_size, offset_stride
        Passed to :class:`DeformableAttention` (``kind='deformable'`` only).
    mlp_ratio : float
    drop_path_rate : float
    attention_dropout : float

    Call arguments
    --------------
    return_attention : bool
        For a deformable block: also return the attention dict of :class:`DeformableAttention`.
    """

    def __init__(
        self,
        kind,
        num_heads,
        window_size=7,
        num_groups=1,
        offset_range_factor=2.0,
        offset_kernel_size=5,
        offset_stride=1,
        mlp_ratio=4.0,
        drop_path_rate=0.0,
        attention_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in BLOCK_KINDS:
            raise ValueError(f"unknown block kind {kind!r}; choose from {', '.join(BLOCK_KINDS)}")
        if float(mlp_ratio) <= 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio!r}")
        self.kind = kind
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.num_groups = int(num_groups)
        self.offset_range_factor = float(offset_range_factor)
        self.offset_kernel_size = int(offset_kernel_size)
        self.offset_stride = int(offset_stride)
        self.mlp_ratio = float(mlp_ratio)
        self.drop_path_rate = float(drop_path_rate)
        self.attention_dropout = float(attention_dropout)
        self.norm1 = _layer_norm("norm1")
        self.norm2 = _layer_norm("norm2")
        if kind == "deformable":
            self.attention = DeformableAttention(
                self.num_heads,
                num_groups=self.num_groups,
                offset_range_factor=self.offset_range_factor,
                offset_kernel_size=self.offset_kernel_size,
                stride=self.offset_stride,
                attention_dropout=self.attention_dropout,
                name="deformable_attention",
            )
        else:
            self.attention = WindowAttention(
                self.num_heads,
                window_size=self.window_size,
                shift=kind == "shift",
                attention_dropout=self.attention_dropout,
                name="window_attention",
            )
        self.mlp_act = keras.layers.Activation("gelu", name="mlp_gelu")
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        hidden = max(1, int(round(channels * self.mlp_ratio)))
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)
        self.attention.build(input_shape)
        self.mlp_in = keras.layers.Dense(hidden, name="mlp_in")
        self.mlp_out = keras.layers.Dense(channels, name="mlp_out")
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (hidden,))
        self.built = True

    def call(self, inputs, return_attention=False, training=None):
        info = None
        normed = self.norm1(inputs)
        if return_attention and self.kind == "deformable":
            attended, info = self.attention(normed, return_attention=True, training=training)
        else:
            attended = self.attention(normed, training=training)
        x = inputs + self.drop_path(attended, training=training)
        x = x + self.drop_path(self.mlp_out(self.mlp_act(self.mlp_in(self.norm2(x)))), training=training)
        if return_attention:
            return x, info
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "kind": self.kind,
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "num_groups": self.num_groups,
            "offset_range_factor": self.offset_range_factor,
            "offset_kernel_size": self.offset_kernel_size,
            "offset_stride": self.offset_stride,
            "mlp_ratio": self.mlp_ratio,
            "drop_path_rate": self.drop_path_rate,
            "attention_dropout": self.attention_dropout,
        }
