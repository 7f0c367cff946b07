"""Predictions: a model + a catalog of images -> HDF5 of MC-dropout samples (or encoder
features) -> summary tables.

``predict(catalog, model, n_samples=5, save_loc='preds.hdf5')`` streams a catalog into Zoobot's
HDF5 layout (``id_str``, ``label_cols``, ``predictions[galaxy, answer, sample]``), resumably and
in bounded memory; ``summarise(path)`` turns it into vote fractions, 90% intervals and the
probability that each question is asked. ``embed(catalog, model)`` writes the encoder's
features the same way (``representations[galaxy, feature]``) and ``fit_pca`` / ``apply_pca``
reduce them to a few principal components for :mod:`zoobot_tf.discovery`.

Names are imported on first use: the HDF5 readers and writers do not need TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "EmbeddingWriter": "hdf5",
    "PredictionWriter": "hdf5",
    "RowWriter": "hdf5",
    "iter_prediction_blocks": "hdf5",
    "iter_representation_blocks": "hdf5",
    "load_predictions": "hdf5",
    "load_representations": "hdf5",
    "merge_embeddings": "hdf5",
    "merge_predictions": "hdf5",
    "read_attrs": "hdf5",
    "read_errors": "hdf5",
    "read_label_cols": "hdf5",
    "Embedder": "embedding",
    "embed": "embedding",
    "resolve_recipe": "predict_on_catalog",
    "PCA": "pca",
    "apply_pca": "pca",
    "fit_pca": "pca",
    "read_pca_table": "pca",
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
    "TTASampler": "tta",
    "dihedral_views": "tta",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(_EXPORTS)
