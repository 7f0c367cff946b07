"""Pretrained encoders: a timm / zoobot checkpoint (or an imported ``.keras`` encoder) -> Keras.

:func:`import_encoder` builds the registered architecture and fills it from a checkpoint;
:func:`load_encoder_weights` fills an encoder that already exists (``get_model(...,
encoder_weights=PATH)``); :func:`save_encoder` writes the ``.keras`` file atomically;
:func:`download_encoder` fetches a Hugging Face repo, only when a user asks for it.

Channels: an encoder built for another number of input channels than the checkpoint's gets an
adapted stem (:func:`~zoobot_tf.models.pretrained.mapping.adapt_stem_weight`, as timm does when
``in_chans`` differs from the pretrained weights): a colour encoder starts a greyscale survey
and the reverse. The adaptation is logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

__all__ = ["TIMM_ALIASES", "download_encoder", "encoder_from_weights", "import_encoder", "load_encoder_weights",
           "save_encoder"]

logger = logging.getLogger(__name__)

#: zoobot's encoders were trained on 224 x 224 images
DEFAULT_IMAGE_SIZE = 224
#: timm / zoobot model name (as a config.json or a checkpoint's hub name gives it) -> our architecture
#: with that layout. ``efficientnet_b0`` here is keras.applications' layout, so timm's is
#: ``efficientnet_b0_timm``; timm's ``maxvit_rmlp_tiny_rw_256`` is the layout zoobot publishes as
#: ``maxvit_rmlp_tiny_rw_224``.
TIMM_ALIASES = {
    "efficientnet_b0": "efficientnet_b0_timm",
    "maxvit_rmlp_tiny_rw_256": "maxvit_rmlp_tiny_rw_224",
    "maxvit_base_rw_224": "maxvit_rmlp_base_rw_224",  # zoobot's repo name for timm's maxvit_rmlp_base_rw_224
}
#: the stem convolution's key in each timm family (ConvNeXt, ResNet, EfficientNet, MaxViT)
STEM_KEYS = ("stem.0.weight", "conv1.weight", "conv_stem.weight", "stem.conv1.weight")


def _stem_channels(state_dict):
    for key in STEM_KEYS:
        if key in state_dict and getattr(state_dict[key], "ndim", 0) == 4:
            return int(state_dict[key].shape[1])
    return None


def _resolve_architecture(architecture, checkpoint):
    from zoobot_tf.models.registry import available_architectures

    named = TIMM_ALIASES.get(checkpoint.architecture, checkpoint.architecture)
    architecture = TIMM_ALIASES.get(architecture, architecture)
    if architecture is None:
        if named is None:
            raise ValueError(f"{checkpoint.path} does not say its architecture (no config.json); give one")
        architecture = named
    elif named is not None and named != architecture:
        raise ValueError(f"{checkpoint.path} is a {named} checkpoint (config.json), not {architecture}")
    if architecture not in available_architectures():
        raise ValueError(f"unknown architecture {architecture!r}; available: {', '.join(available_architectures())}")
    return architecture


def _encoder_part(checkpoint):
    """A zoobot model checkpoint's encoder is a timm checkpoint: say that its head is left out."""
    if checkpoint.head_state:
        logger.info("%s: using its encoder.* weights; its head (%d tensors) is not loaded",
                    checkpoint.path, len(checkpoint.head_state))
    return checkpoint


def _adapted_keras_stem(value, want, path, name):
    """A saved Keras stem kernel ``(kh, kw, in, out)`` for another input-channel count, or None."""
    from zoobot_tf.models.pretrained.mapping import adapt_stem_weight

    if value.ndim != 4 or len(want) != 4 or value.shape[:2] + value.shape[3:] != tuple(want[:2]) + tuple(want[3:]):
        return None
    logger.info("adapting %s of %s from %d to %d input channels", name, path, value.shape[2], want[2])
    torch_layout = np.transpose(value, (3, 2, 0, 1))
    return np.transpose(adapt_stem_weight(torch_layout, int(want[2]), f"{path}:{name}"), (2, 3, 1, 0))


def _from_keras_file(encoder, path):
    """Copy weights layer by layer, by name, from an encoder saved by :func:`save_encoder`."""
    import keras

    from zoobot_tf.saving import load_model

    source = load_model(path, compile=False)
    plan, first_conv = [], True
    for layer in encoder.layers:
        if not layer.weights:
            continue
        try:
            other = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"{path} has no layer {layer.name}: it is not a {encoder.name} of this architecture") from None
        is_stem = first_conv and isinstance(layer, keras.layers.Conv2D)
        first_conv = first_conv and not is_stem
        for mine, theirs in zip(layer.weights, other.weights, strict=True):
            value = theirs.numpy()
            if tuple(mine.shape) != tuple(value.shape) and is_stem:
                value = _adapted_keras_stem(value, tuple(mine.shape), path, theirs.path)
            if value is None or tuple(mine.shape) != tuple(value.shape):
                raise ValueError(f"{path}: weight {theirs.path} has shape {tuple(theirs.shape)}, expected {tuple(mine.shape)}")
            plan.append((mine, value))
    n_weighted = sum(1 for layer in source.layers if layer.weights)
    if n_weighted != sum(1 for layer in encoder.layers if layer.weights):
        raise ValueError(f"{path} has {n_weighted} layers with weights; the encoder to fill has a different architecture")
    for variable, value in plan:
        variable.assign(value)
    return len(plan)


def load_encoder_weights(encoder, source, architecture=None):
    """Fill ``encoder`` (built by the registry) from ``source``; all or nothing.

    A stem made for another number of channels than ``encoder`` takes is adapted (logged).

    Parameters
    ----------
    encoder : keras.Model
        An encoder from :func:`zoobot_tf.models.get_backbone` with timm's layout (ConvNeXt, ResNet,
        ``efficientnet_b0_timm``, MaxViT), any input size and channel count.
    source : path
        A ``.keras`` encoder written by ``zoobot-tf import-encoder``, a ``model.safetensors`` /
        ``pytorch_model.bin``, or a (Hugging Face snapshot) folder holding one.
    architecture : str, optional
        The encoder's architecture, to check against the checkpoint's ``config.json`` and to
        name in errors.

    Returns
    -------
    int
        Number of Keras variables set.
    """
    from zoobot_tf.models.pretrained.checkpoint import read_checkpoint
    from zoobot_tf.models.pretrained.mapping import assign_timm_weights

    path = Path(source).expanduser()
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"encoder weights {path} do not exist")
        return _from_keras_file(encoder, path)
    if architecture in TIMM_ALIASES:
        raise ValueError(
            f"architecture {architecture!r} is not laid out as timm's: timm's {architecture} checkpoints "
            f"load into architecture {TIMM_ALIASES[architecture]!r}"
        )
    checkpoint = _encoder_part(read_checkpoint(path))
    if architecture is not None:
        architecture = _resolve_architecture(architecture, checkpoint)
    return assign_timm_weights(encoder, checkpoint.state_dict, architecture or encoder.name, adapt_channels=True)


def import_encoder(checkpoint_path, architecture=None, image_size=DEFAULT_IMAGE_SIZE, channels=None):
    """Build the Keras encoder for a timm / zoobot checkpoint and fill it.

    Parameters
    ----------
    checkpoint_path : path or Checkpoint
        ``model.safetensors``, ``pytorch_model.bin``, a zoobot Lightning ``.ckpt`` (its encoder),
        a folder holding one, or a :class:`~.checkpoint.Checkpoint` already read.
    architecture : str, optional
        Registered name (``convnext_nano``, ``resnet50``, ``maxvit_rmlp_base_rw_224``, ...) or
        a timm name in :data:`TIMM_ALIASES`; default: the folder's ``config.json``.
    image_size : int
        Input side of the Keras model (convolutional: fine-tuning may rebuild it at another size;
        MaxViT: a multiple of 32, 224 for the table-bias models).
    channels : int, optional
        Input channels; default the checkpoint's (3 for colour, 1 for zoobot's greyscale
        encoders). Another number adapts the stem (colour -> 1 channel: summed weights;
        1 -> N: repeated / N), as timm's ``adapt_input_conv``.

    Returns
    -------
    keras.Model
        Named ``'encoder'``: images in [0, 1] -> pooled features, as ``timm.create_model(
        architecture, num_classes=0)``.
    """
    from zoobot_tf.models.pretrained.checkpoint import Checkpoint, read_checkpoint
    from zoobot_tf.models.pretrained.mapping import assign_timm_weights
    from zoobot_tf.models.registry import get_backbone

    checkpoint = checkpoint_path if isinstance(checkpoint_path, Checkpoint) else read_checkpoint(checkpoint_path)
    architecture = _resolve_architecture(architecture, _encoder_part(checkpoint))
    channels = int(channels or _stem_channels(checkpoint.state_dict) or 3)
    encoder = get_backbone(architecture, (int(image_size), int(image_size), channels))
    assign_timm_weights(encoder, checkpoint.state_dict, architecture, adapt_channels=True)
    return encoder


def save_encoder(encoder, out):
    """Save ``encoder`` as ``.keras`` through :func:`zoobot_tf.saving.save_model`: never half-written."""
    from zoobot_tf.saving import save_model

    out = Path(out).expanduser()
    if out.suffix != ".keras":
        raise ValueError(f"{out}: the encoder file must end in .keras")
    return save_model(encoder, out)


def download_encoder(repo_id, cache_dir=None):
    """Download a Hugging Face model repo's weights + config (asked for explicitly by a user).

    Needs the optional ``huggingface_hub`` package and a network; returns the snapshot folder,
    which :func:`import_encoder` reads like any local folder.
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ValueError(
            "--from-hub needs the huggingface_hub package (pip install huggingface_hub); or download "
            f"model.safetensors from https://huggingface.co/{repo_id} and pass it with --checkpoint"
        ) from None
    folder = snapshot_download(
        repo_id, allow_patterns=["model.safetensors", "config.json"], cache_dir=cache_dir
    )
    return Path(folder)


def encoder_from_weights(path, architecture=None, image_size=None, channels=None):
    """The encoder ``finetune --encoder-weights`` starts from: a ``.keras`` encoder as saved, or a
    checkpoint imported now (at ``image_size``, default 224; ``channels`` adapts its stem)."""
    path = Path(path).expanduser()
    if path.suffix == ".keras":
        from zoobot_tf.saving import load_model

        if not path.is_file():
            raise FileNotFoundError(f"encoder weights {path} do not exist")
        return load_model(path, compile=False)
    return import_encoder(path, architecture=architecture, image_size=image_size or DEFAULT_IMAGE_SIZE, channels=channels)
