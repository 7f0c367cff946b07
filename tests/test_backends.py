"""Models and the Dirichlet loss on every Keras backend (JAX, PyTorch), without TensorFlow.

* From the source: importing ``zoobot_tf``, ``zoobot_tf.models`` (with every built-in
  architecture), ``zoobot_tf.losses`` and ``zoobot_tf.schemas`` imports no TensorFlow.
* On TensorFlow, in-process: the ``keras.ops`` loss equals TFP's and the stored TFP reference
  (``tests/data/dirichlet_tfp_reference.npz``) is what TFP computes today.
* Under JAX and PyTorch, in a subprocess running ``tests/backend_checks.py``: the ops loss and its
  gradient against that reference (quick tier), and every model built, run and trained for a
  step, plus a model saved on TensorFlow loaded there (slow tier).

The subprocess tests need a Python with that backend and keras (no TensorFlow): the one named
by ``ZOOBOT_JAX_PYTHON`` / ``ZOOBOT_TORCH_PYTHON``, else ``.venv-jax`` / ``.venv-torch``
(``make backend-envs``), else this interpreter if it has the backend; otherwise they skip.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import backend_checks

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "zoobot_tf"
TF_ONLY = {"tensorflow", "tensorflow_probability", "tf_keras", "keras_cv"}
BACKENDS = ("jax", "torch")


# ------------------------------------------------------------------------------------------
# import chains, read from the source
# ------------------------------------------------------------------------------------------


def _module_path(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.exists():
            return path
    return None


def _import_time_statements(body):
    """Statements that run when the module is imported: not those inside functions."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _import_time_statements(getattr(node, field, []) or [])


def _imports_at_import_time(name: str) -> tuple[set[str], set[str]]:
    """(package modules, third-party top-level names) that importing ``name`` imports directly."""
    tree = ast.parse(_module_path(name).read_text())
    own, third_party = set(), set()
    for node in _import_time_statements(tree.body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "zoobot_tf":
                own.update(m for m in _with_parents(target) if _module_path(m))
            else:
                third_party.add(target.split(".")[0])
    return own, third_party


def _with_parents(name: str):
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _builtin_architecture_modules() -> list[str]:
    tree = ast.parse((PACKAGE / "models" / "registry.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_BUILTIN_MODULES":
            return [element.value for element in node.value.elts]
    raise AssertionError("zoobot_tf/models/registry.py has no _BUILTIN_MODULES tuple")


def tensorflow_import_chains(roots) -> list[str]:
    """Every ``a -> b -> tensorflow`` chain reached from ``roots`` at import time."""
    seen, chains = {}, []
    stack = [(m, (m,)) for root in roots for m in _with_parents(root)]
    while stack:
        module, chain = stack.pop()
        if module in seen:
            continue
        seen[module] = chain
        own, third_party = _imports_at_import_time(module)
        chains += [" -> ".join(chain + (name,)) for name in sorted(third_party & TF_ONLY)]
        stack += [(m, chain + (m,)) for m in own if m not in seen]
    return chains


def test_package_models_losses_and_schemas_import_no_tensorflow():
    roots = ["zoobot_tf", "zoobot_tf.models", "zoobot_tf.losses", "zoobot_tf.schemas"]
    assert tensorflow_import_chains(roots + _builtin_architecture_modules()) == []


def test_the_import_check_sees_a_tensorflow_chain():
    # the TF-only parts stay TF-only: the check must find their chains
    assert any(c.endswith("tensorflow") for c in tensorflow_import_chains(["zoobot_tf.data.pipeline"]))


# ------------------------------------------------------------------------------------------
# the loss on TensorFlow, in-process
# ------------------------------------------------------------------------------------------


def test_ops_loss_equals_tfp_loss_and_the_stored_reference():
    import keras

    from zoobot_tf.losses import dirichlet_loss_per_question

    assert keras.backend.backend() == "tensorflow"
    ref = np.load(backend_checks.REFERENCE)
    groups = [tuple(g) for g in ref["groups"]]
    votes, conc = ref["votes"], ref["concentrations"]
    for dtype, stored in (("float64", ref["tfp_float64"]), ("float32", ref["tfp_float32"])):
        tfp = dirichlet_loss_per_question(votes, conc.astype(dtype), groups, "tfp", dtype).numpy()
        ops = dirichlet_loss_per_question(votes, conc.astype(dtype), groups, "ops", dtype).numpy()
        np.testing.assert_allclose(tfp, stored, rtol=1e-6, atol=1e-6, err_msg=f"stored {dtype} reference is stale")
        np.testing.assert_allclose(ops, tfp, rtol=0, atol=1e-5, err_msg=dtype)
    figures = backend_checks.loss_figures(implementation="ops")
    assert figures["loss_float64_max_abs_diff"] <= 1e-5 and figures["grad_float64_max_abs_diff"] <= 1e-5


def test_reference_covers_the_edge_cases():
    ref = np.load(backend_checks.REFERENCE)
    assert np.any(ref["tfp_float64"] == 0.0)  # unanswered questions
    assert np.any(ref["votes"] % 1 != 0)  # weighted (non-integer) votes
    assert ref["votes"].max() >= 100 and ref["concentrations"].min() < 1.05 and ref["concentrations"].max() > 100


# ------------------------------------------------------------------------------------------
# JAX and PyTorch, in subprocesses
# ------------------------------------------------------------------------------------------


def backend_python(backend: str) -> str | None:
    """A Python that has ``backend`` (see the module docstring), or None."""
    named = os.environ.get(f"ZOOBOT_{backend.upper()}_PYTHON")
    if named:
        return named
    local = REPO / f".venv-{backend}"
    if (local / ".installed").exists():  # made by `make backend-envs`, which stamps a complete install
        return str(local / "bin" / "python")
    return sys.executable if importlib.util.find_spec(backend) else None


def require_python(backend: str) -> str:
    """:func:`backend_python`, or skip the test saying how to get one."""
    python = backend_python(backend)
    if python is None:
        pytest.skip(
            f"no Python with {backend}: run `make backend-envs` (creates .venv-{backend}, no TensorFlow) "
            f"or set ZOOBOT_{backend.upper()}_PYTHON to one with {backend} and keras"
        )
    return python


def run_checks(backend: str, *args: str, timeout: int = 1800) -> dict:
    python = require_python(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_ENABLE_X64": "1", "PYTHONPATH": str(REPO)}
    # XLA's CPU compilation of the train steps dominates the JAX run: unoptimised code compiles
    # faster, and these batches are tiny
    env.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
    done = subprocess.run(
        [python, str(REPO / "tests" / "backend_checks.py"), *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode == 0, f"{backend} checks failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    return report


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_equals_tfp_on_backend(backend):
    report = run_checks(backend, "--architectures", timeout=600)
    assert report["loss"]["loss_float64_max_abs_diff"] <= 1e-5
    assert report["models"] == {}


@pytest.fixture(scope="module")
def saved_on_tensorflow(tmp_path_factory):
    """convnext_atto (timm's dotted layer names, LayerScale) and dat_test saved as .keras on TF."""
    import keras

    from zoobot_tf.models import get_model

    folder = tmp_path_factory.mktemp("saved_on_tf")
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    paths = []
    for architecture in ("convnext_atto", "dat_test"):
        keras.utils.set_random_seed(1)
        model = get_model(5, (32, 32, 3), architecture=architecture, test_time_dropout=False)
        path = folder / f"{architecture}.keras"
        model.save(path)
        np.savez(path.with_suffix(".npz"), images=images, outputs=model(images, training=False).numpy())
        paths.append(str(path))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_models_train_and_tf_models_load_on_backend(backend, saved_on_tensorflow):
    report = run_checks(backend, "--saved-model", *saved_on_tensorflow)
    assert set(report["models"]) == set(backend_checks.ARCHITECTURES)
    assert report["saved_model_max_abs_diff"] <= 1e-4


# ------------------------------------------------------------------------------------------
# the throughput benchmark, tiny (a check that it runs and records, not a timing)
# ------------------------------------------------------------------------------------------

BENCHMARK_SMOKE = ["--image-size", "32", "--batch-size", "2", "--steps", "1", "--warmup", "1",
                   "--architectures", "small_cnn", "--baseline", "small_cnn"]


def _check_benchmark_record(path: Path, backend: str):
    record = json.loads(path.read_text())
    assert record["backend"] == backend and record["versions"]["keras"]
    assert {"command", "commit", "date", "machine", "settings"} <= set(record)
    (result,) = record["results"]
    assert result["architecture"] == "small_cnn" and result["train_ratio"] == 1.0
    assert result["train_images_per_s"] > 0 and result["predict_images_per_s"] > 0
    assert np.isfinite(result["final_loss"])


def test_throughput_benchmark_runs_and_records(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import model_throughput
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    model_throughput.main(BENCHMARK_SMOKE + ["--out", str(tmp_path / "tf.json")])
    _check_benchmark_record(tmp_path / "tf.json", "tensorflow")


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_throughput_benchmark_on_backend(backend, tmp_path):
    python = require_python(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO)}
    out = tmp_path / f"{backend}.json"
    command = [python, str(REPO / "benchmarks" / "model_throughput.py"), *BENCHMARK_SMOKE, "--out", str(out)]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    _check_benchmark_record(out, backend)
