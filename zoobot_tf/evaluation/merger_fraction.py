"""What fraction of a catalog is merging? Count the galaxies whose predicted merger probability
exceeds a threshold, with a bootstrap uncertainty.

The merger probability of a galaxy is the probability that volunteers would answer "merger":
the summed fraction of the merger answer(s) times the probability that their question is asked
at all (1 for GZ DECaLS "merging", which every galaxy is asked; P(something odd) for GZ2's odd
feature). Kaggle-style tables hold that product already (``Class8.6`` is dependency-weighted).

The bootstrap resamples the galaxies with replacement; a resample of ``n`` galaxies of which a
fraction ``f`` is merging contains ``Binomial(n, f)`` mergers, so the bootstrap distribution is
drawn directly from that binomial - exactly the same distribution, in O(n_bootstrap) time
whatever the catalog size.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["MERGER_ANSWERS", "MergerFraction", "merger_fraction", "merger_probability"]

#: the merger answer(s) of each tree; a second tuple adds "major disturbance" where the tree has it
MERGER_ANSWERS = {
    "decals_dr5": (("merging_merger",), ("merging_major-disturbance",)),
    "decals_dr8": (("merging-dr8_merger",), ("merging-dr8_major-disturbance",)),
    "decals_dr12": (("merging_merger", "merging_both"), ()),
    "gz_candels": (("merging-candels_merger", "merging-candels_both"), ()),
    "gz2": (("odd-feature-gz2_merger",), ()),
    "gz_kaggle37": (("Class8.6",), ()),
}


@dataclass
class MergerFraction:
    """The estimate: ``fraction`` of ``n`` galaxies above ``threshold``, bootstrap ``std`` and the
    central ``confidence`` interval ``[low, high]``; ``mean_probability`` is the expected fraction
    (the mean merger probability, no threshold)."""

    fraction: float
    std: float
    low: float
    high: float
    n: int
    n_merging: int
    threshold: float
    confidence: float
    n_bootstrap: int
    mean_probability: float
    answers: list

    def summary(self) -> str:
        return (f"merger fraction {self.fraction:.4f} +/- {self.std:.4f} ({self.n_merging} of {self.n} galaxies with "
                f"P(merger) > {self.threshold:g}; {100 * self.confidence:g}% interval {self.low:.4f}-{self.high:.4f}; "
                f"mean P(merger) {self.mean_probability:.4f}; answers {', '.join(self.answers)})")

    def to_dict(self) -> dict:
        return asdict(self)


def _answers_for(schema_name, answers, include_major_disturbance):
    if answers is not None:
        answers = [answers] if isinstance(answers, str) else list(answers)
        if not answers:
            raise ValueError("answers must name at least one label column")
        return answers
    if schema_name not in MERGER_ANSWERS:
        raise ValueError(f"no default merger answer for schema {schema_name!r}; pass answers= "
                         f"(defaults exist for {', '.join(MERGER_ANSWERS)})")
    base, major = MERGER_ANSWERS[schema_name]
    if include_major_disturbance and not major:
        raise ValueError(f"schema {schema_name!r} has no major-disturbance answer")
    return list(base) + (list(major) if include_major_disturbance else [])


def merger_probability(fractions, schema, answers=None, include_major_disturbance=False) -> np.ndarray:
    """P(merger) per galaxy from within-question answer fractions.

    Parameters
    ----------
    fractions : pandas.DataFrame or array (N, A)
        Expected vote fractions within each question, in ``schema`` label order (or with its
        label columns), e.g. from :func:`zoobot_tf.evaluation.read_predictions`.
    schema : str or Schema
    answers : list of str, optional
        Merger answer column(s), all of one question (default :data:`MERGER_ANSWERS`).
    include_major_disturbance : bool
        Count "major disturbance" as merging too (GZ DECaLS).

    Returns
    -------
    numpy.ndarray (N,)
        Summed fractions of the answers times the probability that their question is asked.
    """
    from zoobot_tf.evaluation.metrics import label_array
    from zoobot_tf.schemas import get_schema

    schema = get_schema(schema)
    answers = _answers_for(schema.name, answers, include_major_disturbance)
    values = label_array(fractions, schema, "fractions")
    chosen = [schema.get_answer(a) for a in answers]
    questions = {a.question.index for a in chosen}
    if len(questions) != 1:
        raise ValueError(f"answers {answers} belong to different questions; merger answers must share one question")
    p_asked = schema.joint_p_asked(values)[:, questions.pop()]
    return values[:, [a.index for a in chosen]].sum(axis=1) * p_asked


def _probabilities(predictions, schema, answers, include_major_disturbance):
    """(P(merger) per galaxy, answers used) from any accepted input."""
    from zoobot_tf.evaluation import read_predictions
    from zoobot_tf.schemas import get_schema

    if isinstance(predictions, (str, os.PathLike)) and not os.fspath(predictions).lower().endswith((".h5", ".hdf5", ".hdf")):
        from zoobot_tf.catalogs import read_table

        predictions = read_table(predictions, str_columns=("id_str",))
    kaggle = get_schema("gz_kaggle37").label_cols
    schema_name = getattr(schema, "name", schema)
    if isinstance(predictions, pd.DataFrame) and schema_name in (None, "gz_kaggle37") and set(kaggle) <= set(
            predictions.columns):
        chosen = _answers_for("gz_kaggle37", answers, include_major_disturbance)
        values = predictions[chosen].to_numpy(dtype=np.float64)  # dependency-weighted already
        bad = ~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1)
        if bad.any():
            raise ValueError(f"predictions row {int(np.argmax(bad))} has NaN or negative values in {chosen}")
        return values.sum(axis=1), chosen
    fractions, schema = read_predictions(predictions, schema)
    chosen = _answers_for(schema.name, answers, include_major_disturbance)
    return merger_probability(fractions, schema, chosen), chosen


def merger_fraction(predictions, schema=None, *, threshold=0.5, answers=None, include_major_disturbance=False,
                    n_bootstrap=1000, confidence=0.68, seed=0) -> MergerFraction:
    """Fraction of galaxies with P(merger) above ``threshold``, with a bootstrap uncertainty.

    Parameters
    ----------
    predictions : path, pandas.DataFrame or array (N,)
        A predictions HDF5 (:func:`zoobot_tf.predictions.predict`), a summary table (CSV /
        parquet / DataFrame with ``id_str`` and ``<label>_fraction``,
        :func:`zoobot_tf.predictions.summarise`), a Kaggle-style table with ``Class1.1`` ...
        ``Class11.6`` (e.g. ``evaluation/predictions.csv`` of :func:`zoobot_tf.kaggle.train_kaggle`),
        or the merger probabilities themselves.
    schema : str or Schema, optional
        Default: the file's own / inferred from the columns.
    threshold : float
        A galaxy counts as merging when P(merger) > threshold.
    answers : list of str, optional
        Merger answer column(s) (default :data:`MERGER_ANSWERS` of the schema).
    include_major_disturbance : bool
        GZ DECaLS: count "major disturbance" as merging too.
    n_bootstrap : int
        Bootstrap resamples.
    confidence : float
        Central probability of the interval (0.68: one sigma).
    seed : int

    Returns
    -------
    MergerFraction
    """
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_bootstrap) < 2:
        raise ValueError(f"n_bootstrap must be >= 2, got {n_bootstrap}")
    if isinstance(predictions, np.ndarray) or (isinstance(predictions, (list, tuple)) and not isinstance(predictions, str)):
        probability, chosen = np.asarray(predictions, dtype=np.float64), list(answers or ["<given probabilities>"])
        if probability.ndim != 1 or not np.isfinite(probability).all() or (probability < 0).any() or (probability > 1).any():
            raise ValueError("merger probabilities must be a 1-D array of values in [0, 1]")
    else:
        probability, chosen = _probabilities(predictions, schema, answers, include_major_disturbance)
    n = len(probability)
    if n == 0:
        raise ValueError("no galaxies in the predictions")
    merging = probability > float(threshold)
    fraction = float(merging.mean())
    draws = np.random.default_rng(seed).binomial(n, fraction, size=int(n_bootstrap)) / n
    tail = (1.0 - float(confidence)) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return MergerFraction(
        fraction=fraction, std=float(draws.std(ddof=1)), low=float(low), high=float(high), n=int(n),
        n_merging=int(merging.sum()), threshold=float(threshold), confidence=float(confidence),
        n_bootstrap=int(n_bootstrap), mean_probability=float(probability.mean()), answers=list(chosen),
    )
