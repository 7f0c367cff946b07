"""Worker index/count from flags, ZOOBOT_* or SLURM job-array variables."""

import pytest

from zoobot_tf.workers import resolve_worker, worker_from_env


def _slurm(task, first, count, step=None):
    env = {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": str(first), "SLURM_ARRAY_TASK_COUNT": str(count)}
    if step is not None:
        env["SLURM_ARRAY_TASK_STEP"] = str(step)
    return env


def test_slurm_arrays_numbered_from_one_or_with_steps_map_to_zero_based_indices():
    assert [worker_from_env(_slurm(t, 1, 8)) for t in (1, 8)] == [(0, 8), (7, 8)]  # --array=1-8
    assert worker_from_env(_slurm(0, 0, 4)) == (0, 4)  # --array=0-3
    assert worker_from_env(_slurm(14, 0, 8, step=2)) == (7, 8)  # --array=0-14:2
    assert worker_from_env({}) is None
    assert worker_from_env({"ZOOBOT_NUM_WORKERS": "3", "ZOOBOT_WORKER_INDEX": "2", **_slurm(5, 1, 8)}) == (2, 3)


def test_arrays_with_gaps_and_bad_values_are_refused_by_name():
    with pytest.raises(ValueError, match="SLURM_ARRAY_TASK_ID gives worker index 6, outside 0..2"):
        worker_from_env(_slurm(7, 1, 3))  # --array=1,3,7
    with pytest.raises(ValueError, match="SLURM_ARRAY_TASK_COUNT='x' is not an integer"):
        worker_from_env({"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "x"})
    with pytest.raises(ValueError, match="outside 0..3"):
        resolve_worker(4, 4, environ={})


def test_flags_win_over_the_environment():
    env = _slurm(3, 1, 8)
    assert resolve_worker(None, None, environ=env) == (2, 8)
    assert resolve_worker(1, 2, environ=env) == (1, 2)
    assert resolve_worker(None, None, environ={}) == (0, 1)
