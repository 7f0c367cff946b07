"""Deterministic train/val/test assignment by hashing ``(seed, id_str)``.

Why hashing: the split of a galaxy must not depend on the row order of the catalog (tables get
re-sorted, concatenated, filtered), only on its id and the seed, so that a rerun, a resumed run,
or a colleague with the same table and seed gets exactly the same split. Each id gets a uniform
key in [0, 1) from SHA-256; ids are ranked by key, the first ``round(n * test_fraction)`` go to
test, the next ``round(n * val_fraction)`` to val, the rest to train. The same key orders the
records inside each split, which also scatters neighbouring ids across shards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "val", "test")
PREDICT_SPLIT = "predict"
#: a catalog column naming each galaxy's split (a predefined split, e.g. a benchmark's test set)
SPLIT_COLUMN = "split"


def split_key(id_str: str, seed: int) -> float:
    """Uniform pseudo-random number in [0, 1) fixed by ``(seed, id_str)``."""
    digest = hashlib.sha256(f"{int(seed)}:{id_str}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_unique_ids(ids: Sequence[str]) -> None:
    """Raise ValueError listing every duplicated ``id_str`` and the catalog rows holding it."""
    ids = [str(i) for i in ids]
    positions: dict[str, list[int]] = {}
    for row, id_str in enumerate(ids):
        positions.setdefault(id_str, []).append(row)
    duplicated = {k: v for k, v in positions.items() if len(v) > 1}
    if duplicated:
        shown = "; ".join(f"{k!r} at rows {v}" for k, v in list(duplicated.items())[:20])
        more = f" (and {len(duplicated) - 20} more)" if len(duplicated) > 20 else ""
        raise ValueError(f"catalog has {len(duplicated)} duplicated id_str values: {shown}{more}")


def split_counts(n: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Number of records in each split for ``n`` galaxies (rounded; train takes the rest)."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}")
    n_test = int(np.floor(n * test_fraction + 0.5))
    n_val = int(np.floor(n * val_fraction + 0.5))
    return {"train": n - n_val - n_test, "val": n_val, "test": n_test}


def assign_splits(ids: Sequence[str], *, val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[str]]:
    """Split ids into ``{'train', 'val', 'test'}`` lists, each in its deterministic record order.

    Parameters
    ----------
    ids : sequence of str
        Unique galaxy ids (``id_str``); duplicates raise ValueError.
    val_fraction, test_fraction : float
        Fractions of the ids for validation and test (rounded to whole galaxies).
    seed : int
        Split seed; the same seed always gives the same split, whatever the order of ``ids``.

    Returns
    -------
    dict
        Split name -> ids ordered by their hash key.
    """
    ids = [str(i) for i in ids]
    check_unique_ids(ids)
    counts = split_counts(len(ids), val_fraction, test_fraction)
    ranked = sorted(ids, key=lambda i: (split_key(i, seed), i))
    n_test, n_val = counts["test"], counts["val"]
    test, val, train = ranked[:n_test], ranked[n_test : n_test + n_val], ranked[n_test + n_val :]
    # each split keeps hash order, so records inside a split are deterministic too
    return {"train": train, "val": val, "test": test}


def order_ids(ids: Sequence[str], *, seed: int) -> list[str]:
    """All ids in deterministic hash order (the single 'predict' split of unlabelled shards)."""
    ids = [str(i) for i in ids]
    check_unique_ids(ids)
    return sorted(ids, key=lambda i: (split_key(i, seed), i))


def splits_from_column(ids: Sequence[str], values: Sequence, *, seed: int) -> dict[str, list[str]]:
    """A predefined split: ``{'train', 'val', 'test'}`` lists from a catalog's ``split`` column.

    Each value must be ``train``, ``val`` or ``test`` (surrounding spaces and case ignored);
    anything else, an empty value included, is an error naming the row. Inside each split ids
    keep the hash order of :func:`assign_splits`, so records are ordered deterministically.
    """
    ids = [str(i) for i in ids]
    check_unique_ids(ids)
    if len(values) != len(ids):
        raise ValueError(f"{len(values)} split values for {len(ids)} ids")
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    for row, (id_str, value) in enumerate(zip(ids, values)):
        name = value.strip().lower() if isinstance(value, str) else value
        if name not in out:
            raise ValueError(
                f"catalog row {row} (id_str {id_str!r}): {SPLIT_COLUMN} {value!r} is not one of {', '.join(SPLITS)}"
            )
        out[name].append(id_str)
    return {name: sorted(members, key=lambda i: (split_key(i, seed), i)) for name, members in out.items()}
