"""zoobot_tf.models.dat: bilinear sampling, window and deformable attention, the DAT backbone.

One tiny DAT (``dat_test``, 11-channel 48 px synthetic FITS) is trained once per module and
reused for the determinism, serialisation and attention-map tests, to keep graph tracing (the
dominant cost on a CPU) to a minimum.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoobot_tf.models import get_model
from zoobot_tf.models.dat import (
    DAT_CONFIGS,
    DATBlock,
    DeformableAttention,
    WindowAttention,
    bilinear_sample,
    dat_backbone,
    deformable_attention_maps,
    default_stage_spec,
)
from zoobot_tf.models.dat.layers import _window_mask, window_layout
from zoobot_tf.models.registry import get_backbone

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


def _dense(layer, x):
    return x @ layer.kernel.numpy() + layer.bias.numpy()


# ------------------------------------------------------------------------------------------
# bilinear sampling
# ------------------------------------------------------------------------------------------


def _bilinear_reference(image, y, x):
    height, width, _ = image.shape
    out = np.zeros(image.shape[-1])
    for yy in (np.floor(y), np.floor(y) + 1):
        for xx in (np.floor(x), np.floor(x) + 1):
            if 0 <= yy < height and 0 <= xx < width:
                out += (1 - abs(y - yy)) * (1 - abs(x - xx)) * image[int(yy), int(xx)]
    return out


def test_bilinear_sample_matches_reference_with_zero_padding():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    points = rng.uniform(-1.5, 6.5, size=(2, 12, 2)).astype("float32")
    points[0, 0] = (2.0, 3.0)  # exactly on a pixel
    points[0, 1] = (-3.0, 2.0)  # far outside: zero
    out = bilinear_sample(tf.constant(features), tf.constant(points)).numpy()
    expected = np.array([[_bilinear_reference(features[b], *points[b, i]) for i in range(12)] for b in range(2)])
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(out[0, 0], features[0, 2, 3], atol=1e-6)
    np.testing.assert_array_equal(out[0, 1], 0.0)


def test_bilinear_sample_is_differentiable_in_the_positions():
    rng = np.random.default_rng(1)
    features = tf.constant(rng.normal(size=(1, 4, 4, 2)).astype("float32"))
    points = tf.Variable([[[1.0, 2.0], [1.3, 0.6]]])  # on a pixel centre, and between pixels
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(bilinear_sample(features, points) * [1.0, -2.0])
    grad = tape.gradient(value, points).numpy()
    eps = 1e-2
    for p in range(2):
        for axis in range(2):
            shift = np.zeros((1, 2, 2), "float32")
            shift[0, p, axis] = eps
            up = tf.reduce_sum(bilinear_sample(features, points + shift) * [1.0, -2.0])
            np.testing.assert_allclose(grad[0, p, axis], (up - value).numpy() / eps, rtol=1e-3, atol=1e-3)
    assert np.all(grad != 0)  # also on the pixel centre (no floor/abs kink kills the gradient)


# ------------------------------------------------------------------------------------------
# window attention
# ------------------------------------------------------------------------------------------


def _swin_mask(size, window, shift):
    """The shifted-window mask as the Swin / DAT reference builds it (divisible maps)."""
    img = np.zeros((size, size))
    count = 0
    slices = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for h in slices:
        for w in slices:
            img[h, w] = count
            count += 1
    windows = img.reshape(size // window, window, size // window, window).transpose(0, 2, 1, 3)
    windows = windows.reshape(-1, window * window)
    return np.where(windows[:, None, :] != windows[:, :, None], -100.0, 0.0)


def test_window_layout_and_shifted_window_mask():
    assert window_layout(56, 56, 7, shift=True) == (7, 4)  # DAT: shift ceil(7 / 2)
    assert window_layout(56, 56, 7, shift=False) == (7, 0)
    assert window_layout(7, 9, 7, shift=True) == (7, 0)  # one window: nothing to shift
    assert window_layout(3, 3, 7, shift=True) == (3, 0)
    np.testing.assert_array_equal(_window_mask(8, 8, 4, 2), _swin_mask(8, 4, 2))
    assert _window_mask(8, 8, 4, 0) is None  # divisible, unshifted: no mask at all
    padded = _window_mask(5, 6, 4, 0)  # padded to 8 x 8: padding pixels are masked as keys
    assert padded.shape == (4, 16, 16)
    assert np.all(padded[0] == 0.0)  # the top-left window holds 16 real pixels
    assert np.sum(padded[3][0] == 0.0) == 2  # bottom-right: real pixels (4, 4) and (4, 5) only


def test_window_attention_pads_without_leaking_padding():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 5, 8)).astype("float32")
    padded = WindowAttention(2, window_size=4)
    out = padded(x).numpy()
    assert out.shape == x.shape and (padded.window, padded.shift_size) == (4, 0)
    # the top-left window is a complete 4x4 map: same result as the layer on that crop
    crop = WindowAttention(2, window_size=4)
    crop.build((None, 4, 4, 8))
    crop.set_weights(padded.get_weights())
    np.testing.assert_allclose(out[:, :4, :4], crop(x[:, :4, :4]).numpy(), atol=1e-5)
    # pixel (4, 4) is alone in its window: attention over one key is the identity on its value
    value = _dense(padded.qkv, x[:, 4, 4])[:, 16:]
    np.testing.assert_allclose(out[:, 4, 4], _dense(padded.proj_out, value), atol=1e-5)


def test_shifted_window_attention_runs_on_any_map_size():
    layer = WindowAttention(2, window_size=4, shift=True)
    out = layer(np.random.default_rng(3).normal(size=(1, 10, 7, 8)).astype("float32"))
    assert out.shape == (1, 10, 7, 8) and (layer.window, layer.shift_size) == (4, 2)
    assert np.all(np.isfinite(out.numpy()))


# ------------------------------------------------------------------------------------------
# deformable attention
# ------------------------------------------------------------------------------------------


def test_deformable_attention_without_offsets_is_global_attention_with_position_bias():
    """offset_range_factor=0, stride 1: keys at every pixel, bias from the table at integer
    displacements; checked against a numpy implementation (heads in 2 groups)."""
    rng = np.random.default_rng(4)
    height, width, channels, heads = 3, 4, 8, 4
    layer = DeformableAttention(heads, num_groups=2, offset_range_factor=0.0, offset_kernel_size=3)
    x = rng.normal(size=(2, height, width, channels)).astype("float32")
    layer.build(x.shape)
    layer.position_bias.assign(rng.normal(size=layer.position_bias.shape).astype("float32"))
    out, info = layer(x, return_attention=True)

    assert info["sampling_points"].shape == (2, 2, height, width, 2)
    np.testing.assert_array_equal(info["sampling_points"].numpy(), info["reference_points"].numpy())
    np.testing.assert_array_equal(info["reference_points"].numpy()[0, 0, 2, 3], [2.0, 3.0])

    flat = x.reshape(2, -1, channels)
    head_dim = channels // heads
    split = lambda a: a.reshape(2, -1, heads, head_dim).transpose(0, 2, 1, 3)  # noqa: E731
    q, k, v = (split(_dense(d, flat)) for d in (layer.proj_q, layer.proj_k, layer.proj_v))
    grid = np.stack(np.meshgrid(np.arange(height), np.arange(width), indexing="ij"), -1).reshape(-1, 2)
    disp = grid[:, None, :] - grid[None, :, :] + [height - 1, width - 1]
    bias = layer.position_bias.numpy()[disp[..., 0], disp[..., 1]].transpose(2, 0, 1)  # (heads, HW, HW)
    attention = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + bias)
    expected = _dense(layer.proj_out, (attention @ v).transpose(0, 2, 1, 3).reshape(2, -1, channels))
    np.testing.assert_allclose(info["attention"].numpy(), attention, atol=1e-5)
    np.testing.assert_allclose(out.numpy().reshape(2, -1, channels), expected, atol=1e-4)


def test_offsets_are_bounded_and_strided_grid():
    rng = np.random.default_rng(5)
    layer = DeformableAttention(2, num_groups=2, offset_range_factor=3.0, offset_kernel_size=3, stride=2)
    x = rng.normal(size=(2, 6, 5, 8)).astype("float32")
    layer.build(x.shape)
    layer.offset_proj.kernel.assign(100.0 * rng.normal(size=layer.offset_proj.kernel.shape))  # saturate tanh
    out, info = layer(x, return_attention=True)
    assert out.shape == x.shape
    assert info["sampling_points"].shape == (2, 2, 3, 3, 2)  # ceil(6 / 2) x ceil(5 / 2) reference points
    assert info["attention"].shape == (2, 2, 30, 9)
    reference = info["reference_points"].numpy()
    np.testing.assert_allclose(reference[0, 0, :, 0, 0], [0.5, 2.5, 4.5])  # cell centres, pixel units
    np.testing.assert_allclose(reference[0, 0, 0, :, 1], [(i + 0.5) * 5 / 3 - 0.5 for i in range(3)], rtol=1e-6)
    bound = 3.0 * np.array([6 / 3, 5 / 3]) / 2  # factor x half a grid cell
    ratio = np.abs(info["sampling_points"].numpy() - reference) / bound
    assert ratio.max() <= 1.0 + 1e-5 and ratio.max() > 0.9


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="num_groups"):
        DeformableAttention(4, num_groups=3)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        DeformableAttention(3)(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match="block kind"):
        DATBlock("global", 2)
    with pytest.raises(ValueError, match="stage 2: dims"):
        dat_backbone((32, 32, 3), dims=(8, 12), depths=(1, 1), heads=(1, 5))
    with pytest.raises(ValueError, match="stage_spec"):
        dat_backbone((32, 32, 3), dims=(8, 16), depths=(1, 2), heads=(1, 2), stage_spec=("L", "LX"))


# ------------------------------------------------------------------------------------------
# backbone and configs
# ------------------------------------------------------------------------------------------


def test_published_configs_and_dat_tiny_layout():
    assert DAT_CONFIGS["dat_tiny"]["depths"] == (2, 2, 6, 2)
    small, base = DAT_CONFIGS["dat_small"], DAT_CONFIGS["dat_base"]
    assert small["depths"] == (2, 2, 18, 2) and small["dims"] == (96, 192, 384, 768)
    assert base["dims"] == (128, 256, 512, 1024) and base["heads"] == (4, 8, 16, 32) and base["groups"][2:] == (4, 8)
    assert default_stage_spec((2, 2, 6, 2)) == ("LS", "LS", "LDLDLD", "LD")

    encoder = get_backbone("dat_tiny", (224, 224, 3))
    blocks = [layer for layer in encoder.layers if isinstance(layer, DATBlock)]
    assert [b.kind[0].upper() for b in blocks] == list("LSLSLDLDLDLD")
    assert [b.input.shape[1] for b in blocks] == [56] * 2 + [28] * 2 + [14] * 6 + [7] * 2
    assert [b.input.shape[-1] for b in blocks] == [96] * 2 + [192] * 2 + [384] * 6 + [768] * 2
    deformable = [b.attention for b in blocks if b.kind == "deformable"]
    assert [(a.num_heads, a.num_groups, a.offset_kernel_size) for a in deformable] == [(12, 3, 5)] * 3 + [(24, 6, 3)]
    assert blocks[-1].drop_path_rate == pytest.approx(0.2)  # stochastic depth rises to 0.2
    assert encoder.output.shape[1:] == (768,)
    # 28.3 M with a 1000-class ImageNet head (the paper rounds DAT-T to 29 M; Swin-T is 28.3 M)
    assert encoder.count_params() == 27_550_138


# ------------------------------------------------------------------------------------------
# a tiny DAT on 16 synthetic 5-band FITS galaxies (+ 5 invalid-pixel masks + galaxy mask)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def galaxies(tmp_path_factory):
    return hubble_galaxies(tmp_path_factory.mktemp("fits"), 48, fits=True, scaling="minmax", nan_mask=True,
                           galaxy_mask=True)


@pytest.fixture(scope="module")
def trained(galaxies):
    images, labels = galaxies
    assert images.shape == (16, 48, 48, 11)
    return overfit_softmax(images, labels, "dat_test")


def test_gradients_reach_the_offset_networks(galaxies):
    images, labels = galaxies
    keras.utils.set_random_seed(1)
    model = get_model("hubble_sequence", images.shape[1:], architecture="dat_test", head="softmax")
    with tf.GradientTape() as tape:
        probabilities = model(images[:4], training=True)
        loss = keras.losses.sparse_categorical_crossentropy(labels[:4], probabilities)
    offset_kernels = [v for v in model.trainable_variables if "offset_" in v.path and v.path.endswith("kernel")]
    assert len(offset_kernels) == 2 * 2  # depthwise conv + 1x1 conv in each of the 2 deformable blocks
    for variable, grad in zip(offset_kernels, tape.gradient(loss, offset_kernels)):
        assert grad is not None and np.all(np.isfinite(grad)), variable.path
        assert np.abs(grad.numpy()).max() > 0, variable.path


@pytest.mark.slow
def test_tiny_dat_overfits_16_galaxies(trained):
    assert_overfits(trained[1])


@pytest.mark.slow  # uses the model trained by the fixture
def test_inference_is_deterministic(trained, galaxies):
    assert_deterministic(trained[0], galaxies[0])


@pytest.mark.slow  # uses the model trained by the fixture
def test_keras_round_trip_in_safe_mode_and_attention_maps(trained, galaxies, tmp_path):
    model, _ = trained
    images, _ = galaxies
    loaded = assert_safe_round_trip(model, images, tmp_path / "dat.keras")

    maps = deformable_attention_maps(loaded, images[:3])
    assert maps["block"] == "stage4_block1_deformable"
    # stage 4 of a 48 px input: 2 x 2 map, 2 groups, 4 heads; points in image pixels (24 px cells)
    assert maps["sampling_points"].shape == (3, 2, 2, 2, 2)
    assert maps["attention"].shape == (3, 4, 4, 4)
    np.testing.assert_allclose(maps["reference_points"][0, 0, :, 0, 0], [11.5, 35.5])
    np.testing.assert_allclose(maps["attention"].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(maps["key_weights"].sum(axis=(2, 3)), 1.0, rtol=1e-5)
    moved = np.abs(maps["sampling_points"] - maps["reference_points"])
    assert 0 < moved.max() <= 24.0 + 1e-4  # offsets: range factor 2 = one grid cell at most
    with pytest.raises(IndexError, match="2 deformable blocks"):
        deformable_attention_maps(loaded, images[:1], block=5)


def test_dat_runs_in_a_graph_traced_for_any_batch_size():
    """Prediction traces the model once for an unknown batch size ([None, H, W, C]); the deformable
    attention's sampling must not need the batch to be known."""
    import numpy as np

    from zoobot_tf.models import get_model
    from zoobot_tf.predictions.sampling import Sampler, resolve_fast_path

    model = get_model("hubble_sequence", (64, 64, 11), architecture="dat_test", head="softmax")
    sampler = Sampler(model, 2, resolve_fast_path(model, "auto"), seed=0)
    for batch in (3, 1):
        out = sampler(np.random.default_rng(batch).uniform(0, 1, (batch, 64, 64, 11)).astype("float32"))
        assert out.shape == (batch, 6, 2) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
