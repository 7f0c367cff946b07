"""tf.data input pipeline from shards: parse, augment (rotate, flip, crop, resize), batch, prefetch.

Names load lazily so that :mod:`zoobot_tf.data.crops` (the crop constants) is importable without
TensorFlow.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "get_dataset": "pipeline",
    "dataset_info": "pipeline",
    "augment_images": "augment",
    "centre_crop_images": "augment",
    "to_float32": "augment",
    "to_greyscale": "augment",
    "CROP_SCALE": "crops",
    "CROP_RATIO": "crops",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
