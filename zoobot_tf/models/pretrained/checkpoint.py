"""Read a timm / zoobot checkpoint into ``{key: numpy array}``, with no deep-learning framework.

A checkpoint is ``model.safetensors`` (read with the ``safetensors`` package's numpy API), a
``torch.save`` file (``pytorch_model.bin``, ``.pt``/``.pth``, a Lightning ``.ckpt``; read without
torch by :mod:`.torch_pickle`), or a directory holding one: a Hugging Face snapshot
(``snapshot_download``'s folder, or a cache folder ``models--owner--name`` with ``snapshots/``),
whose ``config.json`` also names the architecture.

zoobot's own checkpoints (its Lightning modules, or their state dict as safetensors) prefix the
encoder's keys with ``encoder.`` and the head's with ``head.``; those are split into
:attr:`Checkpoint.state_dict` (the encoder, prefix removed, as a timm checkpoint) and
:attr:`Checkpoint.head_state`. Any other key in such a file is an error naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Checkpoint", "read_checkpoint"]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TORCH_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
#: what ``torch.compile`` puts in front of a compiled module's keys (zoobot's ``compile_encoder``)
COMPILED_PREFIX = "_orig_mod."
HUB_PREFIX = "hf_hub:mwalmsley/zoobot-encoder-"


@dataclass(frozen=True)
class Checkpoint:
    """A state dict as numpy arrays, where it came from, and the architecture its folder names.

    ``head_state`` (zoobot checkpoints only) holds the head's tensors without the ``head.``
    prefix; ``hparams`` a Lightning checkpoint's ``hyper_parameters`` (plain values; objects of
    other packages as inert :class:`~.torch_pickle.Opaque` records).
    """

    state_dict: dict
    path: Path
    architecture: str | None = None
    head_state: dict = field(default_factory=dict)
    hparams: dict = field(default_factory=dict)

    @property
    def is_zoobot_model(self) -> bool:
        """True for an ``encoder.`` / ``head.`` checkpoint with a head (a fine-tuned zoobot model)."""
        return bool(self.head_state)


def _snapshot_folder(folder: Path) -> Path:
    """A Hugging Face cache folder (``models--owner--name``) -> its current snapshot."""
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return folder
    ref = folder / "refs" / "main"
    if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
        return snapshots / ref.read_text().strip()
    found = sorted(p for p in snapshots.iterdir() if p.is_dir())
    if len(found) != 1:
        raise ValueError(f"{folder} holds {len(found)} snapshots and no refs/main; give the snapshot folder itself")
    return found[0]


def _weights_file(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    folder = _snapshot_folder(path)
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"checkpoint folder {folder} has neither {' nor '.join(WEIGHT_FILES)}")


def _architecture_from_config(weights_file: Path) -> str | None:
    config = weights_file.parent / "config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text()).get("architecture")
    except (json.JSONDecodeError, AttributeError) as err:
        raise ValueError(f"{config} is not a JSON object ({err})") from None
    return str(value) if value else None


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from None


def _read_torch(path: Path) -> tuple[dict, dict]:
    """(state dict, hyper-parameters) of a ``torch.save`` file, read without torch."""
    from zoobot_tf.models.pretrained.torch_pickle import Opaque, load_torch_file

    top = load_torch_file(path)
    hparams = {}
    if isinstance(top, dict) and "state_dict" in top:
        raw = top.get("hyper_parameters") or {}
        hparams = {**(raw.attributes() if isinstance(raw, Opaque) else {}), **raw} if isinstance(raw, dict) else {}
        top = top["state_dict"]
    if not isinstance(top, dict):
        raise ValueError(f"{path} holds a {type(top).__name__}, not a state dict")
    for key, value in top.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path}: state dict entry {key} is a {type(value).__name__}, not a tensor")
    return top, hparams


def _split_zoobot(state, source):
    """``(encoder state, head state)`` of an ``encoder.``/``head.`` state dict; ({}, {}) for timm's."""
    if not any(key.startswith("encoder.") for key in state):
        return state, {}
    encoder, head = {}, {}
    for key, value in state.items():
        if key.startswith("encoder."):
            name = key[len("encoder."):]
            encoder[name[len(COMPILED_PREFIX):] if name.startswith(COMPILED_PREFIX) else name] = value
        elif key.startswith("head."):
            head[key[len("head."):]] = value
        else:
            raise ValueError(f"{source}: key {key} is neither encoder.* nor head.* (a zoobot checkpoint has only those)")
    return encoder, head


def _architecture_from_hparams(hparams) -> str | None:
    """zoobot's hyper-parameters name the encoder: ``architecture_name`` (ZoobotTree) or the hub
    ``name`` (``hf_hub:mwalmsley/zoobot-encoder-[greyscale-]<arch>``, the Finetuneable* models)."""
    if isinstance(hparams.get("architecture_name"), str):
        return hparams["architecture_name"]
    name = hparams.get("name")
    if isinstance(name, str) and name.startswith(HUB_PREFIX):
        name = name[len(HUB_PREFIX):]
        return name[len("greyscale-"):] if name.startswith("greyscale-") else name
    return None


def read_checkpoint(path) -> Checkpoint:
    """Read ``path`` (a weights file or a folder holding one) into a :class:`Checkpoint`."""
    weights_file = _weights_file(Path(path).expanduser())
    hparams = {}
    if weights_file.suffix == ".safetensors":
        state = _read_safetensors(weights_file)
    elif weights_file.suffix in TORCH_SUFFIXES:
        state, hparams = _read_torch(weights_file)
    else:
        raise ValueError(f"{weights_file}: expected a .safetensors file or a torch.save file ({', '.join(TORCH_SUFFIXES)})")
    if not state:
        raise ValueError(f"{weights_file} holds no tensors")
    state = {key: np.asarray(value) for key, value in state.items()}
    encoder, head = _split_zoobot(state, weights_file)
    architecture = _architecture_from_config(weights_file) or _architecture_from_hparams(hparams)
    return Checkpoint(encoder, weights_file.resolve(), architecture, head_state=head, hparams=hparams)
