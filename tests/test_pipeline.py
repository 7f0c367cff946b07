"""tf.data pipeline from shards: shapes, label/id alignment, eval determinism, augmentation, distribution."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from astropy.io import fits
from PIL import Image

from zoobot_tf.data import augment as aug
from zoobot_tf.data import get_dataset
from zoobot_tf.recipe import Augmentation, ImageRecipe, RecipeError, StoredFormat
from zoobot_tf.schemas import get_label_set, get_schema
from zoobot_tf.shards import iter_records, write_shards

SIZE = 32
N = 24
LOW = 64  # darkest stored pixel: any black (fill) pixel after augmentation would be below it
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    """Labelled uint8 RGB shards (decals_dr5 votes) and their catalog."""
    root = tmp_path_factory.mktemp("rgb")
    rng = np.random.default_rng(0)
    cols = get_schema("decals_dr5").label_cols
    rows = []
    for i in range(N):
        path = root / f"g{i}.png"
        Image.fromarray(rng.integers(LOW, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
        rows.append({"id_str": f"g{i}", "file_loc": str(path), **dict(zip(cols, rng.integers(0, 30, len(cols))))})
    catalog = pd.DataFrame(rows)
    write_shards(catalog, root / "shards", schema="decals_dr5", size=SIZE, shard_size=4, val_fraction=0.0,
                 test_fraction=0.25, progress=False)
    return root / "shards", catalog.set_index("id_str")[cols].astype(np.float32)


@pytest.fixture(scope="module")
def nband(tmp_path_factory):
    """11-band float16 FITS shards with Hubble-type class labels."""
    root = tmp_path_factory.mktemp("nband")
    rng = np.random.default_rng(1)
    classes = get_label_set("hubble_sequence").classes
    rows = []
    for i in range(10):
        path = root / f"n{i}.fits"
        fits.PrimaryHDU(rng.normal(0, 50, (11, 16, 16)).astype(np.float32)).writeto(path)
        rows.append({"id_str": f"n{i}", "file_loc": str(path), "label": classes[i % len(classes)]})
    catalog = pd.DataFrame(rows)
    write_shards(catalog, root / "shards", schema="hubble_sequence", size=16, channels=11, dtype="float16",
                 val_fraction=0.2, test_fraction=0.2, shard_size=3, progress=False)
    return root / "shards", catalog


def _stored(shard_dir, split):
    records = list(iter_records(shard_dir, split))
    return [r["id_str"] for r in records], np.stack([r["image"] for r in records])


# --- outputs -----------------------------------------------------------------------------------


def test_shapes_dtypes_and_label_alignment(rgb):
    shard_dir, labels = rgb
    ds = get_dataset(shard_dir, "train", 5, output_size=24, include_ids=True, seed=0)
    seen = []
    for images, batch_labels, ids in ds:
        assert images.dtype == tf.float32 and images.shape[1:] == (24, 24, 3)
        assert batch_labels.dtype == tf.float32 and batch_labels.shape[1:] == (34,)
        ids = [i.decode() for i in ids.numpy()]
        np.testing.assert_array_equal(batch_labels.numpy(), labels.loc[ids].to_numpy())
        seen += ids
    assert sorted(seen) == sorted(_stored(shard_dir, "train")[0])  # every record once, shuffled
    assert seen != _stored(shard_dir, "train")[0]
    images, batch_labels = next(iter(get_dataset(shard_dir, "test", 4)))
    assert images.shape == (4, SIZE, SIZE, 3) and batch_labels.shape == (4, 34)


def test_class_labels_and_n_band_float16(nband):
    shard_dir, catalog = nband
    label_set = get_label_set("hubble_sequence")
    ids, stored = _stored(shard_dir, "train")
    ds = get_dataset(shard_dir, "train", 3, augment=False, shuffle=False, eval_crop=1.0, include_ids=True)
    images, labels, out_ids = (np.concatenate(parts) for parts in zip(*[[t.numpy() for t in b] for b in ds]))
    assert images.dtype == np.float32 and images.shape == (len(ids), 16, 16, 11) and labels.dtype == np.int32
    assert [i.decode() for i in out_ids] == ids
    np.testing.assert_allclose(images, stored.astype(np.float32), atol=1e-3)  # float shards as stored
    assert images.min() < 0  # HDR values are not squashed into [0, 1]
    by_id = catalog.set_index("id_str")["label"]
    assert labels.tolist() == [label_set.index(by_id[i]) for i in ids]
    augmented = next(iter(get_dataset(shard_dir, "train", 3, seed=1, greyscale=True, output_size=8)))[0]
    assert augmented.shape == (3, 8, 8, 1)


def test_unlabelled_yields_ids(rgb, tmp_path):
    shard_dir, _ = rgb
    pngs = [str(Path(shard_dir).parent / f"g{i}.png") for i in range(N)]
    catalog = pd.DataFrame({"id_str": [f"g{i}" for i in range(N)], "file_loc": pngs})
    write_shards(catalog, tmp_path, labelled=False, size=SIZE, shard_size=10, progress=False)
    batches = list(get_dataset(tmp_path, "predict", 10, augment=False))
    assert [len(b) for b in batches] == [2, 2, 2]
    assert batches[0][0].shape == (10, SIZE, SIZE, 3) and batches[0][1].dtype == tf.string
    assert sorted(i.decode() for b in batches for i in b[1].numpy()) == sorted(catalog["id_str"])


# --- eval vs augmentation ------------------------------------------------------------------------


def test_eval_mode_is_deterministic_centre_crop(rgb):
    shard_dir, _ = rgb
    ids, stored = _stored(shard_dir, "test")
    first = [b[0].numpy() for b in get_dataset(shard_dir, "test", 4, augment=False)]
    second = [b[0].numpy() for b in get_dataset(shard_dir, "test", 4, augment=False)]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))
    # full-area crop at the stored size is the identity: stored uint8 / 255
    full = get_dataset(shard_dir, "test", 6, augment=False, eval_crop=1.0)
    np.testing.assert_allclose(next(iter(full))[0].numpy(), stored / 255.0, atol=1e-6)
    # default crop keeps the central sqrt(0.75) of the side
    side = math.sqrt(0.75) * (SIZE - 1)
    lo = (SIZE - 1 - side) / 2
    centre = first[0][:, SIZE // 2, SIZE // 2]
    grid = np.linspace(lo, lo + side, SIZE)
    y0 = int(np.floor(grid[SIZE // 2]))
    wy = grid[SIZE // 2] - y0
    expected = (
        stored[:4, y0, y0] * (1 - wy) ** 2 + stored[:4, y0 + 1, y0] * wy * (1 - wy)
        + stored[:4, y0, y0 + 1] * wy * (1 - wy) + stored[:4, y0 + 1, y0 + 1] * wy**2
    ) / 255.0
    np.testing.assert_allclose(centre, expected, atol=1e-5)


def test_augmentation_changes_pixels_keeps_range_and_is_seeded(rgb):
    shard_dir, _ = rgb
    plain = np.concatenate([b[0].numpy() for b in get_dataset(shard_dir, "test", 6, augment=False)])

    def epochs(ds, n):
        iterator_epochs = []
        for _ in range(n):
            iterator_epochs.append(np.concatenate([b[0].numpy() for b in ds]))
        return iterator_epochs

    ds = get_dataset(shard_dir, "test", 6, shuffle=False, seed=3)
    a1, a2 = epochs(ds, 2)
    (b1,) = epochs(get_dataset(shard_dir, "test", 6, shuffle=False, seed=3), 1)
    np.testing.assert_array_equal(a1, b1)  # same seed, same augmentation
    assert not np.allclose(a1, a2)  # ...but each epoch is new
    assert not np.allclose(a1, plain)
    assert a1.shape == plain.shape
    # bilinear resampling + reflect fill: values stay inside the stored range, no black fill
    assert a1.min() >= LOW / 255.0 - 1e-6 and a1.max() <= 1.0 + 1e-6


def test_greyscale_views_drop_colour_and_leave_the_geometry_alone():
    images = tf.constant(np.random.default_rng(5).uniform(0, 1, (64, 24, 24, 3)).astype(np.float32))
    seed = tf.constant([7, 11])
    colour = aug.augment_images(images, seed, output_size=16, augmentation=Augmentation()).numpy()
    mixed = aug.augment_images(images, seed, output_size=16, augmentation=Augmentation(greyscale=0.5)).numpy()
    grey = np.all(np.ptp(mixed, axis=-1) < 1e-6, axis=(1, 2))
    assert 16 < grey.sum() < 48  # about half of the views, at random
    np.testing.assert_array_equal(mixed[~grey], colour[~grey])  # the same crops, turns and flips
    np.testing.assert_allclose(mixed[grey], np.repeat(colour[grey].mean(-1, keepdims=True), 3, -1), atol=1e-6)
    one_band = aug.augment_images(images[..., :1], seed, output_size=16, augmentation=Augmentation(greyscale=1.0))
    np.testing.assert_array_equal(one_band.numpy(), aug.augment_images(images[..., :1], seed, output_size=16).numpy())
    # the recipe carries it; recipes written before it read as no greyscale views
    recipe = Augmentation(greyscale=0.3)
    assert Augmentation.from_dict(recipe.to_dict()) == recipe and "greyscale views 0.3" in recipe.describe()
    assert "greyscale" not in Augmentation().to_dict() and Augmentation.from_dict(Augmentation().to_dict()) == Augmentation()
    with pytest.raises(RecipeError, match="greyscale"):
        Augmentation(greyscale=1.5)


def test_rotation_reflects_instead_of_black_corners():
    image = np.random.default_rng(2).uniform(0.5, 1.0, (1, 20, 20, 2)).astype(np.float32)
    angle = tf.constant([math.pi / 4])
    reflected = aug.rotate(tf.constant(image), angle).numpy()
    constant = aug.rotate(tf.constant(image), angle, fill_mode="CONSTANT").numpy()
    assert constant[0, 0, 0, 0] == 0.0  # the test would see black corners
    assert reflected.min() >= 0.5 - 1e-6  # reflect fill keeps corners inside the image's range
    quarter = aug.rotate(tf.constant(image), tf.constant([math.pi / 2])).numpy()
    np.testing.assert_allclose(quarter[0], np.rot90(image[0], k=1, axes=(0, 1)), atol=1e-4)


def test_fused_transform_matches_separate_ops():
    images = np.random.default_rng(3).uniform(0, 1, (2, 20, 20, 3)).astype(np.float32)
    full = tf.constant([[0.0, 0.0, 1.0, 1.0]] * 2)
    # quarter turns + flips with a full-frame crop are exact pixel permutations
    out = aug.transform_images(images, tf.constant([math.pi / 2, math.pi]), tf.constant([True, False]),
                               tf.constant([False, True]), full, 20).numpy()
    np.testing.assert_allclose(out[0], np.rot90(images[0], k=1, axes=(0, 1))[:, ::-1], atol=1e-4)
    np.testing.assert_allclose(out[1], np.rot90(images[1], k=2, axes=(0, 1))[::-1, :], atol=1e-4)
    # no rotation or flip: the same crop + resize as tf.image.crop_and_resize
    boxes = tf.constant([[0.1, 0.2, 0.8, 0.9], [0.3, 0.0, 0.9, 0.7]])
    no = tf.constant([False, False])
    np.testing.assert_allclose(
        aug.transform_images(images, tf.zeros([2]), no, no, boxes, 12).numpy(),
        tf.image.crop_and_resize(images, boxes, [0, 1], [12, 12]).numpy(),
        atol=1e-5,
    )
    # any angle with a full-frame crop: the plain rotation
    angles = tf.constant([0.7, 4.0])
    np.testing.assert_allclose(
        aug.transform_images(images, angles, no, no, full, 20).numpy(), aug.rotate(images, angles).numpy(), atol=1e-5
    )


def test_greyscale_is_channel_mean(rgb):
    shard_dir, _ = rgb
    colour = next(iter(get_dataset(shard_dir, "test", 6, augment=False)))[0].numpy()
    grey = next(iter(get_dataset(shard_dir, "test", 6, augment=False, greyscale=True)))[0].numpy()
    assert grey.shape == (6, SIZE, SIZE, 1)
    np.testing.assert_allclose(grey[..., 0], colour.mean(axis=-1), atol=1e-5)


def test_bad_arguments(rgb):
    shard_dir, _ = rgb
    with pytest.raises(KeyError, match="no split 'predict'.*'train'"):
        get_dataset(shard_dir, "predict", 4)
    with pytest.raises(ValueError, match="split 'val' .* has no records"):
        get_dataset(shard_dir, "val", 4)
    with pytest.raises(ValueError, match="crop_scale"):
        get_dataset(shard_dir, "train", 4, augmentation=Augmentation(crop_scale=(0.9, 0.5)))
    # a model's recipe that stores images otherwise than the shards: one line naming both
    other = ImageRecipe(StoredFormat(size=SIZE * 2, channels=3), size=SIZE, channels=3)
    with pytest.raises(RecipeError, match=r"stores images as 32 px, 3 band\(s\).*trained on 64 px, 3 band"):
        get_dataset(shard_dir, "train", 4, recipe=other)


def test_quarter_turns_and_no_crop_keep_every_pixel(rgb):
    """rotation '90' + flips + no crop only permute pixels: each view is a dihedral image of the stored one."""
    shard_dir, _ = rgb
    ids, stored = _stored(shard_dir, "test")
    views = Augmentation(crop_scale=(1.0, 1.0), rotation="90", flip=True)
    images = next(iter(get_dataset(shard_dir, "test", 6, shuffle=False, seed=5, augmentation=views)))[0].numpy()
    for image, original in zip(images, stored[:6] / 255.0):
        dihedral = [np.rot90(o, k, axes=(0, 1)) for k in range(4) for o in (original, original[:, ::-1])]
        assert min(np.abs(image - d).max() for d in dihedral) < 1e-4


# --- distribution ----------------------------------------------------------------------------------

_DISTRIBUTE = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from zoobot_tf.data import get_dataset
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
ds = get_dataset(sys.argv[1], "train", 8, seed=0, shuffle=False, drop_remainder=True, output_size=16)

@tf.function
def step(images, labels):
    return tf.reduce_sum(labels), tf.shape(images)[0]

per_replica, total = [], 0.0
for images, labels in strategy.experimental_distribute_dataset(ds):
    label_sum, n = strategy.run(step, args=(images, labels))
    per_replica.append([int(x) for x in strategy.experimental_local_results(n)])
    total += float(strategy.reduce("SUM", label_sum, axis=None))
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "per_replica": per_replica, "total": total}))
"""


@pytest.mark.slow  # a separate TensorFlow process with two logical CPUs
def test_mirrored_strategy_on_two_logical_cpus(rgb):
    shard_dir, labels = rgb
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTE, str(shard_dir)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    assert out["per_replica"] == [[4, 4], [4, 4]]  # 18 train records -> 2 full batches of 8
    ids = _stored(shard_dir, "train")[0][:16]
    assert out["total"] == pytest.approx(float(labels.loc[ids].to_numpy().sum()))
