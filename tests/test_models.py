"""zoobot_tf.models: EfficientNet-B0 + heads, MC dropout in predict, safe .keras round trip."""

import keras
import numpy as np
import pytest

from zoobot_tf.losses import DirichletMultinomialLoss
from zoobot_tf.models import (
    DirichletConcentration,
    MCDropout,
    assemble_model,
    available_architectures,
    build_head,
    encoder_is_deterministic,
    get_encoder,
    get_head,
    get_model,
    register_architecture,
)
from zoobot_tf.models import registry
from zoobot_tf.saving import load_model
from zoobot_tf.schemas import get_schema

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:Skipping variable loading for optimizer:UserWarning",
)

SHAPE = (32, 32, 4)  # any number of bands


def _training_pass(model, x):
    """model(x, training=True) without updating the BatchNorm moving statistics."""
    outputs, _ = model.stateless_call(model.trainable_variables, model.non_trainable_variables, x, training=True)
    return keras.ops.convert_to_numpy(outputs)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, size=(4,) + SHAPE).astype("float32")
    x[1] = x[0]  # two identical galaxies in one batch
    return x


@pytest.fixture(scope="module")
def mc_model(images):
    """EfficientNet-B0 with an MC-dropout Dirichlet head. At random init (BatchNorm moving
    statistics 0 and 1) the pooled features are tiny, so the head's kernel is rescaled to give
    logits of unit spread: dropout then moves the outputs visibly."""
    keras.utils.set_random_seed(0)
    model = get_model("decals_dr5", SHAPE, dropout_rate=0.5, test_time_dropout=True, batchnorm_momentum=0.9)
    dense = get_head(model).get_layer("head_dense")
    logits = get_encoder(model)(images, training=False).numpy() @ dense.kernel.numpy()
    dense.kernel.assign(dense.kernel.numpy() / logits.std())
    return model


@pytest.fixture(scope="module")
def features(mc_model, images):
    return get_encoder(mc_model).predict(images, verbose=0)


def test_efficientnet_b0_structure(mc_model):
    schema = get_schema("decals_dr5")
    assert mc_model.input.shape[1:] == SHAPE
    assert mc_model.output.shape[1:] == (schema.n_answers,)
    encoder, head = get_encoder(mc_model), get_head(mc_model)
    assert encoder.output.shape[1:] == (1280,)  # EfficientNet-B0, pooled
    assert head.input.shape[1:] == (1280,)
    # the keras.applications stem 1/255 rescaling and normalisation are removed for [0, 1] inputs
    kinds = {type(layer) for layer in encoder.layers}
    assert keras.layers.Rescaling not in kinds and keras.layers.Normalization not in kinds
    assert encoder.get_layer("stem_conv").kernel.shape == (3, 3, SHAPE[2], 32)
    assert 3.9e6 < encoder.count_params() < 4.2e6
    batchnorms = [layer for layer in encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batchnorms) > 40 and all(layer.momentum == 0.9 for layer in batchnorms)
    assert encoder_is_deterministic(mc_model)


def test_encoder_is_in_inference_mode_inside_predict(mc_model, images, features):
    encoder = get_encoder(mc_model)
    again = encoder.predict(images, verbose=0)
    np.testing.assert_array_equal(features, again)
    scale = np.abs(features).max()
    np.testing.assert_allclose(features, encoder(images, training=False).numpy(), rtol=0, atol=1e-4 * scale)
    # batch statistics would give very different features: BatchNorm really is in inference mode
    batch_stats = _training_pass(encoder, images)
    assert np.abs(batch_stats - features).max() > 100 * scale


def test_mc_dropout_stays_stochastic_in_predict(mc_model, images):
    first = mc_model.predict(images, verbose=0)
    second = mc_model.predict(images, verbose=0)
    assert first.dtype == np.float32
    assert np.all((first > 1.0) & (first < 101.0))
    assert np.abs(first - second).max() > 1.0  # a new dropout mask on every call
    assert np.abs(first[0] - first[1]).max() > 1.0  # and for every galaxy in a batch
    assert np.abs(first - mc_model(images, training=False).numpy()).max() > 1.0


@pytest.fixture(scope="module")
def deterministic_model(mc_model):
    """The same encoder and head weights, with test_time_dropout=False."""
    mc_head = get_head(mc_model)
    head = build_head("dirichlet", 1280, mc_head.output.shape[-1], dropout_rate=0.5, test_time_dropout=False)
    head.get_layer("head_dense").set_weights(mc_head.get_layer("head_dense").get_weights())
    return assemble_model(get_encoder(mc_model), head, name="deterministic")


def test_without_test_time_dropout_predict_is_deterministic(deterministic_model, images):
    model = deterministic_model
    first, second = model.predict(images, verbose=0), model.predict(images, verbose=0)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, model(images, training=False).numpy(), rtol=1e-5)
    np.testing.assert_allclose(first[0], first[1], rtol=1e-6)
    # ... while training=True still applies the dropout
    assert np.abs(_training_pass(model, images) - first).max() > 1.0


def test_head_runs_alone_on_features(mc_model, deterministic_model, images, features):
    samples = np.stack([get_head(mc_model).predict(features, verbose=0) for _ in range(3)])
    assert samples.shape == (3, len(images), mc_model.output.shape[-1])
    assert np.abs(samples[0] - samples[1]).max() > 1.0
    # encoder once + head on its features == the full model (the prediction fast path)
    np.testing.assert_allclose(
        deterministic_model.predict(images, verbose=0),
        get_head(deterministic_model).predict(features, verbose=0),
        rtol=1e-5,
    )


def test_keras_file_round_trip_in_safe_mode(deterministic_model, images, tmp_path):
    path = tmp_path / "model.keras"
    deterministic_model.save(path)
    loaded = load_model(path)  # safe_mode=True: would refuse Lambda layers
    np.testing.assert_array_equal(
        loaded(images, training=False).numpy(), deterministic_model(images, training=False).numpy()
    )
    assert isinstance(get_head(loaded).get_layer("concentrations"), DirichletConcentration)
    assert [w.shape for w in get_encoder(loaded).weights] == [w.shape for w in get_encoder(deterministic_model).weights]


def test_mc_head_and_compiled_loss_survive_saving(tmp_path, images):
    schema = get_schema("decals_dr5")
    model = get_model(schema, SHAPE, architecture="small_cnn", dropout_rate=0.3, concentration_range=(2.0, 50.0))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=DirichletMultinomialLoss(schema), jit_compile=False)
    votes = np.tile(np.arange(schema.n_answers, dtype="float32") % 5, (len(images), 1))
    history = model.fit(images[..., :4], votes, batch_size=4, epochs=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]  # the loss trains the model
    path = tmp_path / "small.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)  # registration alone is enough
    dropout = get_head(loaded).get_layer("head_dropout")
    assert isinstance(dropout, MCDropout) and dropout.always_on and dropout.rate == pytest.approx(0.3)
    conc = get_head(loaded).get_layer("concentrations")
    assert (conc.min_value, conc.max_value) == (2.0, 50.0)
    assert isinstance(loaded.loss, DirichletMultinomialLoss)
    assert loaded.loss.question_index_groups == tuple(schema.question_index_groups)
    out = loaded(images, training=False).numpy()
    assert np.all((out > 2.0) & (out < 50.0))


def test_softmax_and_regression_heads():
    clf = get_model("hubble_sequence", (32, 32, 1), architecture="small_cnn", head="softmax")
    x = np.random.default_rng(1).uniform(size=(3, 32, 32, 1)).astype("float32")
    probs = clf(x, training=False).numpy()
    assert probs.shape == (3, 6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    reg = get_model(
        2,
        (32, 32, 1),
        architecture="small_cnn",
        head="regression",
        dropout_rate=0.0,
        filters=(4, 8),
        batchnorm_momentum=0.8,
    )
    assert reg(x, training=False).shape == (3, 2)
    assert get_encoder(reg).output.shape[-1] == 8
    assert get_encoder(reg).get_layer("block1_bn").momentum == 0.8


def test_small_cnn_convs_per_block_deepens_each_block():
    encoder = get_encoder(get_model(3, (16, 16, 3), architecture="small_cnn", filters=(4, 8), convs_per_block=2))
    convs = [layer.name for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == ["block0_conv", "block0_conv_2", "block1_conv", "block1_conv_2"]  # first names unchanged
    assert encoder.get_layer("block1_conv_2").kernel.shape == (3, 3, 8, 8)
    with pytest.raises(ValueError, match="convs_per_block"):
        get_model(3, (16, 16, 3), architecture="small_cnn", convs_per_block=0)


def test_mixed_precision_outputs_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = get_model(5, (32, 32, 3), architecture="small_cnn")
        assert get_encoder(model).get_layer("block0_conv").compute_dtype == "float16"
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_registry_plugs_in_new_architectures():
    assert {"efficientnet_b0", "small_cnn"} <= set(available_architectures())

    @register_architecture("test_noisy_mlp")
    def noisy(input_shape, name="encoder", width=8):
        inputs = keras.Input(input_shape)
        x = keras.layers.Dense(width)(keras.layers.GlobalAveragePooling2D()(inputs))
        return keras.Model(inputs, MCDropout(0.2)(x), name=name)

    try:
        model = get_model(3, (8, 8, 2), architecture="test_noisy_mlp", width=5)
        assert get_encoder(model).output.shape[-1] == 5
        assert not encoder_is_deterministic(model)  # the fast predict path must not be used
    finally:
        registry._ARCHITECTURES.pop("test_noisy_mlp")


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(KeyError, match="unknown architecture 'resnet9'.*efficientnet_b0"):
        get_model(3, (32, 32, 3), architecture="resnet9")
    with pytest.raises(ValueError, match="at least 32x32"):
        get_model(3, (16, 16, 3))
    with pytest.raises(ValueError, match="input_shape"):
        get_model(3, (32, 32))
    with pytest.raises(ValueError, match="unknown head"):
        get_model(3, (32, 32, 3), head="sigmoid")
    with pytest.raises(KeyError, match="unknown schema or label set"):
        get_model("gz3", (32, 32, 3))
    with pytest.raises(ValueError, match="dropout_rate"):
        build_head("dirichlet", 8, 3, dropout_rate=1.0)
    with pytest.raises(ValueError, match="0 < min_value < max_value"):
        DirichletConcentration(5.0, 1.0)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no 'encoder' sub-model"):
        get_encoder(plain)
