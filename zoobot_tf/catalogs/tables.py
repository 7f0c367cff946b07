"""Reading source tables, and what every format hands to the common validation.

Galaxy identifiers are read as strings from the start: GZ2 ``dr7objid`` values have 18 digits,
more than a float64 holds, so a single pass through float silently merges galaxies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


class CatalogError(ValueError):
    """A table that cannot become a catalog (wrong columns, unknown schema, strict rejections)."""


def table_name(table) -> str:
    """How a table is called in messages: its path, or ``<DataFrame>``."""
    return "<DataFrame>" if isinstance(table, pd.DataFrame) else os.fspath(table)


def read_table(table, str_columns=(), skip_columns=()) -> pd.DataFrame:
    """Read a CSV (any pandas compression), Parquet or FITS table; ``str_columns`` stay strings.

    Parameters
    ----------
    table : str, path or pandas.DataFrame
        The table (a DataFrame is copied, with ``str_columns`` converted).
    str_columns : iterable of str
        Columns to keep as exact strings (identifiers); names absent from the table are ignored.
    skip_columns : iterable of str
        Parquet columns not to read (e.g. embedded images, streamed separately).
    """
    if isinstance(table, pd.DataFrame):
        df = table.copy()
    else:
        path = os.fspath(table)
        if not os.path.isfile(path):
            raise CatalogError(f"table {path} does not exist")
        lower = path.lower()
        try:
            if lower.endswith((".parquet", ".pq")):
                df = _read_parquet_except(path, set(skip_columns))
            elif lower.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
                df = _read_fits_table(path)
            else:
                df = pd.read_csv(path, dtype={c: str for c in str_columns}, keep_default_na=True, low_memory=False)
        except (ValueError, OSError, pd.errors.ParserError) as err:
            raise CatalogError(f"cannot read table {path}: {err}") from err
    for column in str_columns:
        if column in df.columns:
            df[column] = ids_to_str(df[column], table_name(table), column)
    return df


def _read_parquet_except(path, skip) -> pd.DataFrame:
    if not skip:
        return pd.read_parquet(path)
    import pyarrow.parquet as pq

    names = [n for n in pq.read_schema(path).names if n not in skip]
    return pd.read_parquet(path, columns=names)


def _read_fits_table(path) -> pd.DataFrame:
    from astropy.table import Table

    tbl = Table.read(path)
    tbl.convert_bytestring_to_unicode()
    one_d = [name for name in tbl.colnames if tbl[name].ndim == 1]
    return tbl[one_d].to_pandas()


def ids_to_str(values: pd.Series, source: str, column: str) -> pd.Series:
    """Identifiers as stripped strings (NaN stays NaN); refuse floats too large to be exact."""
    if pd.api.types.is_integer_dtype(values.dtype):
        out = values.astype("Int64").astype(str).where(values.notna(), np.nan)
        return out.astype(object)
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if (finite.abs() >= 2**53).any():
            raise CatalogError(
                f"{source}: id column {column!r} was stored as floats and ids above 2**53 have lost digits; "
                "store the ids as integers or strings"
            )
        if not (finite == np.round(finite)).all():
            return values.map(lambda v: v if pd.isna(v) else repr(float(v))).astype(object)
        return values.map(lambda v: v if pd.isna(v) else str(int(v))).astype(object)
    return values.map(lambda v: v if pd.isna(v) else str(v).strip()).astype(object)


def require_columns(df: pd.DataFrame, columns, source: str, what: str, hint: str = "") -> None:
    """Raise :class:`CatalogError` naming every required column the table lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        shown = ", ".join(missing[:12]) + (f", ... ({len(missing) - 12} more)" if len(missing) > 12 else "")
        message = f"{source}: table lacks {len(missing)} column(s) required by {what}: {shown}"
        raise CatalogError(message + (f". {hint}" if hint else ""))


@dataclass
class PreparedTable:
    """A source table in canonical names, before any row is validated.

    Each format module (decals, gz2, kaggle, labels) produces one; :mod:`.build` validates rows,
    finds images and assembles the catalog. All series share a 0..N-1 index (table row order).
    """

    source: str
    ids: pd.Series  # id_str candidates (strings, NaN where empty)
    id_column: str  # its column name in the source, for messages
    labels: pd.DataFrame  # canonical label columns (schema order), raw values; or one 'label' column
    label_sources: dict  # canonical label column -> source column name, for messages
    kind: str  # 'votes', 'weighted_fractions' or 'class'
    extras: pd.DataFrame  # source columns carried into the catalog after the labels
    image_keys: pd.Series  # file stem to look up under the images folder
    paths: pd.Series | None = None  # candidate image paths from the table (or None)
    path_fallback: bool = True  # look up image_keys when a path does not resolve
    path_base: str | None = None  # folder relative paths resolve against
    schema_name: str = ""  # decision tree or label set the labels follow
    classes: tuple = ()  # valid classes when kind == 'class'
    pre_reasons: dict = field(default_factory=dict)  # row -> [reason] found while preparing
    description: str = ""  # e.g. "schema decals_dr5 (inferred: table has bar_strong)"

    def __len__(self):
        return len(self.ids)


def read_catalog(catalog, columns=None) -> pd.DataFrame:
    """A catalog as a DataFrame, ``id_str`` an exact string: the one catalog reader.

    A DataFrame passes through unchanged; a path is read as parquet (``.parquet``, ``.pq``) or
    CSV. A missing file raises FileNotFoundError naming it. ``columns`` (optional) names the
    columns wanted: those the file has are read, others are simply absent (the caller's checks
    name what is missing).
    """
    if isinstance(catalog, pd.DataFrame):
        return catalog
    path = os.fspath(catalog)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"catalog {path} does not exist")
    if path.lower().endswith((".parquet", ".pq")):
        df = _read_parquet_by_column(path, columns)
        return df.assign(id_str=df["id_str"].astype(str)) if "id_str" in df else df
    wanted = None if columns is None else set(columns).__contains__  # read_csv skips the others
    return pd.read_csv(path, dtype={"id_str": str}, keep_default_na=True, low_memory=False, usecols=wanted)


def release_arrow_memory() -> None:
    """Give the memory Arrow's allocator keeps after freeing (it holds pages for reuse) back.

    Arrow-backed string columns allocate through that pool; without this a 10^6-row catalog
    pass (decode, sort, take) leaves ~60-100 MB counted in the process's RSS.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _read_parquet_by_column(path: str, columns=None) -> pd.DataFrame:
    """Parquet read one column at a time, each its own block.

    ``pandas.read_parquet`` holds the whole Arrow table beside the DataFrame it converts into
    (about twice the catalog at the peak: +440 MB for 10^6 rows of DECaLS votes); reading column by
    column peaks at the catalog plus one column, and separate blocks let a caller free label
    columns one at a time (:func:`zoobot_tf.shards.writer.plan_shards` does).
    """
    import pyarrow.parquet as pq

    names = [name for name in pq.read_schema(path).names if not name.startswith("__index_level_")]
    if columns is not None:
        names = [name for name in names if name in set(columns)]
    data = {}
    for name in names:
        column = pq.read_table(path, columns=[name]).column(0).to_pandas()
        # numeric columns are views of Arrow's buffer, whose allocator keeps freed pages: copy them
        # into numpy's memory so that dropping a column gives its memory back
        data[name] = column.copy(deep=True) if isinstance(column.dtype, np.dtype) else column
        release_arrow_memory()  # that column's decoding buffers
    return pd.DataFrame(data, copy=False)


def carry_extras(df: pd.DataFrame, exclude) -> pd.DataFrame:
    """Columns of ``df`` not in ``exclude`` and not clashing with canonical catalog names."""
    exclude = set(exclude) | {"id_str", "file_loc", "label"}
    return df[[c for c in df.columns if c not in exclude]].reset_index(drop=True)
