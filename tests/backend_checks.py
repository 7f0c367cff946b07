"""Models and the Dirichlet loss under the active Keras backend; needs no TensorFlow.

Run by ``tests/test_backends.py`` in a subprocess, e.g.
``KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/backend_checks.py``. It checks that importing
the package pulls in no TensorFlow, that the ``keras.ops`` loss equals the TFP values stored in
``tests/data/dirichlet_tfp_reference.npz`` (values and gradients), and that every listed model
builds, predicts, and takes a training step with the loss. Optionally it loads a ``.keras``
model saved on TensorFlow and compares its outputs. Prints one JSON line of figures; exits
non-zero (an AssertionError) on the first failed check.

``python tests/backend_checks.py --write-reference`` (TensorFlow backend) writes the reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).resolve().parent / "data" / "dirichlet_tfp_reference.npz"
#: architecture -> input shape of the model checks (small: a check, not a benchmark)
ARCHITECTURES = {
    "small_cnn": (32, 32, 1),
    "efficientnet_b0": (32, 32, 3),
    "convnext_atto": (32, 32, 3),
    "resnet18": (32, 32, 3),
    "dat_test": (32, 32, 3),
    "linformer_test": (32, 32, 3),
}
SCHEMA = "decals_dr5"


def reference_inputs(schema):
    """Votes and concentrations covering the model's range, unanswered questions and fractional votes."""
    rng = np.random.default_rng(23)
    n = 48
    votes = rng.integers(0, 41, size=(n, schema.n_answers)).astype("float64")
    votes[8:16] = rng.integers(0, 6, size=(8, schema.n_answers))  # few votes
    votes[16:20] = rng.integers(100, 250, size=(4, schema.n_answers))  # many votes
    votes[::7, : schema.question_index_groups[0][1] + 1] = 0.0  # first question unanswered
    votes[5] = 0.0  # nothing answered
    votes[6, :3] = [0.4, 2.6, 0.0]  # non-integer (weighted) votes
    concentrations = rng.uniform(1.0, 101.0, size=votes.shape)
    concentrations[20:24] = rng.uniform(1.0, 1.05, size=(4, schema.n_answers))  # at the lower bound
    concentrations[24:28] = rng.uniform(100.0, 101.0, size=(4, schema.n_answers))  # at the upper bound
    return votes.astype("float32"), concentrations.astype("float32")


def _gradient(loss_of, concentrations):
    """d loss_of(c) / d c with the backend's own autodiff."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(loss_of)(concentrations))
    if backend == "torch":
        import torch

        leaf = torch.tensor(concentrations, requires_grad=True)
        loss_of(leaf).backward()
        return leaf.grad.cpu().numpy()
    if backend == "tensorflow":
        import tensorflow as tf

        leaf = tf.constant(concentrations)
        with tf.GradientTape() as tape:
            tape.watch(leaf)
            loss = loss_of(leaf)
        return tape.gradient(loss, leaf).numpy()
    raise NotImplementedError(f"no gradient for backend {backend!r}")


def _compiled():
    """``jax.jit`` on JAX (eager JAX compiles every op on its own), else the function as it is."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.jit
    return lambda fn: fn


def loss_figures(implementation="auto"):
    """The loss (float64 and float32) and its float64 gradient against the stored TFP values."""
    import keras

    from zoobot_tf.losses import dirichlet_loss, dirichlet_loss_per_question

    ref = np.load(REFERENCE)
    votes, conc, groups = ref["votes"], ref["concentrations"], [tuple(g) for g in ref["groups"]]
    as_numpy = keras.ops.convert_to_numpy
    compiled = _compiled()

    @compiled
    def per_question(c):
        return dirichlet_loss_per_question(votes, c, groups, implementation, c.dtype)

    @compiled
    def total(c):
        return keras.ops.sum(dirichlet_loss(votes, c, groups, implementation, "float64"))

    got64, got32 = as_numpy(per_question(conc.astype("float64"))), as_numpy(per_question(conc))
    assert got64.dtype == np.float64, f"float64 loss came back as {got64.dtype} (JAX needs JAX_ENABLE_X64=1)"
    grad64 = _gradient(total, conc.astype("float64"))
    # float32: log-gammas of ~100s cancel, and every library rounds them differently; the error is
    # measured in units of float32 eps times the sum of |log-gamma| terms (TFP's own float32: ~0.5)
    ulps = np.finfo("float32").eps * ref["lgamma_scale"]
    figures = {
        "loss_float64_max_abs_diff": float(np.abs(got64 - ref["tfp_float64"]).max()),
        "grad_float64_max_abs_diff": float(np.abs(grad64 - ref["grad_float64"]).max()),
        "loss_float32_max_abs_error": float(np.abs(got32 - ref["tfp_float64"]).max()),
        "loss_float32_error_in_eps_units": float((np.abs(got32 - ref["tfp_float64"]) / ulps).max()),
        "tfp_float32_max_abs_error": float(np.abs(ref["tfp_float32"] - ref["tfp_float64"]).max()),
        "max_abs_loss": float(np.abs(ref["tfp_float64"]).max()),
    }
    assert figures["loss_float64_max_abs_diff"] <= 1e-5, figures
    assert figures["grad_float64_max_abs_diff"] <= 1e-5, figures
    assert figures["loss_float32_error_in_eps_units"] <= 2.0, figures
    unanswered = ref["tfp_float64"] == 0.0
    assert np.all(got32[unanswered] == 0.0) and np.all(got64[unanswered] == 0.0)
    return figures


def model_figures(architecture, input_shape):
    """Build, predict twice (MC dropout differs), one train step: finite loss, weights moved."""
    import keras

    from zoobot_tf.losses import DirichletMultinomialLoss
    from zoobot_tf.models import get_encoder, get_head, get_model
    from zoobot_tf.schemas import get_schema

    schema = get_schema(SCHEMA)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4,) + tuple(input_shape)).astype("float32")
    votes = rng.integers(0, 10, size=(4, schema.n_answers)).astype("float32")
    model = get_model(schema, input_shape, architecture=architecture)
    if keras.backend.backend() == "torch":  # every variable is a torch parameter (timm's dotted names too)
        assert len(list(model.named_parameters())) == len(model.variables), architecture
    first, second = model.predict(images, verbose=0), model.predict(images, verbose=0)
    assert first.shape == (4, schema.n_answers) and np.all((first >= 1.0) & (first <= 101.0)), architecture
    assert not np.array_equal(first, second), f"{architecture}: MC dropout gave identical predictions"
    features = get_encoder(model).predict(images, verbose=0)  # compiled: eager JAX compiles op by op
    assert features.shape[0] == 4 and np.all(np.isfinite(features)), architecture
    # a fresh encoder's features are tiny; on unit-scale features MC dropout must show clearly
    unit = rng.normal(size=features.shape).astype("float32")
    head = get_head(model)
    spread = np.abs(keras.ops.convert_to_numpy(head(unit)) - keras.ops.convert_to_numpy(head(unit))).max()
    assert spread > 1e-3, f"{architecture}: the head's MC dropout is off ({spread})"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=DirichletMultinomialLoss(schema))
    kernel = keras.ops.convert_to_numpy(get_head(model).get_layer("head_dense").kernel)
    loss = float(model.train_on_batch(images, votes))
    moved = np.abs(keras.ops.convert_to_numpy(get_head(model).get_layer("head_dense").kernel) - kernel).max()
    assert np.isfinite(loss) and moved > 0, (architecture, loss, moved)
    return {"train_loss": loss, "n_params": int(model.count_params())}


def saved_model_figures(paths):
    """Load ``.keras`` models saved on another backend (safe mode); max |output - saved output|."""
    import keras

    import zoobot_tf.losses  # noqa: F401  (registers the loss)
    from zoobot_tf.models import available_architectures

    available_architectures()  # imports every architecture module: registers their layers
    worst = 0.0
    for path in paths:
        saved = np.load(Path(path).with_suffix(".npz"))
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        got = keras.ops.convert_to_numpy(model(saved["images"], training=False))
        worst = max(worst, float(np.abs(got - saved["outputs"]).max()))
    return worst


def write_reference():
    import keras

    from zoobot_tf.losses import dirichlet_loss, dirichlet_loss_per_question
    from zoobot_tf.schemas import get_schema

    assert keras.backend.backend() == "tensorflow", "the TFP reference is computed on TensorFlow"
    schema = get_schema(SCHEMA)
    votes, conc = reference_inputs(schema)
    groups = schema.question_index_groups
    tfp64 = dirichlet_loss_per_question(votes, conc.astype("float64"), groups, "tfp", "float64").numpy()
    tfp32 = dirichlet_loss_per_question(votes, conc, groups, "tfp").numpy()

    def total(c):
        return keras.ops.sum(dirichlet_loss(votes, c, groups, "tfp", "float64"))

    grad64 = _gradient(total, conc.astype("float64"))
    np.savez_compressed(REFERENCE, votes=votes, concentrations=conc, groups=np.array(groups, "int32"),
                        tfp_float64=tfp64, tfp_float32=tfp32, grad_float64=grad64,
                        lgamma_scale=lgamma_scale(votes, conc, groups))


def lgamma_scale(votes, concentrations, groups):
    """Per question, the sum of |log-gamma| terms of the log-likelihood: float32 rounding scales with it."""
    from scipy.special import gammaln

    v, c = votes.astype("float64"), concentrations.astype("float64")
    scale = []
    for start, end in groups:
        x, a = v[:, start : end + 1], c[:, start : end + 1]
        n, total_a = x.sum(-1), a.sum(-1)
        terms = np.abs(gammaln(a + x)).sum(-1) + np.abs(gammaln(a)).sum(-1) + np.abs(gammaln(x + 1)).sum(-1)
        scale.append(terms + np.abs(gammaln(total_a + n)) + np.abs(gammaln(total_a)) + np.abs(gammaln(n + 1)))
    return np.stack(scale, axis=-1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-reference", action="store_true")
    parser.add_argument("--architectures", nargs="*", default=list(ARCHITECTURES))
    parser.add_argument("--saved-model", nargs="*", default=[],
                        help=".keras files saved on TensorFlow, each with a .npz of images and outputs beside it")
    args = parser.parse_args(argv)
    if args.write_reference:
        write_reference()
        return
    import keras

    import zoobot_tf  # noqa: F401
    import zoobot_tf.losses  # noqa: F401
    import zoobot_tf.models
    import zoobot_tf.schemas  # noqa: F401

    zoobot_tf.models.available_architectures()
    backend = keras.backend.backend()
    report = {"backend": backend, "keras": keras.__version__}
    if backend != "tensorflow":
        heavy = sorted(m for m in ("tensorflow", "tensorflow_probability") if m in sys.modules)
        assert not heavy, f"importing zoobot_tf under {backend} imported {heavy}"
    report["loss"] = loss_figures()
    report["models"] = {a: model_figures(a, ARCHITECTURES[a]) for a in args.architectures}
    if args.saved_model:
        report["saved_model_max_abs_diff"] = saved_model_figures(args.saved_model)
        assert report["saved_model_max_abs_diff"] <= 1e-4, report
    print(json.dumps(report))


if __name__ == "__main__":
    main()
