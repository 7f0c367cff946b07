"""TFRecord shards: catalog + images -> ``train/ val/ test/ *.tfrecord`` + ``manifest.json``.

Names are loaded lazily so that the image-preparing worker processes of :func:`write_shards`
(which import this package) do not pay for importing TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "write_shards": "writer",
    "ShardOptions": "writer",
    "read_catalog": "zoobot_tf.catalogs.tables",  # the one catalog reader, re-exported
    "plan_shards": "writer",
    "catalog_sha256": "writer",
    "serialize_example": "writer",
    "Manifest": "manifest",
    "SplitInfo": "manifest",
    "IncompleteShardsError": "manifest",
    "load_manifest": "manifest",
    "feature_spec": "reader",
    "parse_record": "reader",
    "parse_batch": "reader",
    "iter_records": "reader",
    "read_split_labels": "reader",
    "assign_splits": "split",
    "split_key": "split",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
