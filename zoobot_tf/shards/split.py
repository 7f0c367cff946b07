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
#: held-out fractions of a survey-sized catalog: every verb that writes shards (make-shards,
#: train-kaggle, the survey scripts) splits this way unless told otherwise
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.1
#: fine-tuning's: with a few hundred labels, 10% leaves too few galaxies to choose a model on and
#: to report a metric with a useful interval
FEW_LABEL_VAL_FRACTION = 0.2
FEW_LABEL_TEST_FRACTION = 0.2


def split_key(id_str: str, seed: int) -> float:
    """Uniform pseudo-random number in [0, 1) fixed by ``(seed, id_str)``."""
    digest = hashlib.sha256(f"{int(seed)}:{id_str}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_unique_ids(ids: Sequence[str]) -> None:
    """Raise ValueError listing every duplicated ``id_str`` and the catalog rows holding it."""
    import pandas as pd

    if isinstance(ids, pd.Series):  # no object copy of a survey's ids (Arrow-backed strings stay so)
        series = ids.reset_index(drop=True).astype(str)
    else:
        series = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    repeated = series.duplicated(keep=False).to_numpy()  # hash table in C: cheap at 10^8 ids
    if not repeated.any():
        return
    positions: dict[str, list[int]] = {}
    for row in np.flatnonzero(repeated):
        positions.setdefault(series.iat[row], []).append(int(row))
    raise _duplicates_error(positions)


def _duplicates_error(positions: dict[str, list[int]]) -> ValueError:
    shown = "; ".join(f"{k!r} at rows {v}" for k, v in list(positions.items())[:20])
    more = f" (and {len(positions) - 20} more)" if len(positions) > 20 else ""
    return ValueError(f"catalog has {len(positions)} duplicated id_str values: {shown}{more}")


def hash_order(ids: Sequence[str], seed: int, *, check_unique: bool = False) -> np.ndarray:
    """Positions of ``ids`` sorted by ``(split_key(id, seed), id)``, as an int64 array.

    The keys live in one float64 array (not a tuple per id), so ordering 10^8 ids costs about
    1.6 GB less than sorting Python tuples; equal keys (possible among 10^8 ids) are ordered by id.
    Equal ids have equal keys, so with ``check_unique`` the same pass finds repeated ids (raising
    as :func:`check_unique_ids` does) in a few bytes per id instead of a hash table of strings.
    """
    keys = np.fromiter((split_key(str(i), seed) for i in ids), dtype=np.float64, count=len(ids))
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    ties = np.flatnonzero(ranked[1:] == ranked[:-1])
    repeated: dict[str, set[int]] = {}
    start = 0
    for t in ties:  # runs of equal keys: sort each run by id
        if t < start:
            continue
        end = t + 1
        while end + 1 < len(ranked) and ranked[end + 1] == ranked[t]:
            end += 1
        run = sorted(order[t : end + 1], key=lambda k: str(ids[k]))
        order[t : end + 1] = run
        if check_unique:
            for a, b in zip(run, run[1:]):
                if str(ids[a]) == str(ids[b]):
                    repeated.setdefault(str(ids[a]), set()).update((int(a), int(b)))
        start = end + 1
    if repeated:
        by_first_row = sorted(repeated.items(), key=lambda item: min(item[1]))
        raise _duplicates_error({k: sorted(v) for k, v in by_first_row})
    return order


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
    rows = split_rows(hash_order(ids, seed), val_fraction, test_fraction)
    # each split keeps hash order, so records inside a split are deterministic too
    return {split: [ids[k] for k in index] for split, index in rows.items()}


def split_rows(order: np.ndarray, val_fraction: float, test_fraction: float) -> dict[str, np.ndarray]:
    """Cut a :func:`hash_order` into ``{'train', 'val', 'test'}`` position arrays (test first)."""
    counts = split_counts(len(order), val_fraction, test_fraction)
    n_test, n_val = counts["test"], counts["val"]
    return {"train": order[n_test + n_val :], "val": order[n_test : n_test + n_val], "test": order[:n_test]}


def order_ids(ids: Sequence[str], *, seed: int) -> list[str]:
    """All ids in deterministic hash order (the single 'predict' split of unlabelled shards)."""
    ids = [str(i) for i in ids]
    check_unique_ids(ids)
    return [ids[k] for k in hash_order(ids, seed)]


def splits_from_column(ids: Sequence[str], values: Sequence, *, seed: int) -> dict[str, list[str]]:
    """A predefined split: ``{'train', 'val', 'test'}`` id lists from a catalog's ``split`` column.

    Each value must be ``train``, ``val`` or ``test`` (surrounding spaces and case ignored);
    anything else, an empty value included, is an error naming the row. Inside each split ids
    keep the hash order of :func:`assign_splits`, so records are ordered deterministically.
    """
    ids = [str(i) for i in ids]
    check_unique_ids(ids)
    rows = split_rows_from_column(hash_order(ids, seed), values, ids)
    return {name: [ids[k] for k in index] for name, index in rows.items()}


def split_rows_from_column(order: np.ndarray, values: Sequence, ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Cut a :func:`hash_order` into split position arrays by a catalog's ``split`` column values."""
    if len(values) != len(ids):
        raise ValueError(f"{len(values)} split values for {len(ids)} ids")
    names = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        name = value.strip().lower() if isinstance(value, str) else value
        if name not in SPLITS:
            raise ValueError(
                f"catalog row {row} (id_str {ids[row]!r}): {SPLIT_COLUMN} {value!r} is not one of {', '.join(SPLITS)}"
            )
        names[row] = name
    ranked = names[np.asarray(order)]
    return {name: np.asarray(order)[ranked == name] for name in SPLITS}
