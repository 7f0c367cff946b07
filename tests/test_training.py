"""zoobot_tf.training.train: a tiny run end to end, resume after SIGKILL under MirroredStrategy, the CLI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import FAST_TRAINING as FAST  # the settings of the session's tiny_run
from conftest import SIZE

from zoobot_tf.saving import load_model
from zoobot_tf.schemas import get_schema
from zoobot_tf.training import RunConfigMismatch, RunExistsError, load_run, resume_state, train
from zoobot_tf.commands import train as command

REPO = Path(__file__).resolve().parents[1]
SCHEMA = get_schema("decals_dr5")


def _weights_equal(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_tiny_run_writes_every_file_and_learns(tiny_run):
    save_dir, model, history = tiny_run
    for name in ("config.json", "model.keras", "checkpoints/best.keras", "training_log.csv"):
        assert (save_dir / name).is_file(), name
    assert list((save_dir / "tensorboard").rglob("events.out.tfevents*"))
    assert not (save_dir / "backup").exists()  # removed once the run finished
    assert history["epoch"] == [0, 1, 2]
    assert all(np.isfinite(history["loss"])) and all(np.isfinite(history["val_loss"]))
    assert history["loss"][-1] < history["loss"][0]

    config = json.loads((save_dir / "config.json").read_text())
    assert config["schema"] == "decals_dr5" and config["label_cols"] == SCHEMA.label_cols
    assert config["input_shape"] == [SIZE, SIZE, 3] and config["architecture"] == "small_cnn"
    assert config["status"] == "finished" and len(config["sessions"]) == 1
    assert config["sessions"][0]["initial_epoch"] == 0
    assert {"zoobot_tf", "tensorflow", "keras"} <= set(config["versions"])
    assert Path(config["manifest"]).is_file() and config["n_records"]["train"] == 45
    assert config["recipe"]["augmentation"]["crop_scale"] == [0.7, 0.8] and config["recipe"]["eval_crop"] == 0.75
    assert load_model(save_dir / "model.keras").zoobot_metadata.recipe.to_dict() == config["recipe"]

    # EarlyStopping(restore_best_weights): the final model is the best checkpoint
    best = load_model(save_dir / "checkpoints/best.keras", compile=False)
    assert _weights_equal(best.get_weights(), model.get_weights())
    assert config["best_epoch"] == int(np.argmin(history["val_loss"]))


def test_saved_run_loads_safely_and_predicts(tiny_run):
    save_dir, model, _ = tiny_run
    loaded, config = load_run(save_dir)  # safe_mode=True inside
    assert _weights_equal(loaded.get_weights(), model.get_weights())
    images = np.random.default_rng(0).uniform(0, 1, (4, *config["input_shape"])).astype("float32")
    concentrations = loaded.predict(images, verbose=0)
    assert concentrations.shape == (4, len(config["label_cols"]))
    assert np.all((concentrations > 1.0) & (concentrations < 101.0))


def test_finished_run_is_not_silently_restarted(tiny_run, decals_shards):
    save_dir, _, _ = tiny_run
    with pytest.raises(RunExistsError, match="finished run"):
        train(save_dir, "decals_dr5", decals_shards, epochs=3, progress=False, **FAST)


def test_bad_arguments_name_the_problem(decals_shards, tmp_path):
    with pytest.raises(ValueError, match="label columns"):
        train(tmp_path / "a", "gz2", decals_shards, epochs=1, progress=False, **FAST)
    with pytest.raises(ValueError, match="class shards"):
        train(tmp_path / "b", "hubble_sequence", decals_shards, epochs=1, progress=False, **FAST)
    with pytest.raises(ValueError, match="larger than the 45 training records"):
        train(tmp_path / "c", None, decals_shards, epochs=1, progress=False, **{**FAST, "batch_size": 64})
    with pytest.raises(ValueError, match="unknown strategy"):
        train(tmp_path / "d", None, decals_shards, epochs=1, strategy="tpu", progress=False, **FAST)
    assert not (tmp_path / "a").exists()


def test_resume_state_replays_log_and_drops_unbacked_epochs(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup/training_metadata.json").write_text(json.dumps({"epoch": 3, "batch": 0}))
    rows = ["epoch,loss,val_loss", "0,5.0,4.0", "1,4.0,3.0", "2,3.0,3.5", "3,2.0,1.0"]
    (tmp_path / "training_log.csv").write_text("\n".join(rows) + "\n")
    state = resume_state(tmp_path, load_best=False)
    assert (state.initial_epoch, state.best, state.best_epoch, state.wait) == (3, 3.0, 1, 1)
    # epoch 3 was logged but not backed up: it will run again, so its row goes
    assert (tmp_path / "training_log.csv").read_text().splitlines() == rows[:4]


def test_changed_arguments_refuse_to_resume(tmp_path, decals_shards, tiny_run):
    save_dir = tmp_path / "run"
    (save_dir / "backup").mkdir(parents=True)
    (save_dir / "backup/training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": 0}))
    config = json.loads((tiny_run[0] / "config.json").read_text())
    (save_dir / "config.json").write_text(json.dumps({**config, "learning_rate": 0.5, "epochs": 5}))
    with pytest.raises(RunConfigMismatch, match=r"settings: learning_rate \(0.5 -> 0.01\); "):
        train(save_dir, "decals_dr5", decals_shards, epochs=3, progress=False, **FAST)


DRIVER = r"""
import sys, time
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from zoobot_tf.training import engine, trainer

make_callbacks = engine.make_callbacks

class PauseAfterBackup(keras.callbacks.Callback):  # runs after BackupAndRestore: a window to kill in
    def on_epoch_end(self, epoch, logs=None):
        if epoch == int(sys.argv[3]):
            time.sleep(60)

engine.make_callbacks = lambda *a, **k: make_callbacks(*a, **k) + [PauseAfterBackup()]
model, history = trainer.train(sys.argv[1], "decals_dr5", sys.argv[2], architecture="small_cnn", batch_size=8,
                               epochs=4, learning_rate=1e-2, strategy="mirrored", progress=False)
print("REPLICAS", model.distribute_strategy.num_replicas_in_sync, "EPOCHS", history["epoch"], flush=True)
"""


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_epoch_under_mirrored_two_cpus(decals_shards, tmp_path):
    """SIGKILL after epoch 2's backup, rerun the same command: it continues at epoch 2 on 2 replicas."""
    save_dir, driver = tmp_path / "run", tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    metadata = save_dir / "backup/training_metadata.json"
    proc = subprocess.Popen([sys.executable, str(driver), str(save_dir), str(decals_shards), "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if json.loads(metadata.read_text())["epoch"] >= 2:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = (save_dir / "training_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in before[1:]] == ["0", "1"]
    assert not (save_dir / "model.keras").exists()

    done = subprocess.run([sys.executable, str(driver), str(save_dir), str(decals_shards), "-1"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "REPLICAS 2 EPOCHS [0, 1, 2, 3]" in done.stdout
    after = (save_dir / "training_log.csv").read_text().splitlines()
    assert after[:3] == before  # epochs 0-1 untouched; 2-3 appended by the resumed run
    assert [line.split(",")[0] for line in after[1:]] == ["0", "1", "2", "3"]
    assert all(np.isfinite(float(v)) for line in after[1:] for v in line.split(","))
    config = json.loads((save_dir / "config.json").read_text())
    assert [s["initial_epoch"] for s in config["sessions"]] == [0, 2]
    assert config["sessions"][-1]["epochs_run"] == 2 and config["sessions"][-1]["replicas"] == 2
    assert (save_dir / "model.keras").is_file() and not (save_dir / "backup").exists()


def test_cli_passes_arguments_to_train(monkeypatch, tmp_path):
    calls = {}

    def fake_train(save_dir, schema, shard_dir, **kwargs):
        calls.update(save_dir=save_dir, schema=schema, shard_dir=shard_dir, **kwargs)
        return None, {"epoch": [0, 1], "val_loss": [2.0, 1.5]}

    monkeypatch.setattr("zoobot_tf.training.trainer.train", fake_train)
    parser = command.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--shards", "S", "--out", str(tmp_path), "--architecture", "small_cnn", "--epochs", "3",
                              "--batch-size", "16", "--image-size", "48", "--mixed-precision", "--strategy", "default",
                              "--greyscale", "--batchnorm-momentum", "0.9"])
    assert command.run(args) == 0
    assert calls["shard_dir"] == "S" and calls["schema"] is None and calls["architecture"] == "small_cnn"
    assert (calls["epochs"], calls["batch_size"], calls["image_size"]) == (3, 16, 48)
    assert calls["mixed_precision"] and calls["greyscale"] and calls["strategy"] == "default"
    assert calls["batchnorm_momentum"] == 0.9 and calls["patience"] == 8


@pytest.mark.slow  # trains under mixed precision on CPU (slow there)
def test_mixed_precision_keeps_concentrations_float32(decals_shards, tmp_path):
    model, history = train(tmp_path / "mp", "decals_dr5", decals_shards, epochs=1, mixed_precision=True,
                           strategy="default", progress=False, **FAST)
    assert np.isfinite(history["loss"][0])
    assert model.get_layer("encoder").get_layer("block0_conv").dtype_policy.name == "mixed_float16"
    assert model.output.dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_training_batches_come_from_one_endless_iterator(decals_shards):
    """The run repeats its batched training pipeline (fit keeps one iterator: no stall at each epoch's
    start), and that gives, epoch for epoch, the batches a fresh iterator per epoch would give."""
    import tensorflow as tf

    from zoobot_tf.data import recipe_for_shards
    from zoobot_tf.shards import load_manifest
    from zoobot_tf.training import trainer

    manifest = load_manifest(decals_shards)
    batch_size = 8
    config = {"batch_size": batch_size, "seed": 3, "n_records": {"train": manifest.n_records("train")},
              "shard_dir": str(decals_shards), "image_size": 32, "greyscale": False, "augment": True}
    config["n_records"]["val"] = manifest.n_records("val")
    recipe = recipe_for_shards(manifest, size=32)
    train_ds, _ = trainer._datasets(config, recipe, manifest, tf.distribute.get_strategy())
    steps = manifest.n_records("train") // batch_size
    assert train_ds.cardinality() == tf.data.INFINITE_CARDINALITY
    repeated = [(images.numpy(), labels.numpy()) for images, labels in train_ds.take(2 * steps)]

    fresh = trainer.get_dataset_for(decals_shards, "train", batch_size, augment=True, drop_remainder=True, seed=3,
                                    recipe=recipe)
    per_epoch = [(images.numpy(), labels.numpy()) for _ in range(2) for images, labels in fresh]
    assert len(per_epoch) == len(repeated) == 2 * steps
    for (images, labels), (fresh_images, fresh_labels) in zip(repeated, per_epoch):
        np.testing.assert_array_equal(images, fresh_images)  # same records, same augmentation
        np.testing.assert_array_equal(labels, fresh_labels)
    first, second = (np.concatenate([labels for _, labels in part]) for part in (repeated[:steps], repeated[steps:]))
    assert not np.array_equal(first, second)  # each epoch reshuffled
