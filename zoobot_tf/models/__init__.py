"""Models: backbones (encoders) by name, heads, and the assembled encoder + head model.

``get_model(schema, (64, 64, 3))`` builds EfficientNet-B0 (random init) with a Dirichlet head
and MC dropout; ``get_encoder`` / ``get_head`` take it apart again.
"""

from zoobot_tf.models._torch_names import allow_dotted_layer_names

allow_dotted_layer_names()  # before any layer is built: ConvNeXt / ResNet use timm's dotted names

from zoobot_tf.models.get_model import (  # noqa: E402
    assemble_model,
    encoder_is_deterministic,
    get_encoder,
    get_head,
    get_model,
    output_dim_for,
)
from zoobot_tf.models.heads import HEAD_KINDS, build_head  # noqa: E402
from zoobot_tf.models.layers import DirichletConcentration, MCDropout  # noqa: E402
from zoobot_tf.models.registry import available_architectures, get_backbone, register_architecture  # noqa: E402

#: kept importable from here for existing code; defined in zoobot_tf.saving (the one loader)
from zoobot_tf.saving import load_model  # noqa: E402,F401  (ground layer: no upward import)

__all__ = [
    "load_model",
    "HEAD_KINDS",
    "DirichletConcentration",
    "MCDropout",
    "assemble_model",
    "available_architectures",
    "build_head",
    "encoder_is_deterministic",
    "get_backbone",
    "get_encoder",
    "get_head",
    "get_model",
    "output_dim_for",
    "register_architecture",
]
