"""`zoobot-tf acquire`: which galaxies volunteers should label next (active learning).

BALD (Houlsby et al. 2011) as Walmsley et al. 2020 applied it to Galaxy Zoo: for a question
with answers ``K`` and ``n`` volunteers, each MC-dropout sample ``s`` of the model predicts a
Dirichlet-multinomial distribution ``p_s(c)`` over the vote counts ``c``. The mutual
information between the votes and the model parameters is

    MI = H[ mean_s p_s ] - mean_s H[ p_s ]

the entropy of the predictive (what the pooled model expects volunteers to say) minus the
expected entropy of each sample's prediction (vote noise every sample agrees on). It is high
only where the *samples disagree*: labelling such a galaxy teaches the model most. A galaxy
that is merely ambiguous (true fraction near 0.5, every sample says so) has a high predictive
entropy but a modest MI. The tree-weighted total weights each question by the probability that
it is asked (:meth:`zoobot_tf.schemas.Schema.joint_p_asked` of the expected fractions), so a
question volunteers would rarely see counts little.

Entropies are exact (every vote-count vector enumerated) when a question has at most
:data:`EXACT_OUTCOMES` outcomes for ``n`` volunteers, else estimated from counts drawn from each
sample (``MI = mean_s KL(p_s || mean_t p_t)``, unbiased in the draws, ``n_draws`` per sample).
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pandas as pd
from scipy.special import logsumexp


__all__ = ["EXACT_OUTCOMES", "TYPICAL_VOLUNTEERS", "acquisition_scores", "question_information"]

#: volunteers per question in Galaxy Zoo DECaLS (about 40 for the first question)
TYPICAL_VOLUNTEERS = 40
#: enumerate every count vector up to this many outcomes (n = 40: questions of up to 3 answers)
EXACT_OUTCOMES = 2000


def _outcomes(n: int, k: int) -> np.ndarray:
    """Every vector of ``k`` non-negative counts summing to ``n`` (stars and bars), ``(M, k)``."""
    rows = []
    for bars in combinations(range(n + k - 1), k - 1):
        edges = (-1, *bars, n + k - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(k)])
    return np.asarray(rows, dtype=np.float64)


def _dm_logpmf(counts, alpha, n) -> np.ndarray:
    """log Dirichlet-multinomial pmf of ``counts`` (..., K) summing to ``n``."""
    from zoobot_tf.evaluation.calibration import dirichlet_multinomial_logpmf

    return dirichlet_multinomial_logpmf(counts, alpha)


def question_information(alpha, n_volunteers: int = TYPICAL_VOLUNTEERS, n_draws: int = 200,
                         rng=None) -> tuple[np.ndarray, np.ndarray]:
    """``(mutual information, predictive entropy)`` in nats, each ``(N,)``, for one question.

    ``alpha``: ``(N, K, S)`` Dirichlet concentrations of its ``K`` answers, ``S >= 2`` MC samples.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    n_gal, k, s = alpha.shape
    n = int(n_volunteers)
    a = np.moveaxis(alpha, 1, -1)  # (N, S, K)
    if comb(n + k - 1, k - 1) <= EXACT_OUTCOMES:
        c = _outcomes(n, k)  # (M, K)
        logp = _dm_logpmf(c[None, None], a[:, :, None, :], n)  # (N, S, M)
        log_mix = logsumexp(logp, axis=1) - np.log(s)  # (N, M)
        p = np.exp(logp)
        h_samples = -(p * logp).sum(axis=-1).mean(axis=1)
        h_mix = -(np.exp(log_mix) * log_mix).sum(axis=-1)
        return np.maximum(h_mix - h_samples, 0.0), h_mix
    rng = np.random.default_rng(0) if rng is None else rng
    gammas = rng.standard_gamma(np.repeat(a[:, :, None, :], n_draws, axis=2))  # (N, S, D, K)
    probs = gammas / gammas.sum(axis=-1, keepdims=True)
    counts = rng.multinomial(n, probs).astype(np.float64)  # (N, S, D, K) drawn from p_s
    # log p_t(c) of every draw under every sample t: (N, S, D, T)
    logp = _dm_logpmf(counts[..., None, :], a[:, None, None, :, :], n)
    own = np.take_along_axis(logp, np.arange(s)[None, :, None, None], axis=-1)[..., 0]  # log p_s(c_s)
    log_mix = logsumexp(logp, axis=-1) - np.log(s)
    mi = (own - log_mix).mean(axis=(1, 2))
    h_mix = -log_mix.mean(axis=(1, 2))
    return np.maximum(mi, 0.0), h_mix


def acquisition_scores(predictions, schema=None, n_volunteers: int = TYPICAL_VOLUNTEERS, rows: int = 1024,
                       seed: int = 0) -> pd.DataFrame:
    """Active-learning scores of every galaxy of a prediction file.

    Parameters
    ----------
    predictions : str or Path
        HDF5 from ``zoobot-tf predict`` with at least 2 MC samples per galaxy.
    schema : str or Schema, optional
        Decision tree; default: the one stored in the file.
    n_volunteers : int
        Volunteers assumed per question (the entropies are of their vote counts).

    Returns
    -------
    pandas.DataFrame
        ``id_str``, ``mutual_information`` and ``predictive_entropy`` (tree-weighted sums over
        questions), then per question ``<question>_mutual_information``,
        ``<question>_predictive_entropy`` and ``<question>_proba_asked``; sorted by decreasing
        mutual information, with ``rank``.
    """
    from zoobot_tf.evaluation.metrics import expected_fractions
    from zoobot_tf.predictions.hdf5 import iter_prediction_blocks, read_label_cols, read_attrs
    from zoobot_tf.predictions.summary import _schema_for

    attrs = read_attrs(predictions)
    if int(attrs.get("n_samples", 1)) < 2:
        raise ValueError(f"{predictions}: {attrs.get('n_samples', 1)} sample per galaxy; mutual information needs "
                         "MC samples (predict with --n-samples 5 or more on a model with MC dropout)")
    schema = _schema_for(predictions, schema, read_label_cols(predictions))
    rng = np.random.default_rng(seed)
    blocks = []
    for ids, alpha in iter_prediction_blocks(predictions, rows):
        alpha = np.asarray(alpha, dtype=np.float64)
        if not (np.isfinite(alpha).all() and (alpha > 0).all()):
            bad = ~(np.isfinite(alpha) & (alpha > 0)).reshape(len(alpha), -1).all(axis=1)
            raise ValueError(f"{predictions}: id_str {ids[np.argmax(bad)]!r}: non-positive concentrations; "
                             "acquire needs a Dirichlet model's predictions")
        p_asked = schema.joint_p_asked(expected_fractions(alpha, schema))
        data = {"id_str": ids}
        total_mi, total_h = np.zeros(len(ids)), np.zeros(len(ids))
        for q in schema.questions:
            mi, h = question_information(alpha[:, q.start_index : q.end_index + 1], n_volunteers, rng=rng)
            data[f"{q.text}_mutual_information"], data[f"{q.text}_predictive_entropy"] = mi, h
            data[f"{q.text}_proba_asked"] = p_asked[:, q.index]
            total_mi += p_asked[:, q.index] * mi
            total_h += p_asked[:, q.index] * h
        blocks.append(pd.DataFrame({"mutual_information": total_mi, "predictive_entropy": total_h, **data}))
    table = pd.concat(blocks, ignore_index=True)
    table = table[["id_str"] + [c for c in table.columns if c != "id_str"]]
    table = table.sort_values("mutual_information", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table
