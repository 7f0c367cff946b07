"""Pretrained encoders: a timm / zoobot checkpoint (or an imported ``.keras`` encoder) -> Keras.

:func:`import_encoder` builds the registered architecture and fills it from a checkpoint;
:func:`load_encoder_weights` fills an encoder that already exists (``get_model(...,
encoder_weights=PATH)``); :func:`save_encoder` writes the ``.keras`` file atomically;
:func:`download_encoder` fetches a Hugging Face repo, only when a user asks for it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["download_encoder", "import_encoder", "load_encoder_weights", "save_encoder"]

#: zoobot's encoders were trained on 224 x 224 images
DEFAULT_IMAGE_SIZE = 224


def _stem_channels(state_dict):
    for key in ("stem.0.weight", "conv1.weight"):
        if key in state_dict and getattr(state_dict[key], "ndim", 0) == 4:
            return int(state_dict[key].shape[1])
    return None


def _resolve_architecture(architecture, checkpoint):
    from zoobot_tf.models.registry import available_architectures

    named = checkpoint.architecture
    if architecture is None:
        if named is None:
            raise ValueError(f"{checkpoint.path} does not say its architecture (no config.json); give one")
        architecture = named
    elif named is not None and named != architecture:
        raise ValueError(f"{checkpoint.path} is a {named} checkpoint (config.json), not {architecture}")
    if architecture not in available_architectures():
        raise ValueError(f"unknown architecture {architecture!r}; available: {', '.join(available_architectures())}")
    return architecture


def _from_keras_file(encoder, path):
    """Copy weights layer by layer, by name, from an encoder saved by :func:`save_encoder`."""
    from zoobot_tf.saving import load_model

    source = load_model(path, compile=False)
    plan = []
    for layer in encoder.layers:
        if not layer.weights:
            continue
        try:
            other = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"{path} has no layer {layer.name}: it is not a {encoder.name} of this architecture") from None
        for mine, theirs in zip(layer.weights, other.weights, strict=True):
            if tuple(mine.shape) != tuple(theirs.shape):
                raise ValueError(f"{path}: weight {theirs.path} has shape {tuple(theirs.shape)}, expected {tuple(mine.shape)}")
            plan.append((mine, theirs.numpy()))
    n_weighted = sum(1 for layer in source.layers if layer.weights)
    if n_weighted != sum(1 for layer in encoder.layers if layer.weights):
        raise ValueError(f"{path} has {n_weighted} layers with weights; the encoder to fill has a different architecture")
    for variable, value in plan:
        variable.assign(value)
    return len(plan)


def load_encoder_weights(encoder, source, architecture=None):
    """Fill ``encoder`` (built by the registry) from ``source``; all or nothing.

    Parameters
    ----------
    encoder : keras.Model
        A ConvNeXt / ResNet encoder from :func:`zoobot_tf.models.get_backbone` (any input size).
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
    checkpoint = read_checkpoint(path)
    if architecture is not None:
        architecture = _resolve_architecture(architecture, checkpoint)
    return assign_timm_weights(encoder, checkpoint.state_dict, architecture or encoder.name)


def import_encoder(checkpoint_path, architecture=None, image_size=DEFAULT_IMAGE_SIZE, channels=None):
    """Build the Keras encoder for a timm / zoobot checkpoint and fill it.

    Parameters
    ----------
    checkpoint_path : path
        ``model.safetensors``, ``pytorch_model.bin`` (needs torch) or a folder holding one.
    architecture : str, optional
        Registered name (``convnext_nano``, ``resnet50``, ...); default: the folder's
        ``config.json``.
    image_size : int
        Input side of the Keras model (convolutional: fine-tuning may rebuild it at another size).
    channels : int, optional
        Input channels; default the checkpoint's (3 for colour, 1 for zoobot's greyscale
        encoders). A different number is an error naming the stem's key and shape.

    Returns
    -------
    keras.Model
        Named ``'encoder'``: images in [0, 1] -> pooled features, as ``timm.create_model(
        architecture, num_classes=0)``.
    """
    from zoobot_tf.models.pretrained.checkpoint import read_checkpoint
    from zoobot_tf.models.pretrained.mapping import assign_timm_weights
    from zoobot_tf.models.registry import get_backbone

    checkpoint = read_checkpoint(checkpoint_path)
    architecture = _resolve_architecture(architecture, checkpoint)
    channels = int(channels or _stem_channels(checkpoint.state_dict) or 3)
    encoder = get_backbone(architecture, (int(image_size), int(image_size), channels))
    assign_timm_weights(encoder, checkpoint.state_dict, architecture)
    return encoder


def save_encoder(encoder, out):
    """Save ``encoder`` as ``.keras`` via a temporary file and a rename: never half-written."""
    out = Path(out).expanduser()
    if out.suffix != ".keras":
        raise ValueError(f"{out}: the encoder file must end in .keras")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".keras", dir=out.parent)
    os.close(fd)
    try:
        encoder.save(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


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
