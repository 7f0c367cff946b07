"""zoobot_tf.finetune: new head on a copied encoder, one phase, outputs, heads, CLI."""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from zoobot_tf.models import get_encoder, get_model
from zoobot_tf.saving import load_model
from zoobot_tf.synthetic import make_synthetic_dataset
from zoobot_tf.commands import finetune as command
from zoobot_tf.finetune import balanced_class_weights, encoder_blocks, finetune, unfreeze_top_blocks
from zoobot_tf.runs import RunConfigMismatch, load_run

SIZE = 32
EARLY = ("E", "S0")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """60 synthetic galaxies labelled early (E, S0) / late (the other Hubble types)."""
    root = tmp_path_factory.mktemp("finetune")
    frame = make_synthetic_dataset(root / "synthetic", n=60, size=SIZE, progress=False, seed=5)
    frame["label"] = np.where(frame["hubble_type"].isin(EARLY), "early", "late")
    return frame


@pytest.fixture(scope="module")
def source(tiny_run):
    """The model to adapt: the session's tiny trained run (small CNN, decals_dr5 Dirichlet head, 32 px)."""
    return tiny_run[0] / "model.keras"


@pytest.fixture(scope="module")
def classifier(catalog, source, tmp_path_factory):
    out = tmp_path_factory.mktemp("classifier") / "out"
    result = finetune(source, out, catalog=catalog, epochs=3, patience=3, n_blocks=1, warmup_epochs=0,
                      learning_rate=1e-2, batch_size=8, progress=False, probe_fallback=False)  # the fine-tuned weights
    return out, result


def _encoder_weights(model):
    return {w.path: np.array(w.numpy()) for w in get_encoder(model).weights}


def test_epochs_logged_and_best_checkpoint_kept(classifier):
    out, result = classifier
    assert len(result.history["loss"]) == 3 and result.metrics["epochs_run"] == 3
    log = pd.read_csv(out / "training_log.csv")
    assert log["epoch"].tolist() == [0, 1, 2] and np.isfinite(log["loss"]).all()
    best = int(np.argmin(log["val_loss"]))
    assert result.metrics["best_epoch"] == best
    # early stopping restored the best epoch: the returned model scores the best val_loss again
    best_model = load_model(out / "checkpoints/best.keras")
    assert type(best_model.optimizer).__name__ == "LayerDecayAdamW"
    ids = set(pd.read_csv(out / "predictions.csv", dtype={"id_str": str})["id_str"])
    assert len(ids) == result.metrics["n"]


def test_only_the_top_block_trains_with_n_blocks_1(classifier, source):
    _, result = classifier
    before = _encoder_weights(load_model(source, compile=False))
    after = _encoder_weights(result.model)
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    # block 2 trains (its BatchNorm too); every BatchNorm was re-estimated on the new images
    trained = {"block2_conv/kernel", "block2_bn/gamma", "block2_bn/beta"}
    assert trained <= changed
    assert {k for k in changed if not k.endswith(("moving_mean", "moving_variance"))} == trained
    assert {k for k in before if k.startswith(("block0_bn/moving", "block1_bn/moving"))} <= changed
    assert not any(k.startswith(("block0_conv", "block1_conv")) for k in changed)


def test_metrics_confusion_matrix_and_predictions(classifier):
    out, result = classifier
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics))
    assert metrics["classes"] == ["early", "late"] and metrics["split"] == "test"
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (2, 2) and matrix.sum() == metrics["n"] == 12
    assert metrics["n_train"] + metrics["n_val"] + metrics["n"] == 60
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    predictions = pd.read_csv(out / "predictions.csv", dtype={"id_str": str})
    assert len(predictions) == 12
    assert (predictions["true"] == predictions["predicted"]).mean() == pytest.approx(metrics["accuracy"])
    with Image.open(out / "confusion_matrix.png") as png:
        assert png.format == "PNG" and png.width > 100


def test_finetuned_model_saves_and_loads_safely(classifier, catalog):
    out, result = classifier
    model, config = load_run(out)  # safe_mode=True
    assert config["kind"] == "finetune" and config["label_cols"] == ["early", "late"]
    assert config["input_shape"] == [SIZE, SIZE, 3]
    images = np.random.default_rng(0).uniform(0, 1, (3, SIZE, SIZE, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (3, 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities, result.model.predict(images, verbose=0), atol=1e-6)


def test_config_records_the_options_and_old_run_directories_stay_readable(classifier, tmp_path):
    import dataclasses
    import shutil

    from zoobot_tf.finetune import FinetuneOptions, finetune_log

    out, result = classifier
    _, config = load_run(out)
    # every option is a config key (field by field, not from local variables) except the objects
    # recorded in resolved form (recipe, task, strategy per session)
    names = {f.name for f in dataclasses.fields(FinetuneOptions)}
    resolved = {"augmentation", "overwrite", "strategy", "label_set"}
    assert names - resolved <= set(config), sorted(names - resolved - set(config))
    assert config["keep"] == "last" and config["n_blocks"] == 1 and config["recipe"]["size"] == SIZE
    assert config["status"] == "finished" and config["sessions"][0]["epochs_run"] == 3
    assert config["log_file"] == "training_log.csv" and config["best_model_file"] == "checkpoints/best.keras"
    # a run directory written before the run engine: finetune_log.csv and best.keras beside the model
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("model.keras", "config.json"):
        shutil.copy(out / name, legacy / name)
    shutil.copy(out / "training_log.csv", legacy / "finetune_log.csv")
    shutil.copy(out / "checkpoints/best.keras", legacy / "best.keras")
    model, _ = load_run(legacy)
    assert model.count_params() == result.model.count_params()
    assert [row["epoch"] for row in finetune_log(legacy)] == [0, 1, 2] == [row["epoch"] for row in finetune_log(out)]


def test_regressor_from_a_catalog(catalog, source, tmp_path):
    result = finetune(source, tmp_path / "reg", head="regressor", catalog=catalog, label_cols=["bulge_fraction"],
                      epochs=1, warmup_epochs=0, batch_size=16, progress=False, image_size=40)
    assert result.model.input.shape[1:] == (40, 40, 3)  # encoder rebuilt for the new size
    assert len(result.history["loss"]) == 1 and result.metrics["n"] == 12
    assert set(result.metrics["rmse_per_column"]) == {"bulge_fraction"} and np.isfinite(result.metrics["rmse"])


def test_bad_labels_name_the_row(catalog, source, tmp_path):
    bad = catalog.copy()
    n_early, row = (catalog["label"] == "early").sum(), int(np.flatnonzero(catalog["label"] == "early")[0])
    match = rf"{n_early} catalog rows have a 'label' outside .* row {row} \(id_str 'synthetic_{row:06d}'\): 'early'"
    with pytest.raises(ValueError, match=match):
        finetune(source, tmp_path / "a", catalog=bad, label_set=["late", "irregular"], progress=False)
    with pytest.raises(ValueError, match="exactly one"):
        finetune(source, tmp_path / "b", progress=False)
    bad.loc[3, "file_loc"] = str(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match=r"1 catalog images do not exist: row 3 \(id_str 'synthetic_000003'\)"):
        finetune(source, tmp_path / "c", catalog=bad, progress=False)
    broken = catalog.copy()
    (tmp_path / "broken.png").write_bytes(b"not a png")
    broken.loc[:, "file_loc"] = str(tmp_path / "broken.png")
    with pytest.raises(ValueError, match=r"^train galaxy 'synthetic_\d+': cannot read image '[^\n]*broken.png'[^\n]*$"):
        finetune(source, tmp_path / "d", catalog=broken, epochs=1, warmup_epochs=0, progress=False)


def test_balanced_class_weights():
    weights = balanced_class_weights([0, 0, 0, 1], 3)
    assert weights == pytest.approx({0: 4 / (2 * 3), 1: 4 / (2 * 1), 2: 1.0})


def test_efficientnet_blocks_and_batchnorm():
    encoder = get_encoder(get_model("decals_dr5", (32, 32, 3), architecture="efficientnet_b0"))
    assert [name for name, _ in encoder_blocks(encoder)] == ["stem"] + [f"block{i}" for i in range(1, 8)] + ["top"]
    trained = unfreeze_top_blocks(encoder, 2, train_batchnorm=False)
    assert "top_conv" in trained and "block7a_project_conv" in trained and "block6d_se_reduce" in trained
    assert not any(name.startswith(("block5", "stem")) for name in trained)
    batchnorms = [layer for layer in encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batchnorms) > 40 and not any(layer.trainable for layer in batchnorms)
    trainable = {w.path.split("/")[0] for w in encoder.trainable_weights}
    assert trainable == set(trained)
    everything = unfreeze_top_blocks(encoder, None)
    assert "stem_conv" in everything and "stem_bn" in everything and "top_bn" in everything


def test_finetune_cli_arguments(monkeypatch, tmp_path):
    calls = {}

    class Result:
        metrics = {"accuracy": 0.5}
        paths = {"model": tmp_path / "model.keras"}

    def fake(model, out, **kwargs):
        calls.update(model=model, out=out, **kwargs)
        return Result()

    monkeypatch.setattr("zoobot_tf.finetune.finetuning.finetune", fake)
    parser = command.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--model", "m.keras", "--out", "o", "--catalog", "c.csv", "--label-set", "a,b",
                              "--class-weight", '{"a": 2}', "--epochs", "3", "--n-blocks", "1", "--lr-decay", "0.5",
                              "--label-smoothing", "0.1", "--batchnorm", "frozen", "--ema-epochs", "0", "--keep", "last",
                              "--head-init", "random", "--no-baselines"])
    assert command.run(args) == 0
    assert calls["label_set"] == ["a", "b"] and calls["class_weight"] == {"a": 2}
    assert calls["catalog"] == "c.csv" and calls["shard_dir"] is None and calls["epochs"] == 3
    assert calls["head"] == "classifier" and calls["n_blocks"] == 1 and calls["lr_decay"] == 0.5
    assert calls["label_smoothing"] == 0.1 and calls["batchnorm"] == "frozen"
    assert calls["ema_epochs"] == 0 and calls["keep"] == "last" and calls["head_init"] == "random"
    assert calls["baselines"] is False and calls["mixed_precision"] == "auto" and calls["overwrite"] is False
    calls.clear()
    defaults = parser.parse_args(["--model", "m", "--out", "o", "--catalog", "c.csv"])
    assert command.run(defaults) == 0
    assert calls["class_weight"] is None and calls["n_blocks"] is None and calls["baselines"] is True
    # options not given take finetune's own defaults
    assert not {"batchnorm", "ema_epochs", "keep", "head_init"} & set(calls)


def test_head_names_resolve_to_tasks(catalog):
    from zoobot_tf.finetune.data import resolve_finetune_task as resolve_task

    assert resolve_task("classifier", catalog=catalog).outputs == ["early", "late"]
    hubble = resolve_task("hubble_sequence", label_cols=["hubble_type"], catalog=catalog)
    assert (hubble.kind, hubble.outputs, hubble.label_column) == ("classifier", ["E", "S0", "Sab", "Sc", "Sdm", "Im"],
                                                                  "hubble_type")
    dirichlet = resolve_task("decals_dr5", catalog=catalog)
    assert dirichlet.kind == "dirichlet" and dirichlet.head == "dirichlet" and len(dirichlet.outputs) == 34
    with pytest.raises(ValueError, match="needs label_cols"):
        resolve_task("regressor", catalog=catalog)
    with pytest.raises(ValueError, match="unknown head"):
        resolve_task("segmenter", catalog=catalog)


class _CrashAtEpochEnd(keras.callbacks.Callback):
    """Runs after BackupAndRestore has saved the epoch, then fails like a killed job."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("killed")


@pytest.mark.slow  # three fine-tunes
def test_killed_finetune_resumes_from_its_last_epoch(catalog, source, tmp_path, monkeypatch):
    from zoobot_tf.training import engine
    from zoobot_tf.training.engine import RunExistsError

    options = dict(catalog=catalog, epochs=4, patience=4, n_blocks=1, warmup_epochs=1, learning_rate=1e-2,
                   batch_size=8, progress=False)
    original = engine.make_callbacks
    monkeypatch.setattr(engine, "make_callbacks", lambda *a, **k: original(*a, **k) + [_CrashAtEpochEnd(1)])
    with pytest.raises(RuntimeError, match="killed"):
        finetune(source, tmp_path / "ft", **options)
    before = (tmp_path / "ft" / "training_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in before[1:]] == ["0", "1"]
    assert (tmp_path / "ft" / "backup").is_dir() and not (tmp_path / "ft" / "model.keras").exists()

    with pytest.raises(RunConfigMismatch, match="learning_rate"):  # other settings must not resume this run
        finetune(source, tmp_path / "ft", **{**options, "learning_rate": 1e-3})
    monkeypatch.setattr(engine, "make_callbacks", original)
    result = finetune(source, tmp_path / "ft", **options)
    after = (tmp_path / "ft" / "training_log.csv").read_text().splitlines()
    assert after[:3] == before  # epochs 0-1 untouched, 2-3 appended by the resumed run
    assert [line.split(",")[0] for line in after[1:]] == ["0", "1", "2", "3"]
    assert len(result.history["loss"]) == 4 and result.metrics["epochs_run"] == 4
    assert not (tmp_path / "ft" / "backup").exists() and (tmp_path / "ft" / "model.keras").is_file()
    # the optimizer (and so the warm-up + cosine schedule) went on where it stopped, not from step 0
    steps = -(-result.metrics["n_train"] // 8)
    assert int(result.model.optimizer.iterations.numpy()) == 4 * steps
    with pytest.raises(RunExistsError, match="finished run"):  # a finished run is kept unless overwrite=True
        finetune(source, tmp_path / "ft", **options)
