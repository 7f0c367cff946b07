"""Catalog builders on the real Galaxy Zoo tables and images (tests/data/galaxy_zoo), and bad input."""

import argparse
import csv
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zoobot_tf.catalogs import CatalogError, build_catalog, find_images, read_catalog
from zoobot_tf.commands.make_catalog import add_arguments, run
from zoobot_tf.schemas import GZ2_HART16_COLUMNS, get_schema

DATA = Path(__file__).parent / "data" / "galaxy_zoo"
DECALS = DATA / "decals"
DR5_TABLE = DECALS / "gz_decals_volunteers_5.csv"
DR12_TABLE = DECALS / "gz_decals_volunteers_1_and_2.csv"
GZ2 = DATA / "gz2"
KAGGLE = DATA / "kaggle"

# where the real release puts each galaxy of the fixture tables
EXPECTED_PART = {
    "J081412.47+220853.0": "gz_decals_dr5_png_part1",
    "J124641.47-041304.7": "gz_decals_dr5_png_part3",
    "J134305.21-000639.5": "gz_decals_dr5_png_part3",
    "J125434.08+184156.7": "gz_decals_dr5_png_part2",
    "J152532.19-000115.7": "gz_decals_dr5_png_part4",
    "J164324.66+275317.9": "gz_decals_dr5_png_part4",
}


def raw_column(path, column):
    """A column exactly as written in the CSV text (no pandas type inference)."""
    with open(path, newline="") as f:
        return [row[column] for row in csv.DictReader(f)]


def read_raw(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def summary_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if "galaxies kept" in line]


@pytest.fixture
def dr5_copy(tmp_path):
    """The DR5 table and its six PNGs (release folder layout) copied into tmp_path for editing."""
    images = tmp_path / "images"
    for iauname in read_raw(DR5_TABLE)["iauname"]:
        (src,) = DECALS.glob(f"*/*/{iauname}.png")
        dest = images / src.relative_to(DECALS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
    table = tmp_path / "votes.csv"
    shutil.copy(DR5_TABLE, table)
    return table, images


# --- the real formats -------------------------------------------------------------------------


@pytest.mark.parametrize("table, schema_name", [(DR5_TABLE, "decals_dr5"), (DR12_TABLE, "decals_dr12")])
def test_decals_tables_build_every_galaxy_with_the_published_votes(tmp_path, capsys, table, schema_name):
    out = tmp_path / "catalog.csv"
    result = build_catalog("decals", table, DECALS, out=out, progress=False)

    schema = get_schema(schema_name)
    source = pd.read_csv(table)
    assert result.schema == schema_name  # inferred from bar_strong / bar_yes
    assert list(result.catalog.columns[: 2 + schema.n_answers]) == ["id_str", "file_loc"] + schema.label_cols
    assert {"ra", "dec", "redshift"} <= set(result.catalog.columns)
    assert result.catalog["id_str"].tolist() == source["iauname"].tolist()
    np.testing.assert_array_equal(result.catalog[schema.label_cols].to_numpy(), source[schema.label_cols].to_numpy())
    np.testing.assert_allclose(result.catalog["ra"], source["ra"])
    for id_str, file_loc in zip(result.catalog["id_str"], result.catalog["file_loc"]):
        path = Path(file_loc)
        assert path.is_absolute() and path.is_file()
        assert path.name == f"{id_str}.png"
        assert path.parent.name == id_str[:4]  # J081/J081412.47+220853.0.png
        assert path.parent.parent.name.startswith("gz_decals_dr5_png_part")
        if id_str in EXPECTED_PART:
            assert path.parent.parent.name == EXPECTED_PART[id_str]

    assert len(result.rejected) == 0
    assert list(read_raw(f"{out}.rejected.csv").columns) == ["id_str", "source_row", "file_loc", "reason"]
    assert summary_lines(capsys) == [f"{out}: 6 galaxies kept, 0 rejected -> {out}.rejected.csv"]
    written = read_catalog(out)
    assert written["id_str"].tolist() == source["iauname"].tolist()
    np.testing.assert_array_equal(written[schema.label_cols].to_numpy(), source[schema.label_cols].to_numpy())


def test_decals_dr8_schema_takes_the_unsuffixed_vote_columns():
    result = build_catalog("decals", DR5_TABLE, DECALS, schema="decals_dr8", progress=False, check_images=False)
    dr8, dr5 = get_schema("decals_dr8"), get_schema("decals_dr5")
    assert dr8.label_cols[0] == "smooth-or-featured-dr8_smooth"
    assert list(result.catalog.columns[2 : 2 + dr8.n_answers]) == dr8.label_cols
    source = pd.read_csv(DR5_TABLE)
    np.testing.assert_array_equal(result.catalog[dr8.label_cols].to_numpy(), source[dr5.label_cols].to_numpy())
    assert "smooth-or-featured_smooth" not in result.catalog.columns


def test_decals_path_column_is_used_when_it_resolves_and_twins_are_ambiguous(dr5_copy):
    table, images = dr5_copy
    # a second copy of the first galaxy where the table's png_loc says it is
    (first,) = images.glob("*/*/J081412.47+220853.0.png")
    twin = images / "dr5" / "J081" / first.name
    twin.parent.mkdir(parents=True)
    shutil.copy(first, twin)

    result = build_catalog("decals", table, images, progress=False, check_images=False)
    assert len(result.catalog) == 6
    assert result.catalog["file_loc"].iloc[0] == str(twin.resolve())  # png_loc resolved under images

    # without the path column the id lookup finds two files: reject, naming both
    edited = read_raw(table).drop(columns=["png_loc"])
    edited.to_csv(table, index=False)
    result = build_catalog("decals", table, images, progress=False, check_images=False)
    assert len(result.catalog) == 5
    (reason,) = result.rejected["reason"]
    assert reason.startswith("ambiguous image: 2 files named J081412.47+220853.0")
    assert str(twin) in reason and str(first) in reason
    assert result.rejected["source_row"].tolist() == [1]


def test_gz2_with_filename_mapping_keeps_18_digit_ids_exact(tmp_path):
    out = tmp_path / "gz2.csv"
    result = build_catalog("gz2", GZ2 / "gz2_hart16.csv", GZ2, mapping=GZ2 / "gz2_filename_mapping.csv", out=out,
                           progress=False)
    ids = raw_column(GZ2 / "gz2_hart16.csv", "dr7objid")
    assert ids[0] == "587737825678131439"
    assert result.catalog["id_str"].tolist() == ids
    assert read_catalog(out)["id_str"].tolist() == ids

    mapping = dict(zip(raw_column(GZ2 / "gz2_filename_mapping.csv", "objid"),
                       raw_column(GZ2 / "gz2_filename_mapping.csv", "asset_id")))
    assert [Path(p).name for p in result.catalog["file_loc"]] == [f"{mapping[i]}.jpg" for i in ids]
    schema = get_schema("gz2")
    source = pd.read_csv(GZ2 / "gz2_hart16.csv")
    count_cols = [GZ2_HART16_COLUMNS[c] + "_count" for c in schema.label_cols]
    np.testing.assert_array_equal(result.catalog[schema.label_cols].to_numpy(), source[count_cols].to_numpy())
    assert result.catalog["gz2_class"].tolist() == source["gz2_class"].tolist()


def test_integer_ids_from_parquet_stay_exact(tmp_path):
    table = tmp_path / "gz2_hart16.parquet"
    pd.read_csv(GZ2 / "gz2_hart16.csv").to_parquet(table)  # dr7objid stored as int64
    result = build_catalog("gz2", table, GZ2, mapping=GZ2 / "gz2_filename_mapping.csv", progress=False,
                           check_images=False)
    assert result.catalog["id_str"].tolist() == raw_column(GZ2 / "gz2_hart16.csv", "dr7objid")


def test_gz2_row_missing_from_mapping_is_rejected(tmp_path):
    mapping = read_raw(GZ2 / "gz2_filename_mapping.csv")
    mapping[mapping["objid"] != "587726016142835881"].to_csv(tmp_path / "mapping.csv", index=False)
    result = build_catalog("gz2", GZ2 / "gz2_hart16.csv", GZ2, mapping=tmp_path / "mapping.csv", progress=False)
    assert len(result.catalog) == 2
    row = result.rejected.iloc[0]
    assert (row.id_str, row.source_row) == ("587726016142835881", 2)
    assert row.reason.startswith("missing image: dr7objid 587726016142835881 is not in mapping")


def test_kaggle_fractions_and_images(tmp_path):
    result = build_catalog("kaggle", KAGGLE / "training_solutions_rev1.csv", KAGGLE, progress=False)
    schema = get_schema("gz_kaggle37")
    source = pd.read_csv(KAGGLE / "training_solutions_rev1.csv")
    assert result.catalog["id_str"].tolist() == ["100008", "100023", "100053"]
    assert list(result.catalog.columns) == ["id_str", "file_loc"] + schema.label_cols
    np.testing.assert_allclose(result.catalog[schema.label_cols].to_numpy(), source[schema.label_cols].to_numpy())
    assert all(Path(p).parent.name == "images_training_rev1" for p in result.catalog["file_loc"])

    bad = read_raw(KAGGLE / "training_solutions_rev1.csv")
    bad.loc[1, "Class1.1"] = "1.5"
    bad.to_csv(tmp_path / "solutions.csv", index=False)
    result = build_catalog("kaggle", tmp_path / "solutions.csv", KAGGLE, progress=False)
    assert result.catalog["id_str"].tolist() == ["100008", "100053"]
    assert result.rejected["reason"].tolist() == ["fraction out of range [0, 1]: Class1.1=1.5"]


def test_labels_table_with_relative_paths_and_an_unknown_class(tmp_path, capsys):
    table = tmp_path / "hubble.csv"
    pd.DataFrame(
        {
            "name": ["242195", "784597", "870891"],
            "image": ["images_test_rev1/242195.jpg", "images_test_rev1/784597.jpg", "images_test_rev1/870891.jpg"],
            "hubble": ["E", "Sc", "Sbc"],
            "survey": ["sdss", "sdss", "sdss"],
        }
    ).to_csv(table, index=False)
    out = tmp_path / "labels_catalog.csv"
    result = build_catalog("labels", table, KAGGLE, schema="hubble_sequence", out=out, id_column="name",
                           path_column="image", label_column="hubble", progress=False)
    assert list(result.catalog.columns) == ["id_str", "file_loc", "label", "survey"]
    assert result.catalog["label"].tolist() == ["E", "Sc"]
    assert result.catalog["file_loc"].tolist() == [str(KAGGLE.resolve() / "images_test_rev1" / f"{i}.jpg")
                                                   for i in ("242195", "784597")]
    (reason,) = read_raw(f"{out}.rejected.csv")["reason"]
    assert reason == "unknown class: 'Sbc' is not one of E, S0, Sab, Sc, Sdm, Im (label set hubble_sequence)"
    assert summary_lines(capsys) == [f"{out}: 2 galaxies kept, 1 rejected (1 unknown class) -> {out}.rejected.csv"]

    # no path column: images are found by id under the images folder
    pd.DataFrame({"id_str": ["242195", "100008"], "label": ["E", "S0"]}).to_csv(table, index=False)
    result = build_catalog("labels", table, KAGGLE, schema="hubble_sequence", progress=False)
    assert [Path(p).parent.name for p in result.catalog["file_loc"]] == ["images_test_rev1", "images_training_rev1"]

    with pytest.raises(CatalogError, match="decision tree"):
        build_catalog("labels", table, KAGGLE, schema="decals_dr5", progress=False)


# --- bad input --------------------------------------------------------------------------------


def _truncate_png(table, images):
    (png,) = images.glob("*/*/J005650.84-010137.4.png")
    data = png.read_bytes()
    png.write_bytes(data[: len(data) // 2])
    return 3, "unreadable image: "


def _delete_png(table, images):
    (png,) = images.glob("*/*/J100403.94+182735.8.png")
    png.unlink()
    return 4, "missing image: no file J100403.94+182735.8.png under "


def _edit_cell(row, column, value, expected):
    def edit(table, images):
        df = read_raw(table)
        df.loc[row - 1, column] = value
        df.to_csv(table, index=False)
        return row, expected

    return edit


@pytest.mark.parametrize(
    "edit, category",
    [
        (_truncate_png, "unreadable image"),
        (_delete_png, "missing image"),
        (_edit_cell(2, "bar_no", "", "NaN votes: bar_no"), "NaN votes"),
        (_edit_cell(5, "bar_no", "-1", "negative votes: bar_no=-1"), "negative votes"),
        (_edit_cell(6, "merging_merger", "2.5", "non-integer votes: merging_merger=2.5"), "non-integer votes"),
    ],
)
def test_bad_rows_are_reported_and_strict_raises(dr5_copy, tmp_path, capsys, edit, category):
    table, images = dr5_copy
    row, expected = edit(table, images)
    iauname = read_raw(DR5_TABLE)["iauname"][row - 1]

    out = tmp_path / "catalog.csv"
    result = build_catalog("decals", table, images, out=out, progress=False)
    assert len(result.catalog) == 5 and iauname not in set(result.catalog["id_str"])
    rejected = read_raw(f"{out}.rejected.csv")
    assert rejected["id_str"].tolist() == [iauname]
    assert rejected["source_row"].tolist() == [str(row)]
    assert rejected["reason"][0].startswith(expected)
    if category == "unreadable image":
        assert iauname in rejected["reason"][0]  # the reader names the file
    assert summary_lines(capsys) == [f"{out}: 5 galaxies kept, 1 rejected (1 {category}) -> {out}.rejected.csv"]
    assert len(read_catalog(out)) == 5

    strict_out = tmp_path / "strict.csv"
    with pytest.raises(CatalogError, match=re.escape(f"row {row} ({iauname}): {category}")):
        build_catalog("decals", table, images, out=strict_out, strict=True, progress=False)
    assert not strict_out.exists()
    assert summary_lines(capsys) == []


def test_duplicate_ids_reject_every_copy_naming_the_others(dr5_copy, tmp_path, capsys):
    table, images = dr5_copy
    df = read_raw(table)
    df.loc[2, "iauname"] = df.loc[0, "iauname"]  # row 3 claims row 1's galaxy
    df.to_csv(table, index=False)
    out = tmp_path / "catalog.csv"
    result = build_catalog("decals", table, images, out=out, progress=False)
    assert len(result.catalog) == 4
    rejected = read_raw(f"{out}.rejected.csv")
    assert rejected["source_row"].tolist() == ["1", "3"]
    assert rejected["reason"].tolist() == [
        "duplicate id: J081412.47+220853.0 also in row(s) 3",
        "duplicate id: J081412.47+220853.0 also in row(s) 1",
    ]
    assert summary_lines(capsys) == [f"{out}: 4 galaxies kept, 2 rejected (2 duplicate id) -> {out}.rejected.csv"]
    with pytest.raises(CatalogError, match="duplicate id"):
        build_catalog("decals", table, images, strict=True, progress=False)


def test_columns_that_do_not_match_the_schema_raise_naming_them(dr5_copy):
    table, images = dr5_copy
    read_raw(table).drop(columns=["bar_no", "merging_merger"]).to_csv(table, index=False)
    with pytest.raises(CatalogError) as err:
        build_catalog("decals", table, images, progress=False)
    assert str(table) in str(err.value)
    assert "bar_no" in str(err.value) and "merging_merger" in str(err.value)

    with pytest.raises(CatalogError, match=r"bar_yes.*Is it a decals_dr5 table"):
        build_catalog("decals", DR5_TABLE, DECALS, schema="decals_dr12", progress=False)
    with pytest.raises(CatalogError, match="neither bar_strong"):
        build_catalog("decals", KAGGLE / "training_solutions_rev1.csv", DECALS, progress=False)
    with pytest.raises(CatalogError, match="Class1.1"):
        build_catalog("kaggle", GZ2 / "gz2_hart16.csv", KAGGLE, progress=False)


# --- finding images, command line -------------------------------------------------------------


def test_find_images_indexes_recursively_and_records_ambiguous_stems(tmp_path):
    for rel in ["a/x1.png", "a/b/x2.PNG", "c/x3.fits.gz", "a/dup.png", "c/dup.png", ".hidden/x4.png", "notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    index = find_images(tmp_path)
    assert index == {
        "x1": str(tmp_path / "a/x1.png"),
        "x2": str(tmp_path / "a/b/x2.PNG"),
        "x3": str(tmp_path / "c/x3.fits.gz"),
    }
    assert index.ambiguous == {"dup": [str(tmp_path / "a/dup.png"), str(tmp_path / "c/dup.png")]}
    assert set(find_images(tmp_path, exts=(".fits.gz",))) == {"x3"}
    with pytest.raises(CatalogError, match="does not exist"):
        find_images(tmp_path / "nope")


def test_command_line_flags(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "kaggle.csv"
    args = parser.parse_args(["--format", "kaggle", "--table", str(KAGGLE / "training_solutions_rev1.csv"),
                              "--images", str(KAGGLE), "--out", str(out), "--strict", "--no-progress"])
    assert run(args) == 0
    assert summary_lines(capsys) == [f"{out}: 3 galaxies kept, 0 rejected -> {out}.rejected.csv"]
    assert read_catalog(out)["id_str"].tolist() == ["100008", "100023", "100053"]
    assert os.path.exists(f"{out}.rejected.csv")


def test_parquet_catalog_read_by_column_equals_pandas(tmp_path):
    """read_catalog reads parquet one column at a time (memory); the result must be pandas' own."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "id_str": [f"{10**17 + i}" for i in range(40)],  # 18-digit ids stay exact strings
        "file_loc": [f"/imgs/{i}.png" for i in range(40)],
        "votes": rng.integers(0, 40, 40),
        "fraction": np.where(np.arange(40) % 7 == 0, np.nan, rng.random(40)).astype("float32"),
        "survey": pd.Categorical(rng.choice(["decals", "gz2"], 40)),
    }, index=pd.Index(np.arange(40) * 3, name=None))  # a non-range index is not a column
    path = tmp_path / "catalog.parquet"
    frame.to_parquet(path)
    read = read_catalog(path)
    pd.testing.assert_frame_equal(read, pd.read_parquet(path).reset_index(drop=True))
    wanted = read_catalog(path, columns=["id_str", "votes", "not_there"])
    assert wanted.columns.tolist() == ["id_str", "votes"]
    assert wanted["id_str"].tolist() == frame["id_str"].tolist()
