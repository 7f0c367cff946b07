"""zoobot_tf.allocator: glibc's malloc set once to keep freed blocks, unless the user chose otherwise."""

from __future__ import annotations

import ctypes.util
import sys

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
