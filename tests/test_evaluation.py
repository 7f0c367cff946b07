"""Tests of zoobot_tf.evaluation: metrics on hand-made cases, plots, evaluate(), the CLI verb."""

import argparse

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from zoobot_tf.commands.evaluate import add_arguments, run
from zoobot_tf.evaluation import (
    baseline_fractions,
    confusion_matrices,
    confusion_matrix,
    evaluate,
    evaluate_files,
    expected_fractions,
    format_comparison,
    majority_answer_accuracy,
    mean_fractions,
    plot_confusion_matrix,
    plot_predicted_vs_true,
    plot_training_curves,
    read_predictions,
    read_training_log,
    true_asked_weights,
    vote_fraction_rmse,
)
from zoobot_tf.schemas import Schema, get_schema
from zoobot_tf.synthetic.votes import draw_votes

# q2 is asked only after answer q1_a
TINY = Schema("tiny", {"q1": ["_a", "_b"], "q2": ["_x", "_y", "_z"]}, {"q1": None, "q2": "q1_a"})


def assert_png(path, min_size=(100, 100)):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        # not a blank canvas
        assert len(set(np.asarray(image.convert("L")).ravel().tolist())) > 10


# --- expected fractions --------------------------------------------------------------------


def test_expected_fractions_mean_of_dirichlet_means_over_samples():
    conc = np.zeros((1, 5, 2))
    conc[0, :, 0] = [1, 3, 1, 1, 2]
    conc[0, :, 1] = [3, 1, 2, 1, 1]
    np.testing.assert_allclose(expected_fractions(conc, TINY), [[0.5, 0.5, 0.375, 0.25, 0.375]])
    # (N, A) is one sample
    np.testing.assert_allclose(expected_fractions(conc[:, :, 0], TINY), [[0.25, 0.75, 0.25, 0.25, 0.5]])


def test_expected_fractions_rejects_bad_input():
    with pytest.raises(ValueError, match="expected shape"):
        expected_fractions(np.ones((2, 4, 3)), TINY)
    bad = np.ones((3, 5, 2))
    bad[2, 1, 0] = 0.0
    with pytest.raises(ValueError, match="row 2"):
        expected_fractions(bad, TINY)


# --- RMSE ----------------------------------------------------------------------------------

PRED = np.array([[0.5, 0.5, 0.2, 0.3, 0.5], [1.0, 0.0, 1.0, 0.0, 0.0]])
REF = np.array([[0.7, 0.3, 0.2, 0.3, 0.5], [1.0, 0.0, 0.0, 0.0, 1.0]])
VOTES = np.array([[7, 3, 2, 3, 2], [10, 0, 0, 0, 0]])  # galaxy 1 was never asked q2


def test_rmse_exact_and_unasked_questions_excluded():
    table = vote_fraction_rmse(PRED, REF, TINY, votes=VOTES)
    assert list(table.index) == ["q1", "q2", "overall"]
    assert table.loc["q1", "rmse"] == pytest.approx(np.sqrt(0.08 / 4))
    # galaxy 1's wildly wrong q2 does not count: q2 was not asked of it
    assert table.loc["q2", "rmse"] == pytest.approx(0.0)
    assert table.loc["q2", "n_galaxies"] == 1
    assert table.loc["overall", "rmse"] == pytest.approx(np.sqrt(0.08 / 7))
    # without votes every galaxy counts
    unmasked = vote_fraction_rmse(PRED, REF, TINY)
    assert unmasked.loc["q2", "rmse"] == pytest.approx(np.sqrt(2 / 6))


def test_rmse_weights_and_empty_question():
    weights = np.array([[1.0, 0.5], [1.0, 0.25]])
    table = vote_fraction_rmse(PRED, REF, TINY, weights=weights)
    assert table.loc["q2", "rmse"] == pytest.approx(np.sqrt(0.25 * 2 / (3 * 0.75)))
    nobody = vote_fraction_rmse(PRED, REF, TINY, votes=np.array([[7, 3, 0, 0, 0], [10, 0, 0, 0, 0]]))
    assert np.isnan(nobody.loc["q2", "rmse"]) and nobody.loc["q2", "n_galaxies"] == 0


def test_rmse_rejects_bad_input():
    with pytest.raises(ValueError, match="number of galaxies"):
        vote_fraction_rmse(PRED, REF[:1], TINY)
    votes = VOTES.astype(float)
    votes[1, 3] = np.nan
    with pytest.raises(ValueError, match="votes: row 1 .*q2_y"):
        vote_fraction_rmse(PRED, REF, TINY, votes=votes)
    with pytest.raises(ValueError, match="lacks 1 label column"):
        vote_fraction_rmse(PRED, pd.DataFrame(REF[:, :4], columns=TINY.label_cols[:4]), TINY)


def test_true_asked_weights_are_joint_probabilities():
    truth = np.array([[0.8, 0.2, 0.3, 0.3, 0.4]])
    np.testing.assert_allclose(true_asked_weights(truth, TINY), [[1.0, 0.8]])


# --- baseline ------------------------------------------------------------------------------


def test_baseline_is_mean_fraction_over_galaxies_asked():
    train = np.array([[3, 1, 1, 2, 1], [0, 4, 0, 0, 0], [2, 2, 0, 0, 2]])
    expected = [(0.75 + 0 + 0.5) / 3, (0.25 + 1 + 0.5) / 3, 0.125, 0.25, 0.625]
    np.testing.assert_allclose(mean_fractions(train, TINY), expected)
    base = baseline_fractions(train, TINY, 4)
    assert base.shape == (4, 5)
    np.testing.assert_allclose(base, np.tile(expected, (4, 1)))
    # a DataFrame in any column order is read by label
    frame = pd.DataFrame(train, columns=TINY.label_cols)[TINY.label_cols[::-1]]
    np.testing.assert_allclose(mean_fractions(frame, TINY), expected)


def test_baseline_uniform_for_question_never_asked():
    with pytest.warns(UserWarning, match="q2"):
        out = mean_fractions(np.array([[0, 4, 0, 0, 0]]), TINY)
    np.testing.assert_allclose(out, [0, 1, 1 / 3, 1 / 3, 1 / 3])


# --- majority answers, confusion matrices --------------------------------------------------

ACC_VOTES = np.array(
    [
        [7, 3, 1, 5, 1],  # q1 -> a, q2 -> y
        [2, 8, 0, 0, 0],  # q1 -> b, q2 not asked
        [5, 5, 0, 0, 5],  # q1 tie (not compared), q2 -> z
        [1, 2, 1, 0, 0],  # too few votes everywhere (min_votes=5)
    ]
)
ACC_PRED = np.array(
    [
        [0.6, 0.4, 0.1, 0.2, 0.7],  # q1 right, q2 wrong
        [0.7, 0.3, 0.3, 0.3, 0.4],  # q1 wrong
        [0.5, 0.5, 0.1, 0.1, 0.8],  # q2 right
        [0.0, 1.0, 0.0, 1.0, 0.0],
    ]
)


def test_majority_answer_accuracy_exact():
    table = majority_answer_accuracy(ACC_PRED, ACC_VOTES, TINY, min_votes=5)
    assert table.loc["q1", "accuracy"] == pytest.approx(0.5)
    assert table.loc["q1", "n_galaxies"] == 2 and table.loc["q1", "n_tied"] == 1
    assert table.loc["q2", "accuracy"] == pytest.approx(0.5)
    assert table.loc["q2", "n_galaxies"] == 2
    assert table.loc["overall", "accuracy"] == pytest.approx(0.5)
    # with min_votes=1 galaxy 3 counts too (q1 -> b predicted b: right; q2 -> x predicted y: wrong)
    loose = majority_answer_accuracy(ACC_PRED, ACC_VOTES, TINY, min_votes=1)
    assert loose.loc["q1", "accuracy"] == pytest.approx(2 / 3)
    assert loose.loc["q2", "accuracy"] == pytest.approx(1 / 3)


def test_confusion_matrix_counts_and_checks():
    cm = confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 0, 2]])
    with pytest.raises(ValueError, match=r"y_pred\[1\] = 3"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="labels must be integers"):
        confusion_matrix([0.0, 1.0], [0, 1], 3)
    with pytest.raises(ValueError, match="2 labels but y_pred has 3"):
        confusion_matrix([0, 1], [0, 1, 1], 3)


def test_confusion_matrices_per_question():
    matrices = confusion_matrices(ACC_PRED, ACC_VOTES, TINY, min_votes=5)
    np.testing.assert_array_equal(matrices["q1"], [[1, 0], [1, 0]])
    np.testing.assert_array_equal(matrices["q2"], [[0, 0, 0], [0, 0, 1], [0, 0, 1]])


# --- plots ---------------------------------------------------------------------------------


def test_plot_confusion_matrix_and_scatter(tmp_path):
    assert_png(plot_confusion_matrix(np.array([[5, 1], [2, 7]]), ["smooth", "featured"], tmp_path / "cm.png"))
    with pytest.raises(ValueError, match="3 class names"):
        plot_confusion_matrix(np.eye(2), ["a", "b", "c"], tmp_path / "bad.png")
    rng = np.random.default_rng(0)
    truth = np.concatenate([rng.dirichlet([1, 1], 40), rng.dirichlet([1, 1, 1], 40)], axis=1)
    path = plot_predicted_vs_true(truth + 0.01, truth, TINY, tmp_path / "sub" / "scatter.png", questions=["q2"])
    assert_png(path)


def test_training_curves_from_csvlogger(tmp_path):
    log = tmp_path / "training.csv"
    # epochs 1-2 logged twice: a run killed after epoch 2 and resumed
    pd.DataFrame(
        {"epoch": [0, 1, 2, 1, 2, 3], "learning_rate": 1e-3, "loss": [5, 4, 3, 4.1, 3.1, 2.5],
         "val_loss": [5.5, 4.5, 3.9, 4.4, 3.8, 3.7]}
    ).to_csv(log, index=False)
    table = read_training_log(log)
    assert list(table.index) == [0, 1, 2, 3]
    assert table.loc[2, "loss"] == pytest.approx(3.1)
    assert_png(plot_training_curves(log, tmp_path / "curves.png"))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"epoch": [0], "accuracy": [0.5]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad.csv: lacks column\(s\) \['loss'\]"):
        plot_training_curves(bad, tmp_path / "x.png")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        plot_training_curves(tmp_path / "missing.csv", tmp_path / "x.png")


# --- evaluate ------------------------------------------------------------------------------

DR5 = get_schema("decals_dr5")


def random_fractions(n, rng, schema=DR5):
    out = np.zeros((n, schema.n_answers))
    for s, e in schema.question_index_groups:
        out[:, s : e + 1] = rng.dirichlet(np.full(e - s + 1, 0.7), size=n)
    return out


@pytest.fixture(scope="module")
def fake_set():
    rng = np.random.default_rng(42)
    truth = random_fractions(150, rng)
    votes = draw_votes(truth, DR5, rng, n_volunteers=40)
    train_votes = draw_votes(random_fractions(200, rng), DR5, rng, n_volunteers=40)
    return truth, votes, train_votes


def test_evaluate_perfect_predictor_beats_baseline(fake_set, tmp_path):
    truth, votes, train_votes = fake_set
    result = evaluate(truth, votes, DR5, true_fractions=truth, train_votes=train_votes, out_dir=tmp_path,
                      majority_min_votes=5)
    table = result["table"]
    assert list(table.index) == [q.text for q in DR5.questions] + ["overall"]
    assert np.allclose(table["rmse_truth"], 0.0, atol=1e-12)
    assert (table["baseline_rmse_truth"] > 0.1).all()
    # against noisy volunteers even the perfect model has error, but less than the baseline's
    assert (table["rmse_volunteers"] > 0.02).all()
    assert (table["rmse_volunteers"] < table["baseline_rmse_volunteers"]).all()
    # a perfect model's error vs volunteers is the volunteers' error vs the truth (same galaxies)
    volunteers = DR5.vote_fractions(votes)
    np.testing.assert_allclose(table["rmse_volunteers"], vote_fraction_rmse(volunteers, truth, DR5, votes=votes)["rmse"])
    assert (table["volunteer_rmse_truth"] > 0.02).all()
    assert table.loc["overall", "accuracy"] > table.loc["overall", "baseline_accuracy"]
    assert table.loc["smooth-or-featured", "n_volunteers"] == 150
    np.testing.assert_allclose(result["baseline_fractions"], mean_fractions(train_votes, DR5))

    for name in ("rmse_by_question", "predicted_vs_volunteers", "predicted_vs_true", "confusion_matrices"):
        assert_png(result["files"][name])
    written = pd.read_csv(result["files"]["comparison"], index_col="question")
    np.testing.assert_allclose(written["baseline_rmse_truth"], table["baseline_rmse_truth"])

    text = format_comparison(result)
    assert "vs true fractions: model beats the baseline on 10/10 questions" in text
    assert "smooth-or-featured" in text and "overall" in text


def test_evaluate_without_truth_or_baseline(fake_set):
    truth, votes, _ = fake_set
    table = evaluate(truth, votes, DR5)["table"]
    assert "rmse_truth" not in table.columns and "baseline_rmse_volunteers" not in table.columns
    assert "beats the baseline" not in format_comparison(table)
    with pytest.raises(ValueError, match="predicted_fractions has 150 galaxies, votes 10"):
        evaluate(truth, votes[:10], DR5)


# --- files and the CLI verb ----------------------------------------------------------------


def write_predictions(path, ids, concentrations, label_cols, schema_attr="decals_dr5"):
    with h5py.File(path, "w") as f:
        f.create_dataset("id_str", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("label_cols", data=np.array(label_cols, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("predictions", data=concentrations.astype(np.float32))
        if schema_attr:
            f.attrs["schema"] = schema_attr


@pytest.fixture
def files(fake_set, tmp_path):
    """A catalog of 150 galaxies (ids with leading zeros) and predictions for the last 50."""
    truth, votes, _ = fake_set
    ids = [f"{i:06d}" for i in range(len(truth))]
    catalog = pd.concat(
        [pd.DataFrame({"id_str": ids, "file_loc": [f"/x/{i}.png" for i in ids]}),
         pd.DataFrame(votes, columns=DR5.label_cols),
         pd.DataFrame(truth, columns=[f"{c}_true_fraction" for c in DR5.label_cols])],
        axis=1,
    )
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    # a perfect model: every MC sample has Dirichlet mean = truth; columns stored in reverse order
    test = slice(100, 150)
    conc = np.repeat((30 * truth[test])[:, ::-1, None], 3, axis=2)
    write_predictions(tmp_path / "preds.hdf5", ids[test], conc, DR5.label_cols[::-1])
    return tmp_path, ids, truth


def test_cli_evaluate_matches_ids_and_writes_report(files, capsys):
    tmp_path, ids, truth = files
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--predictions", str(tmp_path / "preds.hdf5"), "--catalog", str(tmp_path / "catalog.csv"),
         "--out", str(tmp_path / "report")]
    )
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert "50 galaxies, schema decals_dr5" in printed
    assert "the 100 catalog galaxies without predictions" in printed
    assert "vs true fractions: model beats the baseline on 10/10 questions" in printed
    table = pd.read_csv(tmp_path / "report" / "comparison.csv", index_col="question")
    assert table["rmse_truth"].abs().max() < 1e-6  # float32 concentrations
    assert (tmp_path / "report" / "comparison.txt").read_text().startswith("50 galaxies")
    assert_png(tmp_path / "report" / "confusion_matrices.png")

    fractions, schema = read_predictions(tmp_path / "preds.hdf5")
    assert schema.name == "decals_dr5" and list(fractions.index[:2]) == ["000100", "000101"]
    np.testing.assert_allclose(fractions.to_numpy(), truth[100:], atol=1e-6)


def test_evaluate_files_with_train_catalog_and_summary(files):
    tmp_path, ids, truth = files
    catalog = pd.read_csv(tmp_path / "catalog.csv", dtype={"id_str": str})
    catalog.iloc[:100].to_csv(tmp_path / "train.csv", index=False)
    summary = pd.DataFrame(truth[100:], columns=[f"{c}_fraction" for c in DR5.label_cols])
    summary.insert(0, "id_str", ids[100:])
    summary.to_csv(tmp_path / "summary.csv", index=False)
    result = evaluate_files(tmp_path / "summary.csv", tmp_path / "catalog.csv", train_catalog=tmp_path / "train.csv")
    assert result["schema"].name == "decals_dr5"  # inferred from the columns
    assert "training catalog" in result["baseline_source"]
    np.testing.assert_allclose(result["baseline_fractions"], mean_fractions(catalog.iloc[:100][DR5.label_cols], DR5))
    assert result["table"].loc["overall", "rmse_truth"] == pytest.approx(0.0, abs=1e-12)


def test_evaluate_files_bad_input(files):
    tmp_path, ids, truth = files
    conc = np.repeat(30 * truth[:3, :, None], 2, axis=2)
    write_predictions(tmp_path / "stranger.hdf5", ["000001", "000002", "999999"], conc, DR5.label_cols)
    with pytest.raises(ValueError, match=r"1 of 3 predicted id_str values are not in catalog .*'999999'"):
        evaluate_files(tmp_path / "stranger.hdf5", tmp_path / "catalog.csv")
    conc[1, 4, 0] = -1.0
    write_predictions(tmp_path / "negative.hdf5", ["000001", "000002", "000003"], conc, DR5.label_cols)
    with pytest.raises(ValueError, match="negative.hdf5: id_str '000002'"):
        evaluate_files(tmp_path / "negative.hdf5", tmp_path / "catalog.csv")
    with h5py.File(tmp_path / "empty.hdf5", "w") as f:
        f.create_dataset("id_str", data=np.array(["a"], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(ValueError, match=r"lacks dataset\(s\) \['label_cols', 'predictions'\]"):
        evaluate_files(tmp_path / "empty.hdf5", tmp_path / "catalog.csv")
    catalog = pd.read_csv(tmp_path / "catalog.csv", dtype={"id_str": str})
    catalog.loc[120, "bar_weak"] = np.nan
    catalog.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(ValueError, match=r"nan.csv: row '000120' has NaN.*bar_weak"):
        evaluate_files(tmp_path / "preds.hdf5", tmp_path / "nan.csv")


def test_evaluate_refuses_misaligned_dataframes(fake_set):
    truth, votes, _ = fake_set
    pred = pd.DataFrame(truth, columns=DR5.label_cols)
    shuffled = pd.DataFrame(votes, columns=DR5.label_cols).iloc[::-1]
    with pytest.raises(ValueError, match="votes and predicted_fractions are DataFrames with different row indexes"):
        evaluate(pred, shuffled, DR5)
