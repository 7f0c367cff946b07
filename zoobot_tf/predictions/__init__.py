"""Predictions: a model + a catalog of images -> HDF5 of MC-dropout samples -> summary tables.

``predict(catalog, model, n_samples=5, save_loc='preds.hdf5')`` streams a catalog into Zoobot's
HDF5 layout (``id_str``, ``label_cols``, ``predictions[galaxy, answer, sample]``), resumably and
in bounded memory; ``summarise(path)`` turns it into vote fractions, 90% intervals and the
probability that each question is asked.
"""

from zoobot_tf.predictions.hdf5 import (
    PredictionWriter,
    iter_prediction_blocks,
    load_predictions,
    merge_predictions,
    read_attrs,
    read_errors,
)
from zoobot_tf.predictions.images_dataset import ImageOptions, image_dataset
from zoobot_tf.predictions.predict_on_catalog import predict, worker_file, worker_of
from zoobot_tf.predictions.sampling import Sampler, resolve_fast_path
from zoobot_tf.predictions.summary import summarise, summary_columns

__all__ = [
    "ImageOptions",
    "PredictionWriter",
    "Sampler",
    "image_dataset",
    "iter_prediction_blocks",
    "load_predictions",
    "merge_predictions",
    "predict",
    "read_attrs",
    "read_errors",
    "resolve_fast_path",
    "summarise",
    "summary_columns",
    "worker_file",
    "worker_of",
]
