"""The prediction HDF5 file: Zoobot's layout, written as a stream and safe to resume after a kill.

Layout (the names Galaxy Zoo tooling reads)::

    id_str        (N,)              variable-length UTF-8 str
    label_cols    (A,)              variable-length UTF-8 str
    predictions   (N, A, n_samples) float32 Dirichlet concentrations (or the model's outputs),
                                    chunked, gzip-compressed, resizable along N
    errors/id_str, errors/file_loc, errors/reason   (M,) str: images that could not be read
    attrs: schema, n_samples, model_file, package_version, created, complete, n_written, ...

Why the write order: rows are appended in whole chunks (a compressed chunk is never rewritten,
so no file space is freed and reused under the feet of the last flushed metadata), first the
predictions, then the ids, then a flush, and only then the ``n_written`` attribute (and another
flush). A process killed anywhere in between leaves ``n_written`` at the last complete block; on
reopening, everything past it is cut off, so no id can appear twice or without its predictions.

Embedding files (:class:`EmbeddingWriter`, written by :func:`zoobot_tf.predictions.embed`) are the
same file with ``representations (N, D)`` float32 encoder features in place of ``label_cols`` and
``predictions``: one writer (:class:`RowWriter`), one resume rule, one merge for both.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np
import pandas as pd

from zoobot_tf.atomic import atomic_path

__all__ = [
    "EmbeddingWriter",
    "PredictionWriter",
    "RowWriter",
    "iter_representation_blocks",
    "load_representations",
    "merge_embeddings",
    "iter_prediction_blocks",
    "load_predictions",
    "merge_predictions",
    "read_attrs",
    "read_errors",
    "read_label_cols",
]

STR = h5py.string_dtype("utf-8")
#: file name endings of HDF5 files
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
#: Target uncompressed size of one predictions chunk (HDF5 works best with chunks well under 1 MiB).
CHUNK_BYTES = 1 << 19


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _package_version() -> str:
    from zoobot_tf import __version__

    return __version__


def _strings(dataset, stop=None) -> np.ndarray:
    return dataset.asstr()[:stop].astype(object) if stop is None or stop > 0 else np.array([], dtype=object)


def _append(dataset, values) -> None:
    """Grow ``dataset`` along axis 0 and write ``values`` at its end."""
    start = dataset.shape[0]
    dataset.resize(start + len(values), axis=0)
    dataset[start:] = values


def _resizable_strings(group, name, chunk_rows):
    return group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=STR, chunks=(chunk_rows,))


def chunk_rows_for(n_answers: int, n_samples: int, batch_size: int) -> int:
    """Rows per chunk: one batch, capped so that a chunk stays about :data:`CHUNK_BYTES`."""
    cap = max(1, CHUNK_BYTES // (4 * int(n_answers) * int(n_samples)))
    return max(1, min(int(batch_size), cap))


def _check_compatible(f, path, label_cols, n_samples, attrs, check_attrs) -> None:
    """Raise ValueError unless the open prediction file ``f`` can take rows of this shape and options."""
    missing = [k for k in ("predictions", "id_str", "label_cols", "errors") if k not in f]
    if missing or "n_written" not in f.attrs:
        raise ValueError(f"{path}: not a zoobot_tf prediction file (missing {missing or 'n_written'})")
    have_samples = int(f.attrs["n_samples"])
    if have_samples != int(n_samples):
        raise ValueError(
            f"{path}: existing file has n_samples={have_samples} but n_samples={n_samples} "
            "was asked; use another save_loc or delete the file"
        )
    have_cols = [str(c) for c in f["label_cols"].asstr()[:]]
    if have_cols != list(label_cols):
        diff = next((f"{a!r} != {b!r}" for a, b in zip(have_cols, label_cols) if a != b),
                    f"{len(have_cols)} != {len(label_cols)} columns")
        raise ValueError(
            f"{path}: existing file has other label_cols than asked ({diff}); use another save_loc or delete the file"
        )
    _check_attrs(f, path, attrs, check_attrs)


def _check_attrs(f, path, attrs, check_attrs) -> None:
    for key in check_attrs:
        want, have = attrs.get(key), f.attrs.get(key)
        if have is not None and want is not None and not np.array_equal(np.asarray(have), np.asarray(want)):
            raise ValueError(f"{path}: existing file has {key}={have!r} but {want!r} was asked")


def _state(path, check, data) -> tuple[bool, np.ndarray]:
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: cannot open the existing file ({err}); move it aside or delete it") from err
    with f:
        check(f)
        n, m = _n_rows(f, data), int(f["errors"].attrs.get("n_written", 0))
        done = np.concatenate([_strings(f["id_str"], n), _strings(f["errors/id_str"], m)])
        return bool(f.attrs["complete"]), done


def existing_state(path, label_cols, n_samples, attrs=None, check_attrs=()):
    """Read-only look at an existing prediction file: ``(complete, ids done)`` where done =
    predicted or recorded as unreadable. Raises ValueError like :class:`PredictionWriter` on a mismatch."""
    label_cols = [str(c) for c in label_cols]
    return _state(path, lambda f: _check_compatible(f, path, label_cols, n_samples, dict(attrs or {}), check_attrs),
                  "predictions")


class RowWriter:
    """Create or reopen a file of per-galaxy rows keyed by ``id_str`` and append to it.

    The machinery shared by prediction and embedding files (see the module docstring): atomic
    creation, whole-chunk commits behind ``n_written``, truncation of uncommitted rows on reopen,
    the ``errors`` group. A subclass names its data set (:attr:`DATA`), the shape of one row,
    the extra datasets it creates and how an existing file is checked.
    """

    #: name of the ``(N, *row_shape)`` float32 dataset
    DATA = ""

    def __init__(self, path, attrs=None, chunk_rows=64, check_attrs=()):
        self.path = Path(path)
        attrs = dict(attrs or {})
        if self.path.exists():
            self._file = self._reopen(attrs, check_attrs)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._create(attrs, int(chunk_rows))
        f = self._file
        self._preds, self._ids = f[self.DATA], f["id_str"]
        self._errors = f["errors"]
        self.chunk_rows = int(self._preds.chunks[0])
        self._buffer_ids: list[str] = []
        self._buffer_preds: list[np.ndarray] = []
        self._buffered = 0

    # --- what a subclass defines -------------------------------------------------------
    @property
    def row_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _layout_attrs(self) -> dict:
        """Attributes fixed by the row shape (e.g. ``n_samples``)."""
        return {}

    def _create_extra(self, f) -> None:
        """Datasets beside ``id_str``, the data and ``errors``."""

    def _check(self, f, attrs, check_attrs) -> None:
        """Raise ValueError unless the open file ``f`` can take these rows."""
        raise NotImplementedError

    # --- opening -----------------------------------------------------------------------
    def _create(self, attrs, chunk_rows):
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as f:  # the final name: always a valid file
            self._create_extra(f)
            _resizable_strings(f, "id_str", chunk_rows)
            f.create_dataset(
                self.DATA,
                shape=(0, *self.row_shape),
                maxshape=(None, *self.row_shape),
                dtype="float32",
                chunks=(chunk_rows, *self.row_shape),
                compression="gzip",
                compression_opts=4,
                shuffle=True,
            )
            errors = f.create_group("errors")
            for name in ("id_str", "file_loc", "reason"):
                _resizable_strings(errors, name, 64)
            errors.attrs["n_written"] = 0
            f.attrs.update({k: v for k, v in attrs.items() if v is not None})
            f.attrs.update(
                **self._layout_attrs(),
                n_written=0,
                complete=False,
                created=_now(),
                package_version=_package_version(),
            )
        return h5py.File(self.path, "r+")

    def _reopen(self, attrs, check_attrs):
        try:
            f = h5py.File(self.path, "r+")
        except OSError as err:
            raise ValueError(
                f"{self.path}: cannot reopen the existing file to resume ({err}); "
                "move it aside or delete it to start again"
            ) from err
        try:
            self._check(f, attrs, check_attrs)
            self._truncate(f)
        except BaseException:
            f.close()
            raise
        return f

    def _truncate(self, f):
        """Cut rows past the last committed block (left by a killed run)."""
        n = int(f.attrs["n_written"])
        changed = False
        for name in (self.DATA, "id_str"):
            if f[name].shape[0] < n:
                raise ValueError(f"{f.filename}: {name} has {f[name].shape[0]} rows but n_written={n}; corrupt file")
            if f[name].shape[0] != n:
                f[name].resize(n, axis=0)
                changed = True
        errors = f["errors"]
        m = int(errors.attrs["n_written"])
        for name in ("id_str", "file_loc", "reason"):
            if errors[name].shape[0] != m:
                errors[name].resize(m, axis=0)
                changed = True
        if changed:
            f.flush()

    # --- state -------------------------------------------------------------------------
    @property
    def n_written(self) -> int:
        return int(self._file.attrs["n_written"])

    @property
    def complete(self) -> bool:
        return bool(self._file.attrs["complete"])

    def written_ids(self) -> np.ndarray:
        """Ids with predictions already in the file."""
        return _strings(self._ids, self.n_written)

    def error_ids(self) -> np.ndarray:
        """Ids recorded as unreadable."""
        return _strings(self._errors["id_str"], int(self._errors.attrs["n_written"]))

    # --- writing -----------------------------------------------------------------------
    def add(self, ids: Sequence[str], predictions: np.ndarray) -> None:
        """Queue rows; whole chunks are written (and committed) as soon as they are complete."""
        predictions = np.asarray(predictions, dtype=np.float32)
        expected = (len(ids), *self.row_shape)
        if predictions.shape != expected:
            raise ValueError(f"{self.DATA} of shape {predictions.shape} do not match {expected}")
        if not len(ids):
            return
        if self.complete:
            self._set_attr("complete", False)
        self._buffer_ids.extend(str(i) for i in ids)
        self._buffer_preds.append(predictions)
        self._buffered += len(ids)
        if self._buffered >= self.chunk_rows:
            self._write_buffer(whole_chunks_only=True)

    def add_errors(self, ids: Sequence[str], file_locs: Sequence[str], reasons: Sequence[str]) -> None:
        """Record unreadable images (committed at once; they are rare and small)."""
        if not len(ids):
            return
        errors = self._errors
        for name, values in (("reason", reasons), ("file_loc", file_locs), ("id_str", ids)):
            _append(errors[name], np.array([str(v) for v in values], dtype=object))
        self._file.flush()
        errors.attrs["n_written"] = int(errors.attrs["n_written"]) + len(ids)
        self._file.flush()

    def clear_errors(self) -> None:
        """Forget the recorded unreadable images (to try them again)."""
        self._errors.attrs["n_written"] = 0
        self._file.flush()
        for name in ("id_str", "file_loc", "reason"):
            self._errors[name].resize(0, axis=0)
        self._file.flush()

    def _write_buffer(self, whole_chunks_only: bool) -> None:
        if not self._buffered:
            return
        preds = np.concatenate(self._buffer_preds, axis=0)
        ids = self._buffer_ids
        n = (len(ids) // self.chunk_rows) * self.chunk_rows if whole_chunks_only else len(ids)
        if n == 0:
            return
        self._commit(ids[:n], preds[:n])
        self._buffer_ids = ids[n:]
        self._buffer_preds = [preds[n:]] if n < len(ids) else []
        self._buffered = len(self._buffer_ids)

    def _commit(self, ids, preds) -> None:
        start = self.n_written
        # a killed run may have left uncommitted rows: RowWriter._truncate cut them on open
        _append(self._preds, preds)
        _append(self._ids, np.array(ids, dtype=object))
        self._file.flush()
        self._set_attr("n_written", start + len(ids))

    def _set_attr(self, key, value) -> None:
        self._file.attrs[key] = value
        self._file.flush()

    def flush(self) -> None:
        """Write every queued row (the last chunk may be partial)."""
        self._write_buffer(whole_chunks_only=False)

    def finish(self, **attrs) -> None:
        """Write the remaining rows, then mark the file complete (plus any extra attributes)."""
        self.flush()
        for key, value in attrs.items():
            self._file.attrs[key] = value
        self._file.attrs["finished"] = _now()
        self._set_attr("complete", True)

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PredictionWriter(RowWriter):
    """Create or reopen a prediction file and append rows to it (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The HDF5 file; created with its parent directory if missing.
    label_cols : list of str
        One name per model output (answer).
    n_samples : int
        MC samples per galaxy.
    attrs : dict
        Attributes written on creation (schema, model_file, image options, ...). When reopening,
        ``check_attrs`` lists those that must agree with the file (ValueError otherwise).
    chunk_rows : int
        Rows per chunk for a new file (an existing file keeps its own).
    check_attrs : sequence of str
        Attribute names that must match an existing file.

    Raises
    ------
    ValueError
        The existing file has other ``n_samples``/``label_cols``/checked attributes, or is not a
        prediction file.
    """

    DATA = "predictions"

    def __init__(self, path, label_cols, n_samples, attrs=None, chunk_rows=64, check_attrs=()):
        self.label_cols = [str(c) for c in label_cols]
        self.n_samples = int(n_samples)
        super().__init__(path, attrs, chunk_rows, check_attrs)

    @property
    def row_shape(self):
        return (len(self.label_cols), self.n_samples)

    def _layout_attrs(self):
        return {"n_samples": self.n_samples}

    def _create_extra(self, f):
        f.create_dataset("label_cols", data=np.array(self.label_cols, dtype=object), dtype=STR)

    def _check(self, f, attrs, check_attrs):
        _check_compatible(f, self.path, self.label_cols, self.n_samples, attrs, check_attrs)


class EmbeddingWriter(RowWriter):
    """Create or reopen an embedding file: ``representations (N, n_features)`` encoder features.

    Parameters as :class:`PredictionWriter`, with ``n_features`` (the encoder's output width)
    in place of ``label_cols`` and ``n_samples``.
    """

    DATA = "representations"

    def __init__(self, path, n_features, attrs=None, chunk_rows=64, check_attrs=()):
        self.n_features = int(n_features)
        super().__init__(path, attrs, chunk_rows, check_attrs)

    @property
    def row_shape(self):
        return (self.n_features,)

    def _layout_attrs(self):
        return {"n_features": self.n_features}

    def _check(self, f, attrs, check_attrs):
        check_embedding_file(f, self.path, self.n_features, attrs, check_attrs)

    @classmethod
    def existing_state(cls, path, n_features, attrs=None, check_attrs=()):
        """``(complete, ids done)`` of an existing embedding file, read-only."""
        return _state(path, lambda f: check_embedding_file(f, path, n_features, dict(attrs or {}), check_attrs),
                      cls.DATA)


def check_embedding_file(f, path, n_features, attrs, check_attrs) -> None:
    """Raise ValueError unless the open file ``f`` is an embedding file of ``n_features`` columns."""
    missing = [k for k in ("representations", "id_str", "errors") if k not in f]
    if missing or "n_written" not in f.attrs:
        raise ValueError(f"{path}: not a zoobot_tf embedding file (missing {missing or 'n_written'})")
    have = int(f["representations"].shape[1])
    if have != int(n_features):
        raise ValueError(f"{path}: existing file has {have} features per galaxy but the encoder gives "
                         f"{n_features}; use another save_loc or delete the file")
    _check_attrs(f, path, attrs, check_attrs)


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------


#: what a file of each kind must hold: (kind in messages, required datasets)
_KINDS = {
    "predictions": ("prediction", ("id_str", "label_cols", "predictions")),
    "representations": ("embedding", ("id_str", "representations")),
}


def _open(path, data="predictions") -> h5py.File:
    kind, required = _KINDS[data]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {kind} file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: cannot open as HDF5 ({err})") from err
    missing = [k for k in required if k not in f]
    if missing:
        f.close()
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"{path}: not {article} {kind} file: lacks dataset(s) {missing}; expected {', '.join(required)}")
    return f


def _open_predictions(path) -> h5py.File:
    return _open(path, "predictions")


def _data_name(path) -> str:
    """``'representations'`` for an embedding file, else ``'predictions'``."""
    try:
        with h5py.File(path, "r") as f:
            return "representations" if "representations" in f else "predictions"
    except OSError:
        return "predictions"  # _open raises the message naming the file


def _n_rows(f, data="predictions") -> int:
    # files from other tools (Zoobot) have no n_written attribute: all rows count
    n = int(f.attrs.get("n_written", f["id_str"].shape[0]))
    return min(n, f["id_str"].shape[0], f[data].shape[0])


def _plain(value):
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value.decode() if isinstance(value, bytes) else value


def read_attrs(path) -> dict:
    """File attributes as plain Python values (plus ``n_rows``, the committed row count);
    prediction or embedding file."""
    data = _data_name(path)
    with _open(path, data) as f:
        out = {k: _plain(v) for k, v in f.attrs.items()}
        out["n_rows"] = _n_rows(f, data)
    return out


def read_label_cols(path) -> list[str]:
    """The output (answer / class) names of a prediction file, in column order."""
    with _open_predictions(path) as f:
        return [str(c) for c in f["label_cols"].asstr()[:]]


def load_predictions(path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Read a whole prediction file.

    Returns
    -------
    id_str : np.ndarray of str (object), shape (N,)
    label_cols : list of str, length A
    predictions : np.ndarray float32, shape (N, A, n_samples)
    """
    with _open_predictions(path) as f:
        n = _n_rows(f)
        return _strings(f["id_str"], n), [str(c) for c in f["label_cols"].asstr()[:]], f["predictions"][:n]


def load_representations(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a whole embedding file: ``(id_str (N,), representations float32 (N, D))``."""
    with _open(path, "representations") as f:
        n = _n_rows(f, "representations")
        return _strings(f["id_str"], n), f["representations"][:n]


def _iter_blocks(path, data, rows) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with _open(path, data) as f:
        n = _n_rows(f, data)
        for start in range(0, n, int(rows)):
            stop = min(start + int(rows), n)
            yield f["id_str"].asstr()[start:stop].astype(object), f[data][start:stop]


def iter_prediction_blocks(path, rows: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(id_str, predictions)`` blocks of at most ``rows`` galaxies: bounded memory."""
    return _iter_blocks(path, "predictions", rows)


def iter_representation_blocks(path, rows: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(id_str, representations)`` blocks of at most ``rows`` galaxies: bounded memory."""
    return _iter_blocks(path, "representations", rows)


def read_errors(path) -> pd.DataFrame:
    """The unreadable images recorded in a prediction or embedding file: ``id_str``, ``file_loc``, ``reason``."""
    with _open(path, _data_name(path)) as f:
        if "errors" not in f:
            return pd.DataFrame({"id_str": [], "file_loc": [], "reason": []}, dtype=object)
        g = f["errors"]
        m = int(g.attrs.get("n_written", g["id_str"].shape[0]))
        return pd.DataFrame({name: _strings(g[name], m) for name in ("id_str", "file_loc", "reason")})


def _layout(path, data) -> tuple[str, tuple]:
    """``(data name, writer arguments that fix the row shape)`` of an existing file of kind ``data``."""
    with _open(path, data) as f:
        if data == "representations":
            return data, (int(f[data].shape[1]),)
        return data, ([str(c) for c in f["label_cols"].asstr()[:]], int(f[data].shape[2]))


def merge_predictions(paths: Sequence, out, rows: int = 4096, require_all_workers: bool = True) -> Path:
    """Concatenate complete prediction files, e.g. one per worker, into ``out`` (see :func:`_merge`)."""
    return _merge(paths, out, rows, "predictions", require_all_workers)


def merge_embeddings(paths: Sequence, out, rows: int = 4096, require_all_workers: bool = True) -> Path:
    """Concatenate complete embedding files, e.g. one per worker, into ``out`` (see :func:`_merge`)."""
    return _merge(paths, out, rows, "representations", require_all_workers)


def _merge(paths: Sequence, out, rows: int, data: str, require_all_workers: bool = True) -> Path:
    """Concatenate complete files of one kind (``data``: their dataset), e.g. one per worker, into ``out``.

    Checks that every input is complete and that they share their row layout (``label_cols``
    and ``n_samples``; or the number of features), and that no id appears twice (within or
    across files, rows or errors). Copies in blocks of ``rows`` galaxies, so memory stays
    bounded (apart from the set of ids). With ``require_all_workers``, inputs written by workers
    of a split run (``num_workers > 1``) must include every worker's file, so a file missing from
    a glob cannot silently drop galaxies.

    Returns
    -------
    Path
        ``out``, marked complete, with ``merged_from`` listing the inputs.
    """
    paths = [Path(p) for p in paths]
    out = Path(out)
    if not paths:
        raise ValueError("merge needs at least one input file")
    if out.exists():
        raise FileExistsError(f"{out}: already exists; merge does not overwrite")
    if out.resolve() in {p.resolve() for p in paths}:
        raise ValueError(f"{out}: the output is also an input")

    first = read_attrs(paths[0])
    data, layout = _layout(paths[0], data)
    if require_all_workers:
        _check_all_workers(paths)
    seen: set[str] = set()
    for path in paths:
        attrs = read_attrs(path)
        if not bool(attrs.get("complete", False)):
            raise ValueError(f"{path}: not complete (a worker still running or killed?); rerun it to finish first")
        if _layout(path, data) != (data, layout):
            what = "label_cols/n_samples" if data == "predictions" else "kind of file/number of features"
            raise ValueError(f"{path}: {what} differ from {paths[0]}")
        ids = list(_all_ids(path, data))
        dupes = [i for i in ids if i in seen]
        if len(set(ids)) != len(ids):
            dupes += [i for i, c in pd.Series(ids).value_counts().items() if c > 1]
        if dupes:
            raise ValueError(f"{path}: {len(dupes)} id(s) already seen, e.g. {dupes[:5]}")
        seen.update(ids)

    keep = ("schema", "head", "model_file", "image_recipe", "image_size", "image_channels", "tta")
    attrs = {k: first[k] for k in keep if k in first}
    attrs["merged_from"] = [str(p) for p in paths]
    if data == "representations":
        writer = EmbeddingWriter(out, *layout, attrs=attrs, chunk_rows=chunk_rows_for(layout[0], 1, rows))
    else:
        writer = PredictionWriter(out, *layout, attrs=attrs, chunk_rows=chunk_rows_for(len(layout[0]), layout[1], rows))
    with writer:
        for path in paths:
            for ids, block in _iter_blocks(path, data, rows):
                writer.add(ids, block)
            errors = read_errors(path)
            writer.add_errors(errors["id_str"], errors["file_loc"], errors["reason"])
        writer.finish()
    return out


def _check_all_workers(paths: Sequence[Path]) -> None:
    shares = {}
    for path in paths:
        attrs = read_attrs(path)
        count = int(attrs.get("num_workers", 1))
        if count > 1:
            shares.setdefault(count, set()).add(int(attrs.get("worker_index", 0)))
    for count, indices in shares.items():
        missing = sorted(set(range(count)) - indices)
        if missing:
            raise ValueError(
                f"the inputs hold {len(indices)} of the {count} worker files of a split run; missing worker "
                f"index {missing[:20]} (finish those workers, or pass --allow-partial to merge anyway)"
            )


def _all_ids(path, data="predictions") -> Iterator[str]:
    for ids, _ in _iter_blocks(path, data, 4096):
        yield from ids
    yield from read_errors(path)["id_str"]
