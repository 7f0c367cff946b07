"""zoobot_tf.models.linformer: Linformer attention, the published ViT configuration, a tiny ViT."""

import numpy as np
import pytest

from zoobot_tf.models import get_encoder, get_model
from zoobot_tf.models.linformer import LINFORMER_CONFIGS, LinformerBlock, LinformerSelfAttention, linformer_vit_backbone

from attention_model_checks import (
    assert_deterministic,
    assert_overfits,
    assert_safe_round_trip,
    hubble_galaxies,
    overfit_softmax,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:Skipping variable loading for optimizer:UserWarning",
)


def _softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_linformer_attention_matches_numpy():
    rng = np.random.default_rng(0)
    batch, n, dim, heads, k = 2, 5, 8, 2, 3
    layer = LinformerSelfAttention(heads, k)
    x = rng.normal(size=(batch, n, dim)).astype("float32")
    out = layer(x).numpy()
    assert layer.proj_k.shape == (n, k) and layer.proj_v.shape == (n, k)

    q, keys, values = (x @ d.kernel.numpy() for d in (layer.to_q, layer.to_k, layer.to_v))
    keys = np.einsum("bnd,nk->bkd", keys, layer.proj_k.numpy())  # n -> k along the sequence
    values = np.einsum("bnd,nk->bkd", values, layer.proj_v.numpy())
    split = lambda a: a.reshape(batch, a.shape[1], heads, dim // heads).transpose(0, 2, 1, 3)  # noqa: E731
    attention = _softmax(split(q) @ split(keys).transpose(0, 1, 3, 2) / np.sqrt(dim // heads))
    assert attention.shape == (batch, heads, n, k)
    merged = (attention @ split(values)).transpose(0, 2, 1, 3).reshape(batch, n, dim)
    expected = merged @ layer.to_out.kernel.numpy() + layer.to_out.bias.numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_shared_key_value_projection_has_fewer_parameters():
    x = np.zeros((1, 5, 8), "float32")
    separate, shared = LinformerSelfAttention(2, 3), LinformerSelfAttention(2, 3, share_kv=True)
    separate(x), shared(x)
    assert separate.count_params() - shared.count_params() == 8 * 8 + 5 * 3  # to_v and F


def test_published_configuration_parameter_count():
    """Patch 28, depth 12, width 128, k 64, 8 heads, 224 px, softmax over 8 classes: 2.79 M."""
    model = get_model("gz2_8class", (224, 224, 3), architecture="linformer_vit", head="softmax")
    encoder = get_encoder(model)
    assert model.output.shape[1:] == (8,)
    assert encoder.output.shape[1:] == (128,)
    blocks = [layer for layer in encoder.layers if isinstance(layer, LinformerBlock)]
    assert len(blocks) == 12
    assert blocks[0].attention.proj_k.shape == (65, 64)  # 8 x 8 patches + class token -> k = 64
    assert blocks[0].count_params() == 206_208
    assert encoder.get_layer("patch_embedding").count_params() == 28 * 28 * 3 * 128 + 128
    assert model.count_params() == 2_785_416
    assert round(model.count_params() / 1e6, 2) == 2.79


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError, match="not a multiple of patch_size 28"):
        linformer_vit_backbone((100, 100, 3))
    with pytest.raises(ValueError, match="pool"):
        linformer_vit_backbone((32, 32, 3), patch_size=8, pool="max")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        LinformerSelfAttention(3, 4)(np.zeros((1, 5, 8), "float32"))


def test_mean_pooling_and_many_bands():
    encoder = linformer_vit_backbone((16, 16, 11), patch_size=8, depth=1, dim=16, k=4, heads=2, pool="mean")
    features = encoder(np.random.default_rng(1).uniform(size=(2, 16, 16, 11)).astype("float32"))
    assert features.shape == (2, 16)
    np.testing.assert_allclose(np.mean(features, axis=-1), 0.0, atol=1e-5)  # final LayerNorm (gamma 1, beta 0)


# ------------------------------------------------------------------------------------------
# a tiny Linformer ViT on 16 synthetic colour galaxies
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def galaxies(tmp_path_factory):
    return hubble_galaxies(tmp_path_factory.mktemp("png"), 32)


@pytest.fixture(scope="module")
def trained(galaxies):
    images, labels = galaxies
    assert images.shape == (16, 32, 32, 3)
    assert LINFORMER_CONFIGS["linformer_test"]["patch_size"] == 8
    return overfit_softmax(images, labels, "linformer_test", dropout=0.1)  # block dropout: off at inference


@pytest.mark.slow
def test_tiny_linformer_overfits_16_galaxies(trained):
    assert_overfits(trained[1])


@pytest.mark.slow  # uses the model trained by the fixture
def test_inference_is_deterministic(trained, galaxies):
    assert_deterministic(trained[0], galaxies[0])


@pytest.mark.slow  # uses the model trained by the fixture
def test_keras_round_trip_in_safe_mode(trained, galaxies, tmp_path):
    # safe_mode=True: the class-token pooling uses no Lambda layer
    assert_safe_round_trip(trained[0], galaxies[0], tmp_path / "linformer.keras")
