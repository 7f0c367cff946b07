"""GZ DECaLS volunteer tables (Walmsley et al. 2022): ``iauname`` + one vote-count column per answer.

The GZD-5 table (``gz_decals_volunteers_5``) and the GZD-1/2 table (``..._1_and_2``) ask different
bar / bulge / merger questions; which tree a table holds shows in its columns (``bar_strong``
only exists in GZD-5, ``bar_yes`` only in GZD-1/2). Our ``decals_dr8`` schema names its questions
``<question>-dr8`` (Zoobot's convention) while DR8 vote tables use the plain GZD-5 names, so the
plain columns are mapped onto the suffixed ones.
"""

from __future__ import annotations

import pandas as pd

from zoobot_tf.schemas import get_schema

from .tables import CatalogError, PreparedTable, carry_extras, require_columns

DECALS_SCHEMAS = ("decals_dr5", "decals_dr12", "decals_dr8")
#: id columns tried in order when none is given (DR5 and DR1/2 use iauname; DESI-era tables id_str)
ID_COLUMNS = ("iauname", "id_str", "dr8_id")
#: image path columns tried in order (used only when the path exists under the images folder)
PATH_COLUMNS = ("png_loc", "file_loc", "local_png_loc")


def infer_decals_schema(columns, source: str) -> tuple[str, str]:
    """``(schema name, why)`` from a DECaLS table's columns."""
    columns = set(columns)
    if "bar-dr8_strong" in columns:
        return "decals_dr8", "table has bar-dr8_strong"
    dr5, dr12 = "bar_strong" in columns, "bar_yes" in columns
    if dr5 and dr12:
        raise CatalogError(
            f"{source}: table has both bar_strong (GZD-5) and bar_yes (GZD-1/2) columns; "
            "pick the tree with schema='decals_dr5' or 'decals_dr12'"
        )
    if dr5:
        return "decals_dr5", "table has bar_strong (GZD-5)"
    if dr12:
        return "decals_dr12", "table has bar_yes (GZD-1/2)"
    raise CatalogError(
        f"{source}: not a GZ DECaLS vote table: it has neither bar_strong (decals_dr5) nor bar_yes "
        f"(decals_dr12) columns; pass schema= one of {', '.join(DECALS_SCHEMAS)} to see which columns are missing"
    )


def _source_columns(schema, columns) -> dict[str, str]:
    """Canonical label column -> table column (DR8: the table's un-suffixed name if that is what it has)."""
    mapping = {}
    for answer in schema.answers:
        name = answer.text
        if schema.name == "decals_dr8" and name not in columns:
            question = answer.question.text[: -len("-dr8")]
            name = f"{question}_{answer.suffix}"
        mapping[answer.text] = name
    return mapping


def _first_present(candidates, columns):
    return next((c for c in candidates if c in columns), None)


def prepare_decals(df: pd.DataFrame, source: str, schema=None, id_column=None, path_column=None) -> PreparedTable:
    """A GZ DECaLS volunteer table as a :class:`PreparedTable` (schema inferred when None)."""
    columns = list(df.columns)
    why = "given"
    if schema is None:
        schema, why = infer_decals_schema(columns, source)
    schema = get_schema(schema)
    if schema.name not in DECALS_SCHEMAS:
        raise CatalogError(f"format 'decals' takes schema {', '.join(DECALS_SCHEMAS)}, not {schema.name!r}")

    id_column = id_column or _first_present(ID_COLUMNS, columns) or ID_COLUMNS[0]
    label_sources = _source_columns(schema, set(columns))
    other = {"decals_dr5": "decals_dr12", "decals_dr12": "decals_dr5"}.get(schema.name)
    hint = f"Is it a {other} table?" if other else ""
    require_columns(df, [id_column] + list(label_sources.values()), source, f"schema {schema.name}", hint)

    if path_column is not None:
        require_columns(df, [path_column], source, "path_column=")
    else:
        path_column = _first_present(PATH_COLUMNS, columns)

    question_prefixes = tuple(q.text + "_" for q in schema.questions)
    if schema.name == "decals_dr8":
        question_prefixes += tuple(q.text[: -len("-dr8")] + "_" for q in schema.questions)
    derived = [c for c in columns if c.startswith(question_prefixes)]  # votes, fractions, debiased, totals
    extras = carry_extras(df, set(derived) | set(PATH_COLUMNS) | {path_column})

    labels = df[list(label_sources.values())].copy()
    labels.columns = list(label_sources)
    ids = df[id_column].reset_index(drop=True)
    return PreparedTable(
        source=source,
        schema_name=schema.name,
        ids=ids,
        id_column=id_column,
        labels=labels.reset_index(drop=True),
        label_sources=label_sources,
        kind="votes",
        extras=extras,
        image_keys=ids,
        paths=None if path_column is None else df[path_column].reset_index(drop=True),
        path_fallback=True,
        description=f"schema {schema.name} ({why})",
    )
