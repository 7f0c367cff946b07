"""Build a full model (encoder + head), take it apart again, and load it safely.

The model is ``inputs -> encoder -> head`` with the encoder and head as two nested Keras models
named ``'encoder'`` and ``'head'``: :func:`get_encoder` gives the representation model for
fine-tuning and the prediction fast path, :func:`get_head` the part that is re-run per MC sample.
"""

from __future__ import annotations

import keras

from zoobot_tf.models.heads import HEAD_KINDS, build_head
from zoobot_tf.models.layers import MCDropout
from zoobot_tf.models.registry import get_backbone, validate_input_shape

__all__ = [
    "assemble_model",
    "encoder_is_deterministic",
    "get_encoder",
    "get_head",
    "get_model",
    "output_dim_for",
]

ENCODER_NAME = "encoder"
HEAD_NAME = "head"


def output_dim_for(schema_or_output_dim):
    """Number of outputs for a Schema, LabelSet, their built-in name, or an int."""
    from zoobot_tf.schemas import Task, get_schema_or_label_set

    spec = schema_or_output_dim
    if isinstance(spec, bool):
        raise TypeError(f"expected a schema, label set or output dimension, got {spec!r}")
    if isinstance(spec, int):
        if spec < 1:
            raise ValueError(f"output dimension must be positive, got {spec}")
        return spec
    if isinstance(spec, str):
        spec = get_schema_or_label_set(spec)
    if isinstance(spec, Task):
        return int(spec.n_outputs)
    raise TypeError(f"expected a schema, label set or output dimension, got {type(spec).__name__}")


def get_model(
    schema_or_output_dim,
    input_shape,
    architecture="efficientnet_b0",
    dropout_rate=0.2,
    test_time_dropout=True,
    head="dirichlet",
    concentration_range=(1.0, 101.0),
    name=None,
    encoder_weights=None,
    **backbone_kwargs,
):
    """Build an encoder + head model for images of ``input_shape``.

    Parameters
    ----------
    schema_or_output_dim : Schema, LabelSet, str or int
        What to predict: a decision tree (one output per answer), a flat label set (one per
        class), a built-in name of either, or the number of outputs.
    input_shape : tuple of int
        ``(H, W, C)``: images arrive as float32 in [0, 1], any number of bands ``C``.
    architecture : str
        A registered backbone (:func:`zoobot_tf.models.available_architectures`), e.g.
        ``'efficientnet_b0'`` (random init; nothing downloads) or ``'small_cnn'``.
    dropout_rate : float
        Dropout before the head's dense layer.
    test_time_dropout : bool
        Keep that dropout on in ``predict`` (MC dropout).
    head : {'dirichlet', 'softmax', 'regression'}
        Output kind; ``'dirichlet'`` gives concentrations in ``concentration_range`` for
        :class:`zoobot_tf.losses.DirichletMultinomialLoss`.
    concentration_range : (float, float)
        Bounds of the Dirichlet concentrations (default Zoobot's ``1 + 100 * sigmoid``).
    name : str, optional
        Model name (default ``zoobot_<architecture>``).
    encoder_weights : path, optional
        Pretrained encoder: a timm / zoobot checkpoint (``model.safetensors``, or a Hugging Face
        snapshot folder) for a ConvNeXt / ResNet architecture, or a ``.keras`` encoder from
        ``zoobot-tf import-encoder`` (:func:`zoobot_tf.models.pretrained.load_encoder_weights`).
    **backbone_kwargs
        Passed to the backbone builder (e.g. ``pooling='max'`` for EfficientNet).

    Returns
    -------
    keras.Model
        Uncompiled; outputs float32 ``(batch, output_dim)``.
    """
    if head not in HEAD_KINDS:
        raise ValueError(f"unknown head {head!r}; choose from {', '.join(HEAD_KINDS)}")
    output_dim = output_dim_for(schema_or_output_dim)
    input_shape = validate_input_shape(input_shape)
    encoder = get_backbone(architecture, input_shape, name=ENCODER_NAME, **backbone_kwargs)
    if encoder_weights is not None:
        from zoobot_tf.models.pretrained import load_encoder_weights

        load_encoder_weights(encoder, encoder_weights, architecture=architecture)
    head_model = build_head(
        head,
        input_dim=encoder.output.shape[-1],
        output_dim=output_dim,
        dropout_rate=dropout_rate,
        test_time_dropout=test_time_dropout,
        concentration_range=concentration_range,
        name=HEAD_NAME,
    )
    return assemble_model(encoder, head_model, name=name or f"zoobot_{architecture}")


def _renamed(model, name):
    if model.name == name:
        return model
    if not hasattr(model, "inputs") or not model.inputs:
        raise ValueError(f"{model.name!r} must be a functional Keras model to be used as the {name}")
    return keras.Model(model.inputs, model.outputs, name=name)


def assemble_model(encoder, head, name="zoobot"):
    """Join an encoder and a head into one model (``image -> encoder -> head``).

    Used by :func:`get_model` and by fine-tuning, which keeps a trained encoder and builds a new
    head (:func:`zoobot_tf.models.build_head`). Layers are shared, not copied.
    """
    encoder = _renamed(encoder, ENCODER_NAME)
    head = _renamed(head, HEAD_NAME)
    n_features, head_in = encoder.output.shape[-1], head.input.shape[-1]
    if n_features != head_in:
        raise ValueError(f"encoder gives {n_features} features but the head expects {head_in}")
    inputs = keras.Input(shape=encoder.input.shape[1:], name="image")
    outputs = head(encoder(inputs))
    return keras.Model(inputs, outputs, name=name)


def _get_part(model, part):
    try:
        return model.get_layer(part)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no {part!r} sub-model; build it with zoobot_tf.models.get_model "
            "or assemble_model"
        ) from None


def get_encoder(model):
    """The encoder of a model from :func:`get_model`: images -> pooled features ``(batch, D)``.

    A bare encoder (named ``'encoder'``, as ``zoobot-tf import-encoder`` writes) is its own encoder.
    """
    if model.name == ENCODER_NAME and ENCODER_NAME not in {layer.name for layer in model.layers}:
        return model
    return _get_part(model, ENCODER_NAME)


def get_head(model):
    """The head of a model from :func:`get_model`: features ``(batch, D)`` -> outputs."""
    return _get_part(model, HEAD_NAME)


def _all_layers(layer):
    for child in getattr(layer, "layers", []):
        yield child
        yield from _all_layers(child)


def encoder_is_deterministic(model):
    """True when the encoder has no always-on MC dropout, so its inference output is a function of
    the image alone: prediction may then run it once and draw all MC samples from the head."""
    return not any(
        isinstance(layer, MCDropout) and layer.always_on and layer.rate > 0
        for layer in _all_layers(get_encoder(model))
    )
