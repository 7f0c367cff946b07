"""The comparison table: a model's vote fractions against volunteers, the truth, and the
"predict the training mean" baseline, per question — plus the CSV and PNGs that go with it.

A model is only worth its compute if it beats the baseline, so the baseline's number always
sits beside the model's; against synthetic truth the volunteers' own error is shown too, because
volunteer fractions are a noisy estimate of the truth and a good model can beat them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from zoobot_tf.evaluation import metrics
from zoobot_tf.evaluation import plots
from zoobot_tf.schemas import get_schema

#: column -> (group, header) of the printed table, in print order
_COLUMNS = {
    "n_volunteers": ("", "n"),
    "rmse_volunteers": ("RMSE vs volunteers", "model"),
    "baseline_rmse_volunteers": ("RMSE vs volunteers", "baseline"),
    "rmse_truth": ("RMSE vs true fractions", "model"),
    "baseline_rmse_truth": ("RMSE vs true fractions", "baseline"),
    "volunteer_rmse_truth": ("RMSE vs true fractions", "volunteers"),
    "accuracy": ("majority-answer accuracy", "model"),
    "baseline_accuracy": ("majority-answer accuracy", "baseline"),
    "n_majority": ("majority-answer accuracy", "n"),
}


def _check_aligned(**tables) -> None:
    """DataFrames are used by position: refuse ones whose galaxy indexes disagree."""
    frames = {k: v for k, v in tables.items() if isinstance(v, pd.DataFrame)}
    names = list(frames)
    for name in names[1:]:
        if not frames[name].index.equals(frames[names[0]].index):
            raise ValueError(f"{name} and {names[0]} are DataFrames with different row indexes; align them first")


def comparison_table(
    predicted_fractions, votes, schema, *, true_fractions=None, train_votes=None, min_votes: int = 1,
    majority_min_votes: int = 5,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The numbers of :func:`evaluate` without files: (table, baseline fractions (A,) or None)."""
    schema = get_schema(schema)
    _check_aligned(predicted_fractions=predicted_fractions, votes=votes, true_fractions=true_fractions)
    pred = metrics.label_array(predicted_fractions, schema, "predicted_fractions")
    votes = metrics.label_array(votes, schema, "votes")
    truth = None if true_fractions is None else metrics.label_array(true_fractions, schema, "true_fractions")
    if len(votes) != len(pred) or (truth is not None and len(truth) != len(pred)):
        raise ValueError(
            f"predicted_fractions has {len(pred)} galaxies, votes {len(votes)}"
            + ("" if truth is None else f", true_fractions {len(truth)}")
        )
    volunteer = schema.vote_fractions(votes)
    baseline_row = None if train_votes is None else metrics.mean_fractions(train_votes, schema)
    baseline = None if baseline_row is None else np.broadcast_to(baseline_row, pred.shape)

    def rmse(prediction, reference, **kw):
        return metrics.vote_fraction_rmse(prediction, reference, schema, **kw)

    vs_vol = rmse(pred, volunteer, votes=votes, min_votes=min_votes)
    table = pd.DataFrame({"n_volunteers": vs_vol["n_galaxies"], "rmse_volunteers": vs_vol["rmse"]})
    if baseline is not None:
        table["baseline_rmse_volunteers"] = rmse(baseline, volunteer, votes=votes, min_votes=min_votes)["rmse"]
    if truth is not None:
        p_asked = metrics.true_asked_weights(truth, schema)
        table["rmse_truth"] = rmse(pred, truth, weights=p_asked)["rmse"]
        if baseline is not None:
            table["baseline_rmse_truth"] = rmse(baseline, truth, weights=p_asked)["rmse"]
        table["volunteer_rmse_truth"] = rmse(volunteer, truth, weights=p_asked, votes=votes, min_votes=min_votes)["rmse"]
    accuracy = metrics.majority_answer_accuracy(pred, votes, schema, min_votes=majority_min_votes)
    table["accuracy"] = accuracy["accuracy"]
    if baseline is not None:
        table["baseline_accuracy"] = metrics.majority_answer_accuracy(
            baseline, votes, schema, min_votes=majority_min_votes
        )["accuracy"]
    table["n_majority"] = accuracy["n_galaxies"]
    table.index.name = "question"
    return table, baseline_row


def evaluate(
    predicted_fractions,
    votes,
    schema,
    *,
    true_fractions=None,
    train_votes=None,
    out_dir=None,
    min_votes: int = 1,
    majority_min_votes: int = 5,
    training_log=None,
    plot_questions=None,
) -> dict:
    """Compare predicted vote fractions with volunteers, the truth and the baseline.

    Parameters
    ----------
    predicted_fractions : array-like or DataFrame, (N, A)
        Expected fractions (e.g. :func:`expected_fractions` of the HDF5 concentrations).
    votes : array-like or DataFrame, (N, A)
        Volunteer vote counts of the same galaxies.
    schema : str or Schema
    true_fractions : array-like (N, A), optional
        Synthetic true fractions: adds RMSE vs truth (weighted by the true probability that each
        question is asked) for the model, the baseline, and the volunteers themselves (the
        latter over the galaxies with at least ``min_votes`` votes, where their fractions exist).
    train_votes : array-like (M, A), optional
        Training-set votes: adds the "predict the training mean" baseline beside every number.
    out_dir : str or Path, optional
        If given, writes ``comparison.csv`` (+ ``.txt``, as printed), ``rmse_by_question.png``,
        ``predicted_vs_volunteers.png``, ``predicted_vs_true.png`` (with truth),
        ``confusion_matrices.png`` and ``training_curves.png`` (with ``training_log``).
    min_votes : int
        RMSE vs volunteers counts a question for a galaxy with at least this many votes.
    majority_min_votes : int
        Accuracy and confusion matrices need at least this many votes (and no tie).
    training_log : str or Path, optional
        Keras CSVLogger file to plot.
    plot_questions : list of str, optional
        Questions of the scatter plots (default: those nearest the root).

    Returns
    -------
    dict
        ``table`` (DataFrame indexed by question, then ``'overall'``; columns ``n_volunteers``,
        ``rmse_volunteers``, [``baseline_rmse_volunteers``], [``rmse_truth``,
        ``baseline_rmse_truth``, ``volunteer_rmse_truth``], ``accuracy``, [``baseline_accuracy``],
        ``n_majority``), ``baseline_fractions`` ((A,) or None), ``confusion_matrices``
        (question -> counts), ``files`` (name -> path written).
    """
    schema = get_schema(schema)
    table, baseline_row = comparison_table(
        predicted_fractions, votes, schema, true_fractions=true_fractions, train_votes=train_votes,
        min_votes=min_votes, majority_min_votes=majority_min_votes,
    )
    pred = metrics.label_array(predicted_fractions, schema, "predicted_fractions")
    vote_array = metrics.label_array(votes, schema, "votes")
    matrices = metrics.confusion_matrices(pred, vote_array, schema, min_votes=majority_min_votes)
    result = {"table": table, "baseline_fractions": baseline_row, "confusion_matrices": matrices, "files": {}}
    if out_dir is None:
        return result

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = result["files"]
    files["comparison"] = str(out / "comparison.csv")
    table.to_csv(files["comparison"])
    files["comparison_text"] = write_text(format_comparison(table), out / "comparison.txt")
    files["rmse_by_question"] = plots.plot_rmse_comparison(table, out / "rmse_by_question.png")
    files["predicted_vs_volunteers"] = plots.plot_predicted_vs_true(
        pred, schema.vote_fractions(vote_array), schema, out / "predicted_vs_volunteers.png",
        questions=plot_questions, mask=metrics.asked_weights(vote_array, schema, max(min_votes, 1)),
        reference_label="volunteer fraction", title="predicted vs volunteer fractions (galaxies with votes)",
    )
    if true_fractions is not None:
        truth = metrics.label_array(true_fractions, schema, "true_fractions")
        files["predicted_vs_true"] = plots.plot_predicted_vs_true(
            pred, truth, schema, out / "predicted_vs_true.png", questions=plot_questions,
            mask=metrics.true_asked_weights(truth, schema) >= 0.5, reference_label="true fraction",
            title="predicted vs true fractions (galaxies whose question is asked with p >= 0.5)",
        )
    if any(m.sum() for m in matrices.values()):
        nonempty = {q: m for q, m in matrices.items() if m.sum()}
        files["confusion_matrices"] = plots.plot_confusion_matrices(nonempty, schema, out / "confusion_matrices.png")
    if training_log is not None:
        files["training_curves"] = plots.plot_training_curves(training_log, out / "training_curves.png")
    return result


def _cell(value, column) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if column.startswith("n_"):
        return str(int(value))
    return f"{float(value):.3f}"


def format_comparison(table, title: str | None = None) -> str:
    """The comparison table as aligned text, with a verdict line on the baseline.

    Parameters
    ----------
    table : DataFrame or dict
        ``evaluate(...)['table']`` (or the dict :func:`evaluate` returns).
    title : str, optional
        First line.
    """
    if isinstance(table, dict):
        table = table["table"]
    columns = [c for c in _COLUMNS if c in table.columns]
    names = [str(i) for i in table.index]
    name_width = max(len("question"), *(len(n) for n in names))
    widths = {c: max(len(_COLUMNS[c][1]), 6, *(len(_cell(v, c)) for v in table[c])) for c in columns}

    # group headers spanning their columns
    groups, line1 = [], " " * name_width
    for c in columns:
        group = _COLUMNS[c][0]
        if groups and groups[-1][0] == group:
            groups[-1][1].append(c)
        else:
            groups.append((group, [c]))
    for group, cols in groups:
        short = len(group) - (sum(widths[c] for c in cols) + 2 * (len(cols) - 1))
        if short > 0:  # widen the group's first column so its header fits
            widths[cols[0]] += short
        span = sum(widths[c] for c in cols) + 2 * len(cols)
        line1 += "  " + group.center(span - 2) if group else " " * span
    line2 = "question".ljust(name_width) + "".join("  " + _COLUMNS[c][1].rjust(widths[c]) for c in columns)
    lines = ([title] if title else []) + [line1.rstrip(), line2, "-" * len(line2)]
    for name, (_, row) in zip(names, table.iterrows()):
        if name == metrics.OVERALL:
            lines.append("-" * len(line2))
        lines.append(name.ljust(name_width) + "".join("  " + _cell(row[c], c).rjust(widths[c]) for c in columns))
    notes = ["n: galaxies whose question got volunteer votes"]
    if "rmse_truth" in table.columns:
        notes.append("vs true fractions: every galaxy, weighted by the true probability that the question is asked")
    lines.append("; ".join(notes))
    lines += _verdicts(table)
    return "\n".join(lines)


def _verdicts(table) -> list[str]:
    """One line per reference: on how many questions the model beats the baseline, and overall."""
    lines = []
    questions = [i for i in table.index if i != metrics.OVERALL]
    for reference, model_col, base_col in (
        ("volunteers", "rmse_volunteers", "baseline_rmse_volunteers"),
        ("true fractions", "rmse_truth", "baseline_rmse_truth"),
    ):
        if base_col not in table.columns:
            continue
        both = table.loc[questions, [model_col, base_col]].dropna()
        wins = int((both[model_col] < both[base_col]).sum())
        line = f"vs {reference}: model beats the baseline on {wins}/{len(both)} questions"
        if metrics.OVERALL in table.index:
            m, b = table.loc[metrics.OVERALL, model_col], table.loc[metrics.OVERALL, base_col]
            if np.isfinite(m) and np.isfinite(b) and b > 0:
                line += f"; overall RMSE {m:.3f} vs {b:.3f} ({abs(100 * (1 - m / b)):.0f}% {'lower' if m <= b else 'higher'})"
        lines.append(line)
    if lines:
        lines.insert(0, "")
    return lines


def write_text(text: str, path) -> str:
    """Write a printed table next to the CSV, so the run's report survives the terminal."""
    path = os.fspath(path)
    with open(path, "w") as f:
        f.write(text + "\n")
    return path
