"""Fixtures shared by the whole test session: built once, used by several test files.

Why: the synthetic galaxies, their shards and a tiny trained run are the inputs of the training,
fine-tuning and prediction tests; building them once per session (not once per file or test)
is most of what keeps ``make test`` short. Each is realistic data with known answers (the
synthetic galaxies know their true vote fractions), never a stub.

``@pytest.mark.slow`` marks end-to-end checks (over ~10 s, or whole examples and multi-process
runs): ``make test`` skips them so it stays a few minutes on two cores, ``make test-slow`` and
CI run them.
"""

from __future__ import annotations

import pytest

#: image side of the shared synthetic galaxies and shards
SIZE = 32
#: fastest settings that still learn (small CNN, high learning rate, short BatchNorm memory)
FAST_TRAINING = dict(architecture="small_cnn", batch_size=8, learning_rate=1e-2, batchnorm_momentum=0.9)


@pytest.fixture(scope="session")
def synthetic_galaxies(tmp_path_factory):
    """64 synthetic 32 px PNG galaxies with decals_dr5 votes and their true fractions (catalog)."""
    from zoobot_tf.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic_galaxies")
    return make_synthetic_dataset(root, n=64, size=SIZE, progress=False, seed=3)


@pytest.fixture(scope="session")
def decals_shards(synthetic_galaxies, tmp_path_factory):
    """The shared galaxies as decals_dr5 vote shards (45 train / 13 val / 6 test, 16 per file)."""
    from zoobot_tf.shards import write_shards

    out = tmp_path_factory.mktemp("decals_shards") / "shards"
    write_shards(synthetic_galaxies, out, schema="decals_dr5", size=SIZE, shard_size=16, val_fraction=0.2,
                 test_fraction=0.1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_run(decals_shards, tmp_path_factory):
    """``(run directory, model, history)`` of 3 epochs of a small CNN on :func:`decals_shards`."""
    from zoobot_tf.training import train

    save_dir = tmp_path_factory.mktemp("tiny_run") / "tiny"
    model, history = train(save_dir, "decals_dr5", decals_shards, epochs=3, progress=False, **FAST_TRAINING)
    return save_dir, model, history
