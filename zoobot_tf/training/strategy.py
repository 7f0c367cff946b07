"""Choose the ``tf.distribute`` strategy a training run is built and fitted under.

Why a function: the three names a user types (``mirrored``, ``multiworker``, ``default``) each
need a little care that ``tf.distribute`` does not give for free. ``MirroredStrategy()`` with no
GPU silently uses only ``/cpu:0`` even when several logical CPU devices exist (tests, CPU
clusters); with a single device it is pure overhead (see ``get_strategy``); and
``MultiWorkerMirroredStrategy`` must read the cluster from ``TF_CONFIG`` and be
created before any other TensorFlow op runs in the process.
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

__all__ = ["STRATEGY_NAMES", "get_strategy", "is_chief", "uses_gpu"]

logger = logging.getLogger(__name__)

STRATEGY_NAMES = ("mirrored", "multiworker", "default")


def uses_gpu() -> bool:
    """True when TensorFlow sees at least one GPU (decides e.g. whether XLA is used)."""
    return bool(tf.config.list_logical_devices("GPU"))


def _local_devices() -> list[str]:
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def get_strategy(strategy="mirrored") -> tf.distribute.Strategy:
    """Build the distribution strategy named ``strategy``.

    Parameters
    ----------
    strategy : {'mirrored', 'multiworker', 'default'} or tf.distribute.Strategy
        ``'mirrored'``: one replica per local GPU, or per logical CPU device when there is no GPU
        (normally one). With a single local device this is the default strategy instead:
        a one-replica ``MirroredStrategy`` computes exactly the same thing, with a distributed
        input iterator rebuilt at the start of every epoch on top (see
        ``benchmarks/epoch_start.py``). ``'multiworker'``: :class:`tf.distribute.MultiWorkerMirroredStrategy`
        with the cluster read from the ``TF_CONFIG`` environment variable
        (:class:`tf.distribute.cluster_resolver.TFConfigClusterResolver`); without ``TF_CONFIG``
        it runs as a single worker. It must be created before any other TensorFlow operation in
        the process. ``'default'``: no distribution (the default strategy). A Strategy instance
        is returned unchanged.

    Returns
    -------
    tf.distribute.Strategy
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGY_NAMES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGY_NAMES)}")
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        devices = _local_devices()
        if len(devices) == 1:
            logger.info("one device (%s): default strategy instead of a one-replica MirroredStrategy", devices[0])
            return tf.distribute.get_strategy()
        logger.info("MirroredStrategy over %s", devices)
        return tf.distribute.MirroredStrategy(devices=devices)
    config = os.environ.get("TF_CONFIG")
    if config:
        try:
            json.loads(config)
        except json.JSONDecodeError as err:
            raise ValueError(f"environment variable TF_CONFIG is not valid JSON: {err}") from err
    else:
        logger.warning("strategy='multiworker' without TF_CONFIG: running as a single worker")
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that should write logs and models (always, unless multi-worker).

    Under ``MultiWorkerMirroredStrategy`` every worker runs the same program; the chief (task 0 of
    ``chief`` or ``worker``) owns the run directory, the others write to temporary places.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and
                                            "chief" not in resolver.cluster_spec().as_dict())
