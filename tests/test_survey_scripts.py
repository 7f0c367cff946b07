"""The per-survey scripts run on the real sample tables with tiny overrides of their full-size defaults."""

import importlib.util
import json
from pathlib import Path

import h5py
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "galaxy_zoo"


def _script(relative):
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_decals_and_gz2_shards_then_train_and_predict(tmp_path):
    decals = tmp_path / "decals_shards"
    _script("scripts/make_decals_shards.py").main([
        "--table", str(DATA / "decals" / "gz_decals_volunteers_5.csv"), "--images", str(DATA / "decals"),
        "--out-dir", str(decals), "--size", "32", "--workers", "1", "--strict",
    ])
    manifest = json.loads((decals / "manifest.json").read_text())
    assert manifest["schema"] == "decals_dr5"
    assert sum(split["n_records"] for split in manifest["splits"].values()) == 6

    gz2 = tmp_path / "gz2_shards"
    _script("scripts/make_gz2_shards.py").main([
        "--table", str(DATA / "gz2" / "gz2_hart16.csv"), "--mapping", str(DATA / "gz2" / "gz2_filename_mapping.csv"),
        "--images", str(DATA / "gz2" / "images"), "--out-dir", str(gz2), "--size", "32", "--workers", "1", "--strict",
    ])
    assert json.loads((gz2 / "manifest.json").read_text())["schema"] == "gz2"

    run = tmp_path / "run"
    assert _script("scripts/train_decals.py").main([
        "--shards", str(decals), "--out", str(run), "--architecture", "small_cnn", "--image-size", "32",
        "--batch-size", "2", "--epochs", "1", "--no-progress",
    ]) == 0
    assert (run / "model.keras").is_file()

    out = tmp_path / "predictions.hdf5"
    _script("scripts/predict_catalog.py").main([
        "--catalog", str(decals / "catalog.csv"), "--model", str(run), "--out", str(out), "--n-samples", "2",
        "--batch-size", "4", "--no-progress",
    ])
    with h5py.File(out, "r") as f:
        assert f["predictions"].shape == (6, 34, 2)


def test_full_size_defaults_are_zoobots():
    parser_defaults = _script("scripts/train_decals.py").FULL_SIZE
    assert parser_defaults["image_size"] == 224 and parser_defaults["batch_size"] == 128
    assert parser_defaults["architecture"] == "efficientnet_b0"


@pytest.mark.slow
def test_train_detection_script_on_synthetic_fields(tmp_path, capsys):
    """scripts/train_detection.py maps its options onto train_detection: a tiny run saves a model
    that loads, with the history of the epochs asked for (augmentation on and off)."""
    pytest.importorskip("keras_cv")
    from zoobot_tf.detection import load_mask_rcnn
    from zoobot_tf.detection.scalings import DEFAULT_SCALING

    script = _script("scripts/train_detection.py")
    for name, extra in (("augmented", []), ("plain", ["--no-augment"])):
        save_dir = tmp_path / name
        assert script.main(["--save-dir", str(save_dir), "--n-train", "4", "--n-val", "2", "--size", "64",
                            "--n-galaxies", "2,4", "--n-stars", "1", "--backbone", "tiny", "--epochs-heads", "1",
                            "--epochs-all", "1", "--batch-size", "2", *extra]) == 0
        history = json.loads((save_dir / "history.json").read_text())
        assert [row["phase"] for row in history] == ["heads", "all"] and "val_loss" in history[-1]
        assert load_mask_rcnn(save_dir / "model.keras").scaling == DEFAULT_SCALING == "sky_asinh"
    assert "trained" in capsys.readouterr().out
