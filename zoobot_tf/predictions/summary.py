"""Prediction HDF5 -> a table people read: vote fractions, 90% intervals, P(question asked).

Why these numbers: each MC sample of a galaxy is a Dirichlet over the answers of every question.
The expected vote fraction is the mean of the Dirichlet means over samples. Its uncertainty
pools both kinds: Dirichlet draws (what volunteers might say) from every MC sample (what the
model might be), so the 90% interval is the 5th-95th percentile of that mixture. A fraction of a
question that would rarely be asked means little, hence the probability that it is asked.

Column names follow Zoobot's data-release tables (``prediction_hdf5_to_summary_parquet``), so
code written for those reads ours: ``<answer>_fraction``, ``<answer>_90pc-lower``,
``<answer>_90pc-upper`` and ``<answer>_proportion-asked`` (the probability that the answer's
question is asked, repeated for each answer of it); the "friendly" table keeps only the
fractions, NaN where the question is asked of fewer than half of such galaxies.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from zoobot_tf.atomic import atomic_path
from zoobot_tf.predictions.hdf5 import iter_prediction_blocks, read_attrs

__all__ = ["FRIENDLY_MIN_ASKED", "friendly_summary", "iter_summary_blocks", "summarise", "summary_columns",
           "write_summary"]

#: Dirichlet draws per MC sample for the interval; with 5 samples, 1000 draws per galaxy.
N_DRAWS = 200
#: Percentiles of the interval.
INTERVAL = (5.0, 95.0)
#: The friendly table shows a fraction where its question is asked with at least this probability
FRIENDLY_MIN_ASKED = 0.5


def summary_columns(schema) -> list[str]:
    """Column order of :func:`summarise` for ``schema`` (Zoobot's "advanced" table)."""
    labels = list(schema.label_cols)
    return (["id_str"] + [f"{c}_fraction" for c in labels] + [f"{c}_90pc-lower" for c in labels]
            + [f"{c}_90pc-upper" for c in labels] + [f"{c}_proportion-asked" for c in labels])


def friendly_summary(table: pd.DataFrame, schema) -> pd.DataFrame:
    """``id_str`` and the ``<answer>_fraction`` columns of a :func:`summarise` table, NaN where the
    answer's question is asked with probability below :data:`FRIENDLY_MIN_ASKED` (Zoobot's
    "friendly" table)."""
    fractions = {}
    for label in schema.label_cols:
        asked = table[f"{label}_proportion-asked"].to_numpy()
        fractions[f"{label}_fraction"] = np.where(asked >= FRIENDLY_MIN_ASKED, table[f"{label}_fraction"], np.nan)
    return pd.DataFrame({"id_str": table["id_str"].to_numpy(), **fractions})


def _schema_for(path, schema, label_cols):
    from zoobot_tf.schemas import SCHEMA_NAMES, get_schema

    if schema is None:
        name = str(read_attrs(path).get("schema", "") or "")
        if name not in SCHEMA_NAMES:
            raise ValueError(
                f"{path}: no decision-tree schema stored in the file (schema={name!r}); pass schema= "
                f"(one of {', '.join(SCHEMA_NAMES)}) to summarise it"
            )
        schema = name
    schema = get_schema(schema)
    if list(schema.label_cols) != list(label_cols):
        raise ValueError(f"{path}: label_cols of the file do not match schema {schema.name!r}")
    return schema


def _block_summary(ids, concentrations, schema, rng, n_draws) -> pd.DataFrame:
    """Summary of one block of galaxies; ``concentrations`` is ``(N, A, S)``."""
    alpha = np.asarray(concentrations, dtype=np.float64)
    n, n_answers, _ = alpha.shape
    if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        bad = np.flatnonzero(~np.all(np.isfinite(alpha) & (alpha > 0), axis=(1, 2)))
        raise ValueError(f"non-positive or non-finite concentrations for ids {list(ids[bad[:5]])}; "
                         "summarise needs Dirichlet concentrations")
    mean_fraction = np.empty((n, n_answers))
    low, high = np.empty((n, n_answers)), np.empty((n, n_answers))
    for start, end in schema.question_index_groups:
        a = alpha[:, start : end + 1, :]  # (N, K, S)
        mean_fraction[:, start : end + 1] = (a / a.sum(axis=1, keepdims=True)).mean(axis=2)
        # Dirichlet draws as normalised Gamma draws, vectorised over galaxies and MC samples
        gammas = rng.standard_gamma(np.repeat(a[..., None], n_draws, axis=-1))  # (N, K, S, D)
        draws = gammas / gammas.sum(axis=1, keepdims=True)
        pooled = draws.reshape(n, end - start + 1, -1)
        low[:, start : end + 1], high[:, start : end + 1] = np.percentile(pooled, INTERVAL, axis=-1)
    proba_asked = schema.joint_p_asked(mean_fraction)

    data = {"id_str": np.asarray(ids, dtype=object)}
    for i, label in enumerate(schema.label_cols):
        data[f"{label}_fraction"] = mean_fraction[:, i]
        data[f"{label}_90pc-lower"] = low[:, i]
        data[f"{label}_90pc-upper"] = high[:, i]
    for question in schema.questions:
        for answer in question.answers:
            data[f"{answer.text}_proportion-asked"] = proba_asked[:, question.index]
    return pd.DataFrame(data)


def iter_summary_blocks(hdf5_path, schema=None, n_draws: int = N_DRAWS, seed: int = 0):
    """Yield the summary (see :func:`summarise`) block by block, at most 8192 galaxies each, so
    that memory stays flat whatever the number of galaxies."""
    from zoobot_tf.predictions.hdf5 import read_label_cols

    schema = _schema_for(hdf5_path, schema, read_label_cols(hdf5_path))
    rng = np.random.default_rng(seed)
    n_samples = int(read_attrs(hdf5_path).get("n_samples", 1))
    # block size keeping the (N, K, S, D) draw arrays near 50 MB and the block table small
    max_k = max(e - s + 1 for s, e in schema.question_index_groups)
    rows = min(8192, max(1, int(6e6 // (max_k * n_samples * int(n_draws)))))
    columns = summary_columns(schema)
    empty = True
    for ids, preds in iter_prediction_blocks(hdf5_path, rows=rows):
        empty = False
        yield _block_summary(ids, preds, schema, rng, int(n_draws))[columns]
    if empty:
        yield pd.DataFrame({c: pd.Series(dtype=object if c == "id_str" else float) for c in columns})


def write_summary(hdf5_path, out, schema=None, csv: bool = False, n_draws: int = N_DRAWS, seed: int = 0) -> Path:
    """Stream the summary of a prediction file into ``<out>.parquet`` and the friendly table
    (:func:`friendly_summary`) into ``<out>_friendly.parquet``, one parquet row group per block,
    so memory stays flat for 10^8 galaxies; ``csv=True`` adds ``<out>.csv`` / ``<out>_friendly.csv``.

    Each file is written under a temporary name and renamed when complete. Returns the parquet
    path of the full table. Same arguments as :func:`summarise`; same file and seed, same table.
    """
    from zoobot_tf.predictions.hdf5 import read_label_cols

    schema = _schema_for(hdf5_path, schema, read_label_cols(hdf5_path))
    return _write(iter_summary_blocks(hdf5_path, schema, n_draws, seed), out, schema, csv, keep=None)


def _write(blocks, out, schema, csv: bool, keep: list | None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = Path(out)
    if base.suffix.lower() in (".parquet", ".csv"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    names = (base.name, base.name + "_friendly")
    suffixes = (".parquet", ".csv") if csv else (".parquet",)
    targets = {(k, sfx): base.with_name(name + sfx) for k, name in enumerate(names) for sfx in suffixes}
    with ExitStack() as files:  # every file renamed into place only when all are complete
        temps = {key: files.enter_context(atomic_path(path)) for key, path in targets.items()}
        writers = {}
        for n, block in enumerate(blocks):
            for k, frame in enumerate((block, friendly_summary(block, schema))):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if k not in writers:
                    writers[k] = files.enter_context(pq.ParquetWriter(temps[(k, ".parquet")], table.schema))
                writers[k].write_table(table)
                if csv:
                    frame.to_csv(temps[(k, ".csv")], mode="w" if n == 0 else "a", header=n == 0, index=False)
            if keep is not None:
                keep.append(block)
    return targets[(0, ".parquet")]


def summarise(hdf5_path, schema=None, out=None, n_draws: int = N_DRAWS, seed: int = 0, csv: bool = False) -> pd.DataFrame:
    """Summarise a prediction file, one row per galaxy, as a DataFrame in memory.

    For survey-size files use :func:`write_summary` (or ``zoobot-tf summarise``), which streams
    to parquet without holding the table.

    Parameters
    ----------
    hdf5_path : str or Path
        A file from :func:`zoobot_tf.predictions.predict` (Dirichlet concentrations).
    schema : str or Schema, optional
        The decision tree; default: the ``schema`` attribute of the file.
    out : str or Path, optional
        Also write ``<out>.parquet`` and the friendly table (:func:`friendly_summary`) as
        ``<out>_friendly.parquet`` (a ``.parquet``/``.csv`` suffix is dropped); ``csv=True`` adds
        a CSV of each.
    n_draws : int
        Dirichlet draws per MC sample for the intervals.
    seed : int
        Seed of those draws: the same file gives the same table.

    Returns
    -------
    pandas.DataFrame
        ``id_str``; per answer ``<answer>_fraction`` (expected vote fraction within its
        question), ``<answer>_90pc-lower`` / ``<answer>_90pc-upper`` (5th / 95th percentile) and
        ``<answer>_proportion-asked`` (probability that its question is asked: the product of the
        expected fractions of the answers leading to it; 1 for the first question).
    """
    from zoobot_tf.predictions.hdf5 import read_label_cols

    schema = _schema_for(hdf5_path, schema, read_label_cols(hdf5_path))
    blocks = iter_summary_blocks(hdf5_path, schema, n_draws, seed)
    if out is None:
        blocks = list(blocks)
    else:
        kept: list = []
        _write(blocks, out, schema, csv, keep=kept)
        blocks = kept
    return pd.concat(blocks, ignore_index=True)
