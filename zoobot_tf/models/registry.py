"""Architecture registry: backbones (encoders) by name, so ``get_model`` takes a string.

A backbone builder has the signature ``builder(input_shape, name="encoder", **kwargs)`` and
returns a Keras model mapping ``(batch, H, W, C)`` float32 images in [0, 1] to pooled features
``(batch, D)``; the head is added separately (:mod:`zoobot_tf.models.heads`). New architectures
(DAT, Linformer, ...) register themselves with :func:`register_architecture` in their own module
and list that module in ``_BUILTIN_MODULES`` so it is imported on first use.
"""

from __future__ import annotations

import importlib

__all__ = ["available_architectures", "get_backbone", "register_architecture"]

_BUILTIN_MODULES = (
    "zoobot_tf.models.efficientnet",
    "zoobot_tf.models.small_cnn",
    "zoobot_tf.models.dat",
    "zoobot_tf.models.linformer",
    "zoobot_tf.models.convnext",
    "zoobot_tf.models.resnet",
    "zoobot_tf.models.efficientnet_timm",
    "zoobot_tf.models.maxvit",
)
_ARCHITECTURES = {}


def register_architecture(name):
    """Decorator: register a backbone builder under ``name`` (an existing name is an error)."""

    def decorator(builder):
        if name in _ARCHITECTURES and _ARCHITECTURES[name] is not builder:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHITECTURES[name] = builder
        return builder

    return decorator


def _import_builtins():
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available_architectures():
    """Names accepted by ``get_model(architecture=...)``, sorted."""
    _import_builtins()
    return tuple(sorted(_ARCHITECTURES))


def validate_input_shape(input_shape):
    """``(H, W, C)`` of positive ints, or a ValueError saying what is wrong."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError) as err:
        raise ValueError(f"input_shape must be (height, width, channels) ints, got {input_shape!r}") from err
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels) with positive sizes, got {input_shape!r}")
    return shape


def get_backbone(architecture, input_shape, name="encoder", **kwargs):
    """Build the registered backbone ``architecture`` for images of ``input_shape`` (H, W, C).

    Returns
    -------
    keras.Model
        Named ``name``; output shape ``(batch, D)``.
    """
    _import_builtins()
    if architecture not in _ARCHITECTURES:
        raise KeyError(f"unknown architecture {architecture!r}; available: {', '.join(sorted(_ARCHITECTURES))}")
    encoder = _ARCHITECTURES[architecture](validate_input_shape(input_shape), name=name, **kwargs)
    if len(encoder.output.shape) != 2:
        raise ValueError(
            f"architecture {architecture!r} returned features of shape {encoder.output.shape}; "
            "a backbone must output pooled (batch, features)"
        )
    return encoder
