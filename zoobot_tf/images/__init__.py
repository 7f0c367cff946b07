"""Images: read PNG/JPG/FITS, mask and fill invalid pixels, scale, and prepare for models.

The public API other modules code against::

    read_image(path, *, hdu=None)            -> (H, W, C) uint8 (raster) or float32 (FITS, NaN kept)
    invalid_pixel_mask(array)                 -> (H, W, C) float32, 1 where not finite
    object_mask(array, *, nsigma, dilate)     -> (H, W, 1) float32, central source
    fill_invalid(array, *, source, object_mask)
    scale_image(array, method, **kwargs)      -> float32 in [0, 1] per band (except 'none')
    choose_scaling(paths, scaling)            -> (name, reason): resolves 'auto' from the files
    prepare_image(array, *, size, channels, scaling, nan_mask, galaxy_mask, dtype, source)
    load_image(path, *, hdu=None, **prepare_kwargs)
    save_image(array, path, *, source=None)   PNG/JPG (uint8, 1/3/4 channels) or .npy
"""

from zoobot_tf.images.auto_scaling import SCALING_SAMPLE, choose_scaling
from zoobot_tf.images.masks import fill_invalid, invalid_pixel_mask, object_mask
from zoobot_tf.images.prepare import DTYPES, RESAMPLE, load_image, prepare_image, save_image
from zoobot_tf.images.readers import (
    ANCILLARY_EXTNAMES,
    FITS_SUFFIXES,
    RASTER_SUFFIXES,
    ImageReadError,
    is_fits,
    read_image,
    source_name,
    split_paths,
)
from zoobot_tf.images.scalings import DARK_IMAGE_LEVEL, SCALINGS, scale_image, suggest_scaling

__all__ = [
    "ANCILLARY_EXTNAMES",
    "RESAMPLE",
    "DTYPES",
    "FITS_SUFFIXES",
    "RASTER_SUFFIXES",
    "DARK_IMAGE_LEVEL",
    "SCALINGS",
    "SCALING_SAMPLE",
    "ImageReadError",
    "choose_scaling",
    "fill_invalid",
    "invalid_pixel_mask",
    "is_fits",
    "load_image",
    "object_mask",
    "prepare_image",
    "read_image",
    "save_image",
    "scale_image",
    "suggest_scaling",
    "source_name",
    "split_paths",
]
