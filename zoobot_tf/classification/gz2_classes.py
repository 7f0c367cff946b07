"""GZ2 volunteer vote fractions -> the eight classes of the Linformer study (label set ``gz2_8class``).

Each class is a path down the GZ2 tree, so its probability is the product of the vote fractions
along that path (as the GZ2 "clean sample" cuts are), e.g. barred spiral = featured x not edge-on x
spiral x bar. A galaxy gets the most probable class when that probability reaches
``min_probability``; the rest are ambiguous: their label is missing but their best class and its
probability are returned (never dropped silently), so the caller decides and reports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["EIGHT_CLASS_PATHS", "gz2_eight_class_probabilities", "gz2_eight_class_labels"]

#: class of ``gz2_8class`` -> the GZ2 answers (schema ``gz2``) whose fractions multiply to its probability
EIGHT_CLASS_PATHS = {
    "round": ("smooth-or-featured-gz2_smooth", "how-rounded-gz2_round"),
    "in-between": ("smooth-or-featured-gz2_smooth", "how-rounded-gz2_in-between"),
    "cigar-shaped": ("smooth-or-featured-gz2_smooth", "how-rounded-gz2_cigar"),
    "edge-on": ("smooth-or-featured-gz2_featured-or-disk", "disk-edge-on-gz2_yes"),
    "barred-spiral": ("smooth-or-featured-gz2_featured-or-disk", "disk-edge-on-gz2_no", "has-spiral-arms-gz2_yes",
                      "bar-gz2_yes"),
    "unbarred-spiral": ("smooth-or-featured-gz2_featured-or-disk", "disk-edge-on-gz2_no", "has-spiral-arms-gz2_yes",
                        "bar-gz2_no"),
    "irregular": ("something-odd-gz2_yes", "odd-feature-gz2_irregular"),
    "merger": ("something-odd-gz2_yes", "odd-feature-gz2_merger"),
}


def gz2_eight_class_probabilities(votes) -> pd.DataFrame:
    """(N, 8) path probabilities of the eight classes from GZ2 vote counts.

    Parameters
    ----------
    votes : pandas.DataFrame
        GZ2 vote-count columns (schema ``gz2``, e.g. a canonical catalog from
        ``build_catalog('gz2', ...)`` or the synthetic data set); questions nobody answered
        count as fraction 0.
    """
    from zoobot_tf.evaluation.metrics import label_array
    from zoobot_tf.schemas import get_label_set, get_schema

    schema = get_schema("gz2")
    fractions = schema.vote_fractions(label_array(votes, schema, "votes"))
    classes = get_label_set("gz2_8class").classes
    if tuple(EIGHT_CLASS_PATHS) != tuple(classes):
        raise ValueError(f"EIGHT_CLASS_PATHS {list(EIGHT_CLASS_PATHS)} differ from label set gz2_8class {classes}")
    out = {}
    for name, path in EIGHT_CLASS_PATHS.items():
        out[name] = np.prod([fractions[:, schema.get_answer(a).index] for a in path], axis=0)
    index = votes.index if isinstance(votes, pd.DataFrame) else None
    return pd.DataFrame(out, index=index)


def gz2_eight_class_labels(votes, min_probability=0.5) -> pd.DataFrame:
    """The ``gz2_8class`` label of each galaxy, missing (NA) where no class reaches ``min_probability``.

    Returns
    -------
    pandas.DataFrame
        ``label`` (class name, or NA), ``best_class``, ``probability`` (of the best class),
        same index as ``votes``.
    """
    if not 0.0 <= float(min_probability) <= 1.0:
        raise ValueError(f"min_probability must be in [0, 1], got {min_probability}")
    probabilities = gz2_eight_class_probabilities(votes)
    best = probabilities.idxmax(axis=1)
    top = probabilities.max(axis=1)
    label = best.where(top >= float(min_probability), None)
    return pd.DataFrame({"label": label, "best_class": best, "probability": top}, index=probabilities.index)
