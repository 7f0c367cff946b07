"""timm-layout encoders (ConvNeXt, ResNet, EfficientNet-B0, MaxViT) against timm, and the import's checks.

The fixtures in tests/data/timm/ were written by tests/data/timm/make_timm_fixtures.py (torch +
timm, run once): timm's state-dict keys and shapes, a seed, and timm's pooled features for
weights drawn from that seed. Here the same weights are drawn in numpy (tests/timm_weights.py),
written as safetensors, imported, and the Keras features compared: max abs diff <= 1e-4.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from timm_weights import draw_images, draw_state_dict

from zoobot_tf.cli import main as cli_main
from zoobot_tf.models import available_architectures, get_backbone, get_encoder, get_model, load_model
from zoobot_tf.models.pretrained import (
    assign_timm_weights,
    export_timm_state_dict,
    import_encoder,
    load_encoder_weights,
    read_checkpoint,
    timm_weight_plan,
)
from zoobot_tf.models.pretrained import adapt_stem_weight

FIXTURES = Path(__file__).parent / "data" / "timm"
TOLERANCE = 1e-4
#: minutes on a busy CPU; covered by the same test, marked slow
#: checked in the slow tier only (the quick tier keeps `make test` under 3 minutes on two cores:
#: ConvNeXt atto/femto/nano, ResNet-18 and EfficientNet-B0 stay, and MaxViT's graph is covered there by
#: the safe-mode round trip)
BIG = {
    "convnext_pico", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large", "resnet50", "resnet101",
    "maxvit_tiny_rw_224", "maxvit_rmlp_tiny_rw_224", "maxvit_rmlp_small_rw_224", "maxvit_rmlp_base_rw_224",
    "maxvit_large_tf_224",
}
#: one architecture per stem kind in the quick tier; every architecture in the slow tier
QUICK_ADAPT = {"convnext_atto", "resnet18", "efficientnet_b0_timm"}
#: registered names whose layout is timm's (the fixtures name the timm model where it differs)
TIMM_LAYOUT_PREFIXES = ("convnext_", "resnet", "efficientnet_b0_timm", "maxvit_")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _fixture(architecture):
    meta = json.loads((FIXTURES / f"{architecture}.json").read_text())
    with np.load(FIXTURES / f"{architecture}.npz") as outputs:
        return meta, dict(outputs)


def _write_checkpoint(folder, architecture, channels, drop=(), extra=None, config=None):
    """timm-shaped random weights for ``architecture`` as ``folder/model.safetensors``."""
    meta, _ = _fixture(architecture)
    state = draw_state_dict(meta["keys"][str(channels)], meta["seed"])
    for key in drop:
        del state[key]
    state.update(extra or {})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    save_file(state, str(path))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return path


def _features(encoder, images):
    return np.asarray(encoder(images, training=False))


def _pretrained_architectures():
    return sorted(a for a in available_architectures() if a.startswith(TIMM_LAYOUT_PREFIXES))


def test_every_importable_architecture_has_a_timm_fixture():
    fixtures = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert fixtures == _pretrained_architectures()


@pytest.mark.parametrize(
    "architecture",
    [pytest.param(a, marks=pytest.mark.slow) if a in BIG else a for a in _pretrained_architectures()],
)
def test_keras_encoder_matches_timm(architecture, tmp_path):
    meta, expected = _fixture(architecture)
    diffs = {}
    for channels in meta["channels"]:
        checkpoint = _write_checkpoint(tmp_path / f"c{channels}", architecture, channels)
        for size in meta["sizes"]:
            encoder = import_encoder(checkpoint, architecture=architecture, image_size=size)
            assert tuple(encoder.input.shape[1:]) == (size, size, channels)
            got = _features(encoder, draw_images(meta["seed"], size, channels))
            want = expected[f"c{channels}_s{size}"]
            assert got.shape == want.shape
            diffs[(channels, size)] = float(np.abs(got - want).max())
        # and back: the Keras encoder exports timm's keys, shapes and the very same values
        exported = export_timm_state_dict(encoder)
        listed = meta["keys"][str(channels)]
        assert {k: list(v.shape) for k, v in exported.items()} == dict(listed)
        drawn = draw_state_dict(listed, meta["seed"])
        assert all(np.array_equal(exported[k], drawn[k]) for k in drawn)
        del encoder
    print(f"{architecture}: max abs diff vs timm {max(diffs.values()):.2e} {diffs}")
    assert max(diffs.values()) <= TOLERANCE, diffs


@pytest.fixture(scope="module")
def atto(tmp_path_factory):
    """A colour convnext_atto checkpoint in a Hugging Face-style snapshot folder."""
    folder = tmp_path_factory.mktemp("hub") / "snapshot"
    _write_checkpoint(folder, "convnext_atto", 3, config={"architecture": "convnext_atto", "num_classes": 0})
    return folder


def test_snapshot_folder_names_its_architecture(atto):
    meta, expected = _fixture("convnext_atto")
    encoder = import_encoder(atto, image_size=32)  # architecture from config.json
    got = _features(encoder, draw_images(meta["seed"], 32, 3))
    assert np.abs(got - expected["c3_s32"]).max() <= TOLERANCE
    with pytest.raises(ValueError, match="is a convnext_atto checkpoint.*not convnext_nano"):
        import_encoder(atto, architecture="convnext_nano", image_size=32)


def test_hugging_face_cache_folder_is_read_through_refs_main(atto, tmp_path):
    cache = tmp_path / "models--mwalmsley--zoobot-encoder-convnext_atto"
    (cache / "snapshots" / "abc123").mkdir(parents=True)
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text("abc123\n")
    for name in ("model.safetensors", "config.json"):
        (cache / "snapshots" / "abc123" / name).symlink_to(atto / name)
    checkpoint = read_checkpoint(cache)
    assert checkpoint.architecture == "convnext_atto"
    assert checkpoint.path.name == "model.safetensors"


def test_get_model_and_cli_give_the_imported_features(atto, tmp_path):
    meta, expected = _fixture("convnext_atto")
    images = draw_images(meta["seed"], 32, 3)
    out = tmp_path / "encoders" / "encoder.keras"
    assert cli_main(["import-encoder", "--checkpoint", str(atto / "model.safetensors"),
                     "--architecture", "convnext_atto", "--out", str(out), "--image-size", "32"]) == 0
    assert [p.name for p in out.parent.iterdir()] == ["encoder.keras"]
    saved = load_model(out, compile=False)
    assert np.abs(_features(saved, images) - expected["c3_s32"]).max() <= TOLERANCE
    assert get_encoder(saved) is saved  # a bare encoder is its own encoder (finetune --model)
    # a full model from the checkpoint and from the imported .keras, at another input size
    for weights in (atto, out):
        model = get_model(4, (64, 64, 3), architecture="convnext_atto", encoder_weights=weights, head="softmax")
        got = _features(get_encoder(model), draw_images(meta["seed"], 64, 3))
        assert np.abs(got - expected["c3_s64"]).max() <= TOLERANCE


def _one_line_error(func, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_extra_and_misshaped_keys_are_named(tmp_path):
    architecture = "convnext_atto"
    missing = _write_checkpoint(tmp_path / "missing", architecture, 3, drop=["stages.2.blocks.4.mlp.fc2.weight"])
    assert "stages.2.blocks.4.mlp.fc2.weight" in _one_line_error(import_encoder, missing, architecture, 32)
    extra = _write_checkpoint(
        tmp_path / "extra", architecture, 3,
        extra={"head.fc.weight": np.zeros((10, 320), np.float32), "head.fc.bias": np.zeros(10, np.float32)},
    )
    message = _one_line_error(import_encoder, extra, architecture, 32)
    assert "not used" in message and "head.fc.bias" in message and "head.fc.weight" in message
    misshaped = _write_checkpoint(
        tmp_path / "shape", architecture, 3, extra={"stages.1.blocks.0.gamma": np.ones(81, np.float32)}
    )
    message = _one_line_error(import_encoder, misshaped, architecture, 32)
    assert "stages.1.blocks.0.gamma" in message and "(81,)" in message


def test_unadaptable_channels_and_wrong_architecture_are_named(atto, tmp_path):
    # the plan alone (no adaptation asked) names the stem and both channel counts
    state = read_checkpoint(atto).state_dict
    message = _one_line_error(timm_weight_plan, get_backbone("convnext_atto", (32, 32, 1)), state, "convnext_atto")
    assert "stem.0.weight" in message and "(40, 3, 4, 4)" in message and "takes 1 channels" in message
    # 2 -> 4 channels has no defined adaptation: refused, and the encoder is left untouched
    two = dict(state, **{"stem.0.weight": np.ones((40, 2, 4, 4), np.float32)})
    encoder = get_backbone("convnext_atto", (32, 32, 4))
    before = [w.numpy().copy() for w in encoder.weights]
    message = _one_line_error(assign_timm_weights, encoder, two, "convnext_atto", adapt_channels=True)
    assert "stem.0.weight" in message and "2-channel" in message and "4 channels" in message
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, encoder.weights)), "half-written encoder"
    resnet = _write_checkpoint(tmp_path / "resnet", "resnet18", 3)
    nano = _write_checkpoint(tmp_path / "nano", "convnext_nano", 3)
    message = _one_line_error(import_encoder, nano, "convnext_atto", 32, channels=1)
    assert "has shape (80, " in message and "another architecture" in message
    message = _one_line_error(import_encoder, resnet, "convnext_atto", 32)
    assert "not a convnext_atto checkpoint" in message and "stem.0.weight" in message and "bn1.bias" in message


def test_adapt_stem_weight_follows_timm():
    weight = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(adapt_stem_weight(weight, 1), weight.sum(axis=1, keepdims=True))
    grey = weight[:, :1]
    np.testing.assert_allclose(adapt_stem_weight(grey, 3), np.repeat(grey, 3, axis=1) / 3)
    six = adapt_stem_weight(weight, 6)  # timm: RGB repeated, scaled by 3/6
    np.testing.assert_allclose(six, np.concatenate([weight, weight], axis=1) * 0.5)
    assert adapt_stem_weight(weight, 3) is not None and adapt_stem_weight(weight, 3).shape == weight.shape


@pytest.mark.parametrize(
    "architecture",
    [a if a in QUICK_ADAPT else pytest.param(a, marks=pytest.mark.slow) for a in _pretrained_architectures()],
)
def test_adapted_stem_gives_the_same_features_on_equal_channel_images(architecture, tmp_path):
    """Colour -> greyscale (summed stem) and greyscale -> colour (repeated / 3): the adapted encoder
    on an image whose channels are equal gives the original encoder's features."""
    meta, _ = _fixture(architecture)
    size = meta["sizes"][0]
    grey = draw_images(meta["seed"], size, 1)
    colour = np.repeat(grey, 3, axis=-1)
    for source, target in ((3, 1), (1, 3)):
        checkpoint = _write_checkpoint(tmp_path / f"c{source}", architecture, source)
        original = import_encoder(checkpoint, architecture=architecture, image_size=size)
        adapted = import_encoder(checkpoint, architecture=architecture, image_size=size, channels=target)
        assert tuple(adapted.input.shape[1:]) == (size, size, target)
        want = _features(original, colour if source == 3 else grey)
        got = _features(adapted, grey if target == 1 else colour)
        scale = max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= TOLERANCE * scale, (architecture, source, target)


@pytest.mark.slow  # 5 s; the adapted stems are checked for equality in the quick tier
def test_colour_encoder_starts_a_greyscale_model_and_cli_adapts(atto, tmp_path):
    meta, expected = _fixture("convnext_atto")
    grey = draw_images(meta["seed"], 32, 1)
    want = _features(import_encoder(atto, "convnext_atto", 32), np.repeat(grey, 3, axis=-1))
    # the train path: get_model builds a 1-channel encoder, the colour stem is summed
    model = get_model(4, (32, 32, 1), architecture="convnext_atto", encoder_weights=atto, head="softmax")
    assert np.abs(_features(get_encoder(model), grey) - want).max() <= TOLERANCE
    out = tmp_path / "grey.keras"
    assert cli_main(["import-encoder", "--checkpoint", str(atto), "--out", str(out), "--image-size", "32",
                     "--channels", "1"]) == 0
    saved = load_model(out, compile=False)
    assert tuple(saved.input.shape[1:]) == (32, 32, 1)
    assert np.abs(_features(saved, grey) - want).max() <= TOLERANCE
    # and an imported colour .keras encoder fills a greyscale model the same way
    colour_file = tmp_path / "colour.keras"
    assert cli_main(["import-encoder", "--checkpoint", str(atto), "--out", str(colour_file), "--image-size", "32"]) == 0
    model = get_model(4, (32, 32, 1), architecture="convnext_atto", encoder_weights=colour_file, head="softmax")
    assert np.abs(_features(get_encoder(model), grey) - want).max() <= TOLERANCE


@pytest.mark.slow  # 12 s; MaxViT is checked against timm in the slow tier too
def test_maxvit_round_trips_a_keras_file_in_safe_mode(tmp_path):
    meta, expected = _fixture("maxvit_rmlp_tiny_rw_224")
    encoder = import_encoder(_write_checkpoint(tmp_path, "maxvit_rmlp_tiny_rw_224", 3), "maxvit_rmlp_tiny_rw_224", 64)
    encoder.save(tmp_path / "maxvit.keras")
    again = load_model(tmp_path / "maxvit.keras", compile=False)
    images = draw_images(meta["seed"], 64, 3)
    assert np.abs(_features(again, images) - expected["c3_s64"]).max() <= TOLERANCE
    with pytest.raises(ValueError, match="multiple of 32"):
        get_backbone("maxvit_rmlp_tiny_rw_224", (48, 48, 3))


def test_timm_names_resolve_to_the_timm_layouts(tmp_path):
    checkpoint = _write_checkpoint(tmp_path / "b0", "efficientnet_b0_timm", 3, config={"architecture": "efficientnet_b0"})
    encoder = import_encoder(checkpoint.parent, image_size=32)  # config.json names timm's efficientnet_b0
    meta, expected = _fixture("efficientnet_b0_timm")
    assert np.abs(_features(encoder, draw_images(meta["seed"], 32, 3)) - expected["c3_s32"]).max() <= TOLERANCE
    keras_layout = get_backbone("efficientnet_b0", (32, 32, 3))
    message = _one_line_error(load_encoder_weights, keras_layout, checkpoint, architecture="efficientnet_b0")
    assert "efficientnet_b0_timm" in message


def test_failed_cli_import_writes_nothing(tmp_path, capsys):
    broken = tmp_path / "model.safetensors"
    broken.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    out = tmp_path / "out" / "encoder.keras"
    assert cli_main(["import-encoder", "--checkpoint", str(broken), "--architecture", "resnet18",
                     "--out", str(out)]) == 65
    assert "not a readable safetensors file" in capsys.readouterr().err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_pytorch_model_bin_needs_no_torch_and_hub_without_client_says_what_to_install(tmp_path, monkeypatch):
    from zoobot_tf.models.pretrained import download_encoder

    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    pickle = tmp_path / "pytorch_model.bin"
    pickle.write_bytes(b"not read")
    assert "not a torch.save zip archive" in _one_line_error(read_checkpoint, tmp_path)
    assert "needs the huggingface_hub package" in _one_line_error(download_encoder, "mwalmsley/zoobot-encoder-convnext_nano")


def test_pytorch_pickle_reads_as_the_safetensors_file_when_torch_is_installed(atto, tmp_path):
    torch = pytest.importorskip("torch")  # optional: zoobot_tf never needs torch
    state = read_checkpoint(atto).state_dict
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "pytorch_model.bin")
    again = read_checkpoint(tmp_path).state_dict
    assert again.keys() == state.keys() and all(np.array_equal(again[k], state[k]) for k in state)
