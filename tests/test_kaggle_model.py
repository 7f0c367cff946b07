"""The Kaggle 37-output model: re-weighting keeps every child below its parent and equals
Schema.weight_by_dependencies, safe-mode round trip, RMSE loss and baseline, a tiny training run,
and the merger fraction with its bootstrap uncertainty."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from zoobot_tf.kaggle import (
    DecisionTreeReweighting,
    RootMeanSquaredErrorLoss,
    build_kaggle_model,
    gz2_votes_to_kaggle,
    make_synthetic_kaggle_catalog,
    mean_baseline,
    rmse,
    train_kaggle,
)
from zoobot_tf.evaluation.merger_fraction import merger_fraction, merger_probability
from zoobot_tf.saving import load_model
from zoobot_tf.schemas import get_schema
from zoobot_tf.shards import write_shards

SCHEMA = get_schema("gz_kaggle37")
SIZE = 32


def test_reweighting_keeps_children_below_parents_and_matches_the_schema():
    layer = DecisionTreeReweighting.from_schema("gz_kaggle37")
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, (500, 37)).astype("float32")
    scores[:50] = rng.uniform(0, 1e-3, (50, 37))  # near-zero sigmoids too
    out = np.asarray(layer(scores))
    assert out.shape == (500, 37) and (out >= 0).all() and (out <= 1 + 1e-6).all()
    for question in SCHEMA.questions:
        block = out[:, question.start_index : question.end_index + 1]
        parent = 1.0 if question.asked_after is None else out[:, question.asked_after.index]
        assert (block <= np.asarray(parent)[..., None] + 1e-6).all(), question.text
        assert np.allclose(block.sum(axis=1), parent, atol=1e-5), question.text  # children share the parent exactly
    normalised = SCHEMA.conditional_fractions(scores)
    assert np.allclose(out, SCHEMA.weight_by_dependencies(normalised), atol=1e-5)
    # e.g. Class7 (how rounded) is scaled by Class1.1 (smooth)
    assert np.allclose(out[:, 15:18].sum(axis=1), out[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="re-weights 37 answers but gets 36"):
        DecisionTreeReweighting.from_schema("gz_kaggle37")(scores[:, :36])


def test_kaggle_model_round_trips_in_safe_mode(tmp_path):
    model = build_kaggle_model(input_shape=(SIZE, SIZE, 3), architecture="small_cnn", dropout_rate=0.0)
    images = np.random.default_rng(1).uniform(0, 1, (3, SIZE, SIZE, 3)).astype("float32")
    before = model.predict(images, verbose=0)
    model.save(tmp_path / "kaggle.keras")
    loaded = load_model(tmp_path / "kaggle.keras", compile=False)  # safe_mode=True inside
    assert np.allclose(loaded.predict(images, verbose=0), before, atol=1e-6)
    assert any(isinstance(layer, DecisionTreeReweighting) for layer in loaded.layers)
    assert loaded.get_layer("encoder") is not None  # still the usual encoder + head layout


def test_rmse_loss_metric_and_baseline():
    rng = np.random.default_rng(2)
    labels, predictions = rng.uniform(0, 1, (16, 37)), rng.uniform(0, 1, (16, 37))
    expected = np.sqrt(np.mean((labels - predictions) ** 2))
    assert rmse(labels, predictions) == pytest.approx(expected)
    assert float(RootMeanSquaredErrorLoss()(labels.astype("float32"), predictions.astype("float32"))) == pytest.approx(
        expected, rel=1e-5)
    metric = keras.metrics.RootMeanSquaredError()
    metric.update_state(labels, predictions)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    baseline = mean_baseline(labels[:10], 6)
    assert baseline.shape == (6, 37) and np.allclose(baseline, labels[:10].mean(axis=0))
    rebuilt = keras.losses.deserialize(keras.losses.serialize(RootMeanSquaredErrorLoss()))
    assert isinstance(rebuilt, RootMeanSquaredErrorLoss)


def test_gz2_votes_become_consistent_kaggle_targets():
    votes = np.zeros((1, 37))
    votes[0, [0, 1]] = [30, 10]  # smooth 30, features 10
    votes[0, [15, 16]] = [15, 15]  # of the smooth: round / in-between
    votes[0, [13, 14]] = [4, 36]  # something odd: yes 4
    votes[0, 23] = 4  # odd feature: merger
    targets = gz2_votes_to_kaggle(votes)[0]
    assert targets[0] == pytest.approx(0.75) and targets[15] == pytest.approx(0.375)
    assert targets[SCHEMA.get_answer("Class8.6").index] == pytest.approx(0.1)


@pytest.mark.slow
def test_train_kaggle_reports_rmse_beside_the_mean_baseline(tmp_path, capsys):
    catalog = make_synthetic_kaggle_catalog(tmp_path / "synthetic", n=32, size=SIZE, progress=False)
    assert list(catalog.columns[:2]) == ["id_str", "file_loc"] and list(catalog.columns[2:]) == SCHEMA.label_cols
    write_shards(catalog, tmp_path / "shards", schema="gz_kaggle37", size=SIZE, val_fraction=0.25, test_fraction=0.25,
                 progress=False)
    model, history, report = train_kaggle(tmp_path / "run", tmp_path / "shards", architecture="small_cnn", epochs=1,
                                          batch_size=8, progress=False, batchnorm_momentum=0.9)
    assert {"loss", "rmse", "val_loss", "val_rmse"} <= set(history)
    assert "baseline" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run/evaluation/metrics.json").read_text())
    predictions = pd.read_csv(tmp_path / "run/evaluation/predictions.csv", dtype={"id_str": str})
    assert metrics["n"] == len(predictions) > 0 and list(predictions.columns[1:]) == SCHEMA.label_cols
    assert 0 < metrics["rmse"] < 1 and 0 < metrics["baseline_rmse"] < 1
    assert metrics["max_child_excess"] < 1e-5
    config = json.loads((tmp_path / "run/config.json").read_text())
    assert config["head"] == "regression" and config["loss"]["class_name"] == "RootMeanSquaredErrorLoss"

    # the merger fraction of the Kaggle predictions: Class8.6 is dependency-weighted already
    result = merger_fraction(tmp_path / "run/evaluation/predictions.csv", threshold=0.0)
    assert result.answers == ["Class8.6"] and result.n == metrics["n"]
    assert result.mean_probability == pytest.approx(predictions["Class8.6"].mean())


def test_merger_fraction_on_a_known_case():
    probability = np.r_[np.full(200, 0.9), np.full(800, 0.1)]
    result = merger_fraction(probability, threshold=0.5, n_bootstrap=4000, seed=1)
    assert result.fraction == pytest.approx(0.2) and result.n_merging == 200 and result.n == 1000
    assert result.std == pytest.approx(np.sqrt(0.2 * 0.8 / 1000), rel=0.08)
    assert result.low < 0.2 < result.high and result.high - result.low == pytest.approx(2 * result.std, rel=0.15)
    assert result.mean_probability == pytest.approx(0.26)
    assert "merger fraction 0.2000" in result.summary()


def test_merger_probability_from_summary_tables():
    schema = get_schema("decals_dr5")
    n = 10
    table = pd.DataFrame({"id_str": [f"g{i}" for i in range(n)]})
    fractions = np.zeros((n, schema.n_answers))
    for start, end in schema.question_index_groups:
        fractions[:, start] = 1.0
    merging = schema.get_question("merging")
    fractions[:, merging.start_index : merging.end_index + 1] = [0.5, 0.1, 0.1, 0.3]
    fractions[:3, merging.start_index : merging.end_index + 1] = [0.1, 0.1, 0.2, 0.6]
    for i, column in enumerate(schema.label_cols):
        table[f"{column}_fraction"] = fractions[:, i]
    result = merger_fraction(table, schema="decals_dr5", threshold=0.5)
    assert result.answers == ["merging_merger"] and result.n_merging == 3 and result.fraction == pytest.approx(0.3)
    wider = merger_fraction(table, schema="decals_dr5", threshold=0.35, include_major_disturbance=True)
    assert wider.n_merging == 10  # 0.3 + 0.1 everywhere, 0.8 for the first three
    # GZ2's merger answer sits below "something odd": its probability is scaled by P(odd)
    gz2 = get_schema("gz2")
    gz2_fractions = np.full((2, gz2.n_answers), 0.5)
    odd = gz2.get_question("odd-feature-gz2")
    gz2_fractions[:, odd.start_index : odd.end_index + 1] = 0.0
    gz2_fractions[:, gz2.get_answer("odd-feature-gz2_merger").index] = 1.0
    gz2_fractions[:, [gz2.get_answer("something-odd-gz2_yes").index, gz2.get_answer("something-odd-gz2_no").index]] = [
        [0.8, 0.2], [0.3, 0.7]]
    assert merger_probability(gz2_fractions, gz2) == pytest.approx([0.8, 0.3])
    with pytest.raises(ValueError, match="no major-disturbance answer"):
        merger_probability(gz2_fractions, gz2, include_major_disturbance=True)
    with pytest.raises(ValueError, match="threshold must be in"):
        merger_fraction(np.array([0.2]), threshold=1.5)


def test_merger_fraction_from_a_predictions_hdf5(tmp_path):
    from zoobot_tf.predictions import PredictionWriter

    schema = get_schema("decals_dr5")
    merger = schema.get_answer("merging_merger").index
    alpha = np.full((20, schema.n_answers, 2), 5.0)
    alpha[:5, merger] = 200.0  # merging: 200 / (200 + 15) = 0.93
    path = tmp_path / "preds.hdf5"
    with PredictionWriter(path, schema.label_cols, 2, attrs={"schema": "decals_dr5"}) as writer:
        writer.add([f"g{i}" for i in range(20)], alpha)
        writer.finish()
    result = merger_fraction(path, threshold=0.5)
    assert result.n == 20 and result.n_merging == 5 and result.fraction == pytest.approx(0.25)
    assert result.mean_probability == pytest.approx((5 * 200 / 215 + 15 * 0.25) / 20)


def test_predictions_of_the_kaggle_model_go_through_its_reweighting():
    """The head-only fast path must not skip the sigmoid + re-weighting that follow the head."""
    import numpy as np

    from zoobot_tf.kaggle.model import build_kaggle_model
    from zoobot_tf.predictions.sampling import Sampler, resolve_fast_path

    model = build_kaggle_model(input_shape=(32, 32, 3), architecture="small_cnn")
    assert resolve_fast_path(model, "auto") is False
    images = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    samples = Sampler(model, 3, resolve_fast_path(model, "auto"), seed=0)(images)
    assert samples.min() >= 0.0 and samples.max() <= 1.0  # fractions, not the head's raw outputs
