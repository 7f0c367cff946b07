"""Generic class-label tables: one row per galaxy with an id, an image path and a class name.

For flat label sets (:data:`zoobot_tf.schemas.LABEL_SETS`, e.g. the Hubble sequence) where each
galaxy has one class rather than votes. Class names are checked against the label set, so a typo
("Sbc" in a six-class Hubble table) is reported rather than silently becoming a new class.
"""

from __future__ import annotations

import pandas as pd

from zoobot_tf.schemas import LABEL_SETS, SCHEMA_NAMES, get_label_set

from .tables import CatalogError, PreparedTable, carry_extras, require_columns

DEFAULT_ID_COLUMN = "id_str"
DEFAULT_PATH_COLUMN = "file_loc"
DEFAULT_LABEL_COLUMN = "label"


def resolve_label_set(name):
    """The label set called ``name``, or a :class:`CatalogError` listing the built-in ones."""
    if name is None:
        raise CatalogError(f"format 'labels' needs schema= a label set: one of {', '.join(LABEL_SETS)}")
    if isinstance(name, str) and name in SCHEMA_NAMES:
        raise CatalogError(
            f"{name!r} is a decision tree (vote table); format 'labels' needs a flat label set: "
            f"one of {', '.join(LABEL_SETS)}"
        )
    try:
        return get_label_set(name)
    except KeyError as err:
        raise CatalogError(str(err.args[0])) from None


def prepare_labels(
    df: pd.DataFrame, source: str, schema, path_base, id_column=None, path_column=None, label_column=None
) -> PreparedTable:
    """A class-label table as a :class:`PreparedTable`.

    Relative image paths resolve against ``path_base`` (the images folder). With no path column
    (none named and no ``file_loc``), images are looked up by id under the images folder.
    """
    label_set = resolve_label_set(schema)
    id_column = id_column or DEFAULT_ID_COLUMN
    label_column = label_column or DEFAULT_LABEL_COLUMN
    hint = "name the columns with id_column=, path_column=, label_column= (--id-column ...)"
    require_columns(df, [id_column, label_column], source, "format 'labels' (id and class columns)", hint)
    if path_column is not None:
        require_columns(df, [path_column], source, "format 'labels' (image path column)", hint)
    elif DEFAULT_PATH_COLUMN in df.columns:
        path_column = DEFAULT_PATH_COLUMN

    ids = df[id_column].reset_index(drop=True)
    classes = df[label_column].map(lambda v: v.strip() if isinstance(v, str) else v)
    paths = None if path_column is None else df[path_column].reset_index(drop=True)
    where = f"paths from column {path_column!r}" if path_column else "images looked up by id"
    return PreparedTable(
        source=source,
        schema_name=label_set.name,
        ids=ids,
        id_column=id_column,
        labels=pd.DataFrame({"label": classes.reset_index(drop=True)}),
        label_sources={"label": label_column},
        kind="class",
        extras=carry_extras(df, {id_column, label_column, path_column}),
        image_keys=ids,
        paths=paths,
        path_fallback=paths is None,
        path_base=path_base,
        classes=label_set.classes,
        description=f"label set {label_set.name} ({', '.join(label_set.classes)}); {where}",
    )
