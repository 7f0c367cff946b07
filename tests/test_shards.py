"""Shard writing and reading: round trips, deterministic splits, labels, errors, kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from zoobot_tf.images import load_image
from zoobot_tf.schemas import get_label_set, get_schema
from zoobot_tf.shards import (
    IncompleteShardsError,
    assign_splits,
    feature_spec,
    iter_records,
    load_manifest,
    parse_record,
    write_shards,
)
from zoobot_tf.shards import writer as writer_module

N_GALAXIES = 24
SIZE = 16
REPO = Path(__file__).resolve().parents[1]


def _png_catalog(directory: Path, n: int = N_GALAXIES, schema: str = "decals_dr5") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    cols = get_schema(schema).label_cols
    rows = []
    for i in range(n):
        path = directory / f"gal_{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
        votes = rng.integers(0, 20, len(cols)).astype(float)
        rows.append({"id_str": f"gal_{i:03d}", "file_loc": str(path), **dict(zip(cols, votes))})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def png_catalog(tmp_path_factory) -> pd.DataFrame:
    return _png_catalog(tmp_path_factory.mktemp("png"))


def _all_records(shard_dir) -> dict[str, dict]:
    manifest = load_manifest(shard_dir)
    out = {}
    for split in manifest.splits:
        for record in iter_records(shard_dir, split):
            record["split"] = split
            out[record["id_str"]] = record
    return out


def _shard_bytes(shard_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(shard_dir)): p.read_bytes() for p in sorted(shard_dir.glob("*/*.tfrecord"))}


def _manifest_without_time(shard_dir: Path) -> dict:
    data = json.loads((shard_dir / "manifest.json").read_text())
    data.pop("created")
    return data


# --- round trips -----------------------------------------------------------------------------


def test_round_trip_uint8_votes(png_catalog, tmp_path):
    schema = get_schema("decals_dr5")
    manifest = write_shards(png_catalog, tmp_path, schema="decals_dr5", size=SIZE, shard_size=5, progress=False)

    assert manifest.label_kind == "votes" and manifest.schema == "decals_dr5"
    assert manifest.label_cols == schema.label_cols
    assert manifest.image_shape == [SIZE, SIZE, 3] and manifest.dtype == "uint8"
    assert {s: manifest.n_records(s) for s in manifest.splits} == {"train": 20, "val": 2, "test": 2}
    assert manifest.seed == 42 and len(manifest.catalog_sha256) == 64
    assert manifest.image_options["size"] == SIZE and manifest.shard_options["shard_size"] == 5
    assert manifest.splits["train"].records_per_file == [5, 5, 5, 5]
    # the manifest lists exactly the files on disk
    listed = {os.path.relpath(f, tmp_path) for s in manifest.splits for f in manifest.files(s)}
    assert listed == set(_shard_bytes(tmp_path)) and not (tmp_path / "shard_plan.json").exists()

    records = _all_records(tmp_path)
    assert sorted(records) == sorted(png_catalog["id_str"])
    for _, row in png_catalog.iterrows():
        record = records[row["id_str"]]
        source = np.asarray(Image.open(row["file_loc"]))
        assert record["image"].dtype == np.uint8
        np.testing.assert_array_equal(record["image"], source)
        np.testing.assert_array_equal(record["labels"], row[schema.label_cols].to_numpy(np.float32))


def _fits_catalog(directory: Path, n: int, bands: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Half the galaxies as (bands, H, W) cubes, half as one FITS file per band (';'-joined)."""
    rng = np.random.default_rng(1)
    directory.mkdir(parents=True, exist_ok=True)
    cols = get_schema("gz_kaggle37").label_cols
    rows, truth = [], {}
    for i in range(n):
        cube = rng.normal(0, 100, (bands, SIZE, SIZE)).astype(np.float32)  # HDR, negative values
        id_str = f"fits_{i}"
        if i % 2:
            path = directory / f"{id_str}.fits"
            fits.PrimaryHDU(cube).writeto(path)
            file_loc = str(path)
        else:
            paths = [directory / f"{id_str}_b{b}.fits" for b in range(bands)]
            for path, band in zip(paths, cube):
                fits.PrimaryHDU(band).writeto(path)
            file_loc = ";".join(str(p) for p in paths)
        truth[id_str] = np.moveaxis(cube, 0, -1)
        rows.append({"id_str": id_str, "file_loc": file_loc, **dict(zip(cols, rng.uniform(0, 1, len(cols))))})
    return pd.DataFrame(rows), truth


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_round_trip_float_n_band(tmp_path, dtype):
    bands = 5
    catalog, truth = _fits_catalog(tmp_path / "fits", 8, bands)
    manifest = write_shards(
        catalog, tmp_path / "shards", schema="gz_kaggle37", size=SIZE, channels=bands, dtype=dtype,
        val_fraction=0.25, test_fraction=0.25, shard_size=3, progress=False,
    )
    assert manifest.label_kind == "weighted_fractions"
    assert manifest.image_shape == [SIZE, SIZE, bands] and manifest.dtype == dtype
    records = _all_records(tmp_path / "shards")
    assert {r["split"] for r in records.values()} == {"train", "val", "test"}
    cols = get_schema("gz_kaggle37").label_cols
    for _, row in catalog.iterrows():
        record = records[row["id_str"]]
        assert record["image"].dtype == np.dtype(dtype)
        expected = load_image(row["file_loc"], size=SIZE, channels=bands, dtype=dtype)
        np.testing.assert_array_equal(record["image"], expected)  # exactly the prepared pixels
        np.testing.assert_allclose(record["image"], truth[row["id_str"]], rtol=1e-3 if dtype == "float16" else 0)
        np.testing.assert_array_equal(record["labels"], row[cols].to_numpy(np.float32))


def test_parse_record_matches_feature_spec(png_catalog, tmp_path):
    import tensorflow as tf

    manifest = write_shards(png_catalog, tmp_path, schema="decals_dr5", size=SIZE, progress=False)
    assert set(feature_spec(manifest)) == {"id_str", "image", "labels"}
    serialized = next(iter(tf.data.TFRecordDataset(manifest.files("test"))))
    parsed = parse_record(serialized, manifest)
    assert parsed["image"].shape == (SIZE, SIZE, 3) and parsed["image"].dtype == tf.uint8
    assert parsed["labels"].shape == (len(manifest.label_cols),)


# --- splits --------------------------------------------------------------------------------


def test_splits_deterministic_disjoint_and_order_free():
    ids = [f"id{i}" for i in range(200)]
    a = assign_splits(ids, val_fraction=0.1, test_fraction=0.2, seed=3)
    b = assign_splits(list(reversed(ids)), val_fraction=0.1, test_fraction=0.2, seed=3)
    c = assign_splits(ids, val_fraction=0.1, test_fraction=0.2, seed=4)
    assert a == b  # same split and same record order whatever the input order
    assert a != c
    assert [len(a[s]) for s in ("train", "val", "test")] == [140, 20, 40]
    assert set(a["train"]) | set(a["val"]) | set(a["test"]) == set(ids)
    assert not (set(a["train"]) & set(a["val"]) or set(a["train"]) & set(a["test"]) or set(a["val"]) & set(a["test"]))


def test_shards_independent_of_catalog_row_order(png_catalog, tmp_path):
    write_shards(png_catalog, tmp_path / "a", schema="decals_dr5", size=SIZE, shard_size=7, progress=False)
    shuffled = png_catalog.sample(frac=1.0, random_state=5).reset_index(drop=True)
    write_shards(shuffled, tmp_path / "b", schema="decals_dr5", size=SIZE, shard_size=7, progress=False)
    assert _shard_bytes(tmp_path / "a") == _shard_bytes(tmp_path / "b")
    assert _manifest_without_time(tmp_path / "a") == _manifest_without_time(tmp_path / "b")
    write_shards(png_catalog, tmp_path / "c", schema="decals_dr5", size=SIZE, shard_size=7, seed=0, progress=False)
    split_a = {i: r["split"] for i, r in _all_records(tmp_path / "a").items()}
    split_c = {i: r["split"] for i, r in _all_records(tmp_path / "c").items()}
    assert split_a != split_c  # the seed matters


def test_duplicate_ids_name_rows(png_catalog, tmp_path):
    catalog = pd.concat([png_catalog, png_catalog.iloc[[3]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"'gal_003' at rows \[3, 24\]"):
        write_shards(catalog, tmp_path, schema="decals_dr5", size=SIZE, progress=False)


# --- label kinds -------------------------------------------------------------------------------


def test_unlabelled_prediction_shards(png_catalog, tmp_path):
    catalog = png_catalog[["id_str", "file_loc"]]
    manifest = write_shards(catalog, tmp_path, labelled=False, size=SIZE, shard_size=10, progress=False)
    assert manifest.label_kind is None and manifest.label_cols == [] and list(manifest.splits) == ["predict"]
    assert manifest.splits["predict"].records_per_file == [10, 10, 4]
    records = list(iter_records(tmp_path, "predict"))
    assert sorted(r["id_str"] for r in records) == sorted(catalog["id_str"])
    assert all(set(r) == {"id_str", "image"} for r in records)
    assert not (tmp_path / "train").exists()


def test_class_label_shards(png_catalog, tmp_path):
    label_set = get_label_set("hubble_sequence")
    catalog = png_catalog[["id_str", "file_loc"]].copy()
    catalog["label"] = [label_set.classes[i % label_set.n_classes] for i in range(len(catalog))]
    manifest = write_shards(catalog, tmp_path, schema="hubble_sequence", size=SIZE, progress=False)
    assert manifest.label_kind == "class" and manifest.label_cols == list(label_set.classes)
    records = _all_records(tmp_path)
    for _, row in catalog.iterrows():
        assert records[row["id_str"]]["label"] == label_set.index(row["label"])

    catalog.loc[5, "label"] = "Sz"
    with pytest.raises(ValueError, match=r"row 5 \(id_str 'gal_005'\): 'Sz'"):
        write_shards(catalog, tmp_path / "bad", schema="hubble_sequence", size=SIZE, progress=False)


# --- bad input -------------------------------------------------------------------------------


def test_unreadable_image_names_id_and_file(png_catalog, tmp_path):
    catalog = png_catalog.copy()
    broken = tmp_path / "broken.png"
    broken.write_text("not a png")
    catalog.loc[7, "file_loc"] = str(broken)
    with pytest.raises(ValueError, match=r"gal_007.*broken\.png"):
        write_shards(catalog, tmp_path / "out", schema="decals_dr5", size=SIZE, progress=False)
    with pytest.raises(IncompleteShardsError, match="did not finish"):
        load_manifest(tmp_path / "out")


def test_nan_labels_and_missing_columns(png_catalog, tmp_path):
    catalog = png_catalog.copy()
    catalog.loc[2, "bar_weak"] = np.nan
    with pytest.raises(ValueError, match=r"row 2 \(id_str 'gal_002'\).*bar_weak"):
        write_shards(catalog, tmp_path, schema="decals_dr5", size=SIZE, progress=False)
    with pytest.raises(ValueError, match="missing columns.*bar_weak"):
        write_shards(png_catalog.drop(columns="bar_weak"), tmp_path, schema="decals_dr5", progress=False)
    with pytest.raises(ValueError, match="need schema"):
        write_shards(png_catalog, tmp_path, size=SIZE, progress=False)


def test_parallel_workers_give_identical_bytes(png_catalog, tmp_path):
    write_shards(png_catalog, tmp_path / "one", schema="decals_dr5", size=8, shard_size=6, progress=False)
    write_shards(png_catalog, tmp_path / "two", schema="decals_dr5", size=8, shard_size=6, workers=2, progress=False)
    assert _shard_bytes(tmp_path / "one") == _shard_bytes(tmp_path / "two")


# --- resume --------------------------------------------------------------------------------


def test_crash_resume_and_refuse_mixing(png_catalog, tmp_path, monkeypatch):
    kwargs = dict(schema="decals_dr5", size=SIZE, shard_size=4, progress=False)
    write_shards(png_catalog, tmp_path / "ref", **kwargs)

    real_write, calls = writer_module._write_file_atomically, []

    def crash_after_two(path, records):
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        calls.append(path)
        real_write(path, records)

    monkeypatch.setattr(writer_module, "_write_file_atomically", crash_after_two)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_shards(png_catalog, tmp_path / "run", **kwargs)
    monkeypatch.setattr(writer_module, "_write_file_atomically", real_write)
    assert len(_shard_bytes(tmp_path / "run")) == 2 and not (tmp_path / "run" / "manifest.json").exists()

    with pytest.raises(ValueError, match="unfinished shard run.*different catalog or different options"):
        write_shards(png_catalog, tmp_path / "run", **{**kwargs, "seed": 7})
    write_shards(png_catalog, tmp_path / "run", **kwargs)
    assert _shard_bytes(tmp_path / "run") == _shard_bytes(tmp_path / "ref")

    # a finished directory is returned as is, but never mixed with another catalog
    changed = png_catalog.copy()
    changed.loc[0, "bar_weak"] += 1
    with pytest.raises(ValueError, match="finished shard set.*different catalog"):
        write_shards(changed, tmp_path / "run", **kwargs)
    manifest = write_shards(changed, tmp_path / "run", overwrite=True, **kwargs)
    assert manifest.catalog_sha256 != load_manifest(tmp_path / "ref").catalog_sha256


def test_sigkill_then_resume_is_byte_identical(png_catalog, tmp_path):
    csv = tmp_path / "catalog.csv"
    png_catalog.to_csv(csv, index=False)
    options = dict(schema="decals_dr5", size=SIZE, shard_size=2, seed=11)
    write_shards(csv, tmp_path / "reference", progress=False, **options)

    out = tmp_path / "killed"
    command = [
        sys.executable, "-m", "zoobot_tf", "make-shards", "--catalog", str(csv), "--out", str(out), "--schema", "decals_dr5",
        "--size", str(SIZE), "--shard-size", "2", "--seed", "11", "--no-progress",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", writer_module.DELAY_ENV: "0.25", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*/*.tfrecord")):
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "writer produced no shard within 60 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    written = _shard_bytes(out)
    assert 1 <= len(written) < 12 and not (out / "manifest.json").exists()
    with pytest.raises(IncompleteShardsError):
        load_manifest(out)
    (out / "train" / ".train-00000-of-00010.tfrecord.tmp-999999").write_bytes(b"half a shard")  # stale temp

    write_shards(csv, out, progress=False, **options)
    assert _shard_bytes(out) == _shard_bytes(tmp_path / "reference")
    assert {k: v for k, v in written.items()} == {k: _shard_bytes(out)[k] for k in written}
    assert _manifest_without_time(out) == _manifest_without_time(tmp_path / "reference")
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(load_manifest(out).splits["train"].files)


# --- split writing over several jobs -----------------------------------------------------------


def test_split_writing_gives_single_writer_shards(png_catalog, tmp_path):
    """Three jobs writing their shares + a final step == one writer, byte for byte; the final
    step refuses while a share is missing; a rerun share resumes."""
    kwargs = dict(schema="decals_dr5", size=8, shard_size=3, progress=False)
    single = write_shards(png_catalog, tmp_path / "one", **kwargs)
    split_dir = tmp_path / "split"
    for index in (2, 0):
        assert write_shards(png_catalog, split_dir, num_workers=3, worker_index=index, **kwargs) is None
    with pytest.raises(ValueError, match=r"1 of 3 shares are not finished \(worker index 1\)"):
        write_shards(png_catalog, split_dir, num_workers=3, **kwargs)
    assert not (split_dir / "manifest.json").exists()
    written_by_0 = sorted(p.name for p in split_dir.glob("*/*.tfrecord"))
    assert write_shards(png_catalog, split_dir, num_workers=3, worker_index=1, **kwargs) is None
    assert write_shards(png_catalog, split_dir, num_workers=3, worker_index=0, **kwargs) is None  # rerun: no-op
    assert len(written_by_0) < len(list(split_dir.glob("*/*.tfrecord")))
    merged = write_shards(png_catalog, split_dir, num_workers=3, **kwargs)
    assert _shard_bytes(split_dir) == _shard_bytes(tmp_path / "one")
    assert _manifest_without_time(split_dir) == _manifest_without_time(tmp_path / "one")
    assert merged.splits == single.splits
    assert sorted(p.name for p in split_dir.iterdir()) == ["manifest.json", "test", "train", "val"]


def test_split_writing_cli_reads_slurm_array(png_catalog, tmp_path, monkeypatch):
    """`make-shards` in a job array numbered 1-2 (SLURM ids 1 and 2) writes shares 0 and 1."""
    from zoobot_tf.cli import main

    catalog = tmp_path / "catalog.csv"
    png_catalog.to_csv(catalog, index=False)
    args = ["make-shards", "--catalog", str(catalog), "--out", str(tmp_path / "s"), "--schema", "decals_dr5",
            "--size", "8", "--shard-size", "5", "--no-progress"]
    for task in ("1", "2"):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", task)
        monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
        monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
        assert main(args) == 0
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT"):
        monkeypatch.delenv(name)
    assert main([*args, "--num-workers", "2", "--finalize"]) == 0
    assert load_manifest(tmp_path / "s").n_records("train") + load_manifest(tmp_path / "s").n_records("val") \
        + load_manifest(tmp_path / "s").n_records("test") == len(png_catalog)
    write_shards(catalog, tmp_path / "one", schema="decals_dr5", size=8, shard_size=5, progress=False)
    assert _shard_bytes(tmp_path / "s") == _shard_bytes(tmp_path / "one")


def test_catalog_hash_is_the_whole_sorted_csv_whatever_the_block_size(tmp_path):
    """Hashing block by block (memory) gives the digest of the whole id-sorted CSV at once."""
    import hashlib

    from zoobot_tf.catalogs import read_catalog
    from zoobot_tf.shards.writer import catalog_sha256

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"id_str": [f"gal_{i:04d}" for i in rng.permutation(50)],
                          "file_loc": [f"/x/{i}.png" for i in range(50)],
                          "votes": rng.integers(0, 30, 50).astype("float32")})
    frame.to_parquet(tmp_path / "c.parquet")
    whole = frame.sort_values("id_str").to_csv(index=False, lineterminator="\n")
    expected = hashlib.sha256(whole.encode()).hexdigest()
    columns = ["id_str", "file_loc", "votes"]
    assert catalog_sha256(frame, columns) == expected
    assert catalog_sha256(read_catalog(tmp_path / "c.parquet"), columns, rows_per_block=7) == expected


def test_hash_order_names_repeated_ids_with_their_rows():
    from zoobot_tf.shards.split import check_unique_ids, hash_order

    ids = ["a", "b", "c", "b", "d", "a", "b"]
    with pytest.raises(ValueError, match=r"2 duplicated id_str values: 'a' at rows \[0, 5\]; 'b' at rows \[1, 3, 6\]"):
        hash_order(ids, 42, check_unique=True)
    with pytest.raises(ValueError, match=r"2 duplicated id_str values: 'a' at rows \[0, 5\]; 'b' at rows \[1, 3, 6\]"):
        check_unique_ids(ids)
    assert sorted(hash_order(ids[:3], 42, check_unique=True)) == [0, 1, 2]
