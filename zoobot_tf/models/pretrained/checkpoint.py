"""Read a timm / zoobot checkpoint into ``{key: numpy array}``, with no deep-learning framework.

A checkpoint is ``model.safetensors`` (read with the ``safetensors`` package's numpy API),
``pytorch_model.bin`` (read only when ``torch`` happens to be installed), or a directory holding
either: a Hugging Face snapshot (``snapshot_download``'s folder, or a cache folder
``models--owner--name`` with ``snapshots/``), whose ``config.json`` also names the architecture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Checkpoint", "read_checkpoint"]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Checkpoint:
    """A state dict as numpy arrays, where it came from, and the architecture its folder names."""

    state_dict: dict
    path: Path
    architecture: str | None = None


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


def _read_torch(path: Path) -> dict:
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"{path} is a PyTorch pickle, which needs torch to read; install torch or use the model.safetensors file"
        ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a bad file
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {err}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return {
        key: (value.float().numpy() if value.is_floating_point() else value.numpy())
        for key, value in state.items()
        if hasattr(value, "numpy")
    }


def read_checkpoint(path) -> Checkpoint:
    """Read ``path`` (a weights file or a folder holding one) into a :class:`Checkpoint`."""
    weights_file = _weights_file(Path(path).expanduser())
    if weights_file.suffix == ".safetensors":
        state = _read_safetensors(weights_file)
    elif weights_file.suffix in (".bin", ".pt", ".pth"):
        state = _read_torch(weights_file)
    else:
        raise ValueError(f"{weights_file}: expected a .safetensors file (or a PyTorch .bin/.pt/.pth with torch installed)")
    if not state:
        raise ValueError(f"{weights_file} holds no tensors")
    state = {key: np.asarray(value) for key, value in state.items()}
    return Checkpoint(state, weights_file.resolve(), _architecture_from_config(weights_file))
