"""tf.data input pipeline from shards: parse, augment (rotate, flip, crop, resize), batch, prefetch."""

from zoobot_tf.data.augment import augment_images, centre_crop_images, to_float32, to_greyscale
from zoobot_tf.data.pipeline import dataset_info, get_dataset

__all__ = ["get_dataset", "dataset_info", "augment_images", "centre_crop_images", "to_float32", "to_greyscale"]
