"""Classification: metrics on known arrays, train_classifier end to end on 11-channel FITS shards
(small_cnn; one Linformer run through the same path), attention maps (DAT, Linformer; CNNs refused),
and the command lines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zoobot_tf.commands import attention_maps as attention_command
from zoobot_tf.commands import train_classifier as command
from zoobot_tf.classification import (
    classification_report,
    compute_attention_maps,
    galaxy_mask_sizes,
    per_class_accuracy,
    plot_attention_map,
    top_k_accuracy,
    top_k_accuracy_by_bin,
    train_classifier,
    write_attention_maps,
)
from zoobot_tf.classification.imbalance import class_counts
from zoobot_tf.models import get_model
from zoobot_tf.schemas import get_label_set
from zoobot_tf.shards import write_shards
from zoobot_tf.synthetic import make_synthetic_dataset
from zoobot_tf.training import RunExistsError

SIZE = 32
CLASSES = get_label_set("hubble_sequence").classes


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """40 synthetic 5-band FITS galaxies -> 11-channel float16 shards (24 train / 8 val / 8 test)."""
    root = tmp_path_factory.mktemp("classification")
    catalog = make_synthetic_dataset(root / "synthetic", n=40, size=SIZE, fits=True, progress=False, seed=1)
    write_shards(catalog, root / "shards", schema="hubble_sequence", size=SIZE, channels=5, dtype="float16",
                 scaling="minmax", nan_mask=True, galaxy_mask=True, val_fraction=0.2, test_fraction=0.2,
                 shard_size=16, progress=False)
    return root, catalog


@pytest.fixture(scope="module")
def cnn_run(data):
    root, _ = data
    save_dir = root / "cnn_run"
    model, history, report = train_classifier(save_dir, root / "shards", architecture="small_cnn",
                                              imbalance="class_weight", optimizer="dat", epochs=2, batch_size=8,
                                              progress=False, batchnorm_momentum=0.9)
    return save_dir, model, history, report


def test_metrics_on_known_arrays():
    probabilities = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]])
    labels = np.array([0, 2, 2, 2])
    assert top_k_accuracy(labels, probabilities, 1) == 0.5
    assert top_k_accuracy(labels, probabilities, 2) == 1.0
    per_class = per_class_accuracy(labels, probabilities, ["a", "b", "c"])
    assert per_class["a"] == {"accuracy": 1.0, "top2_accuracy": 1.0, "n": 1}
    assert per_class["c"]["accuracy"] == pytest.approx(1 / 3) and per_class["b"]["n"] == 0
    report = classification_report(labels, probabilities, ["a", "b", "c"])
    assert report["top1_accuracy"] == report["accuracy"] == 0.5 and report["top2_accuracy"] == 1.0
    assert "top3_accuracy" not in report  # k must stay below the number of classes
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 0, 0], [1, 1, 1]]
    assert report["per_class"]["c"]["recall"] == pytest.approx(1 / 3)

    sizes = np.array([10, 20, 30, 40])
    table = top_k_accuracy_by_bin(labels, probabilities, sizes, bins=[0, 25, 50], k=1)
    assert table["n"].tolist() == [2, 2] and table["top1_accuracy"].tolist() == [0.5, 0.5]
    table = top_k_accuracy_by_bin(labels, probabilities, sizes, bins=2, k=2)
    assert table["n"].sum() == 4 and table["top2_accuracy"].tolist() == [1.0, 1.0]

    images = np.zeros((2, 4, 4, 3))
    images[0, :2, :2, -1] = 1.0
    images[1, :, :, -1] = 0.6
    assert galaxy_mask_sizes(images).tolist() == [4, 16]
    with pytest.raises(ValueError, match=r"labels\[1\] = 5"):
        top_k_accuracy([0, 5], probabilities[:2], 1)


def test_train_classifier_end_to_end(cnn_run, data):
    root, _ = data
    save_dir, model, history, report = cnn_run
    assert history["epoch"] == [0, 1]
    assert {"accuracy", "top2_accuracy", "top3_accuracy", "val_top2_accuracy"} <= set(history)
    config = json.loads((save_dir / "config.json").read_text())
    assert config["optimizer"]["class_name"] == "AdamW"
    assert config["optimizer"]["config"]["global_clipnorm"] == 1.0
    assert config["optimizer"]["config"]["learning_rate"]["config"]["learning_rate"] == pytest.approx(4e-4)
    counts = class_counts(root / "shards")
    expected = counts.sum() / ((counts > 0).sum() * np.maximum(counts, 1))
    expected[counts == 0] = 1.0
    assert config["loss"]["config"]["class_weights"] == pytest.approx(expected.tolist())
    assert config["input_shape"] == [SIZE, SIZE, 11]

    evaluation = save_dir / "evaluation"
    for name in ("metrics.json", "confusion_matrix.png", "top2_by_size.png", "predictions.csv", "training_curves.png"):
        assert (evaluation / name).stat().st_size > 0, name
    metrics = json.loads((evaluation / "metrics.json").read_text())
    predictions = pd.read_csv(evaluation / "predictions.csv")
    assert metrics["n"] == len(predictions) == 8
    assert metrics["top1_accuracy"] == pytest.approx((predictions["label"] == predictions["predicted"]).mean())
    assert np.asarray(metrics["confusion_matrix"]).sum() == 8
    assert metrics["top2_accuracy"] >= metrics["top1_accuracy"]
    assert sum(row["n"] for row in metrics["top2_by_size"]) == 8
    assert (predictions["size"] > 0).all()  # galaxy-mask pixels of the model inputs
    assert metrics["imbalance"]["strategy"] == "class_weight" and sum(metrics["imbalance"]["train_class_counts"]) == 24
    assert report["top2_accuracy"] == metrics["top2_accuracy"]

    with pytest.raises(RunExistsError):
        train_classifier(save_dir, root / "shards", architecture="small_cnn", epochs=2, batch_size=8, progress=False)


def test_bad_settings_are_named(data, tmp_path):
    root, _ = data
    with pytest.raises(ValueError, match="unknown imbalance strategy 'smote'"):
        train_classifier(tmp_path / "a", root / "shards", imbalance="smote", architecture="small_cnn", batch_size=8)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        train_classifier(tmp_path / "b", root / "shards", optimizer="sgd", architecture="small_cnn", batch_size=8)
    with pytest.raises(ValueError, match="larger than the 24 training records"):
        train_classifier(tmp_path / "c", root / "shards", architecture="small_cnn", batch_size=32)


@pytest.mark.slow
def test_linformer_trains_through_the_same_path_and_draws_attention(data, tmp_path):
    root, catalog = data
    save_dir = tmp_path / "linformer"
    _, history, report = train_classifier(save_dir, root / "shards", architecture="linformer_test",
                                          imbalance="uniform_sampling", optimizer="linformer", epochs=1,
                                          batch_size=8, evaluate=False, progress=False)
    assert report is None and np.isfinite(history["loss"][0])
    config = json.loads((save_dir / "config.json").read_text())
    assert config["train_transform"]["config"]["strategy"] == "uniform_sampling"
    assert config["optimizer"]["config"]["learning_rate"]["class_name"] == "ExponentialDecay"

    paths = write_attention_maps(save_dir, catalog, tmp_path / "maps", n=2)
    assert [p.name for p in paths] == ["synthetic_000000.png", "synthetic_000001.png"]
    assert all(p.stat().st_size > 5000 for p in paths)

    model = get_model("hubble_sequence", (SIZE, SIZE, 11), architecture="linformer_test", head="softmax")
    images = np.random.default_rng(0).uniform(0, 1, (2, SIZE, SIZE, 11)).astype("float32")
    maps = compute_attention_maps(model, images)
    assert maps["kind"] == "linformer" and maps["map"].shape == (2, 4, 4)  # 32 px / patch 8
    assert np.allclose(maps["attention"].sum(axis=-1), 1.0, atol=1e-5)
    assert np.allclose(maps["map"].max(axis=(1, 2)), 1.0) and (maps["map"] >= 0).all()


def test_dat_attention_maps_show_sampling_points(tmp_path):
    model = get_model("hubble_sequence", (SIZE, SIZE, 11), architecture="dat_test", head="softmax")
    images = np.random.default_rng(1).uniform(0, 1, (2, SIZE, SIZE, 11)).astype("float32")
    maps = compute_attention_maps(model, images, block=0)  # stage 3: a 2 x 2 key grid at 32 px
    assert maps["kind"] == "deformable"
    assert maps["sampling_points"].shape == maps["reference_points"].shape
    assert maps["sampling_points"].shape[0] == 2 and maps["sampling_points"].shape[-1] == 2
    path = plot_attention_map(images[0], maps, 0, tmp_path / "dat.png")
    assert path.stat().st_size > 5000


def test_cnn_models_are_refused_clearly(cnn_run, data, tmp_path):
    _, catalog = data
    save_dir, model, _, _ = cnn_run
    with pytest.raises(ValueError, match="no attention layers"):
        compute_attention_maps(model, np.zeros((1, SIZE, SIZE, 11), "float32"))
    with pytest.raises(ValueError, match="no attention layers"):
        write_attention_maps(save_dir, catalog, tmp_path / "maps", n=1)
    # a model file alone carries its image recipe: it gets as far as the model's layers
    lone = tmp_path / "lone" / "model.keras"
    lone.parent.mkdir()
    lone.write_bytes((save_dir / "model.keras").read_bytes())
    with pytest.raises(ValueError, match="no attention layers"):
        write_attention_maps(lone, catalog, tmp_path / "maps", n=1)


def test_command_lines_pass_their_arguments(monkeypatch, tmp_path):
    calls = {}

    def fake_train(save_dir, shard_dir, label_set=None, **kwargs):
        calls.update(save_dir=save_dir, shard_dir=shard_dir, label_set=label_set, **kwargs)
        return None, {"epoch": [0]}, {"split": "test", "n": 3, "accuracy": 0.5, "top2_accuracy": 1.0}

    monkeypatch.setattr("zoobot_tf.classification.train.train_classifier", fake_train)
    parser = command.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--shards", "S", "--out", str(tmp_path), "--label-set", "hubble_sequence",
                              "--architecture", "linformer_vit", "--imbalance", "balanced_mixup", "--mixup-alpha", "0.4",
                              "--optimizer", "dat", "--epochs", "3", "--batch-size", "18", "--no-evaluate"])
    assert command.run(args) == 0
    assert calls["label_set"] == "hubble_sequence" and calls["architecture"] == "linformer_vit"
    assert calls["imbalance"] == "balanced_mixup" and calls["mixup_alpha"] == 0.4 and calls["optimizer"] == "dat"
    assert calls["epochs"] == 3 and calls["batch_size"] == 18 and calls["evaluate"] is False
    with pytest.raises(SystemExit):
        parser.parse_args(["--shards", "S", "--out", "O", "--imbalance", "oversample"])

    seen = {}
    monkeypatch.setattr("zoobot_tf.classification.attention_maps.write_attention_maps",
                        lambda model, catalog, out, **kw: seen.update(model=model, catalog=catalog, out=out, **kw) or [])
    parser = attention_command.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--model", "M", "--catalog", "C.csv", "--out", "D", "--n", "3"])
    assert attention_command.run(args) == 0
    assert seen == {"model": "M", "catalog": "C.csv", "out": "D", "n": 3, "band": 1, "block": -1}


def _script(name):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_scripts_default_to_the_studies_recipes():
    hubble = _script("train_hubble_sequence").parse_args(["--out", "x"])
    assert (hubble.architecture, hubble.batch_size, hubble.learning_rate, hubble.min_learning_rate) == (
        "dat_tiny", 18, 4e-4, 5e-6)
    assert (hubble.warmup_epochs, hubble.weight_decay, hubble.clip_norm) == (10, 0.05, 1.0)
    gz2 = _script("train_gz2_8class").parse_args(["--out", "x"])
    assert (gz2.architecture, gz2.learning_rate, gz2.decay_rate, gz2.decay_epochs, gz2.size) == (
        "linformer_vit", 3e-4, 0.9, 5, 224)


def test_gz2_votes_give_the_eight_classes():
    from zoobot_tf.classification import gz2_eight_class_labels
    from zoobot_tf.schemas import get_schema

    schema = get_schema("gz2")
    votes = pd.DataFrame(np.zeros((3, schema.n_answers)), columns=schema.label_cols)

    # a clear barred spiral: featured 40, not edge-on 40, spiral 36/40, bar 36/40 -> 0.81
    votes.loc[0, ["smooth-or-featured-gz2_featured-or-disk", "disk-edge-on-gz2_no"]] = 40
    votes.loc[0, ["has-spiral-arms-gz2_yes", "has-spiral-arms-gz2_no", "bar-gz2_yes", "bar-gz2_no"]] = [36, 4, 36, 4]
    votes.loc[0, "something-odd-gz2_no"] = 40
    # a merger: odd 30/40, merger 27/30 -> 0.675 (smooth-round path 0.5 x 0.5)
    votes.loc[1, ["smooth-or-featured-gz2_smooth", "smooth-or-featured-gz2_featured-or-disk"]] = [20, 20]
    votes.loc[1, ["how-rounded-gz2_round", "how-rounded-gz2_in-between"]] = [10, 10]
    votes.loc[1, ["something-odd-gz2_yes", "something-odd-gz2_no", "odd-feature-gz2_merger", "odd-feature-gz2_ring"]] = [
        30, 10, 27, 3]
    # split between round and in-between: 0.5 each, below the 0.6 asked for
    votes.loc[2, ["smooth-or-featured-gz2_smooth", "how-rounded-gz2_round", "how-rounded-gz2_in-between"]] = [40, 20, 20]
    labels = gz2_eight_class_labels(votes, min_probability=0.6)
    assert labels.loc[0, "label"] == "barred-spiral" and labels.loc[0, "probability"] == pytest.approx(0.81)
    assert labels.loc[1, "label"] == "merger" and labels.loc[1, "probability"] == pytest.approx(0.675)
    assert pd.isna(labels.loc[2, "label"]) and labels.loc[2, "best_class"] == "round"
