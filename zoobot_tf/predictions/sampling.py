"""Draw ``n_samples`` MC-dropout forward passes for a batch of images: full passes or the fast path.

Why a seed: Keras gives each dropout layer of a loaded model a random stream seeded from Python's
global ``random``, so two processes predicting the same catalog drew different MC samples (the
demo's figures moved in the third decimal). :func:`seed_dropout` starts every stream from the
caller's seed, so the same model, catalog and seed give the same file in any process.

Why a fast path: in a model from :func:`zoobot_tf.models.get_model` the only always-on dropout
sits in the head, so the encoder's output is a function of the image alone. Running the encoder
once and the (cheap) head ``n_samples`` times on copies of the features draws exactly the same
distribution as ``n_samples`` full passes, at about ``1/n_samples`` of the compute.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from zoobot_tf.models import encoder_is_deterministic, get_encoder, get_head

__all__ = ["Sampler", "compiled_encoder", "resolve_fast_path", "seed_dropout"]

# compiled step functions per model, so repeated predict() calls (benchmarks, workers in one
# process, resumed runs in a notebook) do not trace the model again
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def resolve_fast_path(model, fast_path="auto") -> bool:
    """Decide whether the encoder-once fast path applies.

    ``'auto'``: when the model has ``encoder``/``head`` parts and the encoder is deterministic.
    ``True``: the same, but raise ValueError explaining why when it does not apply. ``False``: never.
    """
    if fast_path is False or fast_path == "false":
        return False
    if fast_path not in (True, "auto", "true"):
        raise ValueError(f"fast_path must be 'auto', True or False, got {fast_path!r}")
    try:
        get_encoder(model)
        head = get_head(model)
        deterministic = encoder_is_deterministic(model)
        if model.layers[-1] is not head:  # layers after the head (the Kaggle model's re-weighting)
            raise ValueError(f"layers follow the head ({model.layers[-1].name!r}), which the fast path would skip")
    except ValueError as err:
        if fast_path == "auto":
            return False
        raise ValueError(f"fast_path=True needs an encoder + head model: {err}") from None
    if not deterministic and fast_path != "auto":
        raise ValueError(
            "fast_path=True: the encoder of this model has always-on (MC) dropout, so each sample "
            "needs a full forward pass; use fast_path='auto' or False"
        )
    return deterministic


def _layers(layer):
    for child in getattr(layer, "layers", ()):
        yield child
        yield from _layers(child)


def seed_dropout(model, seed: int) -> int:
    """Restart the random stream of every layer of ``model`` that has one (dropout) from ``seed``.

    The ``k``-th such layer of a depth-first walk through the nested models gets the state
    ``(seed + k, 0)``. Returns how many streams were set.
    """
    n = 0
    for layer in _layers(model):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            state = generator.state
            state.assign(np.array([int(seed) + n, 0]).astype(state.dtype))
            n += 1
    return n


def _compiled(model, key, build):
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        cache[key] = build()
    return cache[key]


def compiled_encoder(model):
    """The model's encoder as a traced function ``images -> (B, D)`` (inference mode), cached per model."""
    encoder = get_encoder(model)
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    return _compiled(model, "encoder", lambda: tf.function(lambda x: encoder(x, training=False), input_signature=[spec]))


class Sampler:
    """``sampler(images) -> (B, A, n_samples)`` float32 numpy array of model outputs.

    Parameters
    ----------
    model : keras.Model
        Images ``(B, H, W, C)`` -> ``(B, A)``; BatchNorm runs in inference mode, MC dropout (if
        the model has it) stays on.
    n_samples : int
        Forward passes (MC samples) per image.
    fast_path : bool
        Encoder once + head ``n_samples`` times (see :func:`resolve_fast_path`).
    seed : int, optional
        Start the model's dropout streams from this seed (:func:`seed_dropout`), so a fresh
        process repeats the samples; None leaves them where they are.
    """

    def __init__(self, model, n_samples: int, fast_path: bool, seed=None):
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        if seed is not None:
            seed_dropout(model, seed)
        self.model = model
        self.n_samples = int(n_samples)
        self.fast_path = bool(fast_path)
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        if self.fast_path:
            encoder, head = get_encoder(model), get_head(model)
            self._encode = compiled_encoder(model)
            n = self.n_samples

            def heads(features):
                # n stacked copies of the batch: each row draws its own dropout mask
                out = head(tf.tile(features, [n, 1]), training=False)
                out = tf.reshape(out, [n, tf.shape(features)[0], -1])
                return tf.transpose(out, [1, 2, 0])

            feature_spec = tf.TensorSpec([None, encoder.output.shape[-1]], encoder.output.dtype)
            self._heads = _compiled(model, ("heads", n), lambda: tf.function(heads, input_signature=[feature_spec]))
        else:
            self._forward = _compiled(
                model, "forward", lambda: tf.function(lambda x: model(x, training=False), input_signature=[spec])
            )

    def __call__(self, images) -> np.ndarray:
        images = tf.convert_to_tensor(images, tf.float32)
        if self.fast_path:
            out = self._heads(self._encode(images))
            return np.asarray(out, dtype=np.float32)
        passes = [self._forward(images) for _ in range(self.n_samples)]
        return np.stack([np.asarray(p, dtype=np.float32) for p in passes], axis=-1)
