"""Issue 21: the baselines a fine-tune reports (linear / ridge probes, majority class, training
mean), the weight average it validates and keeps, bootstrap intervals of its metrics, and the
sparse synthetic survey it is measured on."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image
from scipy.optimize import check_grad

from zoobot_tf.evaluation.classification import bootstrap_intervals, classifier_metrics, macro_f1
from zoobot_tf.finetune.averaging import AVERAGE_STATE, WeightAverage, ema_momentum
from zoobot_tf.data.inputs import load_model_input
from zoobot_tf.finetune.baselines import LogisticProbe, RidgeProbe, probe_verdict
from zoobot_tf.synthetic import SPARSE_SHIFT, make_synthetic_dataset, sample_morphology


def _blobs(n, k=3, d=8, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (k, d))
    y = rng.integers(0, k, n)
    return centres[y] + rng.normal(0, spread, (n, d)), y


# --- probes --------------------------------------------------------------------------------------


def test_logistic_probe_gradient_is_exact():
    x, y = _blobs(50, k=3, d=4)
    probe = LogisticProbe(3)
    captured = {}

    def spy(objective, start, **kwargs):
        captured["objective"] = objective
        return type("Result", (), {"x": start})()

    import zoobot_tf.finetune.baselines as baselines

    original = baselines.minimize
    baselines.minimize = spy
    try:
        probe.fit(x, y)
    finally:
        baselines.minimize = original
    objective = captured["objective"]
    theta = np.random.default_rng(1).normal(0, 0.3, 4 * 3 + 3)
    assert check_grad(lambda t: objective(t)[0], lambda t: objective(t)[1], theta) < 1e-5


def test_logistic_probe_separates_blobs_and_picks_a_strength_on_validation():
    x, y = _blobs(300, spread=1.0)
    vx, vy = _blobs(200, spread=1.0, seed=0)  # same centres (seed), other draws
    tx, ty = _blobs(400, spread=1.0, seed=0)
    probe = LogisticProbe(3).fit(x[:150], y[:150], vx[150:], vy[150:])
    accuracy = (probe.predict_proba(tx).argmax(axis=1) == ty).mean()
    assert accuracy > 0.95
    assert probe.strength in LogisticProbe(3).strengths
    np.testing.assert_allclose(probe.predict_proba(tx).sum(axis=1), 1.0, rtol=1e-9)
    # heavy overlap: the chosen strength is stronger than for separable blobs
    noisy_x, noisy_y = _blobs(300, spread=6.0, seed=3)
    noisy = LogisticProbe(3).fit(noisy_x[:60], noisy_y[:60], noisy_x[60:], noisy_y[60:])
    assert noisy.strength > probe.strength


def test_logistic_probe_class_weights_favour_the_weighted_class():
    x, y = _blobs(400, k=2, d=2, spread=4.0, seed=2)
    plain = LogisticProbe(2).fit(x, y).predict_proba(x).argmax(axis=1)
    weighted = LogisticProbe(2).fit(x, y, sample_weight=np.where(y == 1, 10.0, 1.0)).predict_proba(x).argmax(axis=1)
    assert (weighted == 1).sum() > (plain == 1).sum()


def test_ridge_probe_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    targets = x @ rng.normal(size=(5, 2)) + np.array([1.0, -2.0])
    probe = RidgeProbe().fit(x[:150], targets[:150], x[150:], targets[150:])
    assert probe.strength == min(RidgeProbe().strengths)
    np.testing.assert_allclose(probe.predict(x[150:]), targets[150:], atol=0.01)


def test_probe_verdict_compares_the_headline_metric():
    probe = {"split": "test", "linear_probe": {"accuracy": 0.7}}
    assert probe_verdict("classifier", {"accuracy": 0.71, "baselines": probe}) is None
    message = probe_verdict("classifier", {"accuracy": 0.7, "baselines": probe})
    assert "does not beat a linear probe" in message and "0.700" in message and "test split" in message
    ridge = {"split": "val", "ridge_probe": {"rmse": 0.2}}
    assert probe_verdict("regressor", {"rmse": 0.1, "baselines": ridge}) is None
    assert "ridge probe" in probe_verdict("regressor", {"rmse": 0.3, "baselines": ridge})
    assert probe_verdict("classifier", {"accuracy": 0.1}) is None  # no baselines computed


# --- metrics -------------------------------------------------------------------------------------


def test_macro_f1_by_hand():
    matrix = np.array([[8, 2], [4, 6]])  # F1 class 0: 16/22, class 1: 12/18
    assert macro_f1(matrix) == pytest.approx((16 / 22 + 12 / 18) / 2)
    assert macro_f1(np.array([[5, 0, 0], [0, 5, 0], [0, 0, 0]])) == 1.0  # an absent class is ignored


def test_bootstrap_interval_matches_the_binomial_width():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    predicted = np.where(rng.random(400) < 0.7, labels, (labels + 1) % 4)
    metrics = classifier_metrics(labels, np.eye(4)[predicted], list("abcd"))
    low, high = metrics["intervals"]["accuracy"]
    assert low < metrics["accuracy"] < high
    binomial = 2 * 1.96 * np.sqrt(metrics["accuracy"] * (1 - metrics["accuracy"]) / 400)
    assert high - low == pytest.approx(binomial, rel=0.2)
    for name in ("balanced_accuracy", "macro_f1"):
        assert metrics["intervals"][name][0] < metrics[name] < metrics["intervals"][name][1]
    # four times the galaxies: half the width
    big = bootstrap_intervals(np.array(metrics["confusion_matrix"]) * 4)
    assert big["accuracy"][1] - big["accuracy"][0] == pytest.approx((high - low) / 2, rel=0.2)
    with pytest.raises(ValueError, match="square"):
        bootstrap_intervals(np.ones((2, 3)))


# --- the weight average --------------------------------------------------------------------------


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization(momentum=0.5),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model


def test_weight_average_is_validated_and_kept(tmp_path):
    x, y = _regression()
    model, recorder = _model(), _Recorder()
    momentum = ema_momentum(1.0, 8)
    average, restorer = WeightAverage(momentum, tmp_path).callbacks()
    seen = []
    spy = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        (logs["val_loss"], float(model.evaluate(x, y, verbose=0)), [np.array(w) for w in model.get_weights()])))
    history = model.fit(x, y, batch_size=8, epochs=3, validation_data=(x, y), verbose=0,
                        callbacks=[average, recorder, spy, restorer])
    # the expected average of every weight (BatchNorm moving statistics included), step by step
    expected = [np.array(w, dtype=np.float64) for w in _model().get_weights()]
    for step, weights in enumerate(recorder.weights, start=1):
        decay = min(momentum, (1 + step) / (10 + step))
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights)]
    for kept, wanted in zip(model.get_weights(), expected):
        np.testing.assert_allclose(kept, wanted, rtol=1e-5, atol=1e-6)
    # during the epoch's end the callbacks saw the averaged model, and validation scored it
    val_loss, evaluated, weights_then = seen[-1]
    assert val_loss == pytest.approx(evaluated, rel=1e-4)
    np.testing.assert_allclose(weights_then[0], expected[0], rtol=1e-5, atol=1e-6)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss)
    # training itself went on from the raw weights: the last raw step is not the average
    assert not np.allclose(recorder.weights[-1][0], expected[0])
    assert not (tmp_path / AVERAGE_STATE).exists()  # the resume state is removed once fit ends


def test_weight_average_resumes_from_its_saved_state(tmp_path):
    x, y = _regression()
    model = _model()
    average, restorer = WeightAverage(0.9, tmp_path).callbacks()

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[average, restorer, Crash()])
    state = np.load(tmp_path / AVERAGE_STATE)
    assert int(state["epoch"]) == 2 and int(state["updates"]) == 16
    resumed = WeightAverage(0.9, tmp_path)
    resumed.set_model(model)
    assert resumed._load(2) and resumed.updates == 16
    np.testing.assert_allclose(resumed.average[0], state["w0"])
    other = WeightAverage(0.9, tmp_path)
    other.set_model(model)
    assert not other._load(3)  # a state saved for another epoch is not used


def test_ema_momentum():
    assert ema_momentum(0, 10) == 0.0
    assert ema_momentum(2.0, 10) == pytest.approx(np.exp(-1 / 20))
    with pytest.raises(ValueError, match="ema_epochs"):
        ema_momentum(-1, 10)


# --- the sparse survey ---------------------------------------------------------------------------


def test_sparse_shift_is_dark_sparse_and_reaches_the_edge(tmp_path):
    catalog = make_synthetic_dataset(tmp_path, n=40, size=48, seed=1, progress=False, **SPARSE_SHIFT)
    assert set(catalog["label"]) <= set(SPARSE_SHIFT["hubble_types"]) and catalog["label"].nunique() == 4
    assert (catalog["kind"] == "galaxy").all() and (catalog["nucleus_fraction"].between(0.3, 3.0)).all()
    images = np.stack([np.asarray(Image.open(path)) for path in catalog["file_loc"]]) / 255.0
    assert images.ndim == 3  # greyscale
    assert images.mean() < 0.01 and (images == 0).mean() > 0.6  # a dark background, mostly empty
    assert (images.reshape(len(images), -1).max(axis=1) == 1.0).all()  # each image stretched to its peak
    edges = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert (edges > 0).any(axis=1).mean() > 0.25  # many sources reach the frame's edge
    # the type prior changes the types drawn, not the stream the rest of the table comes from
    plain = sample_morphology(200, np.random.default_rng(4))
    chosen = sample_morphology(200, np.random.default_rng(4), hubble_types=("E", "Sc"))
    assert set(chosen["hubble_type"]) == {"E", "Sc"}
    np.testing.assert_array_equal(plain["kind"], chosen["kind"])


def test_auto_scaling_stretches_dark_surveys_and_leaves_galaxy_zoo_alone(tmp_path):
    """'auto' (finetune's default) picks asinh for the sparse survey, none for real GZ cutouts and FITS."""
    import glob

    from zoobot_tf.data.inputs import choose_scaling
    from zoobot_tf.images import suggest_scaling

    sparse = make_synthetic_dataset(tmp_path / "sparse", n=12, size=48, seed=3, progress=False, **SPARSE_SHIFT)
    name, reason = choose_scaling(sparse["file_loc"], "auto")
    assert name == "asinh" and "dark" in reason
    root = Path(__file__).parent / "data" / "galaxy_zoo"
    for survey in ("decals", "gz2", "kaggle"):  # real Galaxy Zoo cutouts: already stretched
        files = [f for f in sorted(glob.glob(str(root / survey / "**" / "*.*"), recursive=True))
                 if f.lower().endswith((".png", ".jpg", ".jpeg"))]
        assert files, survey
        name, reason = choose_scaling(files, "auto")
        assert name == "none" and "already stretched" in reason, (survey, reason)
    assert choose_scaling(sparse["file_loc"], None) == ("none", None)  # only 'auto' looks at pixels
    assert choose_scaling(sparse["file_loc"], "zscale") == ("zscale", None)
    fits_file = tmp_path / "g.fits"
    fits.PrimaryHDU(np.ones((8, 8), np.float32)).writeto(fits_file)
    assert choose_scaling([fits_file], "auto")[0] == "none"
    # the threshold: 95th percentile at 0.06 of white (15 of 255)
    dark, bright = np.zeros((20, 20)), np.zeros((20, 20))
    dark[:2, :2], bright[:2] = 255, 20
    assert suggest_scaling([dark])[0] == "asinh" and suggest_scaling([bright])[0] == "none"
    # unreadable files are left to the pipeline, which names the galaxy (tests/test_finetune.py)
    assert choose_scaling([tmp_path / "missing.png"], "auto")[0] == "none"
    assert choose_scaling([tmp_path / "missing.png"] + list(sparse["file_loc"]), "auto")[0] == "asinh"


def test_make_shards_auto_scaling_stores_what_finetune_would_read(tmp_path, capsys):
    """`make-shards --scaling auto` resolves the way finetune does: the sparse survey is stored
    asinh-stretched, pixel for pixel the catalog path's images, and the manifest says why; real
    Galaxy Zoo cutouts stay unscaled; a named scaling writes the manifest it always wrote."""
    from zoobot_tf.cli import main
    from zoobot_tf.data.inputs import catalog_recipe, load_stored
    from zoobot_tf.shards import load_manifest
    from zoobot_tf.shards.reader import iter_records

    sparse = make_synthetic_dataset(tmp_path / "sparse", n=10, size=32, seed=4, progress=False, **SPARSE_SHIFT)
    csv = tmp_path / "sparse.csv"
    sparse[["id_str", "file_loc"]].to_csv(csv, index=False)
    args = ["make-shards", "--catalog", str(csv), "--unlabelled", "--size", "32", "--channels", "1",
            "--dtype", "float32", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "auto"), "--scaling", "auto"]) == 0
    assert "scaling: asinh" in capsys.readouterr().out
    manifest = load_manifest(tmp_path / "auto")
    assert manifest.image_options["scaling"] == "asinh" and "dark" in manifest.image_options["scaling_choice"]
    stored = catalog_recipe(sparse["file_loc"], 32, 1, stored_size=32, scaling="auto").stored
    assert manifest.stored_format() == stored
    files = dict(zip(sparse["id_str"], sparse["file_loc"]))
    records = list(iter_records(tmp_path / "auto", "predict"))
    assert len(records) == len(sparse)
    for record in records:
        np.testing.assert_array_equal(record["image"], load_stored(files[record["id_str"]], stored))
    assert main([*args, "--out", str(tmp_path / "named"), "--scaling", "asinh"]) == 0
    assert "scaling_choice" not in load_manifest(tmp_path / "named").image_options

    decals = sorted((Path(__file__).parent / "data" / "galaxy_zoo" / "decals").rglob("*.png"))[:8]
    assert decals
    pd.DataFrame({"id_str": [f"g{i}" for i in range(len(decals))], "file_loc": [str(f) for f in decals]}).to_csv(
        tmp_path / "decals.csv", index=False)
    assert main(["make-shards", "--catalog", str(tmp_path / "decals.csv"), "--unlabelled", "--size", "32",
                 "--no-progress", "--out", str(tmp_path / "decals"), "--scaling", "auto"]) == 0
    options = load_manifest(tmp_path / "decals").image_options
    assert options["scaling"] == "none" and "already stretched" in options["scaling_choice"]


def test_sparse_options_refuse_bad_values(tmp_path):
    with pytest.raises(ValueError, match="unknown type"):
        make_synthetic_dataset(tmp_path, n=2, size=32, hubble_types=("E", "Sx"), progress=False)
    with pytest.raises(ValueError, match="stretch"):
        make_synthetic_dataset(tmp_path, n=2, size=32, stretch="peak", progress=False)  # colour PNGs
    with pytest.raises(ValueError, match="nucleus"):
        make_synthetic_dataset(tmp_path, n=2, size=32, nucleus=(0.0, 1.0), progress=False)


# --- finetune end to end -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse_catalog(tmp_path_factory):
    """48 sparse galaxies, two classes, with a split column (train imbalanced)."""
    root = tmp_path_factory.mktemp("sparse")
    frame = make_synthetic_dataset(root, n=48, size=32, seed=2, progress=False,
                                   **{**SPARSE_SHIFT, "hubble_types": ("E", "Sc")})
    frame["split"] = ["test"] * 12 + ["val"] * 8 + ["train"] * 28
    return frame


def test_probe_wins_on_the_kept_epochs_validation_loss():
    from zoobot_tf.finetune.baselines import probe_wins

    probe = LogisticProbe(2)
    probe.val_loss = 0.5
    history = {"val_loss": [0.9, 0.45, 0.7]}
    assert not probe_wins(probe, history, "best") and probe_wins(probe, history, "last")
    assert not probe_wins(None, history, "best") and not probe_wins(probe, {"loss": [1.0]}, "best")


@pytest.mark.slow  # 10 s: two sparse-survey fine-tunes
def test_a_diverging_finetune_hands_over_the_probe(sparse_catalog, tiny_run, tmp_path):
    import json

    from zoobot_tf.finetune import finetune
    from zoobot_tf.saving import load_model

    source = tiny_run[0] / "model.keras"
    result = finetune(source, tmp_path / "ft", catalog=sparse_catalog, epochs=2, patience=2, batch_size=8,
                      learning_rate=50.0, warmup_epochs=0, ema_epochs=0, progress=False)
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert metrics["kept"] == "linear probe"
    probe = metrics["baselines"]["linear_probe"]
    assert metrics["accuracy"] == probe["accuracy"] and metrics["confusion_matrix"] == probe["confusion_matrix"]
    # the saved model is that probe: the frozen encoder (re-estimated BatchNorm) and the probe's head
    saved = load_model(tmp_path / "ft" / "model.keras", compile=False)
    np.testing.assert_allclose(saved.get_layer("head").get_layer("head_dense").kernel.numpy(),
                               result.model.get_layer("head").get_layer("head_dense").kernel.numpy())
    without = finetune(source, tmp_path / "ft2", catalog=sparse_catalog, epochs=2, patience=2, batch_size=8,
                       learning_rate=50.0, warmup_epochs=0, ema_epochs=0, progress=False, probe_fallback=False)
    assert without.metrics["kept"].startswith("fine-tuned epoch")


def test_finetune_reports_baselines_and_keeps_the_last_average(sparse_catalog, tiny_run, tmp_path):
    import json
    import warnings

    from zoobot_tf.finetune import finetune
    from zoobot_tf.models import get_encoder
    from zoobot_tf.saving import load_model

    source = tiny_run[0] / "model.keras"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = finetune(source, tmp_path / "ft", catalog=sparse_catalog, epochs=3, patience=1, batch_size=8,
                          batchnorm="fixed", keep="last", ema_epochs=1.0, progress=False)
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    probe, majority = metrics["baselines"]["linear_probe"], metrics["baselines"]["majority_class"]
    assert metrics["baselines"]["split"] == "test" and probe["n"] == majority["n"] == metrics["n"] == 12
    assert majority["class"] == sparse_catalog.query("split == 'train'")["label"].mode()[0]
    assert 0 <= probe["accuracy"] <= 1 and probe["features"] == get_encoder(result.model).output.shape[-1]
    below = [w for w in caught if "does not beat a linear probe" in str(w.message)]
    assert metrics["beats_probe"] == (metrics["accuracy"] > probe["accuracy"]) == (not below)
    assert metrics["epochs_run"] == 3 and metrics["kept_epoch"] == 2  # no early stop with keep='last'
    assert "random crops" in metrics["image_recipe"] or "no crop" in metrics["image_recipe"]
    # the dark survey is stretched (finetune's scaling 'auto'), and the stretch travels inside the model
    assert "scaling asinh" in metrics["image_recipe"] and "asinh" in metrics["scaling_choice"]
    saved = load_model(tmp_path / "ft" / "model.keras", compile=False)
    assert saved.zoobot_metadata.recipe.stored.scaling == "asinh"
    # the model kept is the blend of probe and fine-tune with the lowest validation loss, as scored
    losses = {float(w): v for w, v in metrics["probe_blend"]["val_loss"].items()}
    weight = metrics["probe_blend"]["fine_tuned_weight"]
    assert sorted(losses) == [0.0, 0.25, 0.5, 0.75, 1.0] and losses[weight] == min(losses.values())
    assert metrics["kept"] == ("linear probe" if weight == 0 else "fine-tuned epoch 2" if weight == 1 else
                               f"blend: {weight:g} x fine-tuned epoch 2 + {1 - weight:g} x linear probe")
    val = sparse_catalog[sparse_catalog["split"] == "val"]
    images = np.stack([load_model_input(f, saved.zoobot_metadata.recipe) for f in val["file_loc"]])
    probabilities = saved.predict(images, verbose=0)
    labels = val["label"].map({"E": 0, "Sc": 1}).to_numpy()
    loss = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
    assert loss == pytest.approx(losses[weight], rel=1e-3)
    # 'fixed': statistics re-estimated on the new images, then never trained
    source_stats = {w.path: np.array(w) for w in get_encoder(load_model(source, compile=False)).weights
                    if "moving" in w.path}
    encoder = get_encoder(result.model)
    kept = {w.path: np.array(w) for w in encoder.weights if "moving" in w.path}
    assert all(not np.allclose(source_stats[k], kept[k]) for k in kept)
    assert not any(layer.trainable for layer in encoder.layers if isinstance(layer, keras.layers.BatchNormalization))


def test_head_started_from_the_probe_predicts_as_the_probe():
    from zoobot_tf.finetune.baselines import encoder_features, init_head_from_probe
    from zoobot_tf.models import assemble_model, build_head, get_encoder, get_model

    keras.utils.set_random_seed(0)
    encoder = get_encoder(get_model("decals_dr5", (16, 16, 3), architecture="small_cnn"))
    model = assemble_model(encoder, build_head("softmax", encoder.output.shape[-1], 3, test_time_dropout=False))
    rng = np.random.default_rng(0)
    images = rng.random((40, 16, 16, 3)).astype("float32")
    labels = (images[:, :8].mean(axis=(1, 2, 3)) * 30).astype(int) % 3
    features, _ = encoder_features(get_encoder(model), [(images, labels)])
    probe = LogisticProbe(3).fit(features, labels)
    assert init_head_from_probe(model, probe)
    np.testing.assert_allclose(model.predict(images, verbose=0), probe.predict_proba(features), atol=1e-5)
    ridge = RidgeProbe().fit(features, rng.normal(size=(40, 2)))
    regressor = assemble_model(encoder, build_head("regression", encoder.output.shape[-1], 2, test_time_dropout=False))
    assert init_head_from_probe(regressor, ridge)
    np.testing.assert_allclose(regressor.predict(images, verbose=0), ridge.predict(features), atol=1e-4)
    assert not init_head_from_probe(model, None)


def test_printout_lists_the_baselines_with_intervals():
    from zoobot_tf.commands.finetune import baseline_lines

    interval = {"accuracy": [0.5, 0.7], "balanced_accuracy": [0.4, 0.6], "macro_f1": [0.3, 0.5]}
    metrics = {"n": 200, "accuracy": 0.6, "balanced_accuracy": 0.5, "macro_f1": 0.4, "intervals": interval,
               "beats_probe": False,
               "baselines": {"split": "test", "linear_probe": {"accuracy": 0.65, "balanced_accuracy": 0.6,
                                                               "macro_f1": 0.55, "intervals": interval},
                             "majority_class": {"accuracy": 0.25, "balanced_accuracy": 0.25, "macro_f1": 0.1}}}
    lines = baseline_lines(metrics)
    assert lines[0].startswith("on the test split (200 galaxies")
    assert "fine-tuned" in lines[1] and "accuracy 0.600 [0.500, 0.700]" in lines[1]
    assert "linear probe" in lines[2] and "majority class" in lines[3] and "macro_f1 0.100" in lines[3]
    assert "WARNING" in lines[-1]
    assert baseline_lines({"accuracy": 0.6}) == []


def test_synthetic_command_renders_the_sparse_survey(tmp_path):
    import argparse

    from zoobot_tf.commands import synthetic as command

    args = command.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--n", "6", "--size", "32", "--survey", "sparse", "--out", str(tmp_path), "--no-progress"])
    assert command.run(args) == 0
    text = (tmp_path / "README.txt").read_text()
    assert "stretch='peak'" in text and "linear to the brightest pixel" in text
    assert np.asarray(Image.open(next((tmp_path / "images").iterdir()))).ndim == 2
