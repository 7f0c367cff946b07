"""A synthetic stand-in for the Kaggle challenge table, from the embedded synthetic galaxies.

The 37 Kaggle outputs are the GZ2 tree (same 11 questions, same answers in the same order, same
dependencies) expressed as dependency-weighted fractions. So synthetic GZ2 votes become Kaggle
targets by taking each question's vote fractions and weighting them with
:meth:`Schema.weight_by_dependencies` - exactly how the challenge built its table from GZ2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["gz2_votes_to_kaggle", "make_synthetic_kaggle_catalog"]


def gz2_votes_to_kaggle(votes) -> np.ndarray:
    """(N, 37) GZ2 vote counts (schema ``gz2`` order) -> (N, 37) Kaggle ``Class1.1 ... Class11.6`` targets."""
    from zoobot_tf.schemas import get_schema

    gz2, kaggle = get_schema("gz2"), get_schema("gz_kaggle37")
    same_tree = gz2.question_index_groups == kaggle.question_index_groups and [
        None if q.asked_after is None else q.asked_after.index for q in gz2.questions
    ] == [None if q.asked_after is None else q.asked_after.index for q in kaggle.questions]
    if not same_tree:  # a guard for edits of the built-in trees
        raise ValueError("schemas 'gz2' and 'gz_kaggle37' no longer describe the same tree")
    votes = np.asarray(votes, dtype=np.float64)
    if votes.ndim != 2 or votes.shape[1] != gz2.n_answers:
        raise ValueError(f"votes must be (N, {gz2.n_answers}) in gz2 order, got shape {votes.shape}")
    return kaggle.weight_by_dependencies(gz2.vote_fractions(votes))


def make_synthetic_kaggle_catalog(out_dir, n=200, *, size=64, seed=0, progress=True) -> pd.DataFrame:
    """Synthetic galaxies as a canonical ``gz_kaggle37`` catalog (``id_str``, ``file_loc``, ``Class*``).

    Parameters
    ----------
    out_dir : path
        Gets the images and ``catalog.csv`` of :func:`zoobot_tf.synthetic.make_synthetic_dataset`
        (GZ2 votes) and ``kaggle_catalog.csv`` (this function's result).
    n, size, seed : int
    progress : bool

    Returns
    -------
    pandas.DataFrame
    """
    from pathlib import Path

    from zoobot_tf.schemas import get_schema
    from zoobot_tf.synthetic import make_synthetic_dataset

    catalog = make_synthetic_dataset(out_dir, n=n, schema="gz2", size=size, seed=seed, progress=progress)
    targets = gz2_votes_to_kaggle(catalog[get_schema("gz2").label_cols].to_numpy())
    kaggle = pd.DataFrame(targets, columns=get_schema("gz_kaggle37").label_cols)
    kaggle.insert(0, "file_loc", catalog["file_loc"])
    kaggle.insert(0, "id_str", catalog["id_str"])
    kaggle.to_csv(Path(out_dir) / "kaggle_catalog.csv", index=False)
    return kaggle
