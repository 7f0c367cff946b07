"""The Galaxy Zoo Kaggle challenge table: ``GalaxyID`` + 37 ``ClassQ.A`` dependency-weighted fractions.

Its values are fractions weighted by the probability each question is asked (Willett et al. 2013,
Table 2), not vote counts, so they are checked to lie in [0, 1] rather than to be integers.
Images are ``<GalaxyID>.jpg`` (``images_training_rev1/``).
"""

from __future__ import annotations

import pandas as pd

from zoobot_tf.schemas import get_schema

from .tables import CatalogError, PreparedTable, carry_extras, require_columns

ID_COLUMN = "GalaxyID"


def prepare_kaggle(df: pd.DataFrame, source: str, schema=None, id_column=None) -> PreparedTable:
    """A ``training_solutions_rev1.csv``-style table as a :class:`PreparedTable`."""
    schema = get_schema(schema or "gz_kaggle37")
    if schema.name != "gz_kaggle37":
        raise CatalogError(f"format 'kaggle' takes schema 'gz_kaggle37', not {schema.name!r}")
    id_column = id_column or ID_COLUMN
    require_columns(df, [id_column] + schema.label_cols, source, "format 'kaggle' (GalaxyID, Class1.1 ... Class11.6)")
    ids = df[id_column].reset_index(drop=True)
    return PreparedTable(
        source=source,
        schema_name="gz_kaggle37",
        ids=ids,
        id_column=id_column,
        labels=df[schema.label_cols].reset_index(drop=True),
        label_sources={c: c for c in schema.label_cols},
        kind="weighted_fractions",
        extras=carry_extras(df, set(schema.label_cols) | {id_column}),
        image_keys=ids,
        description="schema gz_kaggle37 (dependency-weighted fractions)",
    )
