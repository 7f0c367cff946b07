"""MultiWorkerMirroredStrategy with two real processes on localhost, configured by TF_CONFIG:
each worker sees half of every global batch, and the losses and trained weights equal one
process training on the whole batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

JOB = Path(__file__).with_name("multiworker_job.py")
REPO = JOB.parents[1]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(tf_config=None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


# In `make test` (not marked slow) although three TensorFlow processes start (~25 s): the
# multi-worker path is what cluster training depends on, so every change checks it.
@pytest.mark.slow  # multi-process training (17 s): the slow tier, as the Makefile defines it
def test_two_workers_match_one_process_on_the_same_global_batch(tmp_path):
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen([sys.executable, str(JOB), str(tmp_path / f"w{index}.npz"), "multiworker"],
                                      env=_env(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    single = subprocess.run([sys.executable, str(JOB), str(tmp_path / "single.npz"), "default"],
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stdout + single.stderr
    for proc in procs:
        try:
            output, _ = proc.communicate(timeout=300)
        finally:
            proc.kill()
        assert proc.returncode == 0, output

    reference = np.load(tmp_path / "single.npz")
    results = [np.load(tmp_path / f"w{i}.npz") for i in range(2)]
    assert int(reference["replicas"]) == 1 and [int(r["replicas"]) for r in results] == [2, 2]
    for result in results:
        np.testing.assert_allclose(result["loss"], reference["loss"], rtol=1e-5)
        assert not np.allclose(reference["loss"][0], reference["loss"][-1])  # the steps trained something
        for key in (k for k in reference.files if k.startswith("w")):
            np.testing.assert_allclose(result[key], reference[key], rtol=1e-4, atol=1e-6)


def test_mixed_precision_and_xla_only_where_a_gpu_helps():
    """On this CPU-only test machine 'auto' means float32 and no XLA; explicit choices are kept."""
    import tensorflow as tf

    from zoobot_tf.training.strategy import has_tensor_cores, resolve_mixed_precision, uses_gpu

    if tf.config.list_physical_devices("GPU"):
        assert resolve_mixed_precision("auto") == has_tensor_cores()
    else:
        assert not uses_gpu() and not has_tensor_cores() and resolve_mixed_precision("auto") is False
    assert resolve_mixed_precision(True) is True and resolve_mixed_precision(False) is False
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        resolve_mixed_precision("fp16")
