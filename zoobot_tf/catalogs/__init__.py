"""Galaxy Zoo tables -> canonical catalogs (``id_str``, ``file_loc``, label columns, extras).

Builders for the real published formats (GZ DECaLS, GZ2 Hart et al. 2016, the Kaggle challenge)
and generic class-label tables, with row validation that reports every dropped row and why.
"""

from .build import FORMATS, CatalogResult, build_catalog, rejected_path_for
from .decals import infer_decals_schema
from .find_images import IMAGE_EXTS, ImageIndex, find_images
from .tables import CatalogError, read_catalog, read_table

__all__ = [
    "FORMATS",
    "IMAGE_EXTS",
    "CatalogError",
    "CatalogResult",
    "ImageIndex",
    "build_catalog",
    "find_images",
    "infer_decals_schema",
    "read_catalog",
    "read_table",
    "rejected_path_for",
]
