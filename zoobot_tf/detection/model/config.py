"""Mask R-CNN hyperparameters in groups: anchors, RPN, second stage (RoI), heads, detections.

Why groups: 33 flat arguments, listed in the signature, the attributes and ``get_config``, made
the model hard to read and easy to get wrong. A group is a frozen dataclass with the defaults and
the reason for them; a model is built from groups, saves them as dicts, and reads detectors saved
with the flat names (:func:`group_options` maps each old name to its group).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["AnchorConfig", "BACKBONES", "DetectionConfig", "GROUPS", "HeadConfig", "RPNConfig", "RoIConfig",
           "group_options"]

#: keras-cv ResNet configurations by name (strides always ``[1, 2, 2, 2]``): tiny / small for tests
#: and CPU runs, ResNet-18/34/50 as in the detection studies; plain data, so command-line parsers
#: list them without importing keras-cv
BACKBONES = {
    "tiny": {"version": "v1", "filters": [8, 16, 32, 64], "blocks": [1, 1, 1, 1], "block_type": "block"},
    "small": {"version": "v1", "filters": [32, 64, 128, 256], "blocks": [1, 1, 1, 1], "block_type": "block"},
    "resnet18": {"version": "v1", "filters": [64, 128, 256, 512], "blocks": [2, 2, 2, 2], "block_type": "basic_block"},
    "resnet34": {"version": "v1", "filters": [64, 128, 256, 512], "blocks": [3, 4, 6, 3], "block_type": "basic_block"},
    "resnet50": {"version": "v1", "filters": [64, 128, 256, 512], "blocks": [3, 4, 6, 3], "block_type": "block"},
    "resnet50_v2": {"version": "v2", "filters": [64, 128, 256, 512], "blocks": [3, 4, 6, 3], "block_type": "block"},
}


def _floats(values):
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class AnchorConfig:
    """Anchor side in pixels on P2..P6 (``sizes``), multiplied by ``scales``, at ``aspect_ratios``.

    The sizes suit astronomical sources (stars a few pixels across, galaxies tens of pixels),
    smaller than COCO's 32..512. Three scales rather than COCO's one: sources 4-50 px across fall
    between the octaves, and with one scale a quarter of them have no anchor of IoU >= 0.5.
    """

    sizes: tuple = (8.0, 16.0, 32.0, 64.0, 128.0)
    scales: tuple = (0.75, 1.0, 1.5)
    aspect_ratios: tuple = (0.5, 1.0, 2.0)

    def __post_init__(self):
        for name in ("sizes", "scales", "aspect_ratios"):
            object.__setattr__(self, name, _floats(getattr(self, name)))

    @property
    def per_location(self) -> int:
        return len(self.scales) * len(self.aspect_ratios)


@dataclass(frozen=True)
class RPNConfig:
    """Region proposals: anchors with IoU >= ``positive_iou`` / < ``negative_iou`` are objects /
    background (0.5, not COCO's 0.7: a source a few pixels across on a stride-4 grid rarely has an
    anchor of IoU 0.7); ``samples_per_image`` anchors (at most ``positive_fraction`` positive) in
    the loss; proposals kept before and after NMS at ``nms_iou`` (keras-cv ``ROIGenerator``)."""

    positive_iou: float = 0.5
    negative_iou: float = 0.3
    samples_per_image: int = 256
    positive_fraction: float = 0.5
    pre_nms_topk_train: int = 6000
    post_nms_topk_train: int = 2000
    pre_nms_topk_test: int = 6000
    post_nms_topk_test: int = 1000
    nms_iou: float = 0.7


@dataclass(frozen=True)
class RoIConfig:
    """Second stage: ``samples_per_image`` RoIs (at most ``positive_fraction`` positive, positive at
    IoU >= ``positive_iou``); RoIAlign pools a box of side ``canonical_size`` from ``canonical_level``."""

    samples_per_image: int = 256
    positive_fraction: float = 0.25
    positive_iou: float = 0.5
    canonical_size: float = 224.0
    canonical_level: int = 4


@dataclass(frozen=True)
class HeadConfig:
    """Widths: the feature pyramid (and RPN conv), the box head's two dense layers, the mask head."""

    fpn_channels: int = 256
    box_head_dim: int = 1024
    mask_head_channels: int = 256
    mask_head_convs: int = 4


@dataclass(frozen=True)
class DetectionConfig:
    """What ``call`` / ``predict_scene`` return by default.

    ``class_agnostic_nms`` (default): a detection's score is ``P(object) = 1 - P(background)`` and
    its class the most probable one, with one NMS at ``iou`` over all classes, so a source whose
    class is uncertain is found once. ``score_threshold`` / ``max_detections`` bound ``call``;
    ``augmented_score_threshold`` is the operating point of the 8-view mean score, chosen per model
    on validation fields and saved with it.
    """

    iou: float = 0.5
    class_agnostic_nms: bool = True
    score_threshold: float = 0.05
    augmented_score_threshold: float = 0.4
    max_detections: int = 300


#: argument name of each group in :class:`~zoobot_tf.detection.model.mask_rcnn.MaskRCNN`
GROUPS = {"anchors": AnchorConfig, "rpn": RPNConfig, "roi": RoIConfig, "heads": HeadConfig,
          "detection": DetectionConfig}
#: flat names of detectors saved before the groups (and of ``build_mask_rcnn`` keywords) -> (group, field)
_FLAT = {
    **{f"anchor_{f.name}": ("anchors", f.name) for f in fields(AnchorConfig)},
    **{f"rpn_{f.name}": ("rpn", f.name) for f in fields(RPNConfig)},
    **{f"roi_{f.name}": ("roi", f.name) for f in fields(RoIConfig)},
    **{f.name: ("heads", f.name) for f in fields(HeadConfig)},
    "detection_iou": ("detection", "iou"),
    "class_agnostic_nms": ("detection", "class_agnostic_nms"),
    "detection_score_threshold": ("detection", "score_threshold"),
    "augmented_score_threshold": ("detection", "augmented_score_threshold"),
    "max_detections": ("detection", "max_detections"),
}


def group_options(options: dict) -> dict:
    """Fold flat hyperparameter names (``rpn_nms_iou=0.6``, ``mask_head_channels=32``, as saved
    before the groups) into group dicts (``rpn={"nms_iou": 0.6}``); group arguments pass through
    (as dicts) and other keys are left alone. A flat name and its group both set is an error."""
    out, grouped = {}, {name: {} for name in GROUPS}
    for key, value in options.items():
        if key in GROUPS:
            given = value if isinstance(value, dict) else asdict(value) if value is not None else {}
            grouped[key].update(given)
        elif key in _FLAT:
            group, name = _FLAT[key]
            if name in grouped[group] and grouped[group][name] != value:
                raise ValueError(f"{key}={value!r} and {group}[{name!r}]={grouped[group][name]!r} disagree")
            grouped[group][name] = value
        else:
            out[key] = value
    for group, cls in GROUPS.items():
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(grouped[group]) - known)
        if unknown:
            raise ValueError(f"unknown {group} option(s) {unknown}; {cls.__name__} has {sorted(known)}")
        out[group] = cls(**grouped[group])
    return out
