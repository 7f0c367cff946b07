"""Keep freed memory in the process instead of handing it back to the kernel after every step.

Why: glibc's malloc serves large blocks (> 128 KiB, raised dynamically up to 32 MiB) with mmap
and returns them with munmap as soon as they are freed, and trims the heap top above 128 KiB. A
TensorFlow training step on CPU allocates and frees the same large tensors every step, so every
step faults its pages in again, and a CPU training step spends a large share of its time in the
kernel. Raising the three thresholds once, with ``mallopt``, keeps those blocks in the heap
(no stored measurement backs a figure here: to compare on your machine, time a training verb
once as it is and once with ``MALLOC_MMAP_THRESHOLD_=131072`` set, which turns this off).

It changes the whole process, so the library never calls it: the command line does, for the verbs
that train or predict (``zoobot_tf.cli.HEAVY_VERBS``), and a script or notebook opts in by calling
:func:`keep_freed_memory` itself. Only glibc (Linux) has ``mallopt``; elsewhere, and where the user set any ``MALLOC_*_`` variable
(their choice wins), :func:`keep_freed_memory` does nothing. Memory held grows by at most the
thresholds (the largest freed block is reused, not returned).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory"]

#: ``mallopt`` parameters (malloc.h) and the values set: mmap only above 32 MiB (glibc's maximum
#: for the dynamic threshold), trim the heap only above 1 GiB, grow it by 256 MiB at a time.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 256 << 20))
_USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX")
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed blocks (once per process); True if the settings are in force."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if any(name in os.environ for name in _USER_VARIABLES):
        return _done
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows, musl without mallopt)
        return _done
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = all(mallopt(parameter, value) == 1 for parameter, value in _SETTINGS)
    return _done
