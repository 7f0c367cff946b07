"""zoobot_tf.allocator: glibc's malloc set once to keep freed blocks, unless the user chose otherwise."""

from __future__ import annotations

import ctypes.util
import sys
from pathlib import Path

import pytest

from zoobot_tf import allocator


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(allocator, "_done", None)
    for name in allocator._USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.skipif(not sys.platform.startswith("linux") or "musl" in (ctypes.util.find_library("c") or ""),
                    reason="mallopt is glibc's")
def test_keep_freed_memory_sets_glibc_once(fresh):
    calls = []
    real = allocator.ctypes.CDLL

    def spy(name):
        calls.append(name)
        return real(name)

    fresh.setattr(allocator.ctypes, "CDLL", spy)
    assert allocator.keep_freed_memory() is True
    assert allocator.keep_freed_memory() is True and len(calls) == 1  # once per process


def test_a_users_malloc_variable_wins(fresh):
    fresh.setenv("MALLOC_ARENA_MAX", "2")
    fresh.setattr(allocator.ctypes, "CDLL", lambda name: pytest.fail("mallopt must not be called"))
    assert allocator.keep_freed_memory() is False


def test_no_mallopt_no_change(fresh):
    def no_libc(name):
        raise OSError(f"{name}: cannot open shared object file")

    fresh.setattr(allocator.ctypes, "CDLL", no_libc)
    assert allocator.keep_freed_memory() is False


def test_only_the_command_line_changes_the_allocator():
    """Importing or calling the library never changes a notebook's malloc: only cli.py (and scripts,
    which own their processes) call keep_freed_memory."""
    package = Path(allocator.__file__).resolve().parent
    callers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                     if "keep_freed_memory(" in p.read_text() and p.name != "allocator.py")
    assert callers == ["cli.py"]


def test_heavy_verbs_opt_in_and_light_ones_do_not(monkeypatch, tmp_path):
    from zoobot_tf import cli

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    assert cli.main(["train", "--shards", str(tmp_path / "none"), "--out", str(tmp_path / "run")]) == cli.EXIT_NO_INPUT
    assert calls == [1]
    assert cli.main(["summarise", "--predictions", str(tmp_path / "none.hdf5"), "--out", str(tmp_path / "s")]) != 0
    assert calls == [1]
    assert cli.HEAVY_VERBS <= set(cli.VERBS)


ONEDNN_PROBE = (
    "import os, sys\n"
    "from zoobot_tf.onednn import enable_onednn\n"
    "if sys.argv[1] == 'tf':\n"
    "    import tensorflow\n"
    "print(enable_onednn(), os.environ.get('TF_ENABLE_ONEDNN_OPTS'))\n"
)


@pytest.mark.parametrize("case, preset, expected", [
    ("fresh", None, "True 1"),  # set before TensorFlow is imported
    ("fresh", "0", "False 0"),  # the user's choice wins
    pytest.param("tf", None, "False None", marks=pytest.mark.slow),  # too late once TensorFlow is imported
])
def test_enable_onednn_only_before_tensorflow_and_never_over_the_user(case, preset, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if preset is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = preset
    done = subprocess.run([sys.executable, "-c", ONEDNN_PROBE, case], capture_output=True, text=True, env=env,
                          timeout=300, cwd=Path(allocator.__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == expected


def test_heavy_verbs_turn_on_onednn_and_light_ones_do_not(monkeypatch, tmp_path):
    from zoobot_tf import cli, onednn

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: True)
    monkeypatch.setattr(onednn, "enable_onednn", lambda: calls.append(1) or True)
    assert cli.main(["train", "--shards", str(tmp_path / "none"), "--out", str(tmp_path / "run")]) == cli.EXIT_NO_INPUT
    assert calls == [1]
    assert cli.main(["summarise", "--predictions", str(tmp_path / "none.hdf5"), "--out", str(tmp_path / "s")]) != 0
    assert calls == [1]
