"""Detection, deblending and star/galaxy classification of multi-band fields (Mask R-CNN).

Model side (part A): :func:`build_mask_rcnn`, :class:`MaskRCNN` (``fit`` on dict batches,
``predict_scene``), :func:`load_mask_rcnn`, and the two-phase :func:`train_detection`.
"""

from zoobot_tf.detection.backbone import BACKBONES
from zoobot_tf.detection.mask_rcnn import LOSS_NAMES, MaskRCNN, build_mask_rcnn, load_mask_rcnn
from zoobot_tf.detection.paste import paste_masks
from zoobot_tf.detection.roi_align import roi_align
from zoobot_tf.detection.train import scenes_from_coco, scenes_to_dataset, train_detection

__all__ = [
    "BACKBONES",
    "LOSS_NAMES",
    "MaskRCNN",
    "build_mask_rcnn",
    "load_mask_rcnn",
    "paste_masks",
    "roi_align",
    "scenes_from_coco",
    "scenes_to_dataset",
    "train_detection",
]

# --- data, COCO I/O, scalings, tiled inference, catalogs and metrics (part B) ----------------
from zoobot_tf.detection.catalog import detect_field, measure_detections, read_field, write_catalog
from zoobot_tf.detection.coco import (
    COCO_CATEGORIES,
    coco_results_to_detections,
    coco_to_labels,
    detections_to_coco,
    load_coco,
    save_coco,
    scenes_to_coco,
)
from zoobot_tf.detection.instances import CLASS_IDS, CLASS_NAMES, ZEROPOINT, Labels, Scene
from zoobot_tf.detection.labels_sep import labels_from_sep
from zoobot_tf.detection.metrics import (
    box_iou,
    classification_scores,
    coco_metrics,
    completeness_purity,
    evaluate_detections,
    mask_iou,
    match_detections,
)
from zoobot_tf.detection.plots import plot_completeness_purity, plot_scene
from zoobot_tf.detection.scalings import DETECTION_SCALINGS, apply_scaling
from zoobot_tf.detection.scenes import make_scene, make_scenes, scenes_to_batches, write_scene_fits
from zoobot_tf.detection.tiling import predict_tiled, tile_grid

__all__ += [
    "CLASS_IDS",
    "CLASS_NAMES",
    "COCO_CATEGORIES",
    "DETECTION_SCALINGS",
    "Labels",
    "Scene",
    "ZEROPOINT",
    "apply_scaling",
    "box_iou",
    "classification_scores",
    "coco_metrics",
    "coco_results_to_detections",
    "coco_to_labels",
    "completeness_purity",
    "detect_field",
    "detections_to_coco",
    "evaluate_detections",
    "labels_from_sep",
    "load_coco",
    "make_scene",
    "make_scenes",
    "mask_iou",
    "plot_completeness_purity",
    "plot_scene",
    "match_detections",
    "measure_detections",
    "predict_tiled",
    "read_field",
    "save_coco",
    "scenes_to_batches",
    "scenes_to_coco",
    "tile_grid",
    "write_catalog",
    "write_scene_fits",
]
