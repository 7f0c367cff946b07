"""Row checks: every problem becomes a reason string attached to the row, never a silent drop.

A reason reads ``"<category>: <detail>"`` (e.g. ``"negative votes: bar_no=-1"``); the category is
what the one-line summary counts. Value checks are vectorised (they run on a million rows);
only the rows that fail are turned into text.
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

_MAX_SHOWN = 4


def category(reason: str) -> str:
    """The part of a reason before the first colon (what the summary counts)."""
    return reason.split(":", 1)[0].strip()


def merge_reasons(*reason_maps) -> dict[int, list[str]]:
    """Merge ``row -> reason`` or ``row -> [reasons]`` maps into ``row -> [reasons]``."""
    merged: dict[int, list[str]] = defaultdict(list)
    for reasons in reason_maps:
        for row, value in reasons.items():
            merged[row].extend([value] if isinstance(value, str) else value)
    return dict(merged)


def _describe(names, values=None) -> str:
    items = list(names) if values is None else [f"{n}={_fmt(v)}" for n, v in zip(names, values)]
    shown = ", ".join(items[:_MAX_SHOWN])
    return shown + (f" (+{len(items) - _MAX_SHOWN} more)" if len(items) > _MAX_SHOWN else "")


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _cell_problems(mask: np.ndarray, columns, values, category_name: str) -> dict[int, str]:
    """``row -> 'category: col=value, ...'`` for every row with a True in ``mask``."""
    out = {}
    for row in np.flatnonzero(mask.any(axis=1)):
        cols = np.flatnonzero(mask[row])
        names = [columns[c] for c in cols]
        shown = None if values is None else [values[row, c] for c in cols]
        out[int(row)] = f"{category_name}: {_describe(names, shown)}"
    return out


def _numeric(labels: pd.DataFrame, label_sources: dict):
    """Label values as float64, plus the problems found while converting them."""
    columns = [label_sources.get(c, c) for c in labels.columns]
    raw = labels.to_numpy(dtype=object)
    numeric = labels.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    missing = labels.isna().to_numpy()
    non_numeric = np.isnan(numeric) & ~missing
    nan = np.isnan(numeric) & ~non_numeric
    return columns, raw, numeric, nan, non_numeric


def check_votes(labels: pd.DataFrame, label_sources: dict) -> dict[int, list[str]]:
    """Vote counts must be present, numeric, finite, non-negative whole numbers."""
    columns, raw, arr, nan, non_numeric = _numeric(labels, label_sources)
    finite = np.isfinite(arr)
    with np.errstate(invalid="ignore"):
        negative = finite & (arr < 0)
        fractional = finite & (arr != np.round(arr))
    return merge_reasons(
        _cell_problems(non_numeric, columns, raw, "non-numeric votes"),
        _cell_problems(nan, columns, None, "NaN votes"),
        _cell_problems(np.isinf(arr), columns, arr, "infinite votes"),
        _cell_problems(negative, columns, arr, "negative votes"),
        _cell_problems(fractional, columns, arr, "non-integer votes"),
    )


def check_fractions(labels: pd.DataFrame, label_sources: dict) -> dict[int, list[str]]:
    """Vote fractions (e.g. the Kaggle targets) must be present, numeric and within [0, 1]."""
    columns, raw, arr, nan, non_numeric = _numeric(labels, label_sources)
    with np.errstate(invalid="ignore"):
        out_of_range = ~np.isnan(arr) & ((arr < 0) | (arr > 1))
    return merge_reasons(
        _cell_problems(non_numeric, columns, raw, "non-numeric fractions"),
        _cell_problems(nan, columns, None, "NaN fractions"),
        _cell_problems(out_of_range, columns, arr, "fraction out of range [0, 1]"),
    )


def check_classes(labels: pd.Series, classes, label_set_name: str, column: str) -> dict[int, str]:
    """Class names must belong to the label set; the reason lists the valid ones."""
    valid = set(classes)
    out = {}
    for row, value in enumerate(labels.tolist()):
        if value is None or (not isinstance(value, str) and pd.isna(value)) or not str(value).strip():
            out[row] = f"missing class: empty {column!r}"
        elif str(value) not in valid:
            out[row] = (
                f"unknown class: {str(value)!r} is not one of {', '.join(classes)} (label set {label_set_name})"
            )
    return out


def check_ids(ids: pd.Series, id_column: str) -> dict[int, str]:
    """Empty ids, and duplicated ids: every row of a duplicated id is rejected, naming the others."""
    out = {}
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    for row in np.flatnonzero(empty.to_numpy()):
        out[int(row)] = f"missing id: empty {id_column!r}"
    valid = ids[~empty]
    dup = valid[valid.duplicated(keep=False)]
    for value, rows in dup.groupby(dup, sort=False).groups.items():
        positions = [int(r) for r in rows]
        for row in positions:
            others = ", ".join(str(r + 1) for r in positions if r != row)
            out[row] = f"duplicate id: {value} also in row(s) {others}"
    return out


def check_readable(paths: dict[int, str], progress=True, workers=None) -> dict[int, str]:
    """Decode every image (threads: decoders release the GIL); ``row -> 'unreadable image: ...'``.

    Parameters
    ----------
    paths : dict[int, str]
        Row -> image path.
    progress : bool
        Show a tqdm bar (this check dominates the runtime of building a catalog).
    workers : int, optional
        Reader threads (default: up to 8, one per CPU).
    """
    from zoobot_tf.images.readers import read_image  # PIL/astropy only; decodes fully, names the file

    workers = workers or min(8, os.cpu_count() or 1)
    rows = list(paths)

    def attempt(row):
        path = paths[row]
        try:
            read_image(path)
        except Exception as err:  # noqa: BLE001 - any failure to decode is this row's reason
            message = str(err)
            if path not in message:
                message = f"{path}: {type(err).__name__}: {message}"
            return row, f"unreadable image: {message}"
        return row, None

    out = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(attempt, rows)
        for row, reason in tqdm(results, total=len(rows), desc="checking images", unit=" img", disable=None if progress else True):
            if reason is not None:
                out[row] = reason
    return out
