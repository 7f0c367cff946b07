"""zoobot's data products as they are: galaxy-datasets catalogs and the Hugging Face parquet layout.

``galaxy_datasets``: the train / test catalogs galaxy-datasets downloads (parquet or CSV): ``id_str``,
``<question>_<answer>`` vote counts of one of the trees in :mod:`zoobot_tf.schemas`, and images
found by ``file_loc`` (as galaxy-datasets' loaders add it), else ``subfolder`` / ``filename``
under the images folder (its ``{root}/images/{subfolder}/{filename}``), else the file stem.

``gz_evo``: the parquet files of the Hugging Face datasets (``mwalmsley/gz_evo`` and the
per-campaign ``mwalmsley/gz_desi``, ``gz_rings``, ...): ``id_str``, the image embedded in an
``image`` column (``{bytes, path}``), counts, ``<answer>_fraction`` and ``<question>_total-votes``.
The images are written once to the images folder as ``<id_str>.<jpg|png>`` (an existing file of
the same size is kept, so a rerun resumes) and the catalog points at them.

Both: the tree is ``schema=`` or the one tree whose label columns are all present (the largest,
e.g. ``gz_evo`` over its campaigns); a galaxy of one campaign has no votes for another
campaign's questions, so a question whose answers are *all* empty reads as 0 votes (not asked),
while a partly empty question is still rejected as NaN votes. Derived columns (fractions,
totals) are left out of the catalog; every other column is carried.
"""

from __future__ import annotations

import os

import pandas as pd

from zoobot_tf.atomic import atomic_path
from zoobot_tf.schemas import SCHEMA_NAMES, get_schema

from .tables import CatalogError, PreparedTable, carry_extras, require_columns

DEFAULT_ID_COLUMN = "id_str"
IMAGE_COLUMN = "image"
#: image formats recognised in embedded bytes, by their first bytes
_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"))


def infer_vote_tree(columns, source: str) -> tuple[str, str]:
    """``(schema name, why)``: the largest vote tree whose label columns are all in ``columns``."""
    present = set(columns)
    found = [n for n in SCHEMA_NAMES if get_schema(n).value_kind == "votes"
             and all(c in present for c in get_schema(n).label_cols)]
    if not found:
        raise CatalogError(
            f"{source}: its columns hold no built-in tree's vote counts completely; pass schema= one of "
            f"{', '.join(SCHEMA_NAMES)} to see which columns are missing"
        )
    sizes = {n: get_schema(n).n_answers for n in found}
    best = max(sizes.values())
    largest = [n for n in found if sizes[n] == best]
    if len(largest) > 1:
        raise CatalogError(f"{source}: the columns fit several trees ({', '.join(largest)}); pass schema=")
    return largest[0], f"inferred: the largest tree whose columns are all present, of {', '.join(found)}"


def _votes(df, schema):
    """Label columns with each wholly empty question read as 0 votes (not asked of this galaxy)."""
    labels = df[schema.label_cols].copy()
    for question in schema.questions:
        cols = question.label_cols
        empty = labels[cols].isna().all(axis=1)
        if empty.any():
            labels.loc[empty, cols] = 0
    return labels.reset_index(drop=True)


def _derived(columns, schema):
    """Columns derived from the votes: ``<answer>_fraction``, ``<question>_total-votes``..."""
    prefixes = tuple(q.text + "_" for q in schema.questions)
    labels = set(schema.label_cols)
    return {c for c in columns if c.startswith(prefixes) and c not in labels}


def _resolve_tree(df, source, schema):
    if schema is None:
        name, why = infer_vote_tree(df.columns, source)
        return get_schema(name), why
    tree = get_schema(schema)
    if tree.value_kind != "votes":
        raise CatalogError(f"{source}: schema {tree.name} does not hold vote counts; formats of zoobot's data need a vote tree")
    return tree, "given"


def _paths(df, path_column):
    """Image paths from ``path_column`` / ``file_loc`` / ``subfolder`` + ``filename`` / ``filename``."""
    if path_column is not None:
        return df[path_column], path_column
    if "file_loc" in df.columns:
        return df["file_loc"], "file_loc"
    if "filename" in df.columns:
        names = df["filename"].astype("string")
        if "subfolder" in df.columns:
            return df["subfolder"].astype("string").str.cat(names, sep=os.sep), "subfolder/filename"
        return names, "filename"
    return None, None


def _prepared(df, source, tree, why, id_column, used, **images) -> PreparedTable:
    """The :class:`PreparedTable` both layouts share: votes of ``tree``, other columns carried."""
    return PreparedTable(
        source=source,
        schema_name=tree.name,
        ids=df[id_column].reset_index(drop=True),
        id_column=id_column,
        labels=_votes(df, tree),
        label_sources={c: c for c in tree.label_cols},
        kind="votes",
        extras=carry_extras(df, set(used) | set(tree.label_cols) | _derived(df.columns, tree)),
        description=f"schema {tree.name} ({why}); " + images.pop("where"),
        **images,
    )


def prepare_galaxy_datasets(df: pd.DataFrame, source: str, schema=None, path_base=None, id_column=None,
                            path_column=None) -> PreparedTable:
    """A galaxy-datasets catalog as a :class:`PreparedTable` (tree inferred when ``schema`` is None)."""
    tree, why = _resolve_tree(df, source, schema)
    id_column = id_column or DEFAULT_ID_COLUMN
    require_columns(df, [id_column] + tree.label_cols, source, f"schema {tree.name}")
    if path_column is not None:
        require_columns(df, [path_column], source, "path_column=")
    paths, where = _paths(df, path_column)
    keys = df["filename"].astype("string").str.replace(r"\.[^.]+$", "", regex=True) if "filename" in df else df[id_column]
    return _prepared(
        df, source, tree, why, id_column, {id_column, "file_loc", "filename", "subfolder", path_column},
        image_keys=keys.reset_index(drop=True), paths=None if paths is None else paths.reset_index(drop=True),
        path_fallback=True, path_base=path_base, where=f"images from {where or 'their names'}",
    )


def _image_bytes(value):
    """The bytes of one ``image`` cell (a ``{bytes, path}`` struct, or raw bytes), and its ending."""
    path = None
    if isinstance(value, dict):
        value, path = value.get("bytes"), value.get("path")
    if value is None or (not isinstance(value, (bytes, bytearray, memoryview))) or not len(value):
        return None, None
    data = bytes(value)
    ext = next((e for magic, e in _MAGIC if data.startswith(magic)), None)
    if ext is None and path:
        ext = os.path.splitext(str(path))[1].lower() or None
    return data, ext


def _file_name(identifier: str) -> str:
    return "".join("_" if ch in '/\\:\0' else ch for ch in identifier)


def write_embedded_images(ids, images, out_dir) -> list:
    """Write each embedded image as ``out_dir/<id>.<ext>``; per row the path, or a reason string.

    Written through :func:`zoobot_tf.atomic.atomic_path`, so a killed run leaves no truncated
    image; an existing file of the same size is kept (a rerun does not rewrite a million images).
    """
    os.makedirs(out_dir, exist_ok=True)
    results = []
    for identifier, value in zip(ids, images):
        data, ext = _image_bytes(value)
        if data is None or pd.isna(identifier):
            results.append("missing image: empty image cell" if data is None else "missing id: empty id")
            continue
        if ext is None:
            results.append("unreadable image: embedded bytes are neither JPEG nor PNG")
            continue
        path = os.path.join(out_dir, _file_name(str(identifier)) + ext)
        if not (os.path.isfile(path) and os.path.getsize(path) == len(data)):
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        results.append(os.path.abspath(path))
    return results


def _embedded_images(table, df, id_column, out_dir, source):
    """Write the ``image`` column of a parquet file (streamed in row batches) or of ``df``."""
    if IMAGE_COLUMN in df.columns:
        return write_embedded_images(df[id_column].tolist(), df[IMAGE_COLUMN].tolist(), out_dir)
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(os.fspath(table))
    if IMAGE_COLUMN not in handle.schema_arrow.names:
        raise CatalogError(f"{source}: no {IMAGE_COLUMN!r} column: not the Hugging Face layout (use format 'galaxy_datasets')")
    results = []
    for batch in handle.iter_batches(columns=[id_column, IMAGE_COLUMN], batch_size=256):
        columns = batch.to_pydict()
        ids = [None if v is None else str(v).strip() for v in columns[id_column]]
        results.extend(write_embedded_images(ids, columns[IMAGE_COLUMN], out_dir))
    return results


def prepare_gz_evo(df: pd.DataFrame, source: str, table, images_dir, schema=None, id_column=None) -> PreparedTable:
    """A Hugging Face parquet (GZ Evo layout) as a :class:`PreparedTable`; its images written to ``images_dir``.

    ``df`` is the table without its ``image`` column when ``table`` is a parquet path (read in
    batches here), or with it when ``table`` is a DataFrame.
    """
    if images_dir is None:
        raise CatalogError("format 'gz_evo' needs images= the folder to write the embedded images to")
    tree, why = _resolve_tree(df, source, schema)
    id_column = id_column or DEFAULT_ID_COLUMN
    require_columns(df, [id_column] + tree.label_cols, source, f"schema {tree.name}")
    written = _embedded_images(table, df, id_column, os.path.abspath(images_dir), source)
    if len(written) != len(df):
        raise CatalogError(f"{source}: {len(written)} images for {len(df)} rows")
    pre_reasons = {row: [value] for row, value in enumerate(written) if not os.path.isabs(value)}
    paths = pd.Series([None if row in pre_reasons else value for row, value in enumerate(written)], dtype=object)
    return _prepared(
        df, source, tree, why, id_column, {id_column, IMAGE_COLUMN},
        image_keys=df[id_column].reset_index(drop=True), paths=paths, path_fallback=False, pre_reasons=pre_reasons,
        where=f"{len(written) - len(pre_reasons)} embedded images in {images_dir}",
    )
