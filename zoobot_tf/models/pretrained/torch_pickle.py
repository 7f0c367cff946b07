"""Read PyTorch's ``torch.save`` files (``pytorch_model.bin``, Lightning ``.ckpt``) without torch.

A ``torch.save`` file (PyTorch >= 1.6) is a zip archive: ``<name>/data.pkl`` is a pickle whose
tensors point, through pickle's persistent ids, at raw little-endian storages ``<name>/data/<key>``.
We unpickle ``data.pkl`` with a *restricted* unpickler: it never imports a module. The few globals
a state dict needs (``OrderedDict``, ``torch._utils._rebuild_tensor_v2``, the ``torch.*Storage``
dtypes, ``torch.Size``) are replaced by our own numpy functions; any other global (a Lightning
``AttributeDict``, a zoobot ``Schema`` in a checkpoint's hyper-parameters, ``functools.partial``)
becomes an inert :class:`Opaque` record of its name and pickled state, never called. Reading a
file therefore runs no code from it, unlike ``torch.load(weights_only=False)``.

Tensors come back as numpy arrays (bfloat16 widened to float32), but only those under the
``state_dict`` entry when the file has one (a Lightning checkpoint): the optimizer states beside
it stay unread :class:`LazyTensor` records of shape and dtype, so they cost no memory.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["LazyTensor", "Opaque", "TorchFileError", "load_torch_file"]

#: torch storage class -> numpy dtype (``bfloat16`` is read as its 16 raw bits, then widened)
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchFileError(ValueError):
    """A file that is not a readable ``torch.save`` archive (one line, naming the file)."""


class Opaque(dict):
    """A pickled object of a class we do not import: its ``name``, arguments and state, inert.

    It is a dict (pickle may fill it with items) that also keeps list items (``APPENDS``), the
    constructor arguments and the ``__setstate__`` state, so a caller can look inside (e.g. a
    zoobot ``Schema``'s ``question_answer_pairs``) without ever running the class's code.
    """

    qualname = "?"

    def __new__(cls, *args, **kwargs):
        return dict.__new__(cls)

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.args, self.state, self.items_list = args, None, []

    def __setstate__(self, state):
        self.state = state

    def append(self, item):
        self.items_list.append(item)

    def extend(self, items):
        self.items_list.extend(items)

    def attributes(self) -> dict:
        """The pickled instance attributes (``__dict__`` state), or {}."""
        state = self.state[0] if isinstance(self.state, tuple) and self.state else self.state
        return dict(state) if isinstance(state, dict) else {}

    def __repr__(self):
        return f"<opaque {self.qualname}>"


class _StateDict(dict):
    """``OrderedDict`` as pickled by torch: items, plus ``_metadata`` (module versions) as state."""

    def __setstate__(self, state):
        self.metadata = state


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Storage:
    """A lazily read storage: ``numel`` items of ``dtype`` at ``data/<key>`` in the archive."""

    def __init__(self, archive, path, dtype, source):
        self.archive, self.path, self.dtype, self.source = archive, path, dtype, source
        self._array = None

    def array(self, big_endian):
        if self._array is None:
            try:
                raw = self.archive.read(self.path)
            except KeyError:
                raise TorchFileError(f"{self.source}: storage {self.path} is missing from the archive") from None
            if self.dtype == "bfloat16":
                bits = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2").astype(np.uint32)
                self._array = (bits << 16).view(np.float32)
            else:
                dtype = np.dtype(self.dtype).newbyteorder(">" if big_endian else "<")
                self._array = np.frombuffer(raw, dtype=dtype).astype(np.dtype(self.dtype), copy=False)
        return self._array


class LazyTensor:
    """A tensor not read yet: ``shape`` and the storage it views; :meth:`read` gives the array."""

    def __init__(self, storage, offset, shape, stride, source):
        self.storage, self.offset, self.source = storage, int(offset), source
        self.shape, self.stride = tuple(int(s) for s in shape), tuple(int(s) for s in stride)

    def read(self, big_endian=False):
        flat = self.storage.array(big_endian)
        if not self.shape:
            return np.array(flat[self.offset])
        end = self.offset + 1 + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        if min(self.shape) > 0 and end > flat.size:
            raise TorchFileError(f"{self.source}: a tensor of shape {self.shape} runs past the end of {self.storage.path}")
        strides = tuple(s * flat.itemsize for s in self.stride)
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.shape, strides=strides, writeable=False)
        return np.array(view)

    def __repr__(self):
        return f"<unread tensor {self.shape}>"


def _materialise(obj, big_endian):
    """``obj`` with every :class:`LazyTensor` inside read into a numpy array."""
    if isinstance(obj, LazyTensor):
        return obj.read(big_endian)
    if isinstance(obj, Opaque):
        return obj
    if isinstance(obj, dict):
        return {key: _materialise(value, big_endian) for key, value in obj.items()}  # a plain dict
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(value, big_endian) for value in obj)
    return obj


def _opaque_class(module, name):
    return type(name, (Opaque,), {"qualname": f"{module}.{name}"})


class _Unpickler(pickle.Unpickler):
    """Unpickler that maps torch's tensor rebuild onto numpy and never imports anything else."""

    def __init__(self, file, archive, prefix, source, big_endian):
        super().__init__(file)
        self.archive, self.prefix, self.source, self.big_endian = archive, prefix, source, big_endian
        self.storages = {}

    def _tensor(self, storage, offset, size, stride, *_):
        return LazyTensor(storage, offset, size, stride, self.source)

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return _StateDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._tensor
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return lambda data, *_: data
        if (module, name) == ("torch._tensor", "_rebuild_from_type_v2"):
            return lambda func, _type, args, _state: func(*args)
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("torch", "Size"):
            return tuple
        return _opaque_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and len(pid) >= 3):
            raise TorchFileError(f"{self.source}: unknown persistent id {pid!r:.60} in data.pkl")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise TorchFileError(f"{self.source}: storage {key} has an unsupported type ({storage_type!r:.60})")
        if key not in self.storages:
            path = f"{self.prefix}data/{key}"
            self.storages[key] = _Storage(self.archive, path, STORAGE_DTYPES[storage_type.name], self.source)
        return self.storages[key]


def load_torch_file(path):
    """The object a ``torch.save`` zip archive holds (dicts, lists, numpy arrays, :class:`Opaque`).

    With a top-level ``state_dict`` entry only its tensors are read (the rest stay
    :class:`LazyTensor`); otherwise every tensor is.

    Raises
    ------
    TorchFileError
        Not a zip archive (e.g. the pre-1.6 format), no ``data.pkl``, a truncated storage, or a
        pickle that does not parse; one line naming ``path``.
    """
    path = Path(path)
    source = str(path)
    if not zipfile.is_zipfile(path):
        raise TorchFileError(
            f"{source} is not a torch.save zip archive (an older PyTorch format, or not a PyTorch file): "
            "re-save it with PyTorch >= 1.6 or as safetensors"
        )
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") <= 1]
        if len(pickles) != 1:
            raise TorchFileError(f"{source}: expected one <name>/data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        order = prefix + "byteorder"
        big_endian = order in archive.namelist() and archive.read(order).strip() == b"big"
        with archive.open(pickles[0]) as handle:
            try:
                top = _Unpickler(handle, archive, prefix, source, big_endian).load()
            except TorchFileError:
                raise
            except Exception as err:  # a corrupt pickle raises many kinds
                raise TorchFileError(f"{source}: data.pkl does not unpickle: {type(err).__name__}: {err}") from None
        if isinstance(top, dict) and isinstance(top.get("state_dict"), dict) and not isinstance(top, Opaque):
            return {**top, "state_dict": _materialise(top["state_dict"], big_endian)}
        return _materialise(top, big_endian)
