"""Numbers that say how good vote-distribution predictions are, from plain arrays.

Everything here takes (N, A) arrays in schema label order (or DataFrames with the schema's
label columns) so it works the same on an HDF5 file of Dirichlet concentrations, a summary
table, or an in-memory model output. A vote fraction is only meaningful where the question was
asked, so every metric says which galaxies count for which question:

* against **volunteer votes**: galaxies where the question got at least ``min_votes`` votes;
* against **true fractions** (synthetic data): every galaxy, weighted by the *true* probability
  that the question is asked (:meth:`Schema.joint_p_asked` of the true fractions). A galaxy
  that is 90 % smooth then counts 0.1 for "has spiral arms"; nothing is thresholded away and
  the weight is what a volunteer reaching that question would see on average.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from zoobot_tf.schemas import get_schema

OVERALL = "overall"


# --- input checking ------------------------------------------------------------------------


def label_array(values, schema, name: str, *, allow_negative=False) -> np.ndarray:
    """(N, A) float64 array in schema order from an array or a DataFrame with the label columns.

    Raises ValueError naming ``name`` and the first offending row for a wrong shape, missing
    columns, non-finite or (unless ``allow_negative``) negative values.
    """
    schema = get_schema(schema)
    if isinstance(values, pd.DataFrame):
        missing = [c for c in schema.label_cols if c not in values.columns]
        if missing:
            raise ValueError(f"{name}: lacks {len(missing)} label column(s) of schema {schema.name!r}: {missing[:6]}")
        row_names = list(values.index)
        array = values[schema.label_cols].to_numpy(dtype=np.float64)
    else:
        array = np.asarray(values, dtype=np.float64)
        row_names = None
    if array.ndim != 2 or array.shape[1] != schema.n_answers:
        raise ValueError(f"{name}: expected shape (N, {schema.n_answers}) for schema {schema.name!r}, got {array.shape}")
    bad = ~np.isfinite(array).all(axis=1)
    if not allow_negative:
        bad |= (array < 0).any(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        label = row_names[row] if row_names is not None else row
        cols = [c for c, v in zip(schema.label_cols, array[row]) if not np.isfinite(v) or (v < 0 and not allow_negative)]
        raise ValueError(f"{name}: row {label!r} has NaN/inf{'' if allow_negative else ' or negative'} values in {cols[:6]}")
    return array


def _same_rows(arrays: dict) -> int:
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays disagree on the number of galaxies: {lengths}")
    return next(iter(lengths.values()))


def _question_weights(weights, n: int, n_questions: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 1:
        weights = np.repeat(weights[:, None], n_questions, axis=1)
    if weights.shape != (n, n_questions):
        raise ValueError(f"weights: expected shape ({n},) or ({n}, {n_questions}), got {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"weights: row {int(np.argmax(~np.isfinite(weights).all(1) | (weights < 0).any(1)))} "
                         "is NaN/inf or negative")
    return weights


# --- fractions from a model ----------------------------------------------------------------


def expected_fractions(concentrations, schema) -> np.ndarray:
    """Expected vote fractions from Dirichlet concentrations.

    Parameters
    ----------
    concentrations : array-like, (N, A, S) or (N, A)
        Dirichlet concentrations per galaxy, answer and MC-dropout sample (HDF5 ``predictions``).
    schema : str or Schema

    Returns
    -------
    numpy.ndarray
        (N, A): for each question, ``alpha / sum(alpha over its answers)`` (the Dirichlet mean)
        averaged over the S samples, i.e. the mean of the posterior predictive over MC dropout.
    """
    schema = get_schema(schema)
    alpha = np.asarray(concentrations, dtype=np.float64)
    if alpha.ndim == 2:
        alpha = alpha[:, :, None]
    if alpha.ndim != 3 or alpha.shape[1] != schema.n_answers or alpha.shape[2] < 1:
        raise ValueError(
            f"concentrations: expected shape (N, {schema.n_answers}, n_samples) for schema {schema.name!r}, got {alpha.shape}"
        )
    bad = ~(np.isfinite(alpha) & (alpha > 0)).reshape(len(alpha), -1).all(axis=1)
    if bad.any():
        raise ValueError(f"concentrations: galaxy row {int(np.argmax(bad))} has non-finite or non-positive values")
    out = np.empty(alpha.shape[:2])
    for s, e in schema.question_index_groups:
        block = alpha[:, s : e + 1, :]
        out[:, s : e + 1] = (block / block.sum(axis=1, keepdims=True)).mean(axis=2)
    return out


def asked_weights(votes, schema, min_votes: int = 1) -> np.ndarray:
    """(N, Q) 1.0 where a question got at least ``min_votes`` volunteer votes, else 0.0."""
    schema = get_schema(schema)
    votes = label_array(votes, schema, "votes")
    return (schema.votes_per_question(votes) >= max(min_votes, 1)).astype(np.float64)


def true_asked_weights(true_fractions, schema) -> np.ndarray:
    """(N, Q) true probability that each question is asked (weights for errors vs truth)."""
    schema = get_schema(schema)
    return schema.joint_p_asked(label_array(true_fractions, schema, "true_fractions"))


# --- RMSE ----------------------------------------------------------------------------------


def vote_fraction_rmse(
    predicted_fractions, reference_fractions, schema, *, votes=None, min_votes: int = 1, weights=None
) -> pd.DataFrame:
    """Root-mean-square error of vote fractions, per question and overall.

    Parameters
    ----------
    predicted_fractions, reference_fractions : array-like, (N, A)
        Within-question fractions. The reference is volunteer fractions
        (``schema.vote_fractions(votes)``) or synthetic true fractions.
    schema : str or Schema
    votes : array-like (N, A), optional
        Volunteer vote counts: only galaxies with at least ``min_votes`` votes on a question count
        for it (use this with volunteer references, where an unasked question has no fraction).
    min_votes : int
        See ``votes``.
    weights : array-like (N,) or (N, Q), optional
        Non-negative weight of each galaxy (per question). For true fractions pass
        :func:`true_asked_weights`. Multiplied with the ``votes`` mask when both are given.
        Without either, every galaxy counts equally.

    Returns
    -------
    pandas.DataFrame
        Index: question texts, then ``'overall'``. Columns ``rmse`` (over every weighted
        galaxy-answer pair of the question; NaN if no galaxy counts) and ``n_galaxies`` (galaxies
        with non-zero weight). ``overall`` pools every question's galaxy-answer pairs.
    """
    schema = get_schema(schema)
    pred = label_array(predicted_fractions, schema, "predicted_fractions")
    ref = label_array(reference_fractions, schema, "reference_fractions")
    vote_array = label_array(votes, schema, "votes") if votes is not None else None
    n = _same_rows({"predicted_fractions": pred, "reference_fractions": ref, "votes": vote_array})
    w = np.ones((n, schema.n_questions)) if weights is None else _question_weights(weights, n, schema.n_questions)
    if vote_array is not None:
        w = w * asked_weights(vote_array, schema, min_votes)

    sq = (pred - ref) ** 2
    rows, total_sq, total_w = {}, 0.0, 0.0
    for question, (s, e) in zip(schema.questions, schema.question_index_groups):
        k = e - s + 1
        wq = w[:, question.index]
        sum_sq = float((wq * sq[:, s : e + 1].sum(axis=1)).sum())
        sum_w = float(wq.sum()) * k
        total_sq, total_w = total_sq + sum_sq, total_w + sum_w
        rmse = np.sqrt(sum_sq / sum_w) if sum_w > 0 else np.nan
        rows[question.text] = (rmse, int((wq > 0).sum()))
    rows[OVERALL] = (np.sqrt(total_sq / total_w) if total_w > 0 else np.nan, int((w > 0).any(axis=1).sum()))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["rmse", "n_galaxies"])


# --- the trivial baseline ------------------------------------------------------------------


def mean_fractions(train_votes, schema) -> np.ndarray:
    """(A,) mean vote fraction of each answer over the training galaxies asked its question.

    A question nobody answered in training gets uniform fractions (with a warning).
    """
    schema = get_schema(schema)
    votes = label_array(train_votes, schema, "train_votes")
    if len(votes) == 0:
        raise ValueError("train_votes: no training galaxies")
    fractions = schema.vote_fractions(votes)
    asked = schema.votes_per_question(votes) > 0
    out = np.empty(schema.n_answers)
    for question, (s, e) in zip(schema.questions, schema.question_index_groups):
        rows = asked[:, question.index]
        if rows.any():
            out[s : e + 1] = fractions[rows, s : e + 1].mean(axis=0)
        else:
            warnings.warn(f"baseline: no training galaxy has votes for {question.text!r}; using uniform fractions")
            out[s : e + 1] = 1.0 / (e - s + 1)
    return out


def baseline_fractions(train_votes, schema, n_galaxies: int) -> np.ndarray:
    """The "predict the training mean" baseline: :func:`mean_fractions` repeated for N galaxies.

    Parameters
    ----------
    train_votes : array-like or DataFrame, (M, A)
        Vote counts of the training galaxies.
    schema : str or Schema
    n_galaxies : int
        Number of galaxies to predict for.

    Returns
    -------
    numpy.ndarray
        (n_galaxies, A), every row the same.
    """
    return np.broadcast_to(mean_fractions(train_votes, schema), (int(n_galaxies), get_schema(schema).n_answers)).copy()


# --- majority answers ----------------------------------------------------------------------


def majority_answers(votes, schema, min_votes: int = 5) -> np.ndarray:
    """(N, Q) within-question index of the volunteers' most voted answer.

    -1 where the question got fewer than ``min_votes`` votes, -2 where the top answers tie
    (no majority to compare with: those galaxies are counted separately, never guessed).
    """
    schema = get_schema(schema)
    votes = label_array(votes, schema, "votes")
    totals = schema.votes_per_question(votes)
    out = np.full((len(votes), schema.n_questions), -1, dtype=np.int64)
    for question, (s, e) in zip(schema.questions, schema.question_index_groups):
        block = votes[:, s : e + 1]
        top = block.max(axis=1)
        tied = (block == top[:, None]).sum(axis=1) > 1
        enough = totals[:, question.index] >= max(min_votes, 1)
        col = np.where(tied, -2, block.argmax(axis=1))
        out[:, question.index] = np.where(enough, col, -1)
    return out


def predicted_answers(predicted_fractions, schema) -> np.ndarray:
    """(N, Q) within-question index of the answer with the highest predicted fraction."""
    schema = get_schema(schema)
    pred = label_array(predicted_fractions, schema, "predicted_fractions")
    return np.stack([pred[:, s : e + 1].argmax(axis=1) for s, e in schema.question_index_groups], axis=1)


def majority_answer_accuracy(predicted_fractions, votes, schema, *, min_votes: int = 5) -> pd.DataFrame:
    """Accuracy of the predicted top answer against the volunteers' majority answer.

    Parameters
    ----------
    predicted_fractions : array-like, (N, A)
    votes : array-like, (N, A)
        Volunteer vote counts.
    schema : str or Schema
    min_votes : int
        A question counts for a galaxy only with at least this many votes.

    Returns
    -------
    pandas.DataFrame
        Index: questions, then ``'overall'`` (pooled over question-galaxy pairs). Columns
        ``accuracy`` (NaN with no galaxy), ``n_galaxies`` (compared), ``n_tied`` (enough votes
        but a tie for the top answer, so not compared).
    """
    schema = get_schema(schema)
    pred = predicted_answers(predicted_fractions, schema)
    truth = majority_answers(votes, schema, min_votes)
    _same_rows({"predicted_fractions": pred, "votes": truth})
    rows, hits, counted, ties = {}, 0, 0, 0
    for question in schema.questions:
        t, p = truth[:, question.index], pred[:, question.index]
        valid = t >= 0
        n_ok, n_valid, n_tied = int((t[valid] == p[valid]).sum()), int(valid.sum()), int((t == -2).sum())
        rows[question.text] = (n_ok / n_valid if n_valid else np.nan, n_valid, n_tied)
        hits, counted, ties = hits + n_ok, counted + n_valid, ties + n_tied
    rows[OVERALL] = (hits / counted if counted else np.nan, counted, ties)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["accuracy", "n_galaxies", "n_tied"])


# --- confusion matrices --------------------------------------------------------------------


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; rows are the true class, columns the predicted one.

    Raises ValueError if the label arrays differ in length or hold a label outside 0..n_classes-1.
    """
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
            bad = int(np.argmax((y < 0) | (y >= n_classes))) if np.issubdtype(y.dtype, np.integer) else 0
            raise ValueError(f"{name}[{bad}] = {y[bad].item()!r}: labels must be integers in 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def confusion_matrices(predicted_fractions, votes, schema, *, min_votes: int = 5) -> dict[str, np.ndarray]:
    """Per question, the confusion matrix of predicted top answer vs volunteers' majority answer.

    Galaxies count as in :func:`majority_answer_accuracy` (enough votes, no tie). Returns
    question text -> (K, K) int64 counts, rows = volunteers' answer, columns = predicted answer,
    in the schema's answer order.
    """
    schema = get_schema(schema)
    pred = predicted_answers(predicted_fractions, schema)
    truth = majority_answers(votes, schema, min_votes)
    _same_rows({"predicted_fractions": pred, "votes": truth})
    out = {}
    for question in schema.questions:
        t, p = truth[:, question.index], pred[:, question.index]
        valid = t >= 0
        out[question.text] = confusion_matrix(t[valid], p[valid], len(question.answers))
    return out
