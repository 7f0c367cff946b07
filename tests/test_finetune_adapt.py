"""Fine-tuning on a survey unlike the pretraining one: BatchNorm adapts, AdamW weight-decay exclusions
and per-block learning rates survive config round trips, a ``split`` column is honoured, and a
tiny fine-tune across a rendered domain shift beats chance clearly."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from zoobot_tf.models import get_encoder, get_model
from zoobot_tf.optimizers import LayerDecayAdamW, no_decay_names
from zoobot_tf.synthetic import DOMAIN_SHIFT, make_synthetic_dataset
from zoobot_tf.finetune import finetune
from zoobot_tf.finetune.freezing import block_learning_rates, recalibrate_batchnorm
from zoobot_tf.saving import load_model

SIZE = 32
EARLY = ("E", "S0")


def _dense_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense_a"),
                              keras.layers.BatchNormalization(name="norm"), keras.layers.Dense(2, name="dense_b")])
    for layer in model.layers:  # non-zero biases/offsets, so that decaying them would show
        for weight in layer.trainable_weights:
            if len(weight.shape) == 1:
                weight.assign(np.full(weight.shape, 0.5, dtype="float32"))
    return model


def _decay_once(optimizer, model):
    """One step with zero gradients: Adam moves nothing, so any change is weight decay."""
    before = {v.path: v.numpy().copy() for v in model.trainable_weights}
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_weights], model.trainable_weights)
    return {"/".join(v.path.split("/")[-2:]): v.numpy() / before[v.path] for v in model.trainable_weights}


@pytest.mark.parametrize("rebuild", ["from_config", "deserialize"])
def test_weight_decay_exclusion_survives_a_rebuilt_optimizer(rebuild):
    model = _dense_model()
    original = LayerDecayAdamW(0.1, weight_decay=0.5, lr_multipliers={"dense_a": 0.5},
                               exclude_names=no_decay_names(model))
    if rebuild == "from_config":
        optimizer = LayerDecayAdamW.from_config(original.get_config())
    else:
        optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(original))
    assert type(optimizer) is LayerDecayAdamW and optimizer.lr_multipliers == {"dense_a": 0.5}
    ratio = _decay_once(optimizer, model)
    # decoupled decay lr * multiplier * wd: 0.1 * 0.5 * 0.5 on dense_a, 0.1 * 0.5 on dense_b
    np.testing.assert_allclose(ratio["dense_a/kernel"], 1 - 0.025, rtol=1e-6)
    np.testing.assert_allclose(ratio["dense_b/kernel"], 1 - 0.05, rtol=1e-6)
    for path in ("dense_a/bias", "dense_b/bias", "norm/gamma", "norm/beta"):
        np.testing.assert_array_equal(ratio[path], 1.0)


def test_optimizer_survives_model_save_and_load(tmp_path):
    model = _dense_model()
    model.compile(optimizer=LayerDecayAdamW(0.1, weight_decay=0.5, lr_multipliers={"dense_a": 0.5},
                                            exclude_names=no_decay_names(model)), loss="mse")
    model.save(tmp_path / "model.keras")  # unfitted: the loaded optimizer has no moments, only decay moves
    loaded = load_model(tmp_path / "model.keras")  # safe_mode, the optimizer rebuilt from its config
    assert type(loaded.optimizer).__name__ == "LayerDecayAdamW"
    assert loaded.optimizer.lr_multipliers == {"dense_a": 0.5}
    assert set(loaded.optimizer.exclude_names) >= {"bias", "gamma", "beta", "position"}
    ratio = _decay_once(loaded.optimizer, loaded)
    np.testing.assert_array_equal(ratio["dense_a/bias"], 1.0)
    np.testing.assert_array_equal(ratio["norm/gamma"], 1.0)
    np.testing.assert_allclose(ratio["dense_a/kernel"], 1 - 0.025, rtol=1e-6)
    np.testing.assert_allclose(ratio["dense_b/kernel"], 1 - 0.05, rtol=1e-6)


def test_lr_decay_gives_each_block_its_own_step():
    encoder = get_encoder(get_model("decals_dr5", (SIZE, SIZE, 3), architecture="small_cnn"))
    rates = block_learning_rates(encoder, None, lr_decay=0.5)
    assert rates == {"block2_conv": 1.0, "block2_bn": 1.0, "block1_conv": 0.5, "block1_bn": 0.5,
                     "block0_conv": 0.25, "block0_bn": 0.25}
    assert block_learning_rates(encoder, 1, lr_decay=0.5) == {"block2_conv": 1.0, "block2_bn": 1.0}
    assert block_learning_rates(encoder, 0) == {}
    with pytest.raises(ValueError, match="lr_decay"):
        block_learning_rates(encoder, None, lr_decay=0.0)
    # Adam's first step is lr * sign(gradient): each block's step is lr * its multiplier
    optimizer = LayerDecayAdamW(1e-2, weight_decay=0.0, lr_multipliers=rates)
    variables = [v for v in encoder.trainable_weights if "_conv/" in v.path]
    before = {v.path: v.numpy().copy() for v in variables}
    optimizer.apply([keras.ops.ones_like(v) for v in variables], variables)
    for v in variables:
        step = before[v.path] - v.numpy()
        np.testing.assert_allclose(step, 1e-2 * rates[v.path.split("/")[0]], rtol=1e-4)


def test_efficientnet_lr_decay_runs_from_the_top_down():
    encoder = get_encoder(get_model("decals_dr5", (32, 32, 3), architecture="efficientnet_b0"))
    rates = block_learning_rates(encoder, None, lr_decay=0.75)
    assert rates["top_conv"] == rates["block7a_project_conv"] == 1.0
    assert rates["block6a_expand_conv"] == 0.75 and rates["block1a_dwconv"] == pytest.approx(0.75**6)
    assert rates["stem_conv"] == pytest.approx(0.75**7)


@pytest.mark.parametrize("names, expected", [
    (["stem.0", "stem.1", "stages.0.blocks.0.conv_dw", "stages.1.downsample.1", "stages.1.blocks.0.mlp.fc1",
      "head.norm"], ["stem", "block0", "block1", "top"]),  # timm ConvNeXt layout
    (["conv1", "bn1", "layer1.0.conv1", "layer2.0.conv1", "layer2.0.downsample.0"], ["stem", "block1", "block2"]),
])
def test_timm_style_layer_names_form_blocks(names, expected):
    from zoobot_tf.finetune.freezing import encoder_blocks

    x = inputs = keras.Input((8, 8, 3))
    for name in names:
        x = keras.layers.Dense(3, name=name)(x)
    encoder = keras.Model(inputs, x)
    assert [name for name, _ in encoder_blocks(encoder)] == expected
    rates = block_learning_rates(encoder, None, lr_decay=0.5)
    assert rates[names[-1]] == 1.0 and rates[names[0]] == 0.25  # the stem sits two groups below the top


def test_recalibration_takes_the_new_images_statistics():
    keras.utils.set_random_seed(3)
    encoder = get_encoder(get_model("decals_dr5", (SIZE, SIZE, 3), architecture="small_cnn"))
    encoder.trainable = False
    rng = np.random.default_rng(0)
    batches = [(0.6 + 0.3 * rng.random((8, SIZE, SIZE, 3))).astype("float32") for _ in range(3)]
    assert recalibrate_batchnorm(encoder, batches) == 3
    conv = keras.Model(encoder.input, encoder.get_layer("block0_conv").output)
    outputs = [conv(b).numpy().reshape(-1, conv.output.shape[-1]) for b in batches]
    bn = encoder.get_layer("block0_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([o.mean(0) for o in outputs], 0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([o.var(0) for o in outputs], 0), rtol=1e-3)
    assert not bn.trainable and bn.momentum == 0.99  # flags restored


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """240 galaxies rendered as the second survey (one band, broad PSF, noise, coarse pixels), early/late labels."""
    frame = make_synthetic_dataset(tmp_path_factory.mktemp("shifted"), n=240, size=SIZE, seed=21, progress=False,
                                   **DOMAIN_SHIFT)
    frame["label"] = np.where(frame["hubble_type"].isin(EARLY), "early", "late")
    return frame


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """small_cnn trained briefly on the default colour galaxies (early/late), as a pretrained encoder."""
    frame = make_synthetic_dataset(tmp_path_factory.mktemp("source"), n=240, size=SIZE, seed=4, progress=False)
    frame["label"] = np.where(frame["hubble_type"].isin(EARLY), "early", "late")
    keras.utils.set_random_seed(1)
    model = get_model("decals_dr5", (SIZE, SIZE, 3), architecture="small_cnn")
    out = tmp_path_factory.mktemp("pretrain")
    result = finetune(model, out, catalog=frame, epochs=6, warmup_epochs=0, lr_decay=1.0, batch_size=16,
                      val_fraction=0.15, test_fraction=0.1, progress=False)
    return result.model


@pytest.mark.slow
def test_batchnorm_adapts_to_the_new_survey_unless_frozen(shifted, pretrained, tmp_path):
    source = {w.path: w.numpy() for w in get_encoder(pretrained).weights if "moving" in w.path}
    options = dict(catalog=shifted, epochs=1, warmup_epochs=0, n_blocks=0, batch_size=16, progress=False)
    frozen = finetune(pretrained, tmp_path / "frozen", batchnorm="frozen", **options)
    adapted = finetune(pretrained, tmp_path / "adapt", **options)
    after_frozen = {w.path: w.numpy() for w in get_encoder(frozen.model).weights if "moving" in w.path}
    after_adapted = {w.path: w.numpy() for w in get_encoder(adapted.model).weights if "moving" in w.path}
    assert all(np.array_equal(source[k], after_frozen[k]) for k in source)
    # head only (n_blocks=0), yet every BatchNorm now carries the new images' statistics
    assert all(not np.allclose(source[k], after_adapted[k], rtol=1e-3) for k in source)
    assert adapted.metrics["trained_layers"] == 0


@pytest.mark.slow
def test_split_column_is_honoured_by_finetune(shifted, pretrained, tmp_path):
    catalog = shifted.copy()
    catalog["split"] = np.where(np.arange(len(catalog)) < 30, "test", np.where(np.arange(len(catalog)) < 60, "val",
                                                                               "train"))
    # also: mixed precision (float16 compute, float32 outputs) and label smoothing run end to end
    result = finetune(pretrained, tmp_path / "out", catalog=catalog, epochs=1, warmup_epochs=0, batch_size=16,
                      mixed_precision=True, label_smoothing=0.1, progress=False)
    assert (result.metrics["n"], result.metrics["n_val"], result.metrics["n_train"]) == (30, 30, 180)
    assert get_encoder(result.model).get_layer("block1_conv").compute_dtype == "float16"
    assert result.model.output.dtype == "float32" and keras.config.dtype_policy().name == "float32"
    assert type(result.model.loss).__name__ == "SmoothedSparseCrossentropy"
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"id_str": str})
    assert set(predictions["id_str"]) == set(catalog["id_str"][:30])
    catalog.loc[7, "split"] = "validation"
    with pytest.raises(ValueError, match=r"catalog row 7 \(id_str 'synthetic_000007'\): split 'validation' is not one"):
        finetune(pretrained, tmp_path / "bad", catalog=catalog, epochs=1, warmup_epochs=0, progress=False)


@pytest.mark.slow  # fine-tunes a pretrained model end to end
def test_split_column_is_honoured_by_make_shards(shifted, pretrained, tmp_path, capsys):
    from zoobot_tf.shards import iter_records, write_shards
    from zoobot_tf.cli import EXIT_DATA_ERROR, main

    catalog = shifted.iloc[:20].copy()
    catalog["split"] = ["test"] * 4 + ["val"] * 3 + [" Train "] * 13  # spaces and case are forgiven
    manifest = write_shards(catalog, tmp_path / "shards", schema="decals_dr5", size=16, progress=False)
    assert {s: manifest.n_records(s) for s in ("train", "val", "test")} == {"train": 13, "val": 3, "test": 4}
    assert {r["id_str"] for r in iter_records(tmp_path / "shards", "test")} == set(catalog["id_str"][:4])
    assert manifest.shard_options["split_column"] == "split"
    # fine-tuning streams the shards and keeps their split: a Dirichlet head on the vote columns
    result = finetune(pretrained, tmp_path / "from_shards", shard_dir=tmp_path / "shards", head="decals_dr5",
                      epochs=1, warmup_epochs=0, batch_size=8, progress=False)
    predictions = pd.read_csv(tmp_path / "from_shards" / "predictions.csv", dtype={"id_str": str})
    assert set(predictions["id_str"]) == set(catalog["id_str"][:4]) and result.metrics["n_train"] == 13
    catalog.loc[catalog.index[5], "split"] = np.nan
    path = tmp_path / "bad.csv"
    catalog.to_csv(path, index=False)
    capsys.readouterr()  # only what the failing command prints (earlier log lines are not its error)
    assert main(["make-shards", "--catalog", str(path), "--out", str(tmp_path / "bad"), "--schema", "decals_dr5",
                 "--size", "16", "--no-progress"]) == EXIT_DATA_ERROR
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "catalog row 5 (id_str 'synthetic_000005'): split nan is not one of" in error


@pytest.mark.slow
def test_a_tiny_finetune_across_the_shift_beats_chance_clearly(shifted, pretrained, tmp_path):
    # defaults but for the budget; 84 held-out galaxies of which 64% are late types. Measured with
    # issue 21's defaults: 0.714, linear probe 0.702 (keep='best' without averaging: 0.738, i.e. two
    # galaxies more, within the noise of 84)
    result = finetune(pretrained, tmp_path / "out", catalog=shifted, epochs=12, patience=12, batch_size=16,
                      val_fraction=0.2, test_fraction=0.35, progress=False)
    truth = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"id_str": str})["true"]
    majority = truth.value_counts(normalize=True).max()
    assert result.metrics["n"] == 84 and majority < 0.67
    accuracy, probe = result.metrics["accuracy"], result.metrics["baselines"]["linear_probe"]["accuracy"]
    assert accuracy >= max(majority + 0.06, 0.7) and accuracy >= probe, (accuracy, majority, probe)
