"""Strategy choice and extra callbacks of zoobot_tf.training.train."""

import keras
import pytest
import tensorflow as tf

from zoobot_tf.shards import write_shards
from zoobot_tf.synthetic import make_synthetic_dataset
from zoobot_tf.training import strategy as strategy_module
from zoobot_tf.training import train


def test_mirrored_on_one_device_is_the_default_strategy(monkeypatch):
    # a one-replica MirroredStrategy computes nothing more than the default one, and adds a
    # distributed input iterator rebuilt at every epoch
    monkeypatch.setattr(strategy_module, "_local_devices", lambda: ["/job:localhost/replica:0/task:0/device:CPU:0"])
    chosen = strategy_module.get_strategy("mirrored")
    assert not isinstance(chosen, tf.distribute.MirroredStrategy)
    assert chosen.num_replicas_in_sync == 1


def test_mirrored_on_several_devices_mirrors(monkeypatch):
    devices = ["/cpu:0", "/cpu:0"]
    monkeypatch.setattr(strategy_module, "_local_devices", lambda: devices)
    created = {}
    monkeypatch.setattr(tf.distribute, "MirroredStrategy", lambda devices: created.setdefault("devices", devices))
    strategy_module.get_strategy("mirrored")
    assert created["devices"] == devices


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("strategy")
    catalog = make_synthetic_dataset(root / "synthetic", n=40, size=32, progress=False, seed=5)
    write_shards(catalog, root / "shards", schema="decals_dr5", size=32, shard_size=16, val_fraction=0.2,
                 test_fraction=0.1, progress=False)
    return root / "shards"


@pytest.mark.slow  # trains for several epochs
def test_extra_callbacks_see_every_epoch(shards, tmp_path):
    class Count(keras.callbacks.Callback):
        epochs = []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((epoch, "val_loss" in (logs or {})))

    counter = Count()
    train(tmp_path / "run", None, shards, architecture="small_cnn", batch_size=8, epochs=2, patience=5,
          progress=False, callbacks=[counter])
    assert counter.epochs == [(0, True), (1, True)]
