"""Models: backbones (encoders) by name, heads, and the assembled encoder + head model.

``get_model(schema, (64, 64, 3))`` builds EfficientNet-B0 (random init) with a Dirichlet head
and MC dropout; ``get_encoder`` / ``get_head`` take it apart again.
"""

from zoobot_tf.models.get_model import (
    assemble_model,
    encoder_is_deterministic,
    get_encoder,
    get_head,
    get_model,
    load_model,
    output_dim_for,
)
from zoobot_tf.models.heads import HEAD_KINDS, build_head
from zoobot_tf.models.layers import DirichletConcentration, MCDropout
from zoobot_tf.models.registry import available_architectures, get_backbone, register_architecture

__all__ = [
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
    "load_model",
    "output_dim_for",
    "register_architecture",
]
