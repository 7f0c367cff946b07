"""Source table + images folder -> canonical catalog, with a report of every row left out and why.

The canonical catalog has ``id_str``, ``file_loc`` (absolute image path), the label columns in
schema order (or ``label`` for flat label sets), then the source's other useful columns. Every
rejected row is written to ``<out>.rejected.csv`` (even when there are none, so a user can see
that nothing was dropped) with its 1-based data row in the source table and the reason.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from zoobot_tf.atomic import atomic_path
from .decals import ID_COLUMNS as DECALS_ID_COLUMNS
from .decals import prepare_decals
from .find_images import IMAGE_EXTS, resolve_image_paths
from .gz2 import ID_COLUMN as GZ2_ID_COLUMN
from .gz2 import prepare_gz2
from .kaggle import ID_COLUMN as KAGGLE_ID_COLUMN
from .kaggle import prepare_kaggle
from .labels import DEFAULT_ID_COLUMN, prepare_labels
from .tables import CatalogError, PreparedTable, read_table, table_name
from .validation import category, check_classes, check_fractions, check_ids, check_readable, check_votes, merge_reasons
from .zoobot_data import DEFAULT_ID_COLUMN as ZOOBOT_ID_COLUMN
from .zoobot_data import IMAGE_COLUMN, prepare_galaxy_datasets, prepare_gz_evo

FORMATS = ("decals", "gz2", "kaggle", "labels", "galaxy_datasets", "gz_evo")
#: image endings each format looks for when finding images by name
FORMAT_IMAGE_EXTS = {
    "decals": (".png",),
    "gz2": (".jpg", ".jpeg"),
    "kaggle": (".jpg", ".jpeg"),
    "labels": IMAGE_EXTS,
    "galaxy_datasets": IMAGE_EXTS,
    "gz_evo": IMAGE_EXTS,
}
REJECTED_COLUMNS = ["id_str", "source_row", "file_loc", "reason"]
_MAX_LISTED = 20


@dataclass
class CatalogResult:
    """The catalog of kept galaxies and the rejected rows (``id_str, source_row, file_loc, reason``)."""

    catalog: pd.DataFrame
    rejected: pd.DataFrame
    schema: str = ""  # the decision tree / label set the labels follow (inferred ones included)
    description: str = ""

    def reason_counts(self) -> dict[str, int]:
        """Rejected rows per reason category (a row with two problems counts under both)."""
        counts = Counter()
        for reasons in self.rejected["reason"]:
            counts.update({category(r) for r in reasons.split("; ")})
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary(self, name="catalog", rejected_path=None) -> str:
        """One line: ``name: N galaxies kept, M rejected (k reason, ...) -> rejected_path``."""
        line = f"{name}: {len(self.catalog)} galaxies kept, {len(self.rejected)} rejected"
        if len(self.rejected):
            line += " (" + ", ".join(f"{n} {cat}" for cat, n in self.reason_counts().items()) + ")"
        return line + (f" -> {rejected_path}" if rejected_path else "")


def rejected_path_for(out) -> str:
    """Where the rejected-rows report of catalog ``out`` goes: ``<out>.rejected.csv``."""
    return os.fspath(out) + ".rejected.csv"


def _prepare(format, df, source, table, images, schema, mapping, id_column, path_column, label_column) -> PreparedTable:
    if format == "gz_evo":
        return prepare_gz_evo(df, source, table, images, schema=schema, id_column=id_column)
    if format == "decals":
        return prepare_decals(df, source, schema=schema, id_column=id_column, path_column=path_column)
    if format == "gz2":
        return prepare_gz2(df, source, schema=schema, mapping=mapping, id_column=id_column)
    if format == "kaggle":
        return prepare_kaggle(df, source, schema=schema, id_column=id_column)
    base = images
    if base is None:  # relative paths then resolve against the table's own folder
        base = os.getcwd() if source == "<DataFrame>" else os.path.dirname(os.path.abspath(source))
    if format == "galaxy_datasets":
        return prepare_galaxy_datasets(df, source, schema, os.path.abspath(base), id_column=id_column,
                                       path_column=path_column)
    return prepare_labels(
        df, source, schema, os.path.abspath(base), id_column=id_column, path_column=path_column,
        label_column=label_column,
    )


def _check_arguments(format, images, mapping, path_column, label_column):
    if format not in FORMATS:
        raise CatalogError(f"unknown catalog format {format!r}; one of {', '.join(FORMATS)}")
    if mapping is not None and format != "gz2":
        raise CatalogError(f"mapping= (a GZ2 filename mapping) is only used by format 'gz2', not {format!r}")
    if label_column is not None and format != "labels":
        raise CatalogError(f"label_column= is only used by format 'labels', not {format!r}")
    if path_column is not None and format not in ("decals", "labels", "galaxy_datasets"):
        raise CatalogError(f"path_column= is only used by formats 'decals', 'labels' and 'galaxy_datasets', not {format!r}")
    if images is None and format not in ("labels", "galaxy_datasets"):
        what = "to write the embedded images to" if format == "gz_evo" else "holding the images"
        raise CatalogError(f"format {format!r} needs images= the folder {what}")
    if images is not None and format == "gz_evo":
        os.makedirs(images, exist_ok=True)
    if images is not None and not os.path.isdir(images):
        raise CatalogError(f"images folder {os.path.abspath(images)} does not exist or is not a folder")


def _label_reasons(prepared: PreparedTable) -> dict:
    if prepared.kind == "votes":
        return check_votes(prepared.labels, prepared.label_sources)
    if prepared.kind == "weighted_fractions":
        return check_fractions(prepared.labels, prepared.label_sources)
    column = prepared.label_sources["label"]
    return check_classes(prepared.labels["label"], prepared.classes, prepared.schema_name, column)


def _find_files(prepared, images, exts, progress):
    """Resolve image files for rows not already failed while preparing (e.g. absent from a mapping)."""
    rows = [i for i in range(len(prepared)) if i not in prepared.pre_reasons]
    keys = prepared.image_keys.iloc[rows].reset_index(drop=True)
    paths = None if prepared.paths is None else prepared.paths.iloc[rows].reset_index(drop=True)
    images = None if images is None else os.path.abspath(images)
    locs, reasons, candidates = resolve_image_paths(
        keys, paths, images, exts, fallback=prepared.path_fallback, base=prepared.path_base, progress=progress
    )
    file_locs = [""] * len(prepared)
    found, missing = {}, {}
    for j, row in enumerate(rows):
        if locs[j] is not None:
            file_locs[row] = locs[j]
            found[row] = locs[j]
        else:
            file_locs[row] = candidates[j]
            missing[row] = reasons[j]
    return file_locs, found, missing


def _assemble(prepared: PreparedTable, file_locs, reasons) -> tuple[pd.DataFrame, pd.DataFrame]:
    kept = [i for i in range(len(prepared)) if i not in reasons]
    ids = prepared.ids.astype(object)
    labels = prepared.labels.iloc[kept]
    if prepared.kind == "votes":
        labels = labels.apply(pd.to_numeric).astype("int64")
    elif prepared.kind == "weighted_fractions":
        labels = labels.apply(pd.to_numeric).astype("float64")
    else:
        labels = labels.astype(str)
    catalog = pd.concat(
        [
            pd.DataFrame({"id_str": ids.iloc[kept].astype(str), "file_loc": [file_locs[i] for i in kept]}, index=kept),
            labels,
            prepared.extras.iloc[kept],
        ],
        axis=1,
    ).reset_index(drop=True)
    bad = sorted(reasons)
    rejected = pd.DataFrame(
        {
            "id_str": ["" if pd.isna(ids.iloc[i]) else str(ids.iloc[i]) for i in bad],
            "source_row": [i + 1 for i in bad],
            "file_loc": [file_locs[i] for i in bad],
            "reason": ["; ".join(reasons[i]) for i in bad],
        },
        columns=REJECTED_COLUMNS,
    )
    return catalog, rejected


def _write_csv(df: pd.DataFrame, path: str) -> None:
    """Write via a temporary file so an interrupted run never leaves a half catalog behind."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _strict_message(result: CatalogResult, source: str, rejected_path) -> str:
    lines = [f"{source}: {len(result.rejected)} row(s) rejected with strict=True (nothing written as a catalog):"]
    for row in result.rejected.head(_MAX_LISTED).itertuples():
        lines.append(f"  row {row.source_row} ({row.id_str or 'no id'}): {row.reason}")
    if len(result.rejected) > _MAX_LISTED:
        lines.append(f"  ... and {len(result.rejected) - _MAX_LISTED} more")
    if rejected_path:
        lines.append(f"all rejected rows: {rejected_path}")
    return "\n".join(lines)


def build_catalog(
    format,
    table,
    images=None,
    *,
    schema=None,
    mapping=None,
    strict=False,
    out=None,
    id_column=None,
    path_column=None,
    label_column=None,
    progress=True,
    check_images=True,
    image_exts=None,
    workers=None,
) -> CatalogResult:
    """Build the canonical catalog of a Galaxy Zoo vote table or a class-label table.

    Parameters
    ----------
    format : {'decals', 'gz2', 'kaggle', 'labels', 'galaxy_datasets', 'gz_evo'}
        Table format: GZ DECaLS volunteer votes; GZ2 Hart et al. 2016; the Kaggle challenge's
        ``training_solutions_rev1``; a generic id / image path / class table; a galaxy-datasets
        catalog (zoobot's); a Hugging Face parquet with embedded images (GZ Evo and the
        per-campaign ``mwalmsley/gz_*`` datasets). See :mod:`.zoobot_data`.
    table : str, path or pandas.DataFrame
        The source table (CSV, optionally compressed; Parquet; FITS).
    images : str or path, optional
        Folder the images are under (searched recursively by name). Required except for
        'labels' / 'galaxy_datasets' tables whose paths are absolute or relative to the table's
        folder; for 'gz_evo' the folder the embedded images are written to.
    schema : str, optional
        Decision tree ('decals_dr5', 'decals_dr12', 'decals_dr8'; inferred from the columns
        for 'decals' when None; 'gz2'; 'gz_kaggle37'; any vote tree for 'galaxy_datasets' and
        'gz_evo', inferred when None) or, for 'labels', a flat label set such as
        'hubble_sequence' (required).
    mapping : str or path, optional
        GZ2 filename mapping CSV (``objid, sample, asset_id``): images are ``<asset_id>.jpg``.
    strict : bool
        Raise :class:`CatalogError` listing the rejected rows if any row is rejected.
    out : str or path, optional
        Write the catalog CSV here, ``<out>.rejected.csv`` beside it, and print a summary line.
    id_column, path_column, label_column : str, optional
        Column names when they differ from the format's (``label_column``: 'labels' only).
    progress : bool
        tqdm bars for indexing and decoding images.
    check_images : bool
        Decode every image to catch corrupt/truncated files (the slow part; on by default).
    image_exts : tuple of str, optional
        File endings to look for when finding images by name (default per format, e.g. '.png').
    workers : int, optional
        Threads decoding images.

    Returns
    -------
    CatalogResult

    Raises
    ------
    CatalogError
        Table-level problems (unreadable table, missing columns, unknown schema), or any
        rejected row when ``strict``.
    """
    format = str(format).lower()
    _check_arguments(format, images, mapping, path_column, label_column)
    source = table_name(table)
    str_columns = {
        "decals": DECALS_ID_COLUMNS,
        "gz2": (GZ2_ID_COLUMN,),
        "kaggle": (KAGGLE_ID_COLUMN,),
        "labels": (DEFAULT_ID_COLUMN,),
        "galaxy_datasets": (ZOOBOT_ID_COLUMN,),
        "gz_evo": (ZOOBOT_ID_COLUMN,),
    }[format] + ((id_column,) if id_column else ()) + ((path_column,) if path_column else ())
    # the embedded images of a Hugging Face parquet are streamed to files, never held in memory
    skip = (IMAGE_COLUMN,) if format == "gz_evo" else ()
    df = read_table(table, str_columns=str_columns, skip_columns=skip)
    prepared = _prepare(format, df, source, table, images, schema, mapping, id_column, path_column, label_column)

    exts = tuple(image_exts) if image_exts else FORMAT_IMAGE_EXTS[format]
    file_locs, found, missing = _find_files(prepared, images, exts, progress)
    reasons = merge_reasons(
        prepared.pre_reasons, check_ids(prepared.ids, prepared.id_column), _label_reasons(prepared), missing
    )
    if check_images:
        to_decode = {row: path for row, path in found.items() if row not in reasons}
        reasons = merge_reasons(reasons, check_readable(to_decode, progress=progress, workers=workers))

    catalog, rejected = _assemble(prepared, file_locs, reasons)
    result = CatalogResult(catalog, rejected, schema=prepared.schema_name, description=prepared.description)
    rejected_path = rejected_path_for(out) if out is not None else None
    if rejected_path:
        _write_csv(rejected, rejected_path)
    if strict and len(rejected):
        raise CatalogError(_strict_message(result, source, rejected_path))
    if out is not None:
        _write_csv(catalog, os.fspath(out))
        print(result.summary(os.fspath(out), rejected_path), flush=True)
    return result
