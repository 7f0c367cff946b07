"""zoobot_tf.predictions: HDF5 layout, MC samples, resume after SIGKILL, unreadable images,
the fast path, worker split + merge, summaries and the command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy import stats

import zoobot_tf
from zoobot_tf.images import load_image
from zoobot_tf.models import get_encoder, get_head, get_model
from zoobot_tf.data.inputs import load_model_input
from zoobot_tf.predictions import (
    PredictionWriter,
    Sampler,
    load_predictions,
    merge_predictions,
    predict,
    read_attrs,
    read_errors,
    resolve_fast_path,
    summarise,
    write_summary,
    summary_columns,
    worker_file,
    worker_of,
)
from zoobot_tf.commands import predict as command
from zoobot_tf.commands import summarise as summarise_command
from zoobot_tf.recipe import ImageRecipe, StoredFormat
from zoobot_tf.saving import attach_metadata, save_model
from zoobot_tf.schemas import get_schema
from zoobot_tf.synthetic import make_synthetic_dataset

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = get_schema("decals_dr5")
SIZE = 32
N_GALAXIES = 24
#: the 48 px synthetic PNGs resized to the model's 32 px, whole image
RECIPE = ImageRecipe(StoredFormat(size=SIZE, channels=3), size=SIZE, channels=3, eval_crop=1.0)


def small_model(seed, **kwargs):
    keras.utils.set_random_seed(seed)
    return attach_metadata(get_model(SCHEMA, (SIZE, SIZE, 3), architecture="small_cnn", **kwargs), RECIPE)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> pd.DataFrame:
    directory = tmp_path_factory.mktemp("synthetic")
    return make_synthetic_dataset(directory, n=N_GALAXIES, size=48, seed=3, progress=False)[["id_str", "file_loc"]]


@pytest.fixture(scope="module")
def model():
    """small_cnn + MC-dropout Dirichlet head; the head kernel is scaled up so that dropout
    visibly moves the concentrations of a randomly initialised model."""
    model = small_model(1, dropout_rate=0.5)
    dense = get_head(model).get_layer("head_dense")
    dense.kernel.assign(dense.kernel.numpy() * 20.0)
    return model


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.keras"
    return save_model(model, path)


@pytest.fixture(scope="module")
def predictions_file(catalog, model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("preds") / "preds.hdf5"
    return predict(catalog, model, n_samples=4, save_loc=out, batch_size=8, schema="decals_dr5", progress=False)


# --- the file ---------------------------------------------------------------------------------


def test_hdf5_layout_and_attributes(predictions_file, catalog):
    with h5py.File(predictions_file, "r") as f:
        assert set(f) == {"id_str", "label_cols", "predictions", "errors"}
        preds = f["predictions"]
        assert preds.shape == (N_GALAXIES, SCHEMA.n_answers, 4) and preds.dtype == np.float32
        assert preds.maxshape == (None, SCHEMA.n_answers, 4) and f["id_str"].maxshape == (None,)
        assert preds.chunks == (8, SCHEMA.n_answers, 4) and preds.compression == "gzip"
        assert h5py.check_string_dtype(f["id_str"].dtype).encoding == "utf-8"
        assert [c for c in f["label_cols"].asstr()[:]] == SCHEMA.label_cols
        assert set(f["errors"]) == {"id_str", "file_loc", "reason"} and f["errors/id_str"].shape == (0,)
        attrs = dict(f.attrs)
    assert attrs["schema"] == "decals_dr5" and attrs["n_samples"] == 4 and attrs["n_written"] == N_GALAXIES
    assert bool(attrs["complete"]) and bool(attrs["fast_path"]) and attrs["package_version"] == zoobot_tf.__version__
    assert attrs["model_file"].startswith("<in-memory model") and attrs["created"].startswith("20")
    assert list(attrs["image_size"]) == [SIZE, SIZE] and attrs["image_channels"] == 3

    ids, label_cols, preds = load_predictions(predictions_file)
    assert sorted(ids) == sorted(catalog["id_str"]) and label_cols == SCHEMA.label_cols
    assert preds.shape == (N_GALAXIES, SCHEMA.n_answers, 4)
    assert np.all((preds > 1.0) & (preds < 101.0))  # Dirichlet concentrations in (1, 101)


def test_mc_samples_differ(predictions_file):
    _, _, preds = load_predictions(predictions_file)
    spread = preds.std(axis=2)
    assert np.all(spread.mean(axis=1) > 0.1)  # every galaxy's samples differ (MC dropout on)
    assert np.all(preds[:, :, 0] != preds[:, :, 1], axis=1).mean() > 0.5
    # and galaxies differ from one another beyond the dropout noise (rows are not copies)
    assert np.abs(np.diff(preds.mean(axis=2), axis=0)).max() > 1.0


def test_rerun_of_complete_file_is_a_noop_and_options_must_match(predictions_file, catalog, model):
    before = (predictions_file.stat().st_mtime_ns, load_predictions(predictions_file)[2])
    predict(catalog, model, n_samples=4, save_loc=predictions_file, batch_size=8, schema="decals_dr5", progress=False)
    np.testing.assert_array_equal(load_predictions(predictions_file)[2], before[1])
    assert predictions_file.stat().st_mtime_ns == before[0]  # not even reopened for writing
    assert read_attrs(predictions_file)["n_written"] == N_GALAXIES
    with pytest.raises(ValueError, match="n_samples=4 but n_samples=3"):
        predict(catalog, model, n_samples=3, save_loc=predictions_file, progress=False, schema="decals_dr5")
    with pytest.raises(ValueError, match="other label_cols"):
        cols = [f"answer_{i}" for i in range(SCHEMA.n_answers)]
        predict(catalog, model, n_samples=4, save_loc=predictions_file, label_cols=cols, progress=False)


def test_writer_commits_whole_chunks(tmp_path):
    path = tmp_path / "w.hdf5"
    rng = np.random.default_rng(0)
    with PredictionWriter(path, ["a", "b"], 3, chunk_rows=4) as writer:
        for k, n in enumerate([3, 2, 5, 1]):  # 3, 5, 10, 11 rows queued
            writer.add([f"g{k}_{i}" for i in range(n)], rng.uniform(1, 2, (n, 2, 3)))
            assert writer.n_written == [0, 4, 8, 8][k]  # only whole chunks so far
        writer.finish()
        assert writer.n_written == 11 and writer.complete
    ids, cols, preds = load_predictions(path)
    assert len(set(ids)) == 11 and cols == ["a", "b"] and preds.shape == (11, 2, 3)


def test_catalog_errors_are_named(catalog, model, tmp_path):
    with pytest.raises(ValueError, match="duplicated id_str.*synthetic_000000"):
        predict(pd.concat([catalog, catalog.iloc[:1]]), model, save_loc=tmp_path / "a.hdf5", progress=False)
    with pytest.raises(ValueError, match="missing column.*file_loc"):
        predict(catalog[["id_str"]], model, save_loc=tmp_path / "b.hdf5", progress=False)
    with pytest.raises(ValueError, match="model has 34 outputs but 2 label_cols"):
        predict(catalog, model, label_cols=["a", "b"], save_loc=tmp_path / "c.hdf5", progress=False)
    with pytest.raises(ValueError, match=r"recipe makes \(64, 64, 3\) inputs but the model takes \(32, 32, 3\)"):
        big = ImageRecipe(StoredFormat(size=64, channels=3), size=64, channels=3)
        predict(catalog, model, recipe=big, save_loc=tmp_path / "d.hdf5", progress=False)
    bare = get_model(SCHEMA, (SIZE, SIZE, 3), architecture="small_cnn")  # no recipe, no run directory
    with pytest.raises(ValueError, match="carries no image recipe.*--stored-size.*--crop-scale.*--scaling"):
        predict(catalog, bare, save_loc=tmp_path / "e.hdf5", progress=False)


# --- images -----------------------------------------------------------------------------------


def test_fits_catalog_with_scaling(tmp_path):
    """Multi-band FITS go through the reference loader (NaN filled, scaled) in the pipeline."""
    fits_catalog = make_synthetic_dataset(tmp_path / "fits", n=5, size=24, fits=True, seed=1, progress=False)
    keras.utils.set_random_seed(4)
    model = get_model(SCHEMA, (16, 16, 5), architecture="small_cnn", dropout_rate=0.0)
    out = predict(fits_catalog, model, n_samples=2, save_loc=tmp_path / "p.hdf5", batch_size=4,
                  stored_size=16, scaling="asinh", schema="decals_dr5", progress=False)
    ids, _, preds = load_predictions(out)
    recorded = ImageRecipe.from_dict(json.loads(read_attrs(out)["image_recipe"]))
    assert list(ids) == list(fits_catalog["id_str"]) and recorded.stored.scaling == "asinh"
    images = np.stack([load_image(p, size=16, scaling="asinh", dtype="float32") for p in fits_catalog["file_loc"]])
    np.testing.assert_allclose(preds[..., 1], model.predict(images, verbose=0), rtol=1e-5)


def test_unreadable_images_are_recorded_and_skipped(catalog, model, tmp_path):
    bad = catalog.copy()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    bad.loc[2, "file_loc"] = str(tmp_path / "missing.png")
    bad.loc[5, "file_loc"] = str(corrupt)
    out = tmp_path / "preds.hdf5"
    predict(bad, model, n_samples=2, save_loc=out, batch_size=8, schema="decals_dr5", progress=False)

    ids, _, preds = load_predictions(out)
    errors = read_errors(out)
    assert sorted(errors["id_str"]) == ["synthetic_000002", "synthetic_000005"]
    reasons = dict(zip(errors["id_str"], errors["reason"]))
    assert "missing.png: no such file" in reasons["synthetic_000002"]
    assert "corrupt.png: cannot decode" in reasons["synthetic_000005"]
    assert sorted(ids) == sorted(set(catalog["id_str"]) - set(errors["id_str"])) and len(preds) == N_GALAXIES - 2
    assert read_attrs(out)["complete"] and read_attrs(out)["n_errors"] == 2

    # recorded errors count as done; retry_errors tries them again (here: the file was fixed)
    predict(bad, model, n_samples=2, save_loc=out, batch_size=8, schema="decals_dr5", progress=False)
    assert len(load_predictions(out)[0]) == N_GALAXIES - 2
    Image.open(catalog.loc[5, "file_loc"]).save(corrupt)
    predict(bad, model, n_samples=2, save_loc=out, batch_size=8, schema="decals_dr5", progress=False,
            retry_errors=True)
    assert list(read_errors(out)["id_str"]) == ["synthetic_000002"]
    ids = load_predictions(out)[0]
    assert len(ids) == N_GALAXIES - 1 == len(set(ids)) and "synthetic_000005" in set(ids)


def test_no_readable_image_is_an_error_that_records_nothing(catalog, model, tmp_path):
    bad = catalog.assign(file_loc=[str(tmp_path / f"nope_{i}.png") for i in range(len(catalog))])
    out = tmp_path / "preds.hdf5"
    with pytest.raises(ValueError, match=f"none of the first {N_GALAXIES} images could be read.*no such file"):
        predict(bad, model, n_samples=2, save_loc=out, batch_size=8, progress=False, schema="decals_dr5")
    assert len(read_errors(out)) == 0  # a rerun after fixing the paths will try them all


# --- resume after a kill ----------------------------------------------------------------------

def test_partial_block_is_cut_off_on_resume(catalog, model_file, tmp_path, monkeypatch):
    """A run that dies after writing a block's predictions but before its ids (here: an
    exception, so the file is even flushed with the extra rows) resumes without duplicates."""
    from zoobot_tf.predictions import hdf5

    append, calls = hdf5._append, []

    def append_then_die(dataset, values):
        if dataset.name == "/id_str":
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("killed between predictions and ids")
        append(dataset, values)

    out = tmp_path / "preds.hdf5"
    kwargs = dict(n_samples=3, save_loc=out, batch_size=4, schema="decals_dr5", progress=False)
    monkeypatch.setattr(hdf5, "_append", append_then_die)
    with pytest.raises(RuntimeError, match="killed between"):
        predict(catalog, model_file, **kwargs)
    monkeypatch.setattr(hdf5, "_append", append)
    with h5py.File(out, "r") as f:
        assert f["predictions"].shape[0] == 12 and f["id_str"].shape[0] == 8  # block 3: predictions only
        assert f.attrs["n_written"] == 8 and not f.attrs["complete"]
        first_ids, first_preds = list(f["id_str"].asstr()[:8]), f["predictions"][:8]

    path = predict(catalog, model_file, **kwargs)
    ids, _, preds = load_predictions(path)
    assert sorted(ids) == sorted(catalog["id_str"]) and len(ids) == len(set(ids)) == N_GALAXIES
    assert preds.shape == (N_GALAXIES, SCHEMA.n_answers, 3)
    assert list(ids[:8]) == first_ids  # resumed, not redone
    np.testing.assert_array_equal(preds[:8], first_preds)
    attrs = read_attrs(path)
    assert attrs["complete"] and attrs["model_file"] == str(model_file.resolve())


_SLOW_CHILD = textwrap.dedent(
    """
    import os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    from zoobot_tf.predictions import hdf5, predict, sampling
    commit, call = hdf5.PredictionWriter._commit, sampling.Sampler.__call__
    def commit_and_say(self, ids, preds):
        commit(self, ids, preds)
        print("committed", self.n_written, flush=True)
    def slow_call(self, images):
        time.sleep(0.1)
        return call(self, images)
    hdf5.PredictionWriter._commit, sampling.Sampler.__call__ = commit_and_say, slow_call
    predict(sys.argv[1], sys.argv[2], n_samples=3, save_loc=sys.argv[3], batch_size=4,
            schema="decals_dr5", progress=False)
    """
)


@pytest.mark.slow  # a child process killed mid-run, then resumed
def test_resume_after_sigkill(catalog, model_file, tmp_path):
    """A subprocess SIGKILLed from outside, at whatever it is doing after two committed blocks."""
    catalog_csv, out = tmp_path / "catalog.csv", tmp_path / "preds.hdf5"
    catalog.to_csv(catalog_csv, index=False)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CHILD, str(catalog_csv), str(model_file), str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        lines = [child.stdout.readline() for _ in range(2)]
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert lines == ["committed 4\n", "committed 8\n"] and child.returncode == -signal.SIGKILL
    committed = read_attrs(out)["n_written"]
    assert 8 <= committed < N_GALAXIES and not read_attrs(out)["complete"]

    predict(catalog_csv, model_file, n_samples=3, save_loc=out, batch_size=4, schema="decals_dr5", progress=False)
    ids, _, preds = load_predictions(out)
    assert sorted(ids) == sorted(catalog["id_str"]) and preds.shape == (N_GALAXIES, SCHEMA.n_answers, 3)


def test_the_same_seed_repeats_the_samples_of_a_freshly_loaded_model(catalog, model_file, tmp_path):
    """Each load of a .keras file seeds its dropout streams afresh (from Python's ``random``), as a
    new process does; the prediction's seed must make the samples repeat anyway."""
    kwargs = dict(n_samples=3, batch_size=8, schema="decals_dr5", progress=False)
    files = {name: predict(catalog, model_file, save_loc=tmp_path / f"{name}.hdf5", seed=seed, **kwargs)
             for name, seed in (("a", 0), ("b", 0), ("other", 1))}
    (ids_a, _, a), (ids_b, _, b), (_, _, other) = (load_predictions(files[k]) for k in ("a", "b", "other"))
    assert list(ids_a) == list(ids_b)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, other)  # another seed, other masks
    assert not np.allclose(a[..., 0], a[..., 1])  # and the samples of one galaxy still differ


# --- the fast path ----------------------------------------------------------------------------


def test_fast_path_equals_full_passes_without_dropout(catalog, tmp_path):
    model = small_model(2, dropout_rate=0.0)
    kwargs = dict(n_samples=3, batch_size=8, schema="decals_dr5", progress=False)
    fast = predict(catalog, model, save_loc=tmp_path / "fast.hdf5", fast_path=True, **kwargs)
    full = predict(catalog, model, save_loc=tmp_path / "full.hdf5", fast_path=False, **kwargs)
    assert read_attrs(fast)["fast_path"] and not read_attrs(full)["fast_path"]
    (ids_a, _, a), (ids_b, _, b) = load_predictions(fast), load_predictions(full)
    assert list(ids_a) == list(ids_b)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a[..., 0], a[..., 2])  # no dropout: identical samples
    # each row is the model's output for the image of its id, prepared by the model's recipe
    images = np.stack([load_model_input(p, RECIPE) for p in catalog["file_loc"]])
    expected = dict(zip(catalog["id_str"], model.predict(images, verbose=0)))
    np.testing.assert_allclose(a[..., 0], np.stack([expected[i] for i in ids_a]), rtol=1e-4)


def test_fast_path_draws_the_same_distribution_as_full_passes():
    """Four features, dropout 0.5: sixteen possible masks, so sixteen possible outputs. Both
    paths must only produce those, draw them equally often, and agree in mean and spread."""
    keras.utils.set_random_seed(3)
    rate = 0.5
    model = get_model(2, (16, 16, 3), architecture="small_cnn", filters=(8, 4), dropout_rate=rate)
    image = np.random.default_rng(0).uniform(0, 1, (1, 16, 16, 3)).astype("float32")
    features = get_encoder(model).predict(image, verbose=0)[0]
    assert np.all(features > 1e-5)
    # head weights that give mask m = sum(m_k 2^k) the logit 0.3 m - 2.25: sixteen distinct outputs
    dense = get_head(model).get_layer("head_dense")
    kernel = np.stack([0.3 * 2.0 ** np.arange(4) * (1 - rate) / features] * 2, axis=1).astype("float32")
    kernel[:, 1] *= -1
    dense.kernel.assign(kernel)
    dense.bias.assign(np.array([-2.25, 2.25], dtype="float32"))
    possible = 1 + 100 / (1 + np.exp(-(0.3 * np.arange(16)[:, None] * [1, -1] + [-2.25, 2.25])))  # (16, 2)

    n = 480
    assert resolve_fast_path(model, "auto")
    samples = {fast: Sampler(model, n, fast)(image)[0].T for fast in (True, False)}  # (n, 2) each
    for fast, out in samples.items():
        distance = np.abs(out[:, None, :] - possible[None]).max(axis=-1)  # (n, 16)
        assert np.all(distance.min(axis=1) < 1e-3), f"fast={fast}: an output no mask can give"
        counts = np.bincount(distance.argmin(axis=1), minlength=16)
        assert np.all(counts > 0) and stats.chisquare(counts).pvalue > 1e-4, f"fast={fast}: {counts}"
    mean = {k: v.mean(axis=0) for k, v in samples.items()}
    std = {k: v.std(axis=0) for k, v in samples.items()}
    np.testing.assert_array_less(np.abs(mean[True] - mean[False]), 5 * np.sqrt(2 / n) * std[False])
    np.testing.assert_allclose(std[True], std[False], rtol=0.2)


def test_fast_path_refused_when_the_encoder_is_stochastic():
    from zoobot_tf.models import MCDropout, assemble_model, build_head

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(MCDropout(0.3)(inputs))
    encoder = keras.Model(inputs, x, name="encoder")
    model = assemble_model(encoder, build_head("dirichlet", 1, 2))
    assert not resolve_fast_path(model, "auto")
    with pytest.raises(ValueError, match="always-on"):
        resolve_fast_path(model, True)


# --- workers ----------------------------------------------------------------------------------


def test_worker_split_is_a_stable_hash():
    assert worker_of(["a", "synthetic_000001"], 4).tolist() == [
        zlib.crc32(b"a") % 4, zlib.crc32(b"synthetic_000001") % 4
    ]
    assert worker_of("a", 4).tolist() == [3]  # crc32(b"a") = 0xE8B7BE43
    assert worker_file("out/preds.hdf5", 4, 1) == Path("out/preds_worker1of4.hdf5")
    assert worker_file("preds.hdf5", 1, 0) == Path("preds.hdf5")


def test_workers_split_and_merge(catalog, model, tmp_path):
    kwargs = dict(n_samples=2, batch_size=8, schema="decals_dr5", progress=False, num_workers=2)
    files = [predict(catalog, model, save_loc=tmp_path / "p.hdf5", worker_index=w, **kwargs) for w in (0, 1)]
    assert [f.name for f in files] == ["p_worker0of2.hdf5", "p_worker1of2.hdf5"]
    shares = [set(load_predictions(f)[0]) for f in files]
    expected = worker_of(catalog["id_str"], 2)
    for w in (0, 1):
        assert shares[w] == set(catalog["id_str"][expected == w]) and shares[w]
    merged = merge_predictions(files, tmp_path / "merged.hdf5")
    ids, cols, preds = load_predictions(merged)
    assert sorted(ids) == sorted(catalog["id_str"]) and preds.shape == (N_GALAXIES, SCHEMA.n_answers, 2)
    assert read_attrs(merged)["complete"] and cols == SCHEMA.label_cols
    with pytest.raises(ValueError, match="already seen"):
        merge_predictions([files[0], files[0]], tmp_path / "twice.hdf5", require_all_workers=False)
    with h5py.File(files[1], "r+") as f:
        f.attrs["complete"] = False
    with pytest.raises(ValueError, match="not complete"):
        merge_predictions(files, tmp_path / "incomplete.hdf5")


# --- summaries --------------------------------------------------------------------------------


def test_summarise_columns_and_sanity(predictions_file, tmp_path):
    table = summarise(predictions_file, out=tmp_path / "summary")
    assert list(table.columns) == summary_columns(SCHEMA) and len(table) == N_GALAXIES
    for question in SCHEMA.questions:
        fractions = table[[f"{c}_fraction" for c in question.label_cols]].to_numpy()
        np.testing.assert_allclose(fractions.sum(axis=1), 1.0, atol=1e-9)
    for label in SCHEMA.label_cols:
        low, mid, high = (table[f"{label}_{k}"].to_numpy() for k in ("90pc-lower", "fraction", "90pc-upper"))
        assert np.all((0 <= low) & (low <= mid) & (mid <= high) & (high <= 1)) and np.all(high - low > 0.01)
    for answer in ("smooth", "featured-or-disk", "artifact"):
        np.testing.assert_array_equal(table[f"smooth-or-featured_{answer}_proportion-asked"], 1.0)
    for answer in ("yes", "no"):
        np.testing.assert_allclose(  # asked only after "featured" then "not edge-on"
            table[f"has-spiral-arms_{answer}_proportion-asked"],
            table["smooth-or-featured_featured-or-disk_fraction"] * table["disk-edge-on_no_fraction"],
        )
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "summary.parquet"), table)
    assert not (tmp_path / "summary.csv").exists()  # CSV only on request
    # the friendly table: fractions only, NaN where the question is asked of under half such galaxies
    friendly = pd.read_parquet(tmp_path / "summary_friendly.parquet")
    assert list(friendly.columns) == ["id_str"] + [f"{c}_fraction" for c in SCHEMA.label_cols]
    asked = table["has-spiral-arms_yes_proportion-asked"] >= 0.5
    np.testing.assert_array_equal(friendly["has-spiral-arms_yes_fraction"].isna(), ~asked)
    np.testing.assert_array_equal(friendly.loc[asked, "has-spiral-arms_yes_fraction"],
                                  table.loc[asked, "has-spiral-arms_yes_fraction"])
    assert friendly["smooth-or-featured_smooth_fraction"].notna().all()


def test_write_summary_streams_row_groups_equal_to_the_table(predictions_file, tmp_path, monkeypatch):
    from zoobot_tf.predictions import summary as summary_module

    table = summarise(predictions_file)
    real_blocks = summary_module.iter_prediction_blocks
    monkeypatch.setattr(summary_module, "iter_prediction_blocks", lambda path, rows: real_blocks(path, rows=5))
    path = write_summary(predictions_file, tmp_path / "s.parquet", csv=True)
    assert path == tmp_path / "s.parquet" and pq.ParquetFile(path).metadata.num_row_groups == 5  # 24 rows / 5
    streamed = pd.read_parquet(path)
    assert list(streamed.columns) == list(table.columns) and list(streamed["id_str"]) == list(table["id_str"])
    fractions = [c for c in table.columns if c.endswith("_fraction") or c.endswith("_proportion-asked")]
    pd.testing.assert_frame_equal(streamed[fractions], table[fractions])  # intervals differ: other draws
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "s.csv", dtype={"id_str": str}), streamed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.parquet", "s_friendly.csv", "s_friendly.parquet"]
    assert pq.ParquetFile(tmp_path / "s_friendly.parquet").metadata.num_rows == N_GALAXIES


def test_summarise_matches_beta_marginals(tmp_path):
    """Constant concentrations across MC samples: the fraction is a Beta(a, sum - a) marginal."""
    schema = get_schema("gz2")
    path = tmp_path / "known.hdf5"
    alpha = np.random.default_rng(0).uniform(1, 30, (5, schema.n_answers, 1)).repeat(3, axis=2)
    with PredictionWriter(path, schema.label_cols, 3, attrs={"schema": "gz2"}) as writer:
        writer.add([f"g{i}" for i in range(5)], alpha)
        writer.finish()
    table = summarise(path, n_draws=4000)
    for s, e in schema.question_index_groups[:3]:
        a = alpha[:, s : e + 1, 0]
        for k, label in enumerate(schema.label_cols[s : e + 1]):
            rest = a.sum(axis=1) - a[:, k]
            np.testing.assert_allclose(table[f"{label}_fraction"], a[:, k] / a.sum(axis=1), rtol=1e-6)
            np.testing.assert_allclose(table[f"{label}_90pc-lower"], stats.beta.ppf(0.05, a[:, k], rest), atol=0.01)
            np.testing.assert_allclose(table[f"{label}_90pc-upper"], stats.beta.ppf(0.95, a[:, k], rest), atol=0.01)
    with pytest.raises(ValueError, match="do not match schema 'decals_dr5'"):
        summarise(path, schema="decals_dr5")


# --- command line -----------------------------------------------------------------------------


def test_command_line_predict_and_summarise(catalog, model_file, tmp_path, capsys):
    catalog_csv = tmp_path / "catalog.csv"
    catalog.iloc[:10].to_csv(catalog_csv, index=False)
    parser = command.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args([
        "--catalog", str(catalog_csv), "--model", str(model_file), "--n-samples", "2",
        "--out", str(tmp_path / "p.hdf5"), "--batch-size", "4", "--schema", "decals_dr5",
        "--no-fast-path", "--no-progress",
    ])
    assert command.run(args) == 0
    assert "10 galaxies x 2 samples" in capsys.readouterr().out
    assert not read_attrs(tmp_path / "p.hdf5")["fast_path"]

    parser = summarise_command.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--predictions", str(tmp_path / "p.hdf5"), "--out", str(tmp_path / "table")])
    assert summarise_command.run(args) == 0
    assert len(pd.read_parquet(tmp_path / "table.parquet")) == 10


def test_slurm_array_from_one_then_merge_predictions_verb(catalog, model_file, tmp_path, monkeypatch, capsys):
    """`zoobot-tf predict` in an array numbered 1-2 writes worker files 0 and 1; the
    `merge-predictions` verb refuses an incomplete set, then merges the complete one."""
    from zoobot_tf.cli import main

    catalog_csv = tmp_path / "catalog.csv"
    catalog.iloc[:12].to_csv(catalog_csv, index=False)
    base = ["predict", "--catalog", str(catalog_csv), "--model", str(model_file), "--n-samples", "2",
            "--out", str(tmp_path / "p.hdf5"), "--batch-size", "4", "--schema", "decals_dr5", "--no-progress"]
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    for task in ("1", "2"):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", task)
        assert main(base) == 0
    files = sorted(tmp_path.glob("p_worker*of2.hdf5"))
    assert [f.name for f in files] == ["p_worker0of2.hdf5", "p_worker1of2.hdf5"]
    assert main(["merge-predictions", str(files[0]), "--out", str(tmp_path / "half.hdf5")]) == 65
    assert "missing worker index [1]" in capsys.readouterr().err
    assert main(["merge-predictions", *map(str, files), "--out", str(tmp_path / "all.hdf5")]) == 0
    ids, _, preds = load_predictions(tmp_path / "all.hdf5")
    assert sorted(ids) == sorted(catalog["id_str"].iloc[:12]) and preds.shape[2] == 2
