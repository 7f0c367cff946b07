"""Discovery tools on synthetic galaxies: embed (+ resume, TTA, PCA), similar, anomalies,
acquire (BALD), interval coverage, and their one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from zoobot_tf import cli
from zoobot_tf.discovery import FeatureIndex, acquisition_scores, anomaly_scores, find_similar, question_information
from zoobot_tf.discovery.acquire import _outcomes
from zoobot_tf.evaluation import coverage, coverage_figure, gallery_figure, save_figure
from zoobot_tf.models import get_head, get_model
from zoobot_tf.predictions import (
    apply_pca,
    dihedral_views,
    embed,
    fit_pca,
    load_predictions,
    load_representations,
    predict,
    read_attrs,
    read_pca_table,
)
from zoobot_tf.recipe import ImageRecipe, StoredFormat
from zoobot_tf.saving import attach_metadata, save_model
from zoobot_tf.schemas import get_schema
from zoobot_tf.synthetic import make_synthetic_dataset
from zoobot_tf.synthetic.votes import draw_votes

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = get_schema("decals_dr5")
SIZE = 32
N_GALAXIES, N_ROTATED = 40, 12


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> pd.DataFrame:
    """Synthetic galaxies plus 90-degree-rotated copies of the first ``N_ROTATED`` (``<id>_rot``)."""
    directory = tmp_path_factory.mktemp("synthetic")
    table = make_synthetic_dataset(directory, n=N_GALAXIES, size=48, seed=5, progress=False)[["id_str", "file_loc"]]
    rotated = []
    for id_str, loc in table.head(N_ROTATED).itertuples(index=False):
        path = directory / f"{id_str}_rot.png"
        Image.open(loc).rotate(90).save(path)
        rotated.append({"id_str": f"{id_str}_rot", "file_loc": str(path)})
    return pd.concat([table, pd.DataFrame(rotated)], ignore_index=True)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    keras.utils.set_random_seed(1)
    model = get_model(SCHEMA, (SIZE, SIZE, 3), architecture="small_cnn", dropout_rate=0.5)
    dense = get_head(model).get_layer("head_dense")
    dense.kernel.assign(dense.kernel.numpy() * 20.0)  # dropout visibly moves the concentrations
    path = tmp_path_factory.mktemp("model") / "model.keras"
    # the 48 px PNGs resized to the model's input, whole image (tests of rotation invariance need no crop)
    recipe = ImageRecipe(StoredFormat(size=SIZE, channels=3), size=SIZE, channels=3, eval_crop=1.0)
    return save_model(attach_metadata(model, recipe), path)


@pytest.fixture(scope="module")
def embeddings(catalog, model_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("embed") / "embeddings.hdf5"
    return embed(catalog, model_file, save_loc=out, tta=4, batch_size=16, progress=False)


@pytest.fixture(scope="module")
def pca_file(embeddings) -> Path:
    return apply_pca(embeddings, embeddings.with_name("pca.parquet"), fit_pca(embeddings, 8))


def _cosine(a, b):
    return 1 - (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


# --- embed ----------------------------------------------------------------------------------------


def test_embedding_file_layout(embeddings, catalog):
    with h5py.File(embeddings, "r") as f:
        assert set(f) == {"id_str", "representations", "errors"}
        assert f["representations"].dtype == np.float32 and f["representations"].maxshape[0] is None
        attrs = dict(f.attrs)
    assert bool(attrs["complete"]) and attrs["tta"] == 4 and attrs["n_written"] == len(catalog)
    ids, x = load_representations(embeddings)
    assert sorted(ids) == sorted(catalog["id_str"]) and x.shape == (len(catalog), attrs["n_features"])
    assert np.isfinite(x).all() and x.std(axis=0).max() > 0


def test_embedding_is_nearer_its_rotated_copy_than_other_galaxies(embeddings):
    ids, x = load_representations(embeddings)
    row = {i: k for k, i in enumerate(ids)}
    originals = [i for i in ids if f"{i}_rot" in row]
    to_copy = np.array([_cosine(x[row[i]], x[row[f"{i}_rot"]]) for i in originals])
    for i, d in zip(originals, to_copy):
        others = [row[j] for j in ids if j not in (i, f"{i}_rot")]
        nearest_other = _cosine(x[row[i]][None], x[others]).min()
        assert d < nearest_other, f"{i}: rotated copy at {d:.2e}, another galaxy at {nearest_other:.2e}"
    # with the four rotations averaged the embedding of a 90-degree rotation is the same vector
    assert to_copy.max() < 1e-4


def _copy_found(path) -> float:
    """Fraction of rotated copies whose nearest other galaxy (faiss search) is their original."""
    ids, x = load_representations(path)
    _, rows = FeatureIndex(x).search(x, 2)
    row = {i: k for k, i in enumerate(ids)}
    # the nearest row that is not the copy itself (at distance ~0 the two may come in either order)
    nearest = [next(r for r in rows[row[f"{i}_rot"]] if r != row[f"{i}_rot"]) for i in ids if f"{i}_rot" in row]
    return float(np.mean([ids[r] == i for r, i in zip(nearest, [i for i in ids if f"{i}_rot" in row])]))


def test_rotation_averaging_makes_the_search_find_rotated_copies(catalog, model_file, embeddings, tmp_path):
    """An untrained encoder is far from rotation invariant; averaging the four rotations makes
    the embedding exactly invariant to them, so every rotated copy finds its original."""
    plain = embed(catalog, model_file, save_loc=tmp_path / "plain.hdf5", tta=1, batch_size=16, progress=False)
    found_plain, found_tta = _copy_found(plain), _copy_found(embeddings)
    print(f"rotated copy's nearest galaxy is its original: tta=1 {found_plain:.0%}, tta=4 {found_tta:.0%}")
    assert found_tta == 1.0


def test_dihedral_views_are_the_eight_symmetries():
    image = np.arange(2 * 3 * 3 * 1, dtype=np.float32).reshape(2, 3, 3, 1)
    views = dihedral_views(image, 8)
    flat = {v[0].tobytes() for v in views}
    assert len(flat) == 8 and np.array_equal(views[0], image)
    np.testing.assert_array_equal(views[2], image[:, ::-1, ::-1])  # 180 degrees
    with pytest.raises(ValueError, match="1 \\(off\\) to 8"):
        dihedral_views(image, 9)


_KILLED_CHILD = textwrap.dedent(
    """
    import os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    from zoobot_tf.predictions import embedding, hdf5
    commit, call = hdf5.RowWriter._commit, embedding.Embedder.__call__
    def commit_and_say(self, ids, rows):
        commit(self, ids, rows)
        print("committed", self.n_written, flush=True)
    def slow_call(self, images):
        time.sleep(0.1)
        return call(self, images)
    hdf5.RowWriter._commit, embedding.Embedder.__call__ = commit_and_say, slow_call
    from zoobot_tf.cli import main
    main(["embed", "--catalog", sys.argv[1], "--model", sys.argv[2], "--out", sys.argv[3],
          "--batch-size", "4", "--tta", "4", "--no-progress"])
    """
)


@pytest.mark.slow
def test_killed_embed_resumes_losing_nothing(catalog, model_file, embeddings, tmp_path):
    catalog_csv, out = tmp_path / "catalog.csv", tmp_path / "embeddings.hdf5"
    catalog.to_csv(catalog_csv, index=False)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(catalog_csv), str(model_file), str(out)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = [child.stdout.readline() for _ in range(2)]
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert lines == ["committed 4\n", "committed 8\n"] and child.returncode == -signal.SIGKILL
    assert 8 <= read_attrs(out)["n_written"] < len(catalog) and not read_attrs(out)["complete"]

    assert cli.main(["embed", "--catalog", str(catalog_csv), "--model", str(model_file), "--out", str(out),
                     "--batch-size", "4", "--tta", "4", "--no-progress"]) == 0
    ids, x = load_representations(out)
    assert len(ids) == len(set(ids)) == len(catalog) and read_attrs(out)["complete"]
    # the same vectors as the uninterrupted run, galaxy by galaxy
    ref_ids, ref = load_representations(embeddings)
    ref = dict(zip(ref_ids, ref))
    np.testing.assert_allclose(x, np.stack([ref[i] for i in ids]), rtol=1e-4, atol=1e-5)


def test_embed_workers_merge_and_pca_from_the_cli(catalog, model_file, embeddings, tmp_path, capsys):
    catalog_csv = tmp_path / "catalog.csv"
    catalog.to_csv(catalog_csv, index=False)
    out = tmp_path / "emb.hdf5"
    files = []
    for worker in range(2):
        assert cli.main(["embed", "--catalog", str(catalog_csv), "--model", str(model_file), "--out", str(out),
                         "--tta", "4", "--num-workers", "2", "--worker-index", str(worker), "--no-progress"]) == 0
        files.append(tmp_path / f"emb_worker{worker}of2.hdf5")
    merged = tmp_path / "merged.hdf5"
    assert cli.main(["embed", "--merge", *map(str, files), "--out", str(merged), "--pca", "6"]) == 0
    assert "6 components fitted on 52 galaxies" in capsys.readouterr().out
    ids, x = load_representations(merged)
    assert sorted(ids) == sorted(catalog["id_str"])
    pca_ids, z, pca = read_pca_table(tmp_path / "merged_pca6.parquet")
    assert list(pca_ids) == list(ids) and z.shape == (len(ids), 6) and z.dtype == np.float32
    assert pca.embedding_attrs["tta"] == 4 and np.all(np.diff(pca.explained_variance_ratio) <= 1e-12)
    np.testing.assert_allclose(z, pca.transform(x), rtol=1e-4, atol=1e-4)
    # components are orthonormal and the scores are centred
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(6), atol=1e-8)
    assert np.abs(z.mean(axis=0)).max() < 1e-3 * z.std(axis=0).max() + 1e-5


def test_pca_fitted_on_a_sample_matches_the_full_fit(embeddings):
    full, sampled = fit_pca(embeddings, 3, sample=10**6), fit_pca(embeddings, 3, sample=30, seed=1)
    assert sampled.n_fitted == 30 and full.n_fitted == N_GALAXIES + N_ROTATED
    # the leading direction of a sample is near that of the whole set
    assert abs(float(full.components[0] @ sampled.components[0])) > 0.9


# --- similar --------------------------------------------------------------------------------------


def test_similar_by_id_and_by_image(pca_file, catalog, tmp_path):
    first = catalog["id_str"][0]
    found = find_similar(pca_file, query_id=first, k=5)
    assert list(found.columns) == ["rank", "id_str", "distance"] and len(found) == 5
    assert found["id_str"][0] == f"{first}_rot" and first not in set(found["id_str"])
    assert np.all(np.diff(found["distance"]) >= -1e-7)
    by_image = find_similar(pca_file, image=catalog["file_loc"][0], k=3)
    assert set(by_image["id_str"][:2]) == {first, f"{first}_rot"} and by_image["distance"][0] < 1e-4

    csv = tmp_path / "similar.csv"
    assert cli.main(["similar", "--features", str(pca_file), "--id", first, "--k", "4",
                     "--catalog", str(_csv(catalog, tmp_path)), "--out", str(csv)]) == 0
    assert pd.read_csv(csv)["id_str"][0] == f"{first}_rot"
    assert Image.open(csv.with_suffix(".png")).size[0] > 400


def _csv(catalog, tmp_path):
    path = tmp_path / "catalog.csv"
    catalog.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_agree_with_exact_search(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    exact, approx = FeatureIndex(x, kind="flat"), FeatureIndex(x, kind=kind)
    d_exact, r_exact = exact.search(x[:200], 10)
    d_approx, r_approx = approx.search(x[:200], 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(r_exact, r_approx)])
    print(f"{kind} recall@10 on 3000 random 16-d vectors: {recall:.3f}")
    assert recall > 0.9 and (r_exact[:, 0] == np.arange(200)).all()
    brute = 1 - (x[:200] / np.linalg.norm(x[:200], axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
    np.testing.assert_allclose(d_exact, np.sort(brute, axis=1)[:, :10], atol=1e-5)


# --- anomalies ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_injected_oddities_rank_at_the_top(model_file, tmp_path):
    """300 synthetic images (11 of them the synthetic set's own artifacts: satellite trails, bad
    columns, saturated stars) + 3 injected oddities (a bright trail across an empty frame, a
    checkerboard of bad pixels, a frame of pure noise)."""
    table = make_synthetic_dataset(tmp_path / "s", n=300, size=48, seed=11, progress=False)
    rng = np.random.default_rng(0)
    odd = []
    trail = np.clip(rng.normal(10, 4, (48, 48, 3)), 0, 255)
    for k in range(-2, 3):
        idx = np.arange(48)
        trail[np.clip(idx + k, 0, 47), idx] = 255
    checker = ((np.indices((48, 48)).sum(axis=0) % 2)[..., None] * 255).repeat(3, axis=2).astype(float)
    noise = np.clip(rng.normal(20, 20, (48, 48, 3)), 0, 255)
    for name, pixels in (("trail", trail), ("checker", checker), ("noise", noise)):
        path = tmp_path / f"odd_{name}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(path)
        odd.append({"id_str": f"odd_{name}", "file_loc": str(path)})
    catalog = pd.concat([table[["id_str", "file_loc"]], pd.DataFrame(odd)], ignore_index=True)
    emb = embed(catalog, model_file, save_loc=tmp_path / "emb.hdf5", tta=4, progress=False)
    pca = apply_pca(emb, tmp_path / "pca.parquet", fit_pca(emb, 10))
    ids, x, _ = read_pca_table(pca)
    scores = anomaly_scores(ids, x, k=10)
    injected = {o["id_str"] for o in odd}
    oddities = injected | set(table["id_str"][table["kind"] == "artifact"])
    top1 = set(scores["id_str"][: int(np.ceil(0.01 * len(scores)))])
    top5 = set(scores["id_str"][: int(np.ceil(0.05 * len(scores)))])
    recall_injected, precision = len(top1 & injected) / len(injected), len(top1 & oddities) / len(top1)
    recall5 = len(top5 & oddities) / len(oddities)
    print(f"anomalies, untrained encoder: injected recall at top 1% {recall_injected:.2f}, precision of the top 1% "
          f"{precision:.2f}, recall of all {len(oddities)} oddities at top 5% {recall5:.2f}")
    assert recall_injected >= 2 / 3 and precision >= 0.75 and recall5 >= 0.6
    assert scores["anomaly_score"].is_monotonic_decreasing and list(scores["rank"][:3]) == [1, 2, 3]

    csv = tmp_path / "anomalies.csv"
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    assert cli.main(["anomalies", "--features", str(pca), "--catalog", str(tmp_path / "catalog.csv"),
                     "--out", str(csv), "--top", "6"]) == 0
    assert len(pd.read_csv(csv)) == len(catalog) and csv.with_suffix(".png").is_file()


# --- acquire --------------------------------------------------------------------------------------


def _mc_concentrations(true_p, n_samples, logit_sd, total, rng):
    """A binary question's MC samples: each sample's mean is the truth shifted in logit space by
    the same dropout-like noise for every galaxy."""
    logit = np.log(true_p / (1 - true_p))[:, None] + rng.normal(0, logit_sd, (len(true_p), n_samples))
    p = 1 / (1 + np.exp(-logit))
    return np.stack([p * total, (1 - p) * total], axis=1)  # (N, 2, S)


def test_mutual_information_is_highest_for_ambiguous_galaxies():
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.02, 0.98, 400)
    alpha = _mc_concentrations(true_p, 8, 0.6, 30.0, rng)
    mi, entropy = question_information(alpha, 40)
    rho = stats.spearmanr(mi, -np.abs(true_p - 0.5)).statistic
    print(f"Spearman(MI, closeness of the true fraction to 0.5) = {rho:.2f}")
    # 8 samples estimate each galaxy's disagreement noisily (rho 0.56 here; 0.81 with 30 samples)
    assert rho > 0.4 and (mi >= 0).all() and (entropy >= mi).all()
    clear, ambiguous = np.abs(true_p - 0.5) > 0.4, np.abs(true_p - 0.5) < 0.1
    assert mi[ambiguous].mean() > 2 * mi[clear].mean()
    # samples that all agree carry no information about the model, however ambiguous
    same = np.repeat(alpha[:, :, :1], 8, axis=2)
    assert np.abs(question_information(same, 40)[0]).max() < 1e-9


def test_sampled_mutual_information_matches_exact_enumeration():
    rng = np.random.default_rng(1)
    alpha = rng.uniform(0.5, 20, (6, 4, 5))  # 4 answers, n = 15: 816 outcomes, exact
    exact, h_exact = question_information(alpha, 15)
    from zoobot_tf.discovery import acquire

    old = acquire.EXACT_OUTCOMES
    acquire.EXACT_OUTCOMES = 10
    try:
        sampled, h_sampled = question_information(alpha, 15, n_draws=4000, rng=np.random.default_rng(2))
    finally:
        acquire.EXACT_OUTCOMES = old
    np.testing.assert_allclose(sampled, exact, atol=0.02)
    np.testing.assert_allclose(h_sampled, h_exact, rtol=0.02)
    assert len(_outcomes(15, 4)) == 816 and (_outcomes(15, 4).sum(axis=1) == 15).all()


def test_acquire_end_to_end(catalog, model_file, tmp_path, capsys):
    preds = predict(catalog, model_file, n_samples=4, save_loc=tmp_path / "preds.hdf5", schema="decals_dr5",
                    progress=False)
    table = acquisition_scores(preds)
    assert len(table) == len(catalog) and table["mutual_information"].is_monotonic_decreasing
    weighted = sum(table[f"{q.text}_mutual_information"] * table[f"{q.text}_proba_asked"] for q in SCHEMA.questions)
    np.testing.assert_allclose(table["mutual_information"], weighted)
    assert (table["smooth-or-featured_proba_asked"] == 1).all() and (table["mutual_information"] > 0).all()

    out = tmp_path / "to_label.csv"
    assert cli.main(["acquire", "--predictions", str(preds), "--catalog", str(_csv(catalog, tmp_path)),
                     "--out", str(out), "--top", "10", "--gallery", "6"]) == 0
    upload = pd.read_csv(out, dtype={"id_str": str})
    assert list(upload.columns) == ["id_str", "file_loc", "mutual_information", "predictive_entropy", "rank"]
    assert list(upload["id_str"]) == list(table["id_str"][:10])
    assert all(Path(p).is_file() for p in upload["file_loc"]) and out.with_suffix(".png").is_file()
    assert len(pd.read_parquet(out.with_suffix(".parquet"))) == len(catalog)


# --- calibration ----------------------------------------------------------------------------------


def test_coverage_of_the_generating_model_is_nominal():
    """Concentrations = the synthetic vote model itself (Dirichlet of 25 x the true fractions):
    volunteer fractions fall inside its intervals as often as nominal; an overconfident model
    (x20 concentrations) is caught. Exactly nominal thanks to the randomized PIT."""
    rng = np.random.default_rng(0)
    table = make_synthetic_fractions(rng, 600)
    votes = draw_votes(table, SCHEMA, rng, n_volunteers=40, concentration=25.0)
    alpha = np.repeat((25.0 * np.clip(table, 1e-3, None))[:, :, None], 3, axis=2)
    good = coverage(alpha, votes, SCHEMA, true_fractions=table)
    over = coverage(alpha * 20, votes, SCHEMA)
    overall = good.loc["overall"]
    print(f"coverage of the generating model: 50% -> {overall['coverage_50']:.3f}, 90% -> {overall['coverage_90']:.3f}")
    assert 0.87 <= overall["coverage_90"] <= 0.93 and 0.46 <= overall["coverage_50"] <= 0.54
    # x20 leaves only the multinomial vote noise of 40 volunteers: clearly below nominal
    assert over.loc["overall", "coverage_90"] < overall["coverage_90"] - 0.04
    assert 0.85 <= overall["truth_coverage_90"]  # truth inside the Dirichlet interval
    figure = coverage_figure(good)
    assert len(figure.axes) == 2


def test_concentration_scale_fitted_on_held_out_votes_repairs_overconfidence():
    from zoobot_tf.evaluation.calibration import fit_concentration_scale

    rng = np.random.default_rng(1)
    truth = make_synthetic_fractions(rng, 500)
    votes = draw_votes(truth, SCHEMA, rng, n_volunteers=40, concentration=25.0)
    alpha = np.repeat((25.0 * np.clip(truth, 1e-3, None))[:, :, None], 2, axis=2)
    scale, nll = fit_concentration_scale(alpha * 10, votes, SCHEMA)
    assert 0.06 <= scale <= 0.16 and nll.idxmin() == scale  # the generating model is x10 away
    fixed = coverage(alpha * 10 * scale, votes, SCHEMA).loc["overall", "coverage_90"]
    print(f"fitted concentration scale {scale:.3f} (ideal 0.1); 90% coverage after it {fixed:.3f}")
    assert 0.86 <= fixed <= 0.94


def make_synthetic_fractions(rng, n):
    from zoobot_tf.synthetic import sample_morphology, true_fractions

    return true_fractions(sample_morphology(n, rng), SCHEMA)


def test_evaluate_reports_coverage_and_predict_tta_adds_samples(catalog, model_file, tmp_path):
    full = make_synthetic_dataset(tmp_path / "s", n=24, size=48, seed=5, progress=False)
    preds = predict(full, model_file, n_samples=3, tta=2, save_loc=tmp_path / "tta.hdf5", schema="decals_dr5",
                    progress=False)
    _, _, p = load_predictions(preds)
    assert p.shape[2] == 6 and read_attrs(preds)["tta"] == 2
    csv = tmp_path / "catalog.csv"
    full.to_csv(csv, index=False)
    assert cli.main(["evaluate", "--predictions", str(preds), "--catalog", str(csv), "--out", str(tmp_path / "e")]) == 0
    table = pd.read_csv(tmp_path / "e" / "calibration.csv", index_col=0)
    assert {"coverage_50", "coverage_90", "truth_coverage_90"} <= set(table.columns)
    assert table.loc["overall", "n"] > 0 and (tmp_path / "e" / "calibration.png").is_file()


# --- galleries and errors -------------------------------------------------------------------------


def test_gallery_figure_does_not_touch_pyplot(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figure = gallery_figure([np.zeros((8, 8, 3)), np.ones((8, 8))], ["a", "b"], n_columns=3, highlight=[0])
    path = save_figure(figure, tmp_path / "g.png")
    assert plt.get_fignums() == before and Image.open(path).size[0] > 100


def test_bad_input_gets_one_line_errors(pca_file, catalog, model_file, tmp_path, capsys):
    def error(argv):
        assert cli.main(argv) == cli.EXIT_DATA_ERROR
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("zoobot-tf ")]
        assert len(errors) == 1 and "Traceback" not in err, err  # one line (log warnings may precede it)
        return errors[0]

    assert "id_str 'nope' is not in" in error(["similar", "--features", str(pca_file), "--id", "nope",
                                               "--out", str(tmp_path / "s.csv")])
    partial = tmp_path / "partial.csv"
    catalog.head(10).to_csv(partial, index=False)
    assert "disagree" in error(["anomalies", "--features", str(pca_file), "--catalog", str(partial),
                                "--out", str(tmp_path / "a.csv")])
    one = predict(catalog.head(4), model_file, n_samples=1, save_loc=tmp_path / "one.hdf5", schema="decals_dr5",
                  progress=False)
    assert "needs MC samples" in error(["acquire", "--predictions", str(one), "--catalog", str(_csv(catalog, tmp_path)),
                                        "--out", str(tmp_path / "x.csv")])
    assert "not an embedding file" in error(["embed", "--merge", str(one), "--out", str(tmp_path / "m.hdf5"),
                                             "--pca", "2"])
    with pytest.raises(ValueError, match="exactly one"):
        find_similar(pca_file, k=3)
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "a.csv").exists()


def test_embed_in_a_slurm_array_writes_one_share_per_task(catalog, model_file, tmp_path, monkeypatch):
    """`zoobot-tf embed` in an array numbered 1-2 embeds each galaxy once, in worker files 0 and 1."""
    from zoobot_tf.predictions import load_representations, worker_of

    catalog_csv = tmp_path / "catalog.csv"
    catalog.iloc[:10].to_csv(catalog_csv, index=False)
    base = ["embed", "--catalog", str(catalog_csv), "--model", str(model_file), "--out", str(tmp_path / "e.hdf5"),
            "--batch-size", "4", "--no-progress"]
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    for task in ("1", "2"):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", task)
        assert cli.main(base) == 0
    files = sorted(tmp_path.glob("e_worker*of2.hdf5"))
    assert [f.name for f in files] == ["e_worker0of2.hdf5", "e_worker1of2.hdf5"]
    share = worker_of(catalog["id_str"].iloc[:10], 2)
    for index, path in enumerate(files):
        ids, _ = load_representations(path)
        assert sorted(ids) == sorted(catalog["id_str"].iloc[:10][share == index])
    assert not (tmp_path / "e.hdf5").exists()
