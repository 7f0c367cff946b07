"""Discovery: what astronomers do with a model beyond vote fractions.

* :mod:`~zoobot_tf.discovery.similar` -- the galaxies most like one galaxy or a new image;
* :mod:`~zoobot_tf.discovery.anomalies` -- an anomaly score per galaxy, oddities first;
* :mod:`~zoobot_tf.discovery.acquire` -- which galaxies volunteers should label next (BALD).

They read the files of the engine (:func:`zoobot_tf.predictions.embed` + PCA parquet,
:func:`zoobot_tf.predictions.predict` HDF5), search with faiss
(:class:`~zoobot_tf.discovery.index.FeatureIndex`) and draw with
:func:`zoobot_tf.evaluation.gallery.gallery_figure`. Their verbs live in :mod:`zoobot_tf.commands`.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "FeatureIndex": "index",
    "find_similar": "similar",
    "embed_image": "similar",
    "anomaly_scores": "anomalies",
    "acquisition_scores": "acquire",
    "question_information": "acquire",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(_EXPORTS)
