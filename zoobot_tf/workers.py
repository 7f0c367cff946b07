"""Which share of a job this process does: ``(worker_index, num_workers)`` from flags or a job array.

Why one place: ``make-shards`` and ``predict`` both split work over independent processes
(a SLURM job array, a loop over machines) and must agree on how an array task maps to a 0-based
worker index. SLURM numbers array tasks as the user wrote them (``--array=1-8`` gives ids 1..8,
``--array=0-14:2`` gives 0, 2, ..., 14), so the index is
``(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) // SLURM_ARRAY_TASK_STEP`` and the count is
``SLURM_ARRAY_TASK_COUNT``. ``ZOOBOT_WORKER_INDEX`` / ``ZOOBOT_NUM_WORKERS`` (0-based) override
SLURM for other schedulers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["resolve_worker", "worker_from_env"]


def _int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def worker_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``(worker_index, num_workers)`` from ``ZOOBOT_*`` or SLURM array variables, or None.

    Raises ValueError when the variables describe an array whose tasks do not map onto
    ``0..count-1`` (e.g. ``--array=1,3,7``): pass ``--worker-index`` / ``--num-workers`` then.
    """
    environ = os.environ if environ is None else environ
    count = _int(environ, "ZOOBOT_NUM_WORKERS")
    if count is not None:
        return _checked(_int(environ, "ZOOBOT_WORKER_INDEX") or 0, count, "ZOOBOT_WORKER_INDEX")
    task, count = _int(environ, "SLURM_ARRAY_TASK_ID"), _int(environ, "SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    first = _int(environ, "SLURM_ARRAY_TASK_MIN") or 0
    step = _int(environ, "SLURM_ARRAY_TASK_STEP") or 1
    if (task - first) % step:
        raise ValueError(
            f"SLURM_ARRAY_TASK_ID={task} is not MIN {first} + a multiple of STEP {step}; "
            "pass --worker-index and --num-workers explicitly"
        )
    return _checked((task - first) // step, count, "SLURM_ARRAY_TASK_ID")


def _checked(index: int, count: int, source: str) -> tuple[int, int]:
    if count < 1 or not 0 <= index < count:
        raise ValueError(
            f"{source} gives worker index {index}, outside 0..{count - 1} of {count} workers "
            "(an array with gaps?); pass --worker-index and --num-workers explicitly"
        )
    return index, count


def resolve_worker(worker_index: int | None, num_workers: int | None,
                   environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Flags win; missing flags come from :func:`worker_from_env`; else ``(0, 1)``."""
    from_env = worker_from_env(environ) if worker_index is None or num_workers is None else None
    index = worker_index if worker_index is not None else (from_env[0] if from_env else 0)
    count = num_workers if num_workers is not None else (from_env[1] if from_env else 1)
    return _checked(int(index), int(count), "--worker-index")
