"""The image recipe: one way from a stored file to model input, saved inside the model, used by every path.

The bug these guard against: a fine-tuned classifier scored 0.675 in its own evaluation and 0.485
through ``predict`` on the same images, because each path prepared images its own way.
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from zoobot_tf.data import get_dataset
from zoobot_tf.data.inputs import catalog_dataset, load_model_input
from zoobot_tf.evaluation.report import evaluate_files
from zoobot_tf.models import get_model
from zoobot_tf.predictions import predict
from zoobot_tf.recipe import Augmentation, ImageRecipe, RecipeError, StoredFormat
from zoobot_tf.saving import METADATA_ENTRY, attach_metadata, load_model, read_metadata, save_model
from zoobot_tf.shards import iter_records, write_shards

SCHEMA = "decals_dr5"


def _smooth(shape, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    base = 120 + 90 * np.sin(xx / 4.0 + seed) * np.cos(yy / 6.0)
    return np.clip(base[..., None] + rng.normal(0, 25, shape), 0, 255)


def _files(root, kind, n=5):
    paths = []
    for i in range(n):
        if kind == "fits":
            data = (_smooth((3, 45, 45), i) / 10.0).astype(np.float32)
            data[1, 3 + i, 7] = np.nan
            path = root / f"{kind}_{i}.fits"
            fits.PrimaryHDU(data).writeto(path)
        else:
            channels = 1 if kind == "grey" else 3
            pixels = _smooth((50, 46, channels), i).astype(np.uint8)
            path = root / f"{kind}_{i}.{'jpg' if kind == 'jpg' else 'png'}"
            Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(path)
        paths.append(str(path))
    return paths


RECIPES = {
    "colour": ImageRecipe(StoredFormat(size=40, channels=3), size=32, channels=3, eval_crop=0.75),
    "grey": ImageRecipe(StoredFormat(size=40, channels=1), size=32, channels=1, eval_crop=0.75),
    "jpg": ImageRecipe(StoredFormat(size=40, channels=3), size=30, channels=1, eval_crop=0.6),  # colour -> grey model
    "fits": ImageRecipe(StoredFormat(size=40, channels=3, scaling="asinh", dtype="float32", nan_mask=True), size=32,
                        channels=6, eval_crop=0.8),
}


@pytest.mark.parametrize("kind", list(RECIPES))
def test_every_path_gives_the_model_the_same_pixels(kind, tmp_path):
    """Shard record -> training's evaluation batches, a catalog read by fine-tuning / predict, and one
    file alone (similar --image, attention maps): the same model input to 1e-6."""
    recipe = RECIPES[kind]
    paths = _files(tmp_path, kind)
    catalog = pd.DataFrame({"id_str": [f"g{i}" for i in range(len(paths))], "file_loc": paths})
    stored = recipe.stored
    write_shards(catalog, tmp_path / "shards", labelled=False, size=stored.size, channels=stored.channels,
                 scaling=stored.scaling, dtype=stored.dtype, nan_mask=stored.nan_mask, shard_size=3, progress=False)
    from_shards = {}
    for images, ids in get_dataset(tmp_path / "shards", "predict", 2, recipe=recipe, augment=False):
        from_shards.update(zip([i.decode() for i in ids.numpy()], images.numpy()))
    from_catalog = {}
    for batch in catalog_dataset(paths, recipe, 2):
        from_catalog.update(zip(catalog["id_str"].iloc[batch["index"].numpy()], batch["image"].numpy()))
    assert len(from_shards) == len(from_catalog) == len(paths)
    for id_str, path in zip(catalog["id_str"], paths):
        alone = load_model_input(path, recipe)
        assert alone.shape == recipe.input_shape and alone.dtype == np.float32
        np.testing.assert_allclose(from_shards[id_str], alone, rtol=0, atol=1e-6)
        np.testing.assert_allclose(from_catalog[id_str], alone, rtol=0, atol=1e-6)
    assert np.isfinite(alone).all() and alone.std() > 0.01  # real pixels, not a constant


def test_recipe_travels_inside_the_model_file(tmp_path):
    recipe = ImageRecipe(StoredFormat(size=40, channels=3, scaling="asinh", dtype="float16"), size=32, channels=3,
                         eval_crop=0.9, augmentation=Augmentation(crop_scale=(1.0, 1.0), rotation="90", flip=False))
    task = {"head": "dirichlet", "schema": SCHEMA, "label_cols": ["a"]}
    model = attach_metadata(get_model(SCHEMA, (32, 32, 3), architecture="small_cnn"), recipe, task)
    path = save_model(model, tmp_path / "sub" / "model.keras")
    assert read_metadata(path).recipe == recipe and read_metadata(path).task == task
    loaded = load_model(path, compile=False)
    assert loaded.zoobot_metadata.recipe == recipe and loaded.zoobot_metadata.zoobot_tf_version
    # plain Keras still reads the file; nothing but the model and the metadata entry is left behind
    keras.saving.load_model(path, compile=False, safe_mode=True)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.keras"]
    assert ImageRecipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe


def test_a_newer_format_is_refused_naming_both_versions(tmp_path):
    model = attach_metadata(get_model(SCHEMA, (16, 16, 3), architecture="small_cnn"),
                            ImageRecipe(StoredFormat(size=16, channels=3), size=16, channels=3))
    path = save_model(model, tmp_path / "model.keras")
    newer = tmp_path / "newer.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(newer, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == METADATA_ENTRY:
                meta = json.loads(data)
                data = json.dumps({**meta, "format": 99, "zoobot_tf_version": "9.0"})
            target.writestr(item, data)
    with pytest.raises(ValueError, match=r"saved by zoobot_tf 9.0 \(model format 99\); this is zoobot_tf .* upgrade"):
        load_model(newer)


def test_recipes_refuse_what_cannot_be_applied():
    with pytest.raises(RecipeError, match="takes 2 channels but images are stored with 3"):
        ImageRecipe(StoredFormat(size=8, channels=3), size=8, channels=2)
    with pytest.raises(RecipeError, match="eval_crop"):
        ImageRecipe(StoredFormat(size=8, channels=3), size=8, channels=3, eval_crop=0.0)
    with pytest.raises(RecipeError, match="unknown scaling"):
        StoredFormat(size=8, channels=3, scaling="log")
    with pytest.raises(RecipeError, match="rotation"):
        Augmentation(rotation="45")
    assert StoredFormat(size=8, channels=3, scaling="raw").scaling == "none"  # detection's old name


def test_training_verbs_read_the_augmentation_and_finetune_the_auto_scaling():
    from zoobot_tf.cli import build_parser
    from zoobot_tf.options import augmentation_from_args

    parser = build_parser(["train"])
    args = parser.parse_args(["train", "--shards", "s", "--out", "o", "--crop-range", "none", "--rotation", "90",
                              "--greyscale-views", "0.5"])
    assert augmentation_from_args(args) == Augmentation(crop_scale=(1.0, 1.0), rotation="90", greyscale=0.5)
    assert augmentation_from_args(parser.parse_args(["train", "--shards", "s", "--out", "o"])) == Augmentation()
    finetune = build_parser(["finetune"])
    args = finetune.parse_args(["finetune", "--model", "m", "--catalog", "c.csv", "--out", "o", "--scaling", "auto"])
    assert args.scaling == "auto"
    with pytest.raises(SystemExit):  # 'auto' chooses a scaling for training; predict applies the model's
        build_parser(["predict"]).parse_args(["predict", "--model", "m", "--catalog", "c.csv", "--scaling", "auto"])


def _old_style_run(tmp_path, run_dir_config: bool):
    """A model saved before recipes travelled in models: plain model.save, options in config.json only."""
    keras.utils.set_random_seed(0)
    model = get_model(SCHEMA, (24, 24, 3), architecture="small_cnn", dropout_rate=0.0)
    run = tmp_path / "old_run"
    run.mkdir()
    model.save(run / "model.keras")
    if run_dir_config:
        (run / "config.json").write_text(json.dumps({
            "kind": "train", "schema": SCHEMA, "input_shape": [24, 24, 3], "image_size": 24, "greyscale": False,
            "image_options": {"crop_scale": [0.7, 0.8], "crop_ratio": [0.9, 1.1], "greyscale": False,
                              "stored_image_shape": [32, 32, 3], "stored_dtype": "uint8",
                              "shard_image_options": {"size": 32, "channels": 3, "scaling": None,
                                                      "nan_mask": False, "galaxy_mask": False}},
        }))
    return model, run / "model.keras"


def test_models_saved_before_recipes_still_predict(synthetic_galaxies, tmp_path, caplog):
    model, path = _old_style_run(tmp_path, run_dir_config=True)
    catalog = synthetic_galaxies.head(6)
    with caplog.at_level(logging.WARNING):
        old = predict(catalog, path, n_samples=1, save_loc=tmp_path / "old.hdf5", progress=False)
    assert "has no image recipe inside" in caplog.text
    same = ImageRecipe(StoredFormat(size=32, channels=3), size=24, channels=3, eval_crop=0.75,
                       augmentation=Augmentation(crop_scale=(0.7, 0.8)))
    new = predict(catalog, attach_metadata(model, same), n_samples=1, save_loc=tmp_path / "new.hdf5", progress=False)
    from zoobot_tf.predictions import load_predictions

    np.testing.assert_allclose(load_predictions(old)[2], load_predictions(new)[2], rtol=1e-5)
    # the bare file alone: a clear error that says which options describe its images
    lone = tmp_path / "lone.keras"
    shutil.copy(path, lone)
    with pytest.raises(ValueError, match="no image recipe.*--stored-size.*--crop-scale.*--scaling"):
        predict(catalog, lone, save_loc=tmp_path / "lone.hdf5", progress=False)
    predict(catalog, lone, n_samples=1, stored_size=32, eval_crop=0.75, save_loc=tmp_path / "lone.hdf5", progress=False)
    np.testing.assert_allclose(load_predictions(tmp_path / "lone.hdf5")[2], load_predictions(new)[2], rtol=1e-5)


# --- a run's reported metric is what predict + evaluate give on the same galaxies ----------------------


def _val_catalog(catalog, shard_dir, split="val"):
    ids = [r["id_str"] for r in iter_records(shard_dir, split)]
    return catalog.set_index("id_str").loc[ids].reset_index()


@pytest.mark.parametrize("alone", [False, True], ids=["run directory", "model file alone"])
def test_train_run_metric_is_reproduced_by_predict_and_evaluate(tiny_run, decals_shards, synthetic_galaxies,
                                                                tmp_path, alone):
    run_dir = tiny_run[0]
    reported = json.loads((run_dir / "metrics.json").read_text())
    assert reported["split"] == "val" and reported["n_samples"] == 5
    model = run_dir / "model.keras"
    if alone:
        model = tmp_path / "copy.keras"
        shutil.copy(run_dir / "model.keras", model)
    val = _val_catalog(synthetic_galaxies, decals_shards)
    out = predict(val, model, n_samples=5, save_loc=tmp_path / "p.hdf5", progress=False)
    result = evaluate_files(out, synthetic_galaxies, baseline_from_rest=False)
    rmse = result["table"].loc["overall", "rmse_volunteers"]
    assert rmse == pytest.approx(reported["vote_fraction_rmse"], rel=0.01)


def test_finetuned_classifier_accuracy_is_reproduced_from_the_bare_file(tiny_run, synthetic_galaxies, tmp_path):
    from zoobot_tf.finetune import finetune

    catalog = synthetic_galaxies.copy()
    catalog["label"] = np.where(catalog["hubble_type"].isin(["E", "S0"]), "early", "late")
    catalog["split"] = ["test" if i % 4 == 0 else ("val" if i % 4 == 1 else "train") for i in range(len(catalog))]
    out = tmp_path / "ft"
    result = finetune(tiny_run[0], out, catalog=catalog, epochs=2, warmup_epochs=0, learning_rate=1e-2, batch_size=8,
                      progress=False)
    assert result.metrics["split"] == "test" and "crops" in result.metrics["image_recipe"]
    lone = tmp_path / "lone" / "anything.keras"
    lone.parent.mkdir()
    shutil.copy(out / "model.keras", lone)
    test = catalog[catalog["split"] == "test"]
    preds = predict(test, lone, n_samples=2, save_loc=tmp_path / "p.hdf5", progress=False)
    evaluated = evaluate_files(preds, catalog)
    assert evaluated["accuracy"] == pytest.approx(result.metrics["accuracy"], abs=0.01)
    assert evaluated["confusion_matrix"] == result.metrics["confusion_matrix"]


@pytest.fixture(scope="module")
def labelled(synthetic_galaxies):
    catalog = synthetic_galaxies.copy()
    catalog["label"] = catalog["hubble_type"].astype(str)
    catalog["split"] = ["test" if i % 4 == 0 else ("val" if i % 4 == 1 else "train") for i in range(len(catalog))]
    return catalog


@pytest.fixture(scope="module")
def class_shards(labelled, tmp_path_factory):
    out = tmp_path_factory.mktemp("class_shards") / "shards"
    write_shards(labelled, out, schema="hubble_sequence", size=32, shard_size=16, progress=False)
    return out


def _reproduced(model_file, catalog, ids, reported, key, tmp_path, **evaluate_kwargs):
    """predict + evaluate ``ids`` with the model file alone and with its run directory beside it."""
    lone = tmp_path / "lone" / "model.keras"
    lone.parent.mkdir(exist_ok=True)
    shutil.copy(model_file, lone)
    table = catalog.set_index("id_str")
    for which, model in (("run", model_file), ("alone", lone)):
        preds = predict(table.loc[ids].reset_index(), model, n_samples=5, save_loc=tmp_path / f"{which}.hdf5",
                        progress=False)
        result = evaluate_files(preds, catalog, baseline_from_rest=False, **evaluate_kwargs)
        value = result["table"].loc["overall", "rmse_volunteers"] if key == "vote_fraction_rmse" else result[key]
        if key == "accuracy":
            assert value == pytest.approx(reported, abs=0.01), which
        else:
            assert value == pytest.approx(reported, rel=0.01), which


FINETUNES = {
    "classifier": dict(head="classifier"),
    "regressor": dict(head="regressor", label_cols=["axis_ratio", "bulge_radius_ratio"]),
    "tree": dict(head=SCHEMA),
}
KEYS = {"classifier": "accuracy", "regressor": "rmse", "tree": "vote_fraction_rmse"}


@pytest.mark.slow
@pytest.mark.parametrize("source", ["catalog", "shards"])
@pytest.mark.parametrize("head", list(FINETUNES))
def test_every_finetune_metric_is_reproduced(head, source, tiny_run, labelled, class_shards, decals_shards, tmp_path):
    from zoobot_tf.finetune import finetune

    options = dict(FINETUNES[head])
    if source == "catalog":
        data = {"catalog": labelled}
    elif head == "classifier":
        data = {"shard_dir": class_shards}
    else:
        data = {"shard_dir": decals_shards}
        if head == "regressor":  # vote counts as regression targets: what vote shards hold
            options["label_cols"] = ["smooth-or-featured_smooth", "smooth-or-featured_featured-or-disk"]
    out = tmp_path / "ft"
    result = finetune(tiny_run[0], out, epochs=2, warmup_epochs=0, learning_rate=1e-2, batch_size=8, progress=False,
                      **options, **data)
    split = result.metrics["split"]
    ids = (labelled.loc[labelled["split"] == split, "id_str"].tolist() if source == "catalog"
           else [r["id_str"] for r in iter_records(data["shard_dir"], split)])
    _reproduced(out / "model.keras", labelled, ids, result.metrics[KEYS[head]], KEYS[head], tmp_path)


@pytest.mark.slow
def test_train_classifier_accuracy_is_reproduced(class_shards, labelled, tmp_path):
    from zoobot_tf.classification import train_classifier

    _, _, report = train_classifier(tmp_path / "run", class_shards, architecture="small_cnn", epochs=2, batch_size=8,
                                    progress=False)
    ids = [r["id_str"] for r in iter_records(class_shards, "test")]
    _reproduced(tmp_path / "run" / "model.keras", labelled, ids, report["accuracy"], "accuracy", tmp_path)


@pytest.mark.slow
def test_kaggle_rmse_is_reproduced(tmp_path):
    from zoobot_tf.kaggle import make_synthetic_kaggle_catalog, train_kaggle

    catalog = make_synthetic_kaggle_catalog(tmp_path / "synthetic", n=60, size=32, seed=1, progress=False)
    write_shards(catalog, tmp_path / "shards", schema="gz_kaggle37", size=32, val_fraction=0.2, test_fraction=0.2,
                 progress=False)
    _, _, report = train_kaggle(tmp_path / "run", tmp_path / "shards", architecture="small_cnn", epochs=2,
                                batch_size=8, progress=False)
    ids = [r["id_str"] for r in iter_records(tmp_path / "shards", "test")]
    _reproduced(tmp_path / "run" / "model.keras", catalog, ids, report["rmse"], "rmse", tmp_path)


def test_a_run_directory_of_a_newer_format_is_refused(tmp_path):
    from zoobot_tf.runs import RUN_FORMAT, load_config, save_config

    save_config(tmp_path, {"kind": "train"})
    assert load_config(tmp_path)["run_format"] == RUN_FORMAT
    (tmp_path / "config.json").write_text(json.dumps({"kind": "train", "run_format": RUN_FORMAT + 1,
                                                       "versions": {"zoobot_tf": "9.1"}}))
    with pytest.raises(ValueError, match=r"written by zoobot_tf 9.1 \(run format 2\); this is zoobot_tf .* upgrade"):
        load_config(tmp_path)
