"""Detection, deblending and star/galaxy classification of multi-band fields (Mask R-CNN).

- :mod:`.model`: the network (:func:`build_mask_rcnn`, :class:`MaskRCNN`, :func:`load_mask_rcnn`:
  backbone, anchors, RPN, RoIAlign, heads, targets, losses, box coding, mask pasting).
- :func:`train_detection` (:mod:`.train`): two-phase training from scenes or COCO files.
- data: synthetic blended fields (:mod:`.scenes`, rendered by :mod:`zoobot_tf.synthetic`), sep
  labels, COCO I/O, scalings; inference: tiled detection and source catalogs; metrics and plots.

An application of the engine: needs the ``[detection]`` extra (keras-cv, pycocotools). Names are
loaded lazily, so that importing this package (or building ``zoobot-tf detect``'s parser) does
not import TensorFlow or keras-cv.
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "BACKBONES": "model.backbone",
    "LOSS_NAMES": "model.mask_rcnn",
    "MaskRCNN": "model.mask_rcnn",
    "build_mask_rcnn": "model.mask_rcnn",
    "load_mask_rcnn": "model.mask_rcnn",
    "paste_masks": "model.paste",
    "roi_align": "model.roi_align",
    "scenes_from_coco": "train",
    "dihedral_augment": "model.dihedral",
    "fuse_dihedral": "model.dihedral",
    "scenes_to_dataset": "train",
    "train_detection": "train",
    "detect_field": "catalog",
    "measure_detections": "catalog",
    "read_field": "catalog",
    "write_catalog": "catalog",
    "COCO_CATEGORIES": "coco",
    "coco_results_to_detections": "coco",
    "coco_to_labels": "coco",
    "detections_to_coco": "coco",
    "load_coco": "coco",
    "save_coco": "coco",
    "scenes_to_coco": "coco",
    "CLASS_IDS": "instances",
    "CLASS_NAMES": "instances",
    "ZEROPOINT": "instances",
    "Labels": "instances",
    "Scene": "instances",
    "labels_from_sep": "labels_sep",
    "box_iou": "metrics",
    "classification_scores": "metrics",
    "coco_metrics": "metrics",
    "completeness_purity": "metrics",
    "evaluate_detections": "metrics",
    "mask_iou": "metrics",
    "match_detections": "metrics",
    "plot_completeness_purity": "plots",
    "plot_scene": "plots",
    "apply_scaling": "scalings",
    "make_scene": "scenes",
    "make_scenes": "scenes",
    "scenes_to_batches": "scenes",
    "write_scene_fits": "scenes",
    "predict_tiled": "tiling",
    "tile_grid": "tiling",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
