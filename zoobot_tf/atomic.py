"""Atomic file writes: a file either keeps its old content or has the complete new one.

Why one module at the bottom of the package: shard manifests, run configs, training logs,
predictions and detection histories all promise "no half-written output presented as complete".
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["TEMP_MARK", "atomic_path", "atomic_write_text", "fsync_dir"]

#: what every temporary file's name carries: ``.<final name>.tmp-<random><suffix>``
TEMP_MARK = ".tmp-"


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside ``path`` to write into (all at once or step by step); on a
    clean exit it is fsynced and renamed to ``path``, on an error or a kill it is removed (or left
    as a hidden ``.<name>.tmp-*`` file, never under the final name).

    ``suffix`` (default ``.tmp``, so no glob for the final files' extension matches a leftover
    temp file) serves writers that choose a format by extension (Keras wants ``.keras``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}", suffix=suffix or ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.isfile(tmp):
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text so that ``path`` either keeps its old content or has the complete new one."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def fsync_dir(directory: str | os.PathLike) -> None:
    """Persist a rename in ``directory`` (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
