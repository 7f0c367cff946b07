"""tf.data input pipelines: shards or image files -> model input through the image recipe.

:mod:`zoobot_tf.data.inputs` owns how a file or a shard record becomes model input;
:mod:`zoobot_tf.data.pipeline` builds the shard batches for training. Names load lazily.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "get_dataset": "pipeline",
    "dataset_info": "pipeline",
    "recipe_for_shards": "pipeline",
    "augment_images": "augment",
    "centre_crop_images": "augment",
    "to_float32": "augment",
    "to_greyscale": "augment",
    "catalog_dataset": "inputs",
    "load_model_input": "inputs",
    "load_stored": "inputs",
    "to_model_input": "inputs",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
