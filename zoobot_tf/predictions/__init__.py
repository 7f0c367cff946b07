"""Predictions: a model + a catalog of images -> HDF5 of MC-dropout samples -> summary tables.

``predict(catalog, model, n_samples=5, save_loc='preds.hdf5')`` streams a catalog into Zoobot's
HDF5 layout (``id_str``, ``label_cols``, ``predictions[galaxy, answer, sample]``), resumably and
in bounded memory; ``summarise(path)`` turns it into vote fractions, 90% intervals and the
probability that each question is asked.

Names are loaded lazily, so that building the ``predict`` / ``summarise`` parsers does not import
TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "PredictionWriter": "hdf5",
    "iter_prediction_blocks": "hdf5",
    "load_predictions": "hdf5",
    "merge_predictions": "hdf5",
    "read_attrs": "hdf5",
    "read_errors": "hdf5",
    "read_label_cols": "hdf5",
    "ImageOptions": "images_dataset",
    "image_dataset": "images_dataset",
    "predict": "predict_on_catalog",
    "worker_file": "predict_on_catalog",
    "worker_of": "predict_on_catalog",
    "Sampler": "sampling",
    "resolve_fast_path": "sampling",
    "summarise": "summary",
    "summary_columns": "summary",
    "write_summary": "summary",
    "iter_summary_blocks": "summary",
    "friendly_summary": "summary",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
