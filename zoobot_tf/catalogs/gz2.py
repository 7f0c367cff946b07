"""GZ2 Hart et al. (2016) tables: ``dr7objid`` + ``<task>_<answer>_count`` vote counts.

GZ2 images are distributed named by an *asset id*, not by SDSS objid; the filename mapping CSV
(``objid, sample, asset_id``) links the two. Ids stay strings throughout: ``dr7objid`` has 18
digits and a float round trip would merge neighbouring galaxies.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from zoobot_tf.schemas import GZ2_HART16_COLUMNS, get_schema

from .tables import CatalogError, PreparedTable, carry_extras, read_table, require_columns, table_name

ID_COLUMN = "dr7objid"
MAPPING_COLUMNS = ("objid", "asset_id")


def _mapping_lookup(mapping, ids: pd.Series, samples: pd.Series | None):
    """Asset id per row, and ``row -> reason`` for ids the mapping lacks or maps ambiguously."""
    name = table_name(mapping)
    m = read_table(mapping, str_columns=("objid", "asset_id", "sample"))
    require_columns(m, MAPPING_COLUMNS, name, "a GZ2 filename mapping (objid -> asset_id)")
    m = m.dropna(subset=list(MAPPING_COLUMNS))
    keys = ["objid"]
    by_objid = m.drop_duplicates(["objid", "asset_id"])
    if by_objid["objid"].duplicated().any() and samples is not None and "sample" in m.columns:
        keys = ["objid", "sample"]  # an objid imaged in two samples: tell them apart by sample
    m = m.drop_duplicates(keys + ["asset_id"])
    clash = m.duplicated(keys, keep=False)
    unique = m[~clash].set_index(keys)["asset_id"]
    ambiguous = m[clash].groupby(keys)["asset_id"].agg(lambda s: ", ".join(sorted(s)))

    if keys == ["objid"]:
        lookup = pd.Index(ids)
    else:
        lookup = pd.MultiIndex.from_arrays([ids, samples])
    assets = pd.Series(unique.reindex(lookup).to_numpy(), dtype=object)
    reasons = {}
    ambiguous_rows = np.asarray(lookup.isin(ambiguous.index))
    for row in np.flatnonzero(ambiguous_rows):
        key = lookup[row]
        reasons[int(row)] = f"ambiguous image: mapping {name} gives several asset ids for {key}: {ambiguous[key]}"
    unmapped = assets.isna().to_numpy() & ids.notna().to_numpy() & ~ambiguous_rows
    for row in np.flatnonzero(unmapped):
        reasons[int(row)] = f"missing image: {ID_COLUMN} {ids.iloc[row]} is not in mapping {name}"
    return assets, reasons


def prepare_gz2(df: pd.DataFrame, source: str, schema=None, mapping=None, id_column=None) -> PreparedTable:
    """A Hart et al. 2016 table as a :class:`PreparedTable`; images by asset id when ``mapping`` is given.

    Without a mapping, images are looked up by ``dr7objid`` (``<dr7objid>.jpg``).
    """
    schema = get_schema(schema or "gz2")
    if schema.name != "gz2":
        raise CatalogError(f"format 'gz2' takes schema 'gz2', not {schema.name!r}")
    id_column = id_column or ID_COLUMN
    label_sources = {label: GZ2_HART16_COLUMNS[label] + "_count" for label in schema.label_cols}
    require_columns(
        df, [id_column] + list(label_sources.values()), source, "format 'gz2' (dr7objid, Hart et al. 2016 *_count)"
    )

    ids = df[id_column].reset_index(drop=True)
    labels = df[list(label_sources.values())].reset_index(drop=True)
    labels.columns = list(label_sources)
    task_columns = [c for c in df.columns if len(c) > 3 and c[0] == "t" and c[1:3].isdigit() and c[3] == "_"]
    extras = carry_extras(df, set(task_columns) | {id_column})

    pre_reasons, keys, description = {}, ids, "schema gz2; images named <dr7objid> (no mapping given)"
    if mapping is not None:
        samples = df["sample"].reset_index(drop=True).astype(object) if "sample" in df.columns else None
        keys, pre_reasons = _mapping_lookup(mapping, ids, samples)
        extras = extras.assign(asset_id=keys)
        description = f"schema gz2; images named <asset_id> via {os.path.basename(table_name(mapping))}"
    return PreparedTable(
        source=source,
        schema_name="gz2",
        ids=ids,
        id_column=id_column,
        labels=labels,
        label_sources=label_sources,
        kind="votes",
        extras=extras,
        image_keys=keys,
        pre_reasons=pre_reasons,
        description=description,
    )
