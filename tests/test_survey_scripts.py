"""Presets and the verbs that were per-survey scripts, run on the real sample tables with tiny overrides."""

import json
from pathlib import Path

import h5py
import pytest

from zoobot_tf import cli
from zoobot_tf.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "galaxy_zoo"


def _parsed(argv):
    return cli.build_parser(argv).parse_args(argv)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_sets_options_its_verb_has(name):
    preset = PRESETS[name]
    required = {"train": ["--shards", "S", "--out", "O"], "train-classifier": ["--shards", "S", "--out", "O"],
                "finetune": ["--model", "M", "--catalog", "C", "--out", "O"], "predict": ["--catalog", "C", "--model",
                "M", "--out", "O"], "train-kaggle": ["--out", "O"], "train-detection": ["--out", "O"]}[preset.verb]
    args = _parsed([preset.verb, *required, "--preset", name])
    for dest, value in preset.options.items():
        assert getattr(args, dest) == value, (name, dest)


def test_a_preset_gives_zoobots_full_size_settings_and_the_command_line_wins():
    args = _parsed(["train", "--shards", "S", "--out", "O", "--preset", "decals_b0", "--batch-size", "16"])
    assert (args.architecture, args.image_size, args.epochs, args.patience) == ("efficientnet_b0", 224, 200, 8)
    assert args.batch_size == 16  # given on the command line: wins over the preset's 128
    assert _parsed(["train", "--shards", "S", "--out", "O", "--preset=gz2_b0"]).greyscale is True
    plain = _parsed(["train", "--shards", "S", "--out", "O"])
    assert plain.batch_size == 128 and plain.image_size is None and not plain.greyscale
    with pytest.raises(SystemExit):  # another verb's preset
        _parsed(["train", "--shards", "S", "--out", "O", "--preset", "hsc_resnet50"])


@pytest.mark.slow
def test_decals_and_gz2_shards_then_train_and_predict_with_presets(tmp_path):
    import importlib.util

    def script(relative):
        spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    decals = tmp_path / "decals_shards"
    script("scripts/make_decals_shards.py").main([
        "--table", str(DATA / "decals" / "gz_decals_volunteers_5.csv"), "--images", str(DATA / "decals"),
        "--out", str(decals), "--size", "32", "--processes", "1", "--strict",
    ])
    manifest = json.loads((decals / "manifest.json").read_text())
    assert manifest["schema"] == "decals_dr5"
    assert sum(split["n_records"] for split in manifest["splits"].values()) == 6
    gz2 = tmp_path / "gz2_shards"
    script("scripts/make_gz2_shards.py").main([
        "--table", str(DATA / "gz2" / "gz2_hart16.csv"), "--mapping", str(DATA / "gz2" / "gz2_filename_mapping.csv"),
        "--images", str(DATA / "gz2" / "images"), "--out", str(gz2), "--size", "32", "--processes", "1", "--strict",
    ])
    assert json.loads((gz2 / "manifest.json").read_text())["schema"] == "gz2"

    run = tmp_path / "run"
    assert cli.main(["train", "--preset", "decals_b0", "--shards", str(decals), "--out", str(run), "--architecture",
                     "small_cnn", "--image-size", "32", "--batch-size", "2", "--epochs", "1", "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["patience"] == 8  # from the preset
    out = tmp_path / "predictions.hdf5"
    assert cli.main(["predict", "--preset", "survey_gpu", "--catalog", str(decals / "catalog.csv"), "--model",
                     str(run), "--out", str(out), "--n-samples", "2", "--batch-size", "4", "--no-progress"]) == 0
    with h5py.File(out, "r") as f:
        assert f["predictions"].shape == (6, 34, 2)


@pytest.mark.slow
def test_train_detection_verb_on_synthetic_fields(tmp_path, capsys):
    """zoobot-tf train-detection maps its options onto train_detection: a tiny run saves a model that
    loads, with the history of the epochs asked for (augmentation on and off)."""
    pytest.importorskip("keras_cv")
    from zoobot_tf.detection import load_mask_rcnn
    from zoobot_tf.detection.scalings import DEFAULT_SCALING

    for name, extra in (("augmented", []), ("plain", ["--no-augment"])):
        out = tmp_path / name
        assert cli.main(["train-detection", "--out", str(out), "--n-train", "4", "--n-val", "2", "--size", "64",
                         "--n-galaxies", "2,4", "--n-stars", "1", "--backbone", "tiny", "--epochs-heads", "1",
                         "--epochs-all", "1", "--batch-size", "2", "--no-progress", *extra]) == 0
        history = json.loads((out / "history.json").read_text())
        assert [row["phase"] for row in history] == ["heads", "all"] and "val_loss" in history[-1]
        assert load_mask_rcnn(out / "model.keras").scaling == DEFAULT_SCALING == "sky_asinh"
    assert "trained" in capsys.readouterr().out


@pytest.mark.slow
def test_train_kaggle_and_merger_fraction_verbs(tmp_path, capsys):
    out = tmp_path / "kaggle"
    assert cli.main(["train-kaggle", "--out", str(out), "--n-synthetic", "60", "--size", "32", "--architecture",
                     "small_cnn", "--epochs", "2", "--batch-size", "8", "--no-progress"]) == 0
    assert "test RMSE" in capsys.readouterr().out
    assert cli.main(["merger-fraction", "--predictions", str(out / "run" / "evaluation" / "predictions.csv"),
                     "--n-bootstrap", "50", "--out", str(tmp_path / "merger.json")]) == 0
    result = json.loads((tmp_path / "merger.json").read_text())
    assert 0.0 <= result["fraction"] <= 1.0 and "merg" in capsys.readouterr().out.lower()


def test_the_readme_lists_every_preset():
    readme = (ROOT / "README.md").read_text()
    for name, preset in PRESETS.items():
        assert f"| `{name}` | `{preset.verb}` |" in readme, name
