"""`zoobot-tf evaluate`: a predictions file + the catalog it was made from -> comparison table,
CSV and PNGs (decision trees), or accuracy / RMSE (classifiers and regressors).

Predictions come as the HDF5 that ``predict_on_catalog`` writes (``id_str`` (N), ``label_cols``
(A), ``predictions`` (N, A, n_samples) Dirichlet concentrations) or as a summary table with
``id_str`` and ``<label>_fraction`` columns. Galaxies are matched to the catalog by ``id_str``
(read as exact strings), never by row order, and every predicted id must be in the catalog.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from zoobot_tf.evaluation import metrics
from zoobot_tf.evaluation.compare import evaluate, format_comparison
from zoobot_tf.schemas import SCHEMA_NAMES, Schema, get_schema

HDF5_EXTS = (".h5", ".hdf5", ".hdf")
CHUNK = 65536  # galaxies per HDF5 read: memory stays bounded whatever the file size


# --- predictions ---------------------------------------------------------------------------


def infer_schema(label_cols, source: str, suffix: str = "") -> Schema:
    """The built-in schema whose label columns (+ ``suffix``) are all among ``label_cols``."""
    present = set(label_cols)
    matches = [n for n in SCHEMA_NAMES if all(c + suffix in present for c in get_schema(n).label_cols)]
    exact = [n for n in matches if len(get_schema(n).label_cols) == len([c for c in present if c.endswith(suffix)])]
    if len(exact) == 1 or len(matches) == 1:
        return get_schema((exact or matches)[0])
    found = "several match: " + ", ".join(matches) if matches else "none matches"
    raise ValueError(f"{source}: cannot tell the schema from its columns ({found}); pass --schema")


def _check_ids(ids: list[str], source: str) -> None:
    series = pd.Series(ids)
    duplicated = series[series.duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"{source}: {len(duplicated)} id_str value(s) appear more than once, e.g. {list(duplicated[:5])}")


def read_hdf5_predictions(path, schema=None) -> tuple[pd.DataFrame, Schema]:
    """Expected vote fractions from a predictions HDF5 file (read by :mod:`zoobot_tf.predictions.hdf5`).

    Parameters
    ----------
    path : str or Path
        HDF5 with ``id_str``, ``label_cols`` and ``predictions`` (N, A, n_samples).
    schema : str or Schema, optional
        Default: the file's ``schema`` attribute, else inferred from ``label_cols``.

    Returns
    -------
    (pandas.DataFrame, Schema)
        Fractions indexed by ``id_str``, columns = the schema's label columns (file columns are
        reordered by name), and the schema used.
    """
    from zoobot_tf.predictions.hdf5 import iter_prediction_blocks, read_attrs, read_label_cols

    path = os.fspath(path)
    label_cols = read_label_cols(path)
    if schema is None:
        stored = read_attrs(path).get("schema")
        schema = stored if stored else infer_schema(label_cols, path)
    schema = get_schema(schema)
    absent = [c for c in schema.label_cols if c not in label_cols]
    if absent:
        raise ValueError(f"{path}: label_cols lack {len(absent)} answer(s) of schema {schema.name!r}: {absent[:6]}")
    order = [label_cols.index(c) for c in schema.label_cols]
    ids, fractions = [], []
    for block_ids, block in iter_prediction_blocks(path, rows=CHUNK):
        if block.ndim not in (2, 3) or block.shape[1] != len(label_cols):
            raise ValueError(f"{path}: predictions has shape {block.shape[1:]} per block, expected "
                             f"({len(label_cols)}, n_samples)")
        block = block[:, order]
        try:
            fractions.append(metrics.expected_fractions(block, schema))
        except ValueError as err:
            bad = ~(np.isfinite(block) & (block > 0)).reshape(len(block), -1).all(axis=1)
            where = f"id_str {block_ids[int(np.argmax(bad))]!r}: " if bad.any() else ""
            raise ValueError(f"{path}: {where}{err}") from err
        ids += [str(i) for i in block_ids]
    _check_ids(ids, path)
    values = np.concatenate(fractions) if fractions else np.empty((0, schema.n_answers))
    return pd.DataFrame(values, index=pd.Index(ids, name="id_str"), columns=schema.label_cols), schema


def read_summary_predictions(path, schema=None) -> tuple[pd.DataFrame, Schema]:
    """Fractions from a summary table (CSV or parquet) with ``id_str`` and ``<label>_fraction``."""
    from zoobot_tf.catalogs import read_table

    table = read_table(path, str_columns=("id_str",))
    source = os.fspath(path) if not isinstance(path, pd.DataFrame) else "<summary DataFrame>"
    if "id_str" not in table.columns:
        raise ValueError(f"{source}: no id_str column")
    schema = get_schema(schema) if schema is not None else infer_schema(table.columns, source, suffix="_fraction")
    columns = [f"{c}_fraction" for c in schema.label_cols]
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise ValueError(f"{source}: lacks {len(absent)} fraction column(s) of schema {schema.name!r}: {absent[:6]}")
    ids = table["id_str"].tolist()
    _check_ids(ids, source)
    frame = pd.DataFrame(table[columns].to_numpy(dtype=np.float64), index=pd.Index(ids, name="id_str"),
                         columns=schema.label_cols)
    metrics.label_array(frame, schema, source)  # NaN / negative -> error naming the id
    return frame, schema


def read_predictions(path, schema=None) -> tuple[pd.DataFrame, Schema]:
    """HDF5 (by extension) or summary table -> (fractions indexed by id_str, schema)."""
    if isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(HDF5_EXTS):
        return read_hdf5_predictions(path, schema)
    return read_summary_predictions(path, schema)


# --- catalogs ------------------------------------------------------------------------------


def _indexed_catalog(catalog, what: str) -> tuple[pd.DataFrame, str]:
    from zoobot_tf.catalogs import read_table

    source = "<catalog DataFrame>" if isinstance(catalog, pd.DataFrame) else os.fspath(catalog)
    table = read_table(catalog, str_columns=("id_str",))
    if "id_str" not in table.columns:
        raise ValueError(f"{what} {source}: no id_str column")
    if table["id_str"].isna().any():
        raise ValueError(f"{what} {source}: row {int(np.argmax(table['id_str'].isna()))} has an empty id_str")
    _check_ids(table["id_str"].tolist(), f"{what} {source}")
    return table.set_index("id_str"), source


def _votes(table: pd.DataFrame, schema: Schema, source: str) -> pd.DataFrame:
    absent = [c for c in schema.label_cols if c not in table.columns]
    if absent:
        raise ValueError(f"{source}: lacks {len(absent)} vote column(s) of schema {schema.name!r}: {absent[:6]}")
    votes = table[schema.label_cols].apply(pd.to_numeric, errors="coerce")
    metrics.label_array(votes, schema, source)  # NaN / negative -> error naming the id
    return votes


def _true_fractions(table: pd.DataFrame, schema: Schema, source: str) -> pd.DataFrame | None:
    columns = [f"{c}_true_fraction" for c in schema.label_cols]
    present = [c for c in columns if c in table.columns]
    if not present:
        return None
    if len(present) != len(columns):
        absent = [c for c in columns if c not in table.columns]
        raise ValueError(f"{source}: has some <label>_true_fraction columns but lacks {absent[:6]}")
    truth = table[columns].apply(pd.to_numeric, errors="coerce")
    truth.columns = schema.label_cols
    metrics.label_array(truth, schema, f"{source} true fractions")
    return truth


def evaluate_files(
    predictions,
    catalog,
    *,
    schema=None,
    train_catalog=None,
    out_dir=None,
    min_votes: int = 1,
    majority_min_votes: int = 5,
    training_log=None,
    baseline_from_rest: bool = True,
    label_column: str = "label",
) -> dict:
    """Evaluate a predictions file against the catalog its galaxies came from.

    Decision-tree predictions are compared with the volunteers' vote fractions (below); a
    classifier's or regressor's HDF5 (its ``head`` attribute says which) goes to
    :func:`evaluate_outputs`.

    Parameters
    ----------
    predictions : str or Path
        Predictions HDF5 (``.h5``/``.hdf5``) or summary CSV/parquet (``<label>_fraction``).
    catalog : str, Path or DataFrame
        Catalog with ``id_str`` and vote columns (and ``<label>_true_fraction`` for synthetic
        data, which adds the comparison with the truth). Must contain every predicted id.
    schema : str or Schema, optional
        Default: from the predictions file (attribute or columns).
    train_catalog : str, Path or DataFrame, optional
        Catalog of the training galaxies, for the "predict the training mean" baseline.
    out_dir : str or Path, optional
        Where :func:`evaluate` writes the CSV and PNGs.
    min_votes, majority_min_votes, training_log
        As in :func:`evaluate`.
    baseline_from_rest : bool
        Without ``train_catalog``, use the catalog's galaxies that were *not* predicted as the
        baseline's training set (none left: no baseline).
    label_column : str
        Classifier predictions: the catalog column holding each galaxy's class name.

    Returns
    -------
    dict
        :func:`evaluate`'s result plus ``text`` (the printed table), ``schema``, ``n_predicted``,
        ``n_catalog`` and ``baseline_source`` (a description, or None).
    """
    head = _head_of(predictions)
    if head in ("softmax", "regression"):
        return evaluate_outputs(predictions, catalog, head, out_dir=out_dir, label_column=label_column)
    fractions, schema = read_predictions(predictions, schema)
    table, source = _indexed_catalog(catalog, "catalog")
    missing = fractions.index.difference(table.index)
    if len(missing):
        raise ValueError(
            f"{len(missing)} of {len(fractions)} predicted id_str values are not in catalog {source}, "
            f"e.g. {list(missing[:5])}"
        )
    matched = table.loc[fractions.index]
    votes = _votes(matched, schema, source)
    truth = _true_fractions(matched, schema, source)

    train_votes, baseline_source = None, None
    if train_catalog is not None:
        train_table, train_source = _indexed_catalog(train_catalog, "training catalog")
        train_votes = _votes(train_table, schema, train_source)
        baseline_source = f"training catalog {train_source} ({len(train_votes)} galaxies)"
        overlap = train_table.index.intersection(fractions.index)
        if len(overlap):
            baseline_source += f"; WARNING: {len(overlap)} evaluated galaxies are also in it"
    elif baseline_from_rest:
        rest = table.index.difference(fractions.index)
        if len(rest):
            train_votes = _votes(table.loc[rest], schema, source)
            baseline_source = f"the {len(rest)} catalog galaxies without predictions"

    result = evaluate(
        fractions, votes, schema, true_fractions=truth, train_votes=train_votes, out_dir=out_dir,
        min_votes=min_votes, majority_min_votes=majority_min_votes, training_log=training_log,
    )
    title = f"{len(fractions)} galaxies, schema {schema.name}" + (
        f"; baseline = training mean over {baseline_source}" if baseline_source else "; no baseline (no training votes)"
    )
    result.update(
        text=format_comparison(result["table"], title=title), schema=schema, n_predicted=len(fractions),
        n_catalog=len(table), baseline_source=baseline_source,
    )
    _add_calibration(result, predictions, votes, truth, schema, out_dir, min_votes)
    if out_dir is not None:
        Path(result["files"]["comparison_text"]).write_text(result["text"] + "\n")
    return result


def _head_of(predictions) -> str:
    if not (isinstance(predictions, (str, os.PathLike)) and os.fspath(predictions).lower().endswith(HDF5_EXTS)):
        return "dirichlet"
    from zoobot_tf.predictions.hdf5 import read_attrs

    return str(read_attrs(predictions).get("head") or "dirichlet")


def evaluate_outputs(predictions, catalog, head: str, *, out_dir=None, label_column: str = "label") -> dict:
    """A classifier's (``head='softmax'``) or regressor's predictions HDF5 against the catalog.

    The same numbers a fine-tuning run reports (:func:`zoobot_tf.evaluation.held_out.task_metrics`
    of the MC samples): accuracy, balanced accuracy and the confusion matrix of the mean class
    probabilities against the catalog's ``label_column``, or the RMSE of the mean outputs
    against the catalog's columns named like the outputs.
    """
    from zoobot_tf.evaluation.held_out import task_metrics, write_metrics
    from zoobot_tf.predictions.hdf5 import load_predictions

    ids, label_cols, samples = load_predictions(predictions)
    ids = [str(i) for i in ids]
    _check_ids(ids, os.fspath(predictions))
    table, source = _indexed_catalog(catalog, "catalog")
    missing = pd.Index(ids).difference(table.index)
    if len(missing):
        raise ValueError(f"{len(missing)} of {len(ids)} predicted id_str values are not in catalog {source}, "
                         f"e.g. {list(missing[:5])}")
    matched = table.loc[ids]
    if head == "softmax":
        if label_column not in matched.columns:
            raise ValueError(f"catalog {source} has no label column {label_column!r} (pass --label-column)")
        index = {name: i for i, name in enumerate(label_cols)}
        bad = [(i, v) for i, v in zip(ids, matched[label_column]) if str(v) not in index]
        if bad:
            raise ValueError(f"catalog {source}: id_str {bad[0][0]!r} has class {bad[0][1]!r}, not one of the "
                             f"model's classes {list(label_cols)} ({len(bad)} such rows)")
        labels = np.array([index[str(v)] for v in matched[label_column]])
    else:
        absent = [c for c in label_cols if c not in matched.columns]
        if absent:
            raise ValueError(f"catalog {source} lacks the regression targets {absent[:6]}")
        labels = matched[list(label_cols)].to_numpy(dtype=np.float64)
    result = task_metrics(head, labels, samples, list(label_cols))
    if head == "softmax":
        text = (f"{len(ids)} galaxies: accuracy {result['accuracy']:.3f}, balanced accuracy "
                f"{result['balanced_accuracy']:.3f} ({len(label_cols)} classes)")
    else:
        text = f"{len(ids)} galaxies: RMSE {result['rmse']:.4f} over {len(label_cols)} outputs"
    result.update(text=text, files={}, n_predicted=len(ids), n_catalog=len(table), head=head)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if head == "softmax":
            from zoobot_tf.evaluation.plots import plot_confusion_matrix

            result["files"]["confusion_matrix"] = plot_confusion_matrix(
                result["confusion_matrix"], list(label_cols), out / "confusion_matrix.png",
                title=f"confusion matrix (n={len(ids)})", true_label="true")
        numbers = {k: v for k, v in result.items() if k not in ("text", "files")}
        result["files"]["metrics"] = str(write_metrics(out, numbers))
    return result


def _add_calibration(result, predictions, votes, truth, schema, out_dir, min_votes) -> None:
    """Interval coverage (:mod:`zoobot_tf.evaluation.calibration`) for an HDF5 file with MC samples."""
    from zoobot_tf.evaluation import calibration
    from zoobot_tf.evaluation.gallery import save_figure

    result["calibration"] = None
    if not (isinstance(predictions, (str, os.PathLike)) and os.fspath(predictions).lower().endswith(HDF5_EXTS)):
        return
    from zoobot_tf.predictions.hdf5 import read_attrs

    if int(read_attrs(predictions).get("n_samples", 1)) < 2:
        result["text"] += "\n\ninterval coverage: skipped (1 sample per galaxy; predict with --n-samples >= 2)"
        return
    table = calibration.coverage_of_file(predictions, votes, schema, true_fractions=truth, min_votes=min_votes)
    result["calibration"] = table
    result["text"] += "\n\n" + calibration.format_coverage(table)
    if out_dir is not None:
        out = Path(out_dir)
        result["files"]["calibration"] = str(out / "calibration.csv")
        table.to_csv(result["files"]["calibration"])
        n_samples = read_attrs(predictions).get("n_samples")
        figure = calibration.coverage_figure(table, title=f"interval coverage, {n_samples} samples per galaxy")
        result["files"]["calibration_plot"] = save_figure(figure, out / "calibration.png")


# --- CLI -----------------------------------------------------------------------------------
