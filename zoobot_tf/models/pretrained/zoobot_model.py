"""zoobot's fine-tuned checkpoints (encoder + head) -> one Keras model that predicts as zoobot's did.

zoobot's Lightning modules keep the timm encoder as ``encoder`` and the head as ``head``, so
their state dicts (the ``.ckpt``'s ``state_dict``, or the same keys as ``.safetensors``) read as
``encoder.<timm key>`` and one of:

=====================================  =========================  ==============================
zoobot head                            keys                       Keras head (``build_head``)
=====================================  =========================  ==============================
``LinearHead`` (FinetuneableZoobot-    ``head.linear.weight/bias``  ``softmax`` (logits -> class
Classifier, num_classes >= 2)                                     probabilities)
``LinearHead`` (-Regressor, 1 output)  ``head.linear.weight/bias``  ``regression`` (+ sigmoid when
                                                                  ``unit_interval``)
Dirichlet head (ZoobotTree,            ``head.1.0.weight/bias``   ``dirichlet`` (1 + 100 sigmoid)
FinetuneableZoobotTree)
=====================================  =========================  ==============================

The encoder is filled by the same all-or-nothing mapping as :func:`.import_encoder`; the head's
keys must be exactly one of the rows above, with the encoder's feature width. The decision tree
of a Dirichlet head comes from ``schema=`` or from the checkpoint's hyper-parameters
(``question_answer_pairs`` / ``dependencies``, or a pickled zoobot ``Schema``), matched to a
built-in tree by its label columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ZoobotHead", "head_from_checkpoint", "import_zoobot_model", "schema_from_hparams"]

LINEAR = ("linear.weight", "linear.bias")
DIRICHLET = ("1.0.weight", "1.0.bias")
#: zoobot's dropout defaults: FinetuneableZoobot* dropout_prob 0.5, ZoobotTree dropout_rate 0.2
DEFAULT_DROPOUT = 0.5


@dataclass(frozen=True)
class ZoobotHead:
    """What a zoobot head is: ``kind`` (``softmax``/``regression``/``dirichlet``), its dense weights
    in Keras layout, ``unit_interval`` (regressor's sigmoid) and the dropout it trained with."""

    kind: str
    kernel: np.ndarray  # (features, outputs)
    bias: np.ndarray
    dropout_rate: float
    unit_interval: bool = False
    test_time_dropout: bool = False


def head_from_checkpoint(checkpoint) -> ZoobotHead:
    """The :class:`ZoobotHead` of a :class:`~.checkpoint.Checkpoint`'s ``head_state``, checked."""
    state, hparams, source = checkpoint.head_state, checkpoint.hparams, checkpoint.path
    keys = tuple(sorted(state))
    if keys == tuple(sorted(LINEAR)):
        weight, bias = state["linear.weight"], state["linear.bias"]
        kind = "regression" if weight.shape[0] == 1 else "softmax"
    elif keys == tuple(sorted(DIRICHLET)):
        weight, bias = state["1.0.weight"], state["1.0.bias"]
        kind = "dirichlet"
    else:
        raise ValueError(
            f"{source}: head keys {', '.join('head.' + k for k in keys)} are none of zoobot's heads "
            "(head.linear.* for a classifier or regressor, head.1.0.* for a Dirichlet tree)"
        )
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ValueError(f"{source}: head weight {weight.shape} and bias {bias.shape} are not one linear layer")
    dropout = hparams.get("dropout_prob", hparams.get("dropout_rate", DEFAULT_DROPOUT))
    return ZoobotHead(
        kind=kind,
        kernel=np.ascontiguousarray(weight.T, dtype=np.float32),
        bias=np.asarray(bias, np.float32),
        dropout_rate=float(dropout),
        unit_interval=bool(hparams.get("unit_interval", False)) and kind == "regression",
        # ZoobotTree says; the Finetuneable* heads use plain dropout (off when predicting)
        test_time_dropout=bool(hparams.get("test_time_dropout", False)),
    )


def schema_from_hparams(hparams):
    """The decision tree a zoobot checkpoint's hyper-parameters describe (a built-in one when the
    label columns match), or None."""
    from zoobot_tf.models.pretrained.torch_pickle import Opaque
    from zoobot_tf.schemas import SCHEMA_NAMES, Schema, get_schema

    source = hparams
    if isinstance(hparams.get("schema"), Opaque):  # FinetuneableZoobotTree pickles its Schema
        source = hparams["schema"].attributes()
    pairs, dependencies = source.get("question_answer_pairs"), source.get("dependencies")
    if not isinstance(pairs, dict) or not isinstance(dependencies, dict):
        return None
    schema = Schema("from_checkpoint", pairs, dependencies, description="the checkpoint's decision tree")
    for name in SCHEMA_NAMES:
        if get_schema(name).label_cols == schema.label_cols:
            return get_schema(name)
    return schema


def _head_model(head, input_dim, output_dim):
    import keras

    from zoobot_tf.models.heads import build_head

    model = build_head(
        head.kind, input_dim, output_dim, dropout_rate=head.dropout_rate, test_time_dropout=head.test_time_dropout
    )
    dense = model.get_layer("head_dense")
    dense.kernel.assign(head.kernel)
    dense.bias.assign(head.bias)
    if head.unit_interval:  # FinetuneableZoobotRegressor(unit_interval=True): sigmoid on the output
        outputs = keras.layers.Activation("sigmoid", dtype="float32", name="unit_interval")(model.output)
        model = keras.Model(model.input, outputs, name=model.name)
    return model


def import_zoobot_model(checkpoint_path, architecture=None, schema=None, image_size=224, channels=None):
    """Build the Keras encoder + head of a zoobot fine-tuned checkpoint and fill both.

    Parameters
    ----------
    checkpoint_path : path or Checkpoint
        A Lightning ``.ckpt`` (read without torch) or a ``.safetensors`` state dict whose keys
        start ``encoder.`` / ``head.`` (or a :class:`~.checkpoint.Checkpoint` already read).
    architecture : str, optional
        Default: the hyper-parameters' ``architecture_name`` or hub ``name`` (a ``.safetensors``
        has none, so give it).
    schema : str or Schema, optional
        The decision tree of a Dirichlet head (default: from the hyper-parameters).
    image_size, channels : int
        Input side, and channels (default the checkpoint's; another number adapts the stem).

    Returns
    -------
    (keras.Model, ZoobotHead, schema or None)
        The model (``image -> encoder -> head``, as :func:`zoobot_tf.models.get_model` builds),
        what its head is, and the tree its outputs follow.
    """
    from zoobot_tf.models.get_model import assemble_model
    from zoobot_tf.models.pretrained.checkpoint import Checkpoint, read_checkpoint
    from zoobot_tf.models.pretrained.encoders import _resolve_architecture, _stem_channels
    from zoobot_tf.models.pretrained.mapping import assign_timm_weights
    from zoobot_tf.models.registry import get_backbone
    from zoobot_tf.schemas import get_schema

    checkpoint = checkpoint_path if isinstance(checkpoint_path, Checkpoint) else read_checkpoint(checkpoint_path)
    if not checkpoint.is_zoobot_model:
        raise ValueError(
            f"{checkpoint.path} has no head.* keys: it is an encoder checkpoint (use import_encoder / "
            "zoobot-tf import-encoder without a head)"
        )
    head = head_from_checkpoint(checkpoint)
    tree = None
    if head.kind == "dirichlet":
        tree = get_schema(schema) if schema is not None else schema_from_hparams(checkpoint.hparams)
        if tree is None:
            raise ValueError(f"{checkpoint.path}: the Dirichlet head's decision tree is not in the checkpoint; give schema=")
        if tree.n_answers != head.kernel.shape[1]:
            raise ValueError(
                f"{checkpoint.path}: key head.1.0.weight has {head.kernel.shape[1]} outputs but schema "
                f"{tree.name} has {tree.n_answers} answers"
            )
    architecture = _resolve_architecture(architecture, checkpoint)
    channels = int(channels or _stem_channels(checkpoint.state_dict) or 3)
    encoder = get_backbone(architecture, (int(image_size), int(image_size), channels))
    try:
        assign_timm_weights(encoder, checkpoint.state_dict, architecture, adapt_channels=True)
    except ValueError as err:
        raise ValueError(f"{checkpoint.path}, encoder.*: {err}") from None
    features = int(encoder.output.shape[-1])
    if head.kernel.shape[0] != features:
        key = "head.linear.weight" if head.kind != "dirichlet" else "head.1.0.weight"
        raise ValueError(
            f"{checkpoint.path}: key {key} takes {head.kernel.shape[0]} features but the {architecture} encoder "
            f"gives {features}"
        )
    model = assemble_model(encoder, _head_model(head, features, head.kernel.shape[1]), name=f"zoobot_{architecture}")
    return model, head, tree
