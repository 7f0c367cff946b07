"""zoobot_tf.losses: closed form, zero votes, Keras loss, and tf.distribute correctness."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import gammaln

from zoobot_tf.losses import (
    DirichletMultinomialLoss,
    average_over_global_batch,
    dirichlet_loss,
    dirichlet_loss_per_question,
    validate_question_index_groups,
)
from zoobot_tf.schemas import get_schema


def closed_form_nll(votes, alpha):
    """-log DM(votes | alpha) from the log-gamma pmf, multinomial coefficient included."""
    votes, alpha = np.asarray(votes, np.float64), np.asarray(alpha, np.float64)
    n, a = votes.sum(-1), alpha.sum(-1)
    log_coeff = gammaln(n + 1) - gammaln(votes + 1).sum(-1)
    log_ratio = gammaln(a) - gammaln(n + a) + (gammaln(votes + alpha) - gammaln(alpha)).sum(-1)
    return -(log_coeff + log_ratio)


@pytest.fixture(scope="module")
def schema():
    return get_schema("decals_dr5")


@pytest.fixture(scope="module")
def batch(schema):
    rng = np.random.default_rng(0)
    n = 6
    votes = rng.integers(0, 12, size=(n, schema.n_answers)).astype(np.float32)
    # totals vary per galaxy; galaxy 1 never saw 'bar', galaxy 2 answered nothing at all
    s, e = schema.get_question("bar").start_index, schema.get_question("bar").end_index
    votes[1, s : e + 1] = 0
    votes[2] = 0
    votes[3, :3] = [0.4, 2.6, 0.0]  # non-integer counts (e.g. weighted) are allowed
    concentrations = rng.uniform(1.0, 101.0, size=votes.shape).astype(np.float32)
    return votes, concentrations


def test_matches_closed_form_per_question(schema, batch):
    votes, conc = batch
    got = dirichlet_loss_per_question(votes, conc, schema.question_index_groups).numpy()
    assert got.shape == (len(votes), schema.n_questions)
    expected = np.stack(
        [closed_form_nll(votes[:, s : e + 1], conc[:, s : e + 1]) for s, e in schema.question_index_groups],
        axis=1,
    )
    # float32 log-gamma of arguments ~200 carries ~1e-4 absolute error; a formula error (e.g. a
    # missing multinomial coefficient) would be of order 1
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=5e-4)
    per_example = dirichlet_loss(votes, conc, schema.question_index_groups).numpy()
    np.testing.assert_allclose(per_example, expected.sum(1), rtol=1e-5, atol=2e-3)
    assert per_example.shape == (len(votes),)


def test_single_question_hand_value():
    # one 2-answer question, 3 votes split 2/1, alpha = (1, 1): DM is uniform over the 4
    # possible splits, so p = 1/4 exactly (the multinomial coefficient is included)
    loss = dirichlet_loss([[2.0, 1.0]], [[1.0, 1.0]], [(0, 1)]).numpy()
    np.testing.assert_allclose(loss, [np.log(4.0)], rtol=1e-6)


def test_unanswered_question_is_exactly_zero_with_zero_gradient(schema, batch):
    votes, conc = batch
    groups = schema.question_index_groups
    bar = schema.get_question("bar")
    conc = conc.copy()
    conc[1, bar.start_index] = np.nan  # a wild prediction where nobody voted must not leak
    conc[2, 0] = np.inf
    conc_t = tf.constant(conc)
    with tf.GradientTape() as tape:
        tape.watch(conc_t)
        per_q = dirichlet_loss_per_question(votes, conc_t, groups)
        total = tf.reduce_sum(per_q)
    grad = tape.gradient(total, conc_t).numpy()
    per_q = per_q.numpy()
    assert per_q[1, bar.index] == 0.0
    assert np.all(per_q[2] == 0.0)
    assert np.all(grad[1, bar.start_index : bar.end_index + 1] == 0.0)
    assert np.all(grad[2] == 0.0)
    assert np.isfinite(total.numpy()) and np.all(np.isfinite(grad))
    # answered questions do get a gradient
    assert np.any(grad[0] != 0.0)


def test_keras_loss_reduces_by_batch_and_round_trips(schema, batch):
    votes, conc = batch
    loss_fn = DirichletMultinomialLoss(schema)
    expected = dirichlet_loss(votes, conc, schema.question_index_groups).numpy().mean()
    np.testing.assert_allclose(loss_fn(votes, conc).numpy(), expected, rtol=1e-6)
    restored = keras.losses.deserialize(keras.losses.serialize(loss_fn))
    assert isinstance(restored, DirichletMultinomialLoss)
    assert restored.question_index_groups == tuple(schema.question_index_groups)
    np.testing.assert_allclose(restored(votes, conc).numpy(), expected, rtol=1e-6)


def test_bad_groups_and_shapes_raise(schema):
    with pytest.raises(ValueError, match="outside the 3 label columns"):
        validate_question_index_groups([(0, 1), (2, 3)], n_outputs=3)
    with pytest.raises(ValueError, match="not a valid inclusive range"):
        validate_question_index_groups([(2, 1)])
    with pytest.raises(ValueError, match="empty"):
        validate_question_index_groups([])
    with pytest.raises(ValueError, match="labels have 3 columns but the model predicts 4"):
        dirichlet_loss(np.ones((2, 3)), np.ones((2, 4)), [(0, 2)])


def test_average_over_global_batch_without_strategy():
    per_example = tf.constant([1.0, 2.0, 6.0])
    assert average_over_global_batch(per_example).numpy() == pytest.approx(3.0)
    weighted = average_over_global_batch(per_example, sample_weight=tf.constant([1.0, 0.0, 0.5]))
    assert weighted.numpy() == pytest.approx(4.0 / 3.0)


# Runs in a fresh interpreter: logical CPU devices must be configured before TF initialises,
# which other tests in this process have already done.
_DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    import keras
    from zoobot_tf.losses import DirichletMultinomialLoss, average_over_global_batch, dirichlet_loss
    from zoobot_tf.models.layers import DirichletConcentration
    from zoobot_tf.schemas import get_schema

    schema = get_schema("decals_dr5")
    groups = schema.question_index_groups
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 5)).astype("float32")
    y = rng.integers(0, 9, size=(8, schema.n_answers)).astype("float32")
    y[3] = 0.0  # an unanswered galaxy on one replica
    init = [rng.normal(scale=0.3, size=(5, schema.n_answers)).astype("float32"),
            rng.normal(scale=0.3, size=(schema.n_answers,)).astype("float32")]

    def make_model():
        inputs = keras.Input((5,))
        outputs = DirichletConcentration()(keras.layers.Dense(schema.n_answers)(inputs))
        model = keras.Model(inputs, outputs)
        model.set_weights(init)
        return model

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": strategy.num_replicas_in_sync}

    # --- custom training step: per-example loss -> average over the GLOBAL batch ---------
    reference = make_model()
    def single_device_grads(n):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(dirichlet_loss(y[:n], reference(x[:n]), groups))
        return loss, tape.gradient(loss, reference.trainable_variables)

    with strategy.scope():
        dist_model = make_model()

    @tf.function
    def dist_step(xb, yb):
        def replica_fn(xr, yr):
            with tf.GradientTape() as tape:
                loss = average_over_global_batch(dirichlet_loss(yr, dist_model(xr), groups))
            return loss, tape.gradient(loss, dist_model.trainable_variables)
        loss, grads = strategy.run(replica_fn, args=(xb, yb))
        sum_ = lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
        return sum_(loss), [sum_(g) for g in grads]

    for n in (8, 7):  # 7: the replicas get uneven shares
        ds = tf.data.Dataset.from_tensor_slices((x[:n], y[:n])).batch(n)
        xb, yb = next(iter(strategy.experimental_distribute_dataset(ds)))
        d_loss, d_grads = dist_step(xb, yb)
        s_loss, s_grads = single_device_grads(n)
        out[f"custom_{n}"] = {
            "dist_loss": float(d_loss), "single_loss": float(s_loss),
            "max_grad_diff": max(float(np.abs(a - b).max()) for a, b in zip(d_grads, s_grads)),
            "max_grad": max(float(np.abs(b).max()) for b in s_grads),
        }

    # --- model.fit: Keras reduces 'sum_over_batch_size' by the global batch --------------
    def fit_once(model):
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss=DirichletMultinomialLoss(groups),
                      jit_compile=False)
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return history.history["loss"][0], model.get_weights()

    single_fit_loss, single_weights = fit_once(make_model())
    with strategy.scope():
        dist_fit_loss, dist_weights = fit_once(make_model())
    out["fit"] = {
        "single_loss": float(single_fit_loss), "dist_loss": float(dist_fit_loss),
        "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(single_weights, dist_weights)),
        "max_update": max(float(np.abs(a - b).max()) for a, b in zip(single_weights, init)),
    }
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow  # a separate TensorFlow process with two logical CPUs
def test_mirrored_strategy_matches_single_device():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTED_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["replicas"] == 2
    for n in (8, 7):
        r = out[f"custom_{n}"]
        assert r["dist_loss"] == pytest.approx(r["single_loss"], rel=1e-5)
        assert r["max_grad"] > 1e-3
        assert r["max_grad_diff"] <= 1e-5 * max(1.0, r["max_grad"])
    fit = out["fit"]
    assert fit["dist_loss"] == pytest.approx(fit["single_loss"], rel=1e-5)
    assert fit["max_update"] > 1e-4  # the step really moved the weights...
    assert fit["max_weight_diff"] < 1e-6  # ...identically on one and on two replicas
