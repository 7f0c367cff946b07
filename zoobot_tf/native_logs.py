"""Hide TensorFlow's native (C++) log lines from a command's stderr unless asked for them.

Why a filter on file descriptor 2 and not only ``TF_CPP_MIN_LOG_LEVEL``: XLA and the CUDA probe
log through absl before that variable is read ("WARNING: All log messages before
absl::InitializeLog() ...", "Could not find cuda drivers on your machine"), and grappler's cost
model prints error-level lines (``PredictCost() ... CropAndResize``) a user cannot act on. Lines
in the native formats are dropped; everything else (Python warnings, tracebacks, progress bars,
log messages) passes through unchanged. ``zoobot-tf -v`` shows them all.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import sys
import threading

__all__ = ["hidden", "is_native_log_line"]

#: absl / glog lines (``I0000 00:00:1795704685.887988   15057 cudart_stub.cc:31] ...``: before absl is
#: initialised the time field is seconds since the epoch, after it ``12:34:56.789``), TensorFlow's
#: older format (``2024-01-01 12:00:00.000000: W tensorflow/...``) and absl's pre-init notice
_NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]\s]+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)
#: a partial line that may still become a native log line: held back until it is complete
_MAYBE_NATIVE = re.compile(rb"^(?:[IWEF]\d|\d{4}-|WARNING: All)")
_SEGMENT = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)")


def is_native_log_line(line: bytes) -> bool:
    """True for a line written by TensorFlow's / XLA's native logging."""
    return bool(_NATIVE_LINE.match(line))


def _emit(buffer: bytes, out_fd: int, *, idle: bool = False, final: bool = False) -> bytes:
    """Write the complete lines of ``buffer`` that are not native log lines; return the rest.

    An unfinished line is written too when output has paused (``idle``, e.g. a progress bar) and
    it cannot be the start of a native log line, or at the end (``final``).
    """
    end = 0
    for match in _SEGMENT.finditer(buffer):
        if not is_native_log_line(match.group()):
            os.write(out_fd, match.group())
        end = match.end()
    tail = buffer[end:]
    if tail and (final or (idle and not _MAYBE_NATIVE.match(tail))):
        if not is_native_log_line(tail):
            os.write(out_fd, tail)
        tail = b""
    return tail


def _forward(read_fd: int, out_fd: int) -> None:
    pending = b""
    try:
        while True:
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            if ready:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                pending = _emit(pending + chunk, out_fd)
            elif pending:  # quiet for a moment: show a progress bar's partial line now
                pending = _emit(pending, out_fd, idle=True)
        _emit(pending, out_fd, final=True)
    finally:
        os.close(read_fd)


@contextlib.contextmanager
def hidden(enabled: bool = True):
    """Within the block, drop native log lines from file descriptor 2 (``enabled=False``: keep all).

    Also sets ``TF_CPP_MIN_LOG_LEVEL`` (unless the user set it) before TensorFlow is imported,
    which silences the lines that honour it at their source.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if enabled else "0")
    try:
        stderr_fd = sys.__stderr__.fileno()
    except (AttributeError, OSError, ValueError):
        stderr_fd = None
    if not enabled or stderr_fd != 2:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_forward, args=(read_fd, saved), name="native-log-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os.dup2(saved, 2)  # the pipe's last write end closes: the forwarder drains it and stops
        thread.join(timeout=5)  # child processes that still hold the pipe keep it open: do not wait
        if not thread.is_alive():
            os.close(saved)
