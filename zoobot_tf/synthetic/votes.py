"""Volunteer votes drawn down a decision tree from a Dirichlet-multinomial.

This is the generative model Zoobot's loss assumes (Walmsley et al. 2022): each galaxy has
answer probabilities p ~ Dirichlet(concentration * true_fraction) — volunteers disagree more
than a plain multinomial would say — and the volunteers who reach a question split over its
answers as Multinomial(n, p). Only volunteers who gave a question's parent answer see it, so
vote counts of a child question add up to the votes of that parent answer.
"""

from __future__ import annotations

import numpy as np

from zoobot_tf.schemas import get_schema


def volunteer_totals(n_galaxies: int, n_volunteers, rng: np.random.Generator) -> np.ndarray:
    """Volunteers who classify each galaxy: an int gives uniform draws in [0.75, 1.25] x n (30-50 for 40)."""
    if np.ndim(n_volunteers) == 0:
        n = int(n_volunteers)
        if n < 1:
            raise ValueError(f"n_volunteers must be >= 1, got {n_volunteers}")
        lo, hi = max(1, int(round(0.75 * n))), max(1, int(round(1.25 * n)))
        return rng.integers(lo, hi + 1, size=n_galaxies)
    totals = np.asarray(n_volunteers)
    if totals.shape != (n_galaxies,) or not np.issubdtype(totals.dtype, np.integer) or (totals < 0).any():
        raise ValueError(
            f"n_volunteers must be an int or {n_galaxies} non-negative ints; got shape {totals.shape}, dtype {totals.dtype}"
        )
    return totals.astype(np.int64)


def draw_votes(
    true_fractions, schema, rng: np.random.Generator, n_volunteers=40, concentration: float = 25.0
) -> np.ndarray:
    """Draw vote counts for every answer of ``schema``.

    Parameters
    ----------
    true_fractions : array-like, (N, A)
        Within-question expected fractions (e.g. from :func:`true_fractions`).
    schema : str or Schema
        The decision tree; questions with dependency None get the root total.
    rng : numpy.random.Generator
    n_volunteers : int or array of N ints
        Volunteers per galaxy; an int n draws totals uniformly in [0.75 n, 1.25 n].
    concentration : float
        Dirichlet concentration: larger means volunteers agree more with the true fractions
        (the vote-fraction variance is that of a multinomial times (n + c) / (1 + c)).

    Returns
    -------
    numpy.ndarray
        (N, A) int64 vote counts, consistent with the tree.
    """
    schema = get_schema(schema)
    fractions = np.asarray(true_fractions, dtype=np.float64)
    if fractions.ndim != 2 or fractions.shape[1] != schema.n_answers:
        raise ValueError(f"true_fractions must be (N, {schema.n_answers}) for schema {schema.name!r}, got {fractions.shape}")
    if not np.isfinite(fractions).all() or (fractions < 0).any():
        row = int(np.argmax(~np.isfinite(fractions).all(axis=1) | (fractions < 0).any(axis=1)))
        raise ValueError(f"true_fractions row {row}: values must be finite and >= 0")
    for question in schema.questions:
        sums = fractions[:, question.start_index : question.end_index + 1].sum(axis=1)
        off = np.abs(sums - 1.0) > 1e-6
        if off.any():
            row = int(np.argmax(off))
            raise ValueError(f"true_fractions row {row}: answers of {question.text!r} sum to {sums[row]:.4f}, not 1")
    if not concentration > 0:
        raise ValueError(f"concentration must be > 0, got {concentration}")

    n = len(fractions)
    root_total = volunteer_totals(n, n_volunteers, rng)
    votes = np.zeros((n, schema.n_answers), dtype=np.int64)
    # a tiny positive floor keeps the Dirichlet well defined if a caller passes exact zeros
    alpha_all = concentration * np.clip(fractions, 1e-6, None)
    for question in schema.topological_questions():
        s, e = question.start_index, question.end_index + 1
        parent = question.asked_after
        totals = root_total if parent is None else votes[:, parent.index]
        for i in range(n):
            if totals[i] == 0:
                continue
            p = rng.dirichlet(alpha_all[i, s:e])
            votes[i, s:e] = rng.multinomial(int(totals[i]), p)
    return votes
