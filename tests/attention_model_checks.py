"""Shared checks for the attention backbones (DAT, Linformer): tiny synthetic data, overfitting,
deterministic inference and safe-mode round trips are asked of both the same way."""

import keras
import numpy as np

from zoobot_tf.images import load_image
from zoobot_tf.models import get_model
from zoobot_tf.saving import load_model
from zoobot_tf.schemas import get_label_set
from zoobot_tf.synthetic import make_synthetic_dataset


def hubble_galaxies(out_dir, size, fits=False, **load_kwargs):
    """16 synthetic galaxies as float images and their Hubble-type class indices."""
    catalog = make_synthetic_dataset(out_dir, n=16, size=size, fits=fits, progress=False)
    images = np.stack([load_image(p, dtype="float32", **load_kwargs) for p in catalog["file_loc"]])
    labels = np.array([get_label_set("hubble_sequence").index(c) for c in catalog["label"]])
    return images, labels


def overfit_softmax(images, labels, architecture, epochs=30, **backbone_kwargs):
    """A softmax model over hubble_sequence fitted to ``images``; returns (model, loss history)."""
    keras.utils.set_random_seed(0)
    model = get_model("hubble_sequence", images.shape[1:], architecture=architecture, head="softmax",
                      dropout_rate=0.2, test_time_dropout=False, **backbone_kwargs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)  # else fit traces its train step twice
    history = model.fit(images, labels, batch_size=16, epochs=epochs, shuffle=False, verbose=0).history["loss"]
    return model, history


def assert_overfits(history):
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.3 * history[0]


def assert_deterministic(model, images):
    first, second = model.predict(images, verbose=0), model.predict(images, verbose=0)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first.sum(axis=1), 1.0, rtol=1e-5)


def assert_safe_round_trip(model, images, path):
    """Save, reload with safe_mode=True, same predictions; returns the loaded model."""
    model.save(path)
    loaded = load_model(path)  # safe_mode=True
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    return loaded
