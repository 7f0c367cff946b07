"""Tests of the synthetic data set: parameters, true fractions, votes, rendering, files, CLI."""

import argparse
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from zoobot_tf.commands.synthetic import add_arguments, run
from zoobot_tf.schemas import get_label_set, get_schema
from zoobot_tf.synthetic import (
    FITS_BANDS,
    SUPPORTED_SCHEMAS,
    add_noise,
    draw_votes,
    make_synthetic_dataset,
    render_galaxy,
    render_scene,
    sample_morphology,
    true_fraction_columns,
    true_fractions,
)

HUBBLE = get_label_set("hubble_sequence").classes


@pytest.fixture(scope="module")
def params():
    return sample_morphology(3000, np.random.default_rng(123))


# --- morphology ------------------------------------------------------------------------------


def test_morphology_table(params):
    assert len(params) == 3000
    assert set(params["hubble_type"]) == set(HUBBLE)
    assert set(params["kind"]) == {"galaxy", "star", "artifact"}
    assert params["bulge_fraction"].between(0, 1).all()
    assert params["axis_ratio"].between(0.05, 1).all()
    assert params["inclination"].between(0, 90).all()
    assert set(params["merger_stage"]) == {0, 1, 2, 3}
    # structure follows the type: ellipticals have no arms, Sc are disk dominated
    e, sc = params[params.hubble_type == "E"], params[params.hubble_type == "Sc"]
    assert (e["n_arms"] == 0).all() and (e["bulge_fraction"] > 0.85).all()
    assert (sc["bulge_fraction"] < 0.25).all() and (sc["n_arms"] > 0).mean() > 0.9


def test_morphology_deterministic_and_validated():
    a = sample_morphology(50, np.random.default_rng(7))
    b = sample_morphology(50, np.random.default_rng(7))
    pd.testing.assert_frame_equal(a, b)
    assert not sample_morphology(50, np.random.default_rng(8)).equals(a)
    only_galaxies = sample_morphology(200, np.random.default_rng(1), p_star=0, p_artifact=0)
    assert (only_galaxies["kind"] == "galaxy").all()
    with pytest.raises(ValueError, match="p_star"):
        sample_morphology(5, np.random.default_rng(0), p_star=0.8, p_artifact=0.5)


# --- true fractions ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SUPPORTED_SCHEMAS)
def test_true_fractions_are_distributions(params, name):
    schema = get_schema(name)
    f = true_fractions(params, schema)
    assert f.shape == (len(params), schema.n_answers)
    assert (f > 0).all()
    for s, e in schema.question_index_groups:
        np.testing.assert_allclose(f[:, s : e + 1].sum(axis=1), 1.0, atol=1e-9)


def test_true_fractions_follow_visible_structure(params):
    schema = get_schema("decals_dr5")
    f = pd.DataFrame(true_fractions(params, schema), columns=schema.label_cols)
    galaxy = params["kind"] == "galaxy"
    by_type = f[galaxy].groupby(params["hubble_type"][galaxy]).mean()
    assert by_type.loc["E", "smooth-or-featured_smooth"] > 0.75
    assert by_type.loc["Sc", "smooth-or-featured_featured-or-disk"] > 0.8
    assert by_type.loc["Sab", "spiral-winding_tight"] > by_type.loc["Sdm", "spiral-winding_tight"] + 0.5
    assert f.loc[~galaxy, "smooth-or-featured_artifact"].mean() > 0.6
    thin_disks = (params["axis_ratio"] < 0.2) & (params["bulge_fraction"] < 0.5)
    assert f.loc[thin_disks, "disk-edge-on_yes"].mean() > 0.85
    face_on = params["inclination"] < 45
    strong = face_on & (params["bar_strength"] > 0.8)
    unbarred = face_on & (params["bar_strength"] == 0)
    assert f.loc[strong, "bar_strong"].mean() > 0.8 and f.loc[unbarred, "bar_no"].mean() > 0.9
    two = face_on & (params["n_arms"] == 2) & (params["arm_strength"] > 0.7)
    assert f.loc[two, "spiral-arm-count_2"].mean() > 0.6
    mergers = params["merger_stage"] == 3
    assert f.loc[mergers, "merging_merger"].mean() > 0.8
    assert f.loc[params["merger_stage"] == 0, "merging_none"].mean() > 0.85


def test_true_fractions_errors(params):
    with pytest.raises(ValueError, match="gz_kaggle37"):
        true_fractions(params, "gz_kaggle37")
    with pytest.raises(KeyError, match="unknown schema"):
        true_fractions(params, "no_such_tree")
    with pytest.raises(KeyError, match="bar_strength"):
        true_fractions(params.drop(columns=["bar_strength"]), "decals_dr5")
    broken = params.head(5).copy()
    broken["arm_pitch"] = broken["arm_pitch"].astype(object)
    broken.loc[broken.index[3], "arm_pitch"] = "steep"
    with pytest.raises(ValueError, match=r"row 3.*arm_pitch"):
        true_fractions(broken, "decals_dr5")


# --- votes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["decals_dr5", "decals_dr12", "gz2", "gz_hubble"])
def test_votes_consistent_with_tree(params, name):
    schema = get_schema(name)
    votes = draw_votes(true_fractions(params[:400], schema), schema, np.random.default_rng(0))
    assert votes.shape == (400, schema.n_answers)
    assert np.issubdtype(votes.dtype, np.integer) and (votes >= 0).all()
    per_question = schema.votes_per_question(votes)
    root = per_question[:, 0]
    assert root.min() >= 30 and root.max() <= 50 and root.std() > 3
    for question in schema.questions:
        total = per_question[:, question.index]
        if question.asked_after is None:
            np.testing.assert_array_equal(total, root)
        else:
            np.testing.assert_array_equal(total, votes[:, question.asked_after.index])
            assert total.max() > 0  # some volunteers reach every question


def test_vote_fractions_match_true_fractions_on_average(params):
    schema = get_schema("decals_dr5")
    f = true_fractions(params, schema)
    votes = draw_votes(f, schema, np.random.default_rng(1), n_volunteers=40, concentration=25.0)
    observed = schema.vote_fractions(votes)
    per_question = schema.votes_per_question(votes)
    for question in schema.questions:
        asked = per_question[:, question.index] > 0
        assert asked.sum() > 100, question.text
        cols = slice(question.start_index, question.end_index + 1)
        # unbiased: the mean observed fraction equals the mean true fraction (over galaxies asked)
        np.testing.assert_allclose(observed[asked, cols].mean(0), f[asked, cols].mean(0), atol=0.025)
    # and per galaxy the votes track the true fraction closely for the root question
    assert np.corrcoef(observed[:, 0], f[:, 0])[0, 1] > 0.9
    # overdispersed relative to a multinomial, as the Dirichlet-multinomial says
    resid = observed[:, 0] - f[:, 0]
    multinomial_var = (f[:, 0] * (1 - f[:, 0]) / per_question[:, 0]).mean()
    assert resid.var() > 1.3 * multinomial_var


def test_draw_votes_validates_input():
    schema = get_schema("decals_dr5")
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(N, 34\)"):
        draw_votes(np.full((3, 5), 0.2), schema, rng)
    bad = np.full((2, schema.n_answers), 0.5)
    with pytest.raises(ValueError, match="row 0: answers of 'smooth-or-featured' sum to"):
        draw_votes(bad, schema, rng)
    fixed = draw_votes(true_fractions(sample_morphology(3, rng), schema), schema, rng, n_volunteers=np.array([0, 5, 7]))
    np.testing.assert_array_equal(schema.votes_per_question(fixed)[:, 0], [0, 5, 7])


# --- rendering --------------------------------------------------------------------------------


def test_render_galaxy_shapes_and_colours(params):
    row = params[(params.kind == "galaxy") & (params.hubble_type == "E")].iloc[0]
    img = render_galaxy(row, 40, ("g", "r", "z"), np.random.default_rng(0))
    assert img.shape == (40, 40, 3) and img.dtype == np.float32 and np.isfinite(img).all()
    scene = render_scene(row, 40, FITS_BANDS, np.random.default_rng(0))
    galaxy = scene.galaxy.sum(axis=(0, 1))
    assert galaxy[FITS_BANDS.index("z")] > galaxy[FITS_BANDS.index("g")]  # ellipticals are red
    # the galaxy sits near the centre and carries most of its (size-scaled) flux
    expected = row["flux"] * (40 / 96) ** 2
    assert 0.8 * expected < scene.galaxy[..., FITS_BANDS.index("r")].sum() < 1.05 * expected
    peak = np.unravel_index(scene.galaxy[..., 1].argmax(), (40, 40))
    assert abs(peak[0] - 20) < 5 and abs(peak[1] - 20) < 5
    with pytest.raises(ValueError, match="unknown band"):
        render_galaxy(row, 40, ("u",), np.random.default_rng(0))


def test_spirals_are_bluer_than_ellipticals(params):
    def colour(t):
        rows = params[(params.kind == "galaxy") & (params.hubble_type == t) & (params.merger_stage == 0)].head(8)
        out = []
        for i, (_, row) in enumerate(rows.iterrows()):
            s = render_scene(row, 32, ("g", "r", "z"), np.random.default_rng(i)).galaxy.sum(axis=(0, 1))
            out.append(np.log(s[0] / s[2]))
        return np.mean(out)

    assert colour("Sc") > colour("E") + 0.3


def _binned_accuracy(x, y, bins=6):
    """Train/test accuracy of 'majority class per quantile bin of x' (a flexible 1-D classifier)."""
    half = len(y) // 2
    edges = np.quantile(x[:half], np.linspace(0, 1, bins + 1)[1:-1])
    b_train, b_test = np.digitize(x[:half], edges), np.digitize(x[half:], edges)
    overall = pd.Series(y[:half]).mode()[0]
    table = {b: (pd.Series(y[:half][b_train == b]).mode()[0] if (b_train == b).any() else overall) for b in range(bins)}
    pred = np.array([table[b] for b in b_test])
    return (pred == y[half:]).mean(), (y[half:] == overall).mean()


def _nearest_centroid_accuracy(X, y):
    half = len(y) // 2
    mu, sd = X[:half].mean(0), X[:half].std(0) + 1e-9
    Z = (X - mu) / sd
    classes = np.unique(y[:half])
    centroids = np.stack([Z[:half][y[:half] == c].mean(0) for c in classes])
    pred = classes[np.argmin(((Z[half:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)]
    return (pred == y[half:]).mean()


def test_types_not_separable_by_brightness_or_size(params):
    y = params["hubble_type"].to_numpy()
    for col in ("flux", "radius", "redshift"):
        acc, chance = _binned_accuracy(np.log(params[col].to_numpy()), y)
        assert acc < chance + 0.04, (col, acc, chance)
    acc_structure = _nearest_centroid_accuracy(
        params[["bulge_fraction", "arm_strength", "arm_pitch", "clumpiness", "sersic_n"]].to_numpy(), y
    )
    assert acc_structure > 0.8
    # the true fractions are exactly blind to the observational parameters ...
    f = true_fractions(params, "decals_dr5")
    observed = ["flux", "radius", "redshift", "position_angle", "x_offset", "y_offset"]
    shuffled = params.copy()
    shuffled[observed] = params[observed].sample(frac=1.0, random_state=0).to_numpy()
    np.testing.assert_array_equal(true_fractions(shuffled, "decals_dr5"), f)
    # ... so no answer follows brightness or size (|r| ~ 0.02 from chance at n=3000)
    for col in ("flux", "radius"):
        x = np.log(params[col].to_numpy())
        corr = [abs(np.corrcoef(x, f[:, j])[0, 1]) for j in range(f.shape[1])]
        assert max(corr) < 0.08, (col, max(corr))
        acc, chance = _binned_accuracy(x, (f[:, 0] > 0.5).astype(int))
        assert acc < chance + 0.04, (col, acc, chance)


def test_images_not_separable_by_measured_brightness_or_size(params):
    size, n = 32, 160
    y = params["hubble_type"].to_numpy()[:n]
    yy, xx = np.mgrid[0:size, 0:size]
    radius = np.hypot(xx - size / 2 + 0.5, yy - size / 2 + 0.5).ravel()
    order = np.argsort(radius)
    total, r_half = [], []
    for i in range(n):
        rng = np.random.default_rng(i)
        scene = render_scene(params.iloc[i], size, ("g", "r", "z"), rng)
        r = add_noise(scene.total, ("g", "r", "z"), rng)[..., 1].astype(np.float64).ravel()
        cumulative = np.cumsum(r[order])
        total.append(cumulative[-1])
        r_half.append(radius[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    for feature in (np.log(np.clip(total, 1, None)), np.array(r_half)):
        acc, chance = _binned_accuracy(feature, y, bins=4)
        assert acc < chance + 0.1, (acc, chance)


# --- the written data set ---------------------------------------------------------------------


def _read_bytes(paths):
    return [open(p, "rb").read() for p in paths]


def test_png_dataset_deterministic_with_full_catalog(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", n=12, size=32, seed=5, progress=False)
    b = make_synthetic_dataset(tmp_path / "b", n=12, size=32, seed=5, progress=False)
    c = make_synthetic_dataset(tmp_path / "c", n=12, size=32, seed=6, progress=False)
    schema = get_schema("decals_dr5")
    pd.testing.assert_frame_equal(a.drop(columns="file_loc"), b.drop(columns="file_loc"))
    assert _read_bytes(a["file_loc"]) == _read_bytes(b["file_loc"])
    assert _read_bytes(a["file_loc"]) != _read_bytes(c["file_loc"])
    on_disk = pd.read_csv(tmp_path / "a" / "catalog.csv")
    assert list(on_disk.columns) == list(a.columns)
    assert list(on_disk.columns[:2]) == ["id_str", "file_loc"]
    for col in schema.label_cols:
        assert pd.api.types.is_integer_dtype(on_disk[col]), col
    assert set(true_fraction_columns(schema)) <= set(on_disk.columns)
    params = ("hubble_type", "kind", "bulge_fraction", "n_arms", "bar_strength", "inclination", "merger_stage")
    assert set(params + ("flux", "radius")) <= set(on_disk.columns)
    assert on_disk["hubble_type"].isin(HUBBLE).all()
    # the stored ideal answers are recomputable from the stored parameters
    np.testing.assert_allclose(on_disk[true_fraction_columns(schema)].to_numpy(), true_fractions(on_disk, schema), atol=1e-12)
    assert on_disk["id_str"].is_unique
    for loc in on_disk["file_loc"]:
        assert os.path.isabs(loc) and loc.endswith(".png") and os.path.exists(loc)
    from PIL import Image

    img = np.asarray(Image.open(on_disk["file_loc"][0]))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8 and img.std() > 5
    readme = (tmp_path / "a" / "README.txt").read_text()
    assert "seed=5" in readme and "Dirichlet" in readme


def test_fits_dataset(tmp_path):
    catalog = make_synthetic_dataset(tmp_path / "a", n=6, size=32, fits=True, seed=2, schema="gz2", progress=False)
    again = make_synthetic_dataset(tmp_path / "b", n=6, size=32, fits=True, seed=2, schema="gz2", progress=False)
    assert _read_bytes(catalog["file_loc"]) == _read_bytes(again["file_loc"])
    assert (catalog["kind"] == "galaxy").all() and catalog["hubble_type"].isin(HUBBLE).all()
    assert "smooth-or-featured-gz2_smooth" in catalog.columns
    for loc, hubble_type in zip(catalog["file_loc"], catalog["hubble_type"]):
        assert loc.endswith(".fits")
        with fits.open(loc) as hdul:
            cube = hdul[0].data
            assert cube.shape == (5, 32, 32) and cube.dtype.kind == "f"
            assert hdul[0].header["BANDS"] == "g,r,i,z,y"
            assert hdul[0].header["HUBTYPE"] == hubble_type
            assert all(np.isnan(cube[b]).any() for b in range(5))  # defects in every band
            assert np.isfinite(cube).mean() > 0.7
            mask = hdul["OBJMASK"].data
            assert mask.shape == (32, 32) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
            assert 0 < mask.sum() < mask.size and mask[14:18, 14:18].any()
            # the mask marks where the galaxy is: masked pixels are brighter on average
            r = cube[1]
            assert np.nanmean(r[mask == 1]) > np.nanmean(r[mask == 0]) + 3


def test_cli_verb(tmp_path, capsys):
    parser = add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--n", "3", "--out", str(tmp_path), "--size", "24", "--seed", "1", "--schema", "decals_dr12"])
    assert run(args) == 0
    assert "wrote 3 synthetic galaxies" in capsys.readouterr().out
    catalog = pd.read_csv(tmp_path / "catalog.csv")
    assert len(catalog) == 3 and "bar_yes" in catalog.columns
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", str(tmp_path), "--schema", "gz_kaggle37"])


def test_runs_as_a_verb_in_a_fresh_process(tmp_path):
    cmd = [sys.executable, "-m", "zoobot_tf", "synthetic", "--n", "2", "--size", "16", "--out", str(tmp_path), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "catalog.csv")) == 2 and (tmp_path / "README.txt").exists()


def test_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n must be >= 1"):
        make_synthetic_dataset(tmp_path, n=0, progress=False)
    with pytest.raises(ValueError, match="gz_kaggle37"):
        make_synthetic_dataset(tmp_path, n=2, schema="gz_kaggle37", progress=False)
