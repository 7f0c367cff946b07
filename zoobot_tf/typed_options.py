"""Parameter objects: a function's many options as one frozen dataclass, keyword overrides on top.

Why: training, fine-tuning, prediction and shard writing each take a dozen or more options. As a
dataclass they are typed, documented once, recorded in ``config.json`` field by field (never from
``locals()``, where renaming a variable changed a saved file), and passed on whole; callers still
write ``train(..., epochs=3)``: :func:`options_from` folds keywords into the object and names any
it does not know.
"""

from __future__ import annotations

from dataclasses import fields

__all__ = ["asdict_shallow", "field_values", "options_from"]


def options_from(cls, options=None, **overrides):
    """An instance of the dataclass ``cls`` from ``options`` (an instance, or None for the defaults)
    with ``overrides`` applied; an unknown keyword is a TypeError naming it and the known ones."""
    options = options if options is not None else cls()
    if not isinstance(options, cls):
        raise TypeError(f"options must be a {cls.__name__}, got {type(options).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; {cls.__name__} has {sorted(known)}")
    return type(options)(**{**asdict_shallow(options), **overrides})


def asdict_shallow(options) -> dict:
    """The fields of a dataclass as they are (nested dataclasses kept as objects)."""
    return {f.name: getattr(options, f.name) for f in fields(options)}


def field_values(options) -> tuple:
    """The field values of a dataclass in declaration order (to unpack into local names)."""
    return tuple(getattr(options, f.name) for f in fields(options))
