"""Calibration of the predicted uncertainty: how often the volunteers' vote fraction falls inside
the predicted 50% / 90% intervals, per question, with a coverage plot.

Which interval: a volunteer fraction is ``votes / n`` of the ``n`` volunteers who answered, so
it scatters around the galaxy's true fraction by vote noise as well as the model's uncertainty.
The predictive distribution of that number is, for each MC sample's Dirichlet, a
Dirichlet-multinomial with the galaxy's own ``n``; pooled over MC samples it is what the model
says volunteers would answer. A calibrated model puts 90% of volunteer fractions inside its 90%
interval. With synthetic data (``<label>_true_fraction``) the same is reported for the true
fractions against the Dirichlet-mixture interval (the one ``summarise`` writes), over the galaxies
whose question is asked with true probability >= 0.5.

"Inside" for a discrete number: a volunteer fraction often sits exactly on an interval end (no
votes for an answer is common), so an inclusive interval over-covers and an exclusive one
under-covers. Whether it is inside the central ``l`` interval is decided by its randomized
probability integral transform ``u = F(y-) + V (F(y) - F(y-))``, ``V ~ U(0, 1)`` (Czado,
Gneiting & Held 2009): ``|u - 0.5| <= l / 2``. For a calibrated model ``u`` is uniform, so
coverage is exactly nominal; for a continuous reference (the truth) it is the plain interval test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.special import gammaln, logsumexp

from zoobot_tf.evaluation.metrics import OVERALL, label_array
from zoobot_tf.schemas import get_schema

__all__ = [
    "LEVELS",
    "CoverageCounter",
    "coverage",
    "coverage_figure",
    "coverage_of_file",
    "dirichlet_multinomial_logpmf",
    "fit_concentration_scale",
    "format_coverage",
]

#: nominal coverages evaluated (the table shows 50% and 90%, the plot all of them)
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: pooled predictive draws per galaxy (spread over its MC samples)
N_DRAWS = 1000


def randomized_pit(draws, reference, rng) -> np.ndarray:
    """Randomized PIT ``(N, K)`` of ``reference`` ``(N, K)`` under pooled predictive ``draws`` ``(N, K, M)``."""
    reference = np.asarray(reference)[..., None]
    below = (draws < reference - 1e-9).mean(axis=-1)
    at_or_below = (draws <= reference + 1e-9).mean(axis=-1)
    return below + rng.uniform(size=below.shape) * (at_or_below - below)


def _predictive_draws(alpha, n_votes, rng, n_draws) -> np.ndarray:
    """``(N, K, S * D)`` draws of the fraction predicted for ``n_votes`` volunteers (None: the
    Dirichlet fraction itself); ``alpha`` is ``(N, K, S)``."""
    per_sample = max(1, int(n_draws) // alpha.shape[2])
    a = np.repeat(alpha[..., None], per_sample, axis=-1)  # (N, K, S, D)
    gammas = rng.standard_gamma(a)
    p = gammas / gammas.sum(axis=1, keepdims=True)
    if n_votes is None:
        return p.reshape(len(alpha), alpha.shape[1], -1)
    p = np.moveaxis(p, 1, -1)  # (N, S, D, K)
    n = np.broadcast_to(n_votes[:, None, None], p.shape[:-1]).astype(np.int64)
    counts = rng.multinomial(n, p / p.sum(axis=-1, keepdims=True))
    fraction = counts / np.maximum(n[..., None], 1)
    return np.moveaxis(fraction, -1, 1).reshape(len(alpha), alpha.shape[1], -1)


def coverage(concentrations, votes, schema, *, true_fractions=None, levels=LEVELS, min_votes: int = 1,
             n_draws: int = N_DRAWS, seed: int = 0) -> pd.DataFrame:
    """Observed coverage of the predicted central intervals, per question and overall.

    Parameters
    ----------
    concentrations : array (N, A, S)
        Dirichlet concentrations, MC samples last (a prediction file's ``predictions``), in the
        schema's answer order.
    votes : array (N, A)
        Volunteer votes of the same galaxies.
    schema : str or Schema
    true_fractions : array (N, A), optional
        Adds ``n_truth`` and ``truth_coverage_<pct>`` columns (synthetic data).
    levels : sequence of float
        Nominal coverages.
    min_votes : int
        A galaxy counts for a question with at least this many votes on it.

    Returns
    -------
    pandas.DataFrame
        Indexed by question then ``'overall'``; ``n`` (galaxy-answer pairs), ``coverage_<pct>``
        for each level [, ``n_truth``, ``truth_coverage_<pct>``]. Pairs are pooled over answers.
    """
    counter = CoverageCounter(schema, levels, min_votes, n_draws, seed)
    counter.add(concentrations, votes, true_fractions)
    return counter.table()


def coverage_of_file(path, votes: pd.DataFrame, schema, *, true_fractions: pd.DataFrame | None = None,
                     rows: int = 2048, **kwargs) -> pd.DataFrame:
    """:func:`coverage` of a prediction HDF5 file, read block by block (bounded memory).

    ``votes`` (and ``true_fractions``) are indexed by ``id_str`` with the schema's label columns;
    every id of the file must be among them.
    """
    from zoobot_tf.predictions.hdf5 import iter_prediction_blocks, read_attrs

    schema = get_schema(schema)
    if int(read_attrs(path).get("n_samples", 1)) < 2:
        raise ValueError(f"{path}: 1 MC sample per galaxy; interval coverage needs n_samples >= 2 "
                         "(predict with --n-samples 5)")
    from zoobot_tf.predictions.hdf5 import read_label_cols

    label_cols = read_label_cols(path)
    order = [label_cols.index(c) for c in schema.label_cols]
    counter = CoverageCounter(schema, **kwargs)
    for ids, block in iter_prediction_blocks(path, rows):
        missing = pd.Index(ids).difference(votes.index)
        if len(missing):
            raise ValueError(f"{path}: id_str {missing[0]!r} (and {len(missing) - 1} more) not in the catalog")
        truth = None if true_fractions is None else true_fractions.loc[ids, schema.label_cols]
        counter.add(block[:, order], votes.loc[ids, schema.label_cols], truth)
    return counter.table()


class CoverageCounter:
    """Accumulates interval hits block by block; :meth:`table` gives the coverage table."""

    def __init__(self, schema, levels=LEVELS, min_votes: int = 1, n_draws: int = N_DRAWS, seed: int = 0):
        self.schema = get_schema(schema)
        self.levels = tuple(float(x) for x in levels)
        self.min_votes, self.n_draws = max(1, int(min_votes)), int(n_draws)
        self.rng = np.random.default_rng(seed)
        zeros = lambda: {q.text: np.zeros(len(self.levels)) for q in self.schema.questions}  # noqa: E731
        self.hits, self.truth_hits = zeros(), zeros()
        self.counts = dict.fromkeys(self.hits, 0)
        self.truth_counts = dict.fromkeys(self.hits, 0)
        self.with_truth = False

    def add(self, concentrations, votes, true_fractions=None, block: int = 512) -> None:
        schema = self.schema
        alpha = np.asarray(concentrations, dtype=np.float64)
        if alpha.ndim != 3 or alpha.shape[1] != schema.n_answers:
            raise ValueError(f"concentrations: expected (N, {schema.n_answers}, n_samples), got {alpha.shape}")
        if not (np.isfinite(alpha).all() and (alpha > 0).all()):
            raise ValueError("concentrations: non-finite or non-positive values; coverage needs Dirichlet concentrations")
        votes = label_array(votes, schema, "votes")
        truth = None if true_fractions is None else label_array(true_fractions, schema, "true_fractions")
        self.with_truth |= truth is not None
        p_asked = schema.joint_p_asked(truth) if truth is not None else None
        for q in schema.questions:
            s, e = q.start_index, q.end_index
            n_q = votes[:, s : e + 1].sum(axis=1)
            for start in range(0, len(alpha), block):
                sl = slice(start, start + block)
                keep = np.flatnonzero(n_q[sl] >= self.min_votes)
                if len(keep):
                    n = n_q[sl][keep].astype(np.int64)
                    draws = _predictive_draws(alpha[sl, s : e + 1][keep], n, self.rng, self.n_draws)
                    self._count(q.text, draws, votes[sl, s : e + 1][keep] / n[:, None], self.hits, self.counts)
                if truth is not None:
                    asked = np.flatnonzero(p_asked[sl, q.index] >= 0.5)
                    if len(asked):
                        draws = _predictive_draws(alpha[sl, s : e + 1][asked], None, self.rng, self.n_draws)
                        self._count(q.text, draws, truth[sl, s : e + 1][asked], self.truth_hits, self.truth_counts)

    def _count(self, question, draws, reference, hits, counts) -> None:
        u = randomized_pit(draws, reference, self.rng)
        inside = np.abs(u - 0.5)[None] <= np.asarray(self.levels)[:, None, None] / 2  # (L, N, K)
        hits[question] += inside.sum(axis=(1, 2))
        counts[question] += inside[0].size

    def table(self) -> pd.DataFrame:
        names = [f"coverage_{round(100 * x)}" for x in self.levels]
        rows = {}
        for q in list(self.hits) + [OVERALL]:
            row = {}
            for prefix, hits, counts in (("", self.hits, self.counts), ("truth_", self.truth_hits, self.truth_counts)):
                if prefix and not self.with_truth:
                    continue
                h = sum(hits.values()) if q == OVERALL else hits[q]
                c = sum(counts.values()) if q == OVERALL else counts[q]
                row["n_truth" if prefix else "n"] = int(c)
                row.update({prefix + k: (v / c if c else np.nan) for k, v in zip(names, h)})
            rows[q] = row
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "question"
        return table


def dirichlet_multinomial_logpmf(counts, alpha) -> np.ndarray:
    """log Dirichlet-multinomial probability of vote ``counts`` (..., K) given ``alpha`` (..., K)
    (broadcast); the number of votes is ``counts.sum(-1)``."""
    counts = np.asarray(counts, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    n, a0 = counts.sum(axis=-1), alpha.sum(axis=-1)
    return (gammaln(n + 1.0) + gammaln(a0) - gammaln(n + a0)
            + (gammaln(counts + alpha) - gammaln(alpha) - gammaln(counts + 1.0)).sum(axis=-1))


def fit_concentration_scale(concentrations, votes, schema, scales=None) -> tuple[float, pd.Series]:
    """The factor ``t`` for all concentrations (``t < 1`` widens every interval) that maximises the
    likelihood of held-out volunteer votes under the MC-sample mixture of Dirichlet-multinomials.

    Why: MC dropout with few samples and a model trained to its best validation loss is often
    overconfident; one scalar fitted on the validation split (like temperature scaling of a
    classifier) repairs most of it without touching the expected fractions. Returns ``(t, mean
    negative log-likelihood per galaxy for each scale tried)``.
    """
    schema = get_schema(schema)
    alpha = np.asarray(concentrations, dtype=np.float64)
    votes = label_array(votes, schema, "votes")
    scales = np.geomspace(0.02, 4.0, 61) if scales is None else np.asarray(scales, dtype=np.float64)
    nll = np.zeros(len(scales))
    for q in schema.questions:
        s, e = q.start_index, q.end_index
        counts = votes[:, s : e + 1]
        keep = counts.sum(axis=1) > 0
        if not keep.any():
            continue
        a = np.moveaxis(alpha[keep, s : e + 1], 1, -1)  # (N, S, K)
        c = counts[keep][:, None, :]
        for i, t in enumerate(scales):
            log_p = dirichlet_multinomial_logpmf(c, t * a)  # (N, S)
            nll[i] -= (logsumexp(log_p, axis=1) - np.log(a.shape[1])).sum()
    nll /= len(alpha)
    best = float(scales[int(np.argmin(nll))])
    return best, pd.Series(nll, index=pd.Index(scales, name="scale"), name="nll_per_galaxy")


def format_coverage(table: pd.DataFrame) -> str:
    """The 50% / 90% columns as printed by ``zoobot-tf evaluate``."""
    columns = [c for c in table.columns if c.endswith(("coverage_50", "coverage_90")) or c in ("n", "n_truth")]
    lines = ["interval coverage (fraction of reference values inside the predicted central interval; "
             "calibrated = 0.50 / 0.90)"]
    lines.append(table[columns].to_string(float_format=lambda v: f"{v:.3f}"))
    return "\n".join(lines)


def coverage_figure(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Observed vs nominal coverage, one line per question (overall in black); the diagonal is perfect."""
    fig = Figure(figsize=(11.5, 4.2))
    prefixes = [("", "volunteer fractions")] + ([("truth_", "true fractions")] if "n_truth" in table else [])
    axes = fig.subplots(1, len(prefixes), squeeze=False).ravel()
    for ax, (prefix, what) in zip(axes, prefixes):
        cols = [c for c in table.columns if c.startswith(prefix + "coverage_")]
        nominal = np.array([int(c.rsplit("_", 1)[1]) / 100 for c in cols])
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
        for question, row in table.iterrows():
            if not row["n_truth" if prefix else "n"]:
                continue
            overall = question == OVERALL
            ax.plot(nominal, row[cols].to_numpy(dtype=float), marker="o" if overall else None,
                    color="black" if overall else None, linewidth=2.2 if overall else 0.9,
                    alpha=1 if overall else 0.7, label=question)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("nominal coverage of the predicted interval")
        ax.set_ylabel(f"fraction of {what} inside")
        ax.set_title(what, fontsize=9)
    axes[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
