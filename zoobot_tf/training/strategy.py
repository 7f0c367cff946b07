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

__all__ = ["STRATEGY_NAMES", "get_strategy", "has_tensor_cores", "is_chief", "resolve_mixed_precision", "uses_gpu"]

logger = logging.getLogger(__name__)

STRATEGY_NAMES = ("mirrored", "multiworker", "default")


def uses_gpu() -> bool:
    """True when TensorFlow sees at least one GPU (decides e.g. whether XLA is used)."""
    return bool(tf.config.list_logical_devices("GPU"))


def has_tensor_cores() -> bool:
    """True when a visible GPU has compute capability >= 7.0 (Volta and later: float16 tensor cores)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability is not None and tuple(capability) >= (7, 0):
            return True
    return False


def resolve_mixed_precision(mixed_precision="auto") -> bool:
    """``'auto'``/None -> :func:`has_tensor_cores`; a bool is kept. Float16 compute halves memory
    traffic and uses tensor cores on such GPUs; on CPUs it is emulated and slower, so off there."""
    if mixed_precision is None or mixed_precision == "auto":
        return has_tensor_cores()
    if not isinstance(mixed_precision, (bool, int)):
        raise ValueError(f"mixed_precision must be True, False or 'auto', got {mixed_precision!r}")
    return bool(mixed_precision)


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
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    _let_keras_fit_run_multiworker()
    return strategy


def _in_multi_worker_mode(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def _let_keras_fit_run_multiworker() -> None:
    """Mend the two places where Keras 3's ``Model.fit`` breaks under MultiWorkerMirroredStrategy
    (keras-team/keras#20585, still open in Keras 3.15; tests/test_multiworker.py fails without this):

    * its symbolic build reduces a whole ``(x, y)`` batch with ``strategy.reduce``, which the
      multi-worker strategy refuses for nested values: it only needs shapes, so hand it this
      worker's first replica's batch;
    * it averages the step's scalar metrics with ``strategy.reduce('MEAN', v, axis=0)``, an
      invalid axis for scalars: average them across workers with ``axis=None``.

    Both are no-ops outside multi-worker mode; the patch is applied once per process.
    """
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_zoobot_tf_multiworker_fix", False):
        return
    original_reduce = tf_trainer.reduce_per_replica
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _in_multi_worker_mode(strategy):
            def mean(v):
                scalar = not isinstance(v, tf.distribute.DistributedValues) and v.shape.rank == 0
                is_scalar_values = scalar or all(x.shape.rank == 0 for x in strategy.experimental_local_results(v))
                return strategy.reduce("MEAN", v, axis=None) if is_scalar_values else original_reduce(v, strategy, reduction)

            return tree.map_structure(mean, values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and _in_multi_worker_mode(self.distribute_strategy):
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda v: self.distribute_strategy.experimental_local_results(v)[0], batch)
                break
            iterator = None
        return original_build(self, iterator=iterator, data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer._zoobot_tf_multiworker_fix = True


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
