"""Prediction HDF5 -> a table people read: vote fractions, 90% intervals, P(question asked).

Why these numbers: each MC sample of a galaxy is a Dirichlet over the answers of every question.
The expected vote fraction is the mean of the Dirichlet means over samples. Its uncertainty
pools both kinds: Dirichlet draws (what volunteers might say) from every MC sample (what the
model might be), so the 90% interval is the 5th-95th percentile of that mixture. A fraction of a
question that would rarely be asked means little, hence the probability that it is asked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from zoobot_tf.predictions.hdf5 import iter_prediction_blocks, read_attrs

__all__ = ["summarise", "summary_columns"]

#: Dirichlet draws per MC sample for the interval; with 5 samples, 1000 draws per galaxy.
N_DRAWS = 200
#: Percentiles of the interval.
INTERVAL = (5.0, 95.0)


def summary_columns(schema) -> list[str]:
    """Column order of :func:`summarise` for ``schema``."""
    cols = ["id_str"]
    for label in schema.label_cols:
        cols += [f"{label}_fraction", f"{label}_90pc_low", f"{label}_90pc_high"]
    return cols + [f"{q.text}_proba_asked" for q in schema.questions]


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
        data[f"{label}_90pc_low"] = low[:, i]
        data[f"{label}_90pc_high"] = high[:, i]
    for question in schema.questions:
        data[f"{question.text}_proba_asked"] = proba_asked[:, question.index]
    return pd.DataFrame(data)


def summarise(hdf5_path, schema=None, out=None, n_draws: int = N_DRAWS, seed: int = 0) -> pd.DataFrame:
    """Summarise a prediction file, one row per galaxy.

    Parameters
    ----------
    hdf5_path : str or Path
        A file from :func:`zoobot_tf.predictions.predict` (Dirichlet concentrations).
    schema : str or Schema, optional
        The decision tree; default: the ``schema`` attribute of the file.
    out : str or Path, optional
        Also write ``<out>.parquet`` and ``<out>.csv`` (a ``.parquet``/``.csv`` suffix is dropped).
    n_draws : int
        Dirichlet draws per MC sample for the intervals.
    seed : int
        Seed of those draws: the same file gives the same table.

    Returns
    -------
    pandas.DataFrame
        ``id_str``; per answer ``<label>_fraction`` (expected vote fraction within its
        question), ``<label>_90pc_low`` / ``<label>_90pc_high`` (5th / 95th percentile); per
        question ``<question>_proba_asked`` (product of the expected fractions of the answers
        leading to it; 1 for the first question).
    """
    from zoobot_tf.predictions.hdf5 import read_label_cols

    schema = _schema_for(hdf5_path, schema, read_label_cols(hdf5_path))
    rng = np.random.default_rng(seed)
    n_samples = int(read_attrs(hdf5_path).get("n_samples", 1))
    # block size keeping the (N, K, S, D) draw arrays near 50 MB
    max_k = max(e - s + 1 for s, e in schema.question_index_groups)
    rows = max(1, int(6e6 // (max_k * n_samples * int(n_draws))))
    blocks = [
        _block_summary(ids, preds, schema, rng, int(n_draws))
        for ids, preds in iter_prediction_blocks(hdf5_path, rows=rows)
    ]
    table = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=summary_columns(schema))
    table = table[summary_columns(schema)]
    if out is not None:
        base = Path(out)
        if base.suffix.lower() in (".parquet", ".csv"):
            base = base.with_suffix("")
        base.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(base.with_name(base.name + ".parquet"), index=False)
        table.to_csv(base.with_name(base.name + ".csv"), index=False)
    return table
