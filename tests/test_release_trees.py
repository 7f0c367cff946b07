"""zoobot 2.x's trees and data products: each tree reads a small table in its release's layout.

Layouts: galaxy-datasets' catalogs (parquet / CSV with ``id_str``, ``subfolder``, ``filename``,
``<question>_<answer>`` counts, ``_fraction`` / ``_total-votes`` and the release's own columns)
and the Hugging Face parquet of GZ Evo (images embedded in ``image``, votes of other campaigns
empty). Quick: ``make-catalog`` on each; slow: each through make-catalog -> make-shards -> train
(small_cnn, 32 px, 1 epoch) -> predict -> summarise.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from zoobot_tf.catalogs import CatalogError, build_catalog
from zoobot_tf.cli import main as cli_main
from zoobot_tf.schemas import SCHEMA_NAMES, get_schema
from zoobot_tf.schemas.releases import RELEASE_TREES, release_tree

N_GALAXIES = 24
#: tree -> (layout, the release's own columns besides votes, the campaign of a GZ Evo row)
RELEASES = {
    "gz_desi": ("galaxy_datasets", {"dr8_id": "dr8", "ra": 1.0, "dec": 2.0}),
    "gz_rings": ("galaxy_datasets", {"ring_fraction": 0.5}),
    "gz_cosmic_dawn": ("galaxy_datasets", {"ra": 1.0, "dec": 2.0}),
    "gz_ukidss": ("galaxy_datasets", {}),
    "gz_jwst": ("galaxy_datasets", {"subject_id": 101}),
    "gz_euclid": ("galaxy_datasets", {}),
    "decals_all_campaigns": ("galaxy_datasets", {"dr8_id": "dr8", "ra": 1.0, "dec": 2.0}),
    "gz_evo": ("gz_evo", {"dataset_name": "gz_evo", "summary": "smooth_round"}),
}


def _png(rng, size=40):
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _release_table(tree_name, folder, rng):
    """``(table path, images folder)`` of N_GALAXIES in the release's layout, and the votes."""
    layout, own = RELEASES[tree_name]
    tree = get_schema(tree_name)
    ids = [f"J{i:04d}+{i % 7:02d}" for i in range(N_GALAXIES)]
    votes = pd.DataFrame(rng.integers(0, 12, (N_GALAXIES, tree.n_answers)), columns=tree.label_cols)
    columns = {"id_str": ids}
    for column, value in own.items():
        columns[column] = [f"{value}_{i}" if isinstance(value, str) else value for i in range(N_GALAXIES)]
    for question in tree.questions:  # the release's derived columns, left out of the catalog
        total = votes[question.label_cols].sum(axis=1)
        columns[f"{question.text}_total-votes"] = total
        for col in question.label_cols:
            columns[f"{col}_fraction"] = votes[col] / total.where(total > 0, 1)
    frame = pd.concat([pd.DataFrame(columns), votes], axis=1)
    images = folder / "images"
    if layout == "gz_evo":
        campaigns = ("-dr5", "-gz2", "-cd")  # a GZ Evo galaxy has votes for its own campaign only
        for i in range(N_GALAXIES):
            others = [c for c in tree.label_cols if campaigns[i % 3] not in c.split("_")[0]]
            frame.loc[i, others] = np.nan
        frame = frame.copy()
        frame["image"] = [{"bytes": _png(rng), "path": f"{i}.png"} for i in ids]
        path = folder / "train-00000-of-00001.parquet"
        frame.to_parquet(path)
        return path, images, votes.where(frame[tree.label_cols].notna(), 0)
    frame = frame.copy()
    frame["subfolder"] = [i[:3] for i in ids]
    frame["filename"] = [f"{i}.png" for i in ids]
    for i, name in enumerate(ids):
        (images / frame.loc[i, "subfolder"]).mkdir(parents=True, exist_ok=True)
        (images / frame.loc[i, "subfolder"] / f"{name}.png").write_bytes(_png(rng))
    path = folder / f"{tree_name}_train_catalog.parquet"
    frame.to_parquet(path)
    return path, images, votes


def test_release_trees_are_valid_and_named_as_their_columns():
    for name in RELEASE_TREES:
        pairs, dependencies, _ = release_tree(name)
        tree = get_schema(name)
        assert tree.question_answer_pairs == pairs and tree.dependencies == dependencies
    # facts of the releases (galaxy-datasets' column names)
    assert get_schema("gz_desi").label_cols == get_schema("decals_dr5").label_cols  # an alias, same tree
    assert get_schema("gz_rings").label_cols == ["ring_yes", "ring_no"]
    cd = get_schema("gz_cosmic_dawn")
    assert cd.get_question("artifact-cd").asked_after.text == "problem-cd_artifact"
    assert cd.get_question("clumps-cd").asked_after.text == "disk-edge-on-cd_no"
    assert "artifact-euclid_ghost" in get_schema("gz_euclid").label_cols
    jwst = get_schema("gz_jwst")
    assert jwst.get_question("problem-jwst").asked_after.text == "smooth-or-featured-jwst_star-artifact-zoom"
    assert get_schema("gz_ukidss").get_question("bar-ukidss").asked_after.text == "disk-edge-on-ukidss_no"
    assert get_schema("decals_all_campaigns").n_questions == 30
    evo = get_schema("gz_evo")
    assert (evo.n_questions, evo.n_answers) == (76, 239)
    assert {q.text.rsplit("-", 1)[-1] for q in evo.questions} >= {"dr12", "dr5", "dr8", "gz2", "candels", "hubble", "cd"}


@pytest.mark.parametrize("tree_name", list(RELEASES))
def test_make_catalog_reads_the_release_layout(tree_name, tmp_path, capsys):
    layout, own = RELEASES[tree_name]
    table, images, votes = _release_table(tree_name, tmp_path, np.random.default_rng(len(tree_name)))
    out = tmp_path / "catalog.csv"
    args = ["make-catalog", "--format", layout, "--table", str(table), "--images", str(images), "--out", str(out),
            "--no-progress", "--strict"]
    if tree_name == "gz_desi":
        args += ["--schema", "gz_desi"]  # its columns are decals_dr5's: inference would pick that name
    assert cli_main(args) == 0
    catalog = pd.read_csv(out, dtype={"id_str": str})
    tree = get_schema(tree_name)
    assert len(catalog) == N_GALAXIES
    assert list(catalog.columns[: 2 + tree.n_answers]) == ["id_str", "file_loc", *tree.label_cols]
    np.testing.assert_array_equal(catalog[tree.label_cols].to_numpy(), votes[tree.label_cols].to_numpy())
    assert all(pd.io.common.file_exists(p) for p in catalog["file_loc"])
    assert not any(c.endswith(("_fraction", "_total-votes")) for c in catalog.columns if c not in own)
    assert set(own) - {"ring_fraction"} <= set(catalog.columns)
    assert "image" not in catalog.columns
    assert f"{N_GALAXIES} galaxies kept, 0 rejected" in capsys.readouterr().out


def test_gz_evo_images_are_written_once_and_bad_rows_are_named(tmp_path):
    table, images, _ = _release_table("gz_evo", tmp_path, np.random.default_rng(0))
    first = build_catalog("gz_evo", table, images, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in images.iterdir()}
    again = build_catalog("gz_evo", table, images, progress=False)
    assert first.schema == "gz_evo" and again.catalog.equals(first.catalog)
    assert {p: p.stat().st_mtime_ns for p in images.iterdir()} == stamps  # kept, not rewritten
    frame = pd.read_parquet(table)
    frame.loc[3, "image"] = None
    frame.loc[5, "bar-dr5_weak"] = -1.0
    frame.loc[7, "ring_yes"] = 1  # an unknown column: carried, not a label
    result = build_catalog("gz_evo", frame, tmp_path / "more", progress=False)
    reasons = dict(zip(result.rejected["source_row"], result.rejected["reason"]))
    assert "missing image" in reasons[4] and "negative votes: bar-dr5_weak=-1" in reasons[6]
    assert len(result.catalog) == N_GALAXIES - 2 and "ring_yes" in result.catalog.columns
    with pytest.raises(CatalogError, match="needs images="):
        build_catalog("gz_evo", table, None, progress=False)


def test_galaxy_datasets_tree_is_inferred_or_named(tmp_path):
    table, images, _ = _release_table("gz_cosmic_dawn", tmp_path, np.random.default_rng(1))
    assert build_catalog("galaxy_datasets", table, images, progress=False).schema == "gz_cosmic_dawn"
    frame = pd.read_parquet(table).drop(columns=["clumps-cd_no"])
    with pytest.raises(CatalogError, match="no built-in tree"):
        build_catalog("galaxy_datasets", frame, images, progress=False)
    with pytest.raises(CatalogError, match="clumps-cd_no"):
        build_catalog("galaxy_datasets", frame, images, schema="gz_cosmic_dawn", progress=False)
    csv = tmp_path / "catalog.csv"  # galaxy-datasets' loaders add file_loc; the CSV form works too
    frame = pd.read_parquet(table)
    frame["file_loc"] = [str(images / s / f) for s, f in zip(frame["subfolder"], frame["filename"])]
    frame.drop(columns=["subfolder", "filename"]).to_csv(csv, index=False)
    assert len(build_catalog("galaxy_datasets", csv, progress=False).catalog) == N_GALAXIES
    assert "gz_evo" in SCHEMA_NAMES and "gz_desi" not in SCHEMA_NAMES  # gz_desi is an alias


@pytest.mark.slow
@pytest.mark.parametrize("tree_name", list(RELEASES))
def test_release_round_trips_to_predictions_and_summary(tree_name, tmp_path):
    """make-catalog -> make-shards -> train (small_cnn, 32 px, 1 epoch) -> predict -> summarise."""
    layout, _ = RELEASES[tree_name]
    table, images, _ = _release_table(tree_name, tmp_path, np.random.default_rng(2))
    catalog, shards, run, hdf5 = (tmp_path / n for n in ("catalog.csv", "shards", "run", "preds.hdf5"))
    schema = ["--schema", tree_name]
    assert cli_main(["make-catalog", "--format", layout, "--table", str(table), "--images", str(images),
                     "--out", str(catalog), "--no-progress", *schema]) == 0
    assert cli_main(["make-shards", "--catalog", str(catalog), "--out", str(shards), "--size", "32",
                     "--val-fraction", "0.25", "--test-fraction", "0.25", "--no-progress", *schema]) == 0
    assert cli_main(["train", "--shards", str(shards), "--out", str(run), "--architecture", "small_cnn",
                     "--epochs", "1", "--batch-size", "8", "--image-size", "32", "--no-progress"]) == 0
    assert cli_main(["predict", "--catalog", str(catalog), "--model", str(run / "model.keras"), "--out", str(hdf5),
                     "--n-samples", "2", "--no-progress"]) == 0
    assert cli_main(["summarise", "--predictions", str(hdf5), "--out", str(tmp_path / "summary")]) == 0
    summary = pd.read_parquet(tmp_path / "summary.parquet")
    tree = get_schema(tree_name)
    assert len(summary) == N_GALAXIES
    fractions = [c for c in summary.columns if c.endswith("_fraction")]
    assert len(fractions) == tree.n_answers and summary[fractions].notna().all().all()
