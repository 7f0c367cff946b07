"""COCO JSON annotations and results: export labels and predictions, import users' own labels.

Why COCO: it is what annotation tools (CVAT, Label Studio, labelme converters) write and what
``pycocotools`` evaluates, so users can bring labels and compare against other detectors.
Masks are stored as compressed RLE (``pycocotools.mask.encode``, ``counts`` as a string so the
file is JSON); imported segmentations may also be polygons or uncompressed RLE. Categories are
``galaxy`` (1) and ``star`` (2); imported files are mapped by category *name*, so their own ids
may differ. Boxes follow COCO: ``bbox = [x, y, width, height]`` in pixel edges.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from zoobot_tf.atomic import atomic_path
from zoobot_tf.detection.instances import CLASS_IDS, CLASS_NAMES, Labels, boxes_from_masks

#: The categories written to every file.
COCO_CATEGORIES = [{"id": i, "name": name, "supercategory": "source"} for name, i in CLASS_IDS.items()]


def encode_mask(mask) -> dict:
    """Compressed RLE of an (H, W) mask, JSON-ready (``counts`` is a str)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def encode_masks(masks) -> list[dict]:
    """Compressed RLE of each mask of an (N, H, W) stack."""
    from pycocotools import mask as mask_utils

    masks = np.asarray(masks, dtype=np.uint8)
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(np.moveaxis(masks, 0, -1)))
    return [{"size": [int(s) for s in r["size"]], "counts": r["counts"].decode("ascii")} for r in rles]


def decode_segmentation(segmentation, height: int, width: int, *, where: str = "segmentation") -> np.ndarray:
    """(H, W) bool mask of a COCO segmentation: compressed/uncompressed RLE or a list of polygons."""
    from pycocotools import mask as mask_utils

    try:
        if isinstance(segmentation, list):  # polygons [[x0, y0, x1, y1, ...], ...]
            if not segmentation:
                raise ValueError("empty polygon list")
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
            rle = mask_utils.frPyObjects(segmentation, height, width)  # uncompressed RLE
        elif isinstance(segmentation, dict) and "counts" in segmentation:
            counts = segmentation["counts"]
            rle = {"size": list(segmentation["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        else:
            raise ValueError(f"unrecognised segmentation of type {type(segmentation).__name__}")
        if [int(s) for s in rle["size"]] != [height, width]:
            raise ValueError(f"RLE size {list(rle['size'])} differs from the image's {[height, width]}")
        return mask_utils.decode(rle).astype(bool)
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{where}: cannot decode segmentation ({err})") from err


def _bbox(box) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def scenes_to_coco(scenes, *, file_names=None, image_ids=None, description: str = "zoobot_tf detection labels") -> dict:
    """A COCO dataset dict (``images``, ``annotations``, ``categories``) of labelled images.

    Parameters
    ----------
    scenes : sequence of Labels/Scene
    file_names : sequence of str, optional
        ``file_name`` of each image (default ``scene_00000.fits``, ...).
    image_ids : sequence of int, optional
        COCO image ids (default 1, 2, ...).

    Annotations carry ``fluxes``/``magnitudes`` ({band: value}) when the labels have them, so
    completeness per magnitude bin can be measured from the file alone.
    """
    scenes = list(scenes)
    image_ids = list(range(1, len(scenes) + 1)) if image_ids is None else [int(i) for i in image_ids]
    file_names = [f"scene_{i:05d}.fits" for i in range(len(scenes))] if file_names is None else list(file_names)
    if not len(image_ids) == len(file_names) == len(scenes):
        raise ValueError(f"{len(scenes)} scenes but {len(image_ids)} image ids and {len(file_names)} file names")
    images, annotations = [], []
    for image_id, name, labels in zip(image_ids, file_names, scenes):
        height, width = labels.image_shape
        images.append({"id": image_id, "file_name": str(name), "height": height, "width": width})
        rles = encode_masks(labels.masks)
        areas = labels.mask_areas
        for k in range(len(labels)):
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": int(labels.classes[k]),
                "bbox": _bbox(labels.boxes[k]),
                "area": int(areas[k]),
                "segmentation": rles[k],
                "iscrowd": 0,
            }
            for key in ("fluxes", "magnitudes"):
                values = getattr(labels, key)
                if values is not None and labels.bands:
                    ann[key] = {b: (None if not np.isfinite(v) else float(v)) for b, v in zip(labels.bands, values[k])}
            annotations.append(ann)
    return {"info": {"description": description}, "images": images, "annotations": annotations,
            "categories": [dict(c) for c in COCO_CATEGORIES]}


def load_coco(path) -> dict:
    """Read a COCO JSON file (annotations or a results list)."""
    path = Path(path)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such COCO JSON file") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def save_coco(obj, path) -> Path:
    """Write a COCO dict or results list as JSON (atomically: a temp file, then a rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f)
    return path


def _category_map(coco: dict, where: str) -> dict:
    """COCO category id in the file -> our class id, matched by name (case-insensitive)."""
    mapping = {}
    for cat in coco.get("categories", []):
        name = str(cat.get("name", "")).strip().lower()
        if name in CLASS_IDS:
            mapping[int(cat["id"])] = CLASS_IDS[name]
    if not mapping:
        raise ValueError(f"{where}: no category named {' or '.join(CLASS_IDS)} in 'categories'")
    return mapping


def coco_to_labels(coco, image_id: int, *, box_masks: bool = False) -> Labels:
    """Labels of one image of a COCO dataset (dict or path to JSON).

    Parameters
    ----------
    coco : dict or path
    image_id : int
    box_masks : bool
        Annotations without a segmentation raise unless this is True; then their box is their mask.

    Raises
    ------
    ValueError
        Unknown image id, a category that is not galaxy/star, a segmentation that does not
        decode or does not fit the image; the message names the annotation id.
    """
    where = str(coco) if not isinstance(coco, dict) else "COCO dict"
    coco = load_coco(coco) if not isinstance(coco, dict) else coco
    images = {int(im["id"]): im for im in coco.get("images", [])}
    if int(image_id) not in images:
        raise ValueError(f"{where}: no image with id {image_id} (have {sorted(images)[:10]}...)")
    image = images[int(image_id)]
    height, width = int(image["height"]), int(image["width"])
    categories = _category_map(coco, where)
    boxes, classes, masks, fluxes, mags, bands = [], [], [], [], [], None
    for ann in coco.get("annotations", []):
        if int(ann["image_id"]) != int(image_id):
            continue
        at = f"{where}: annotation {ann.get('id')}"
        if int(ann["category_id"]) not in categories:
            raise ValueError(f"{at}: category_id {ann['category_id']} is not galaxy or star")
        if ann.get("segmentation"):
            mask = decode_segmentation(ann["segmentation"], height, width, where=at)
        elif box_masks and "bbox" in ann:
            x, y, w, h = ann["bbox"]
            mask = np.zeros((height, width), dtype=bool)
            mask[int(np.floor(y)) : int(np.ceil(y + h)), int(np.floor(x)) : int(np.ceil(x + w))] = True
        else:
            raise ValueError(f"{at}: no segmentation (pass box_masks=True to use its box as the mask)")
        if not mask.any():
            raise ValueError(f"{at}: empty mask")
        if "bbox" in ann:
            x, y, w, h = (float(v) for v in ann["bbox"])
            boxes.append([x, y, x + w, y + h])
        else:
            boxes.append(boxes_from_masks(mask[None])[0])
        classes.append(categories[int(ann["category_id"])])
        masks.append(mask)
        if "magnitudes" in ann and "fluxes" in ann:
            bands = tuple(ann["magnitudes"])
            mags.append([np.nan if ann["magnitudes"][b] is None else ann["magnitudes"][b] for b in bands])
            fluxes.append([np.nan if ann["fluxes"].get(b) is None else ann["fluxes"][b] for b in bands])
    photometry = bands is not None and len(mags) == len(boxes)
    return Labels(
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        classes=np.asarray(classes, dtype=np.int32),
        masks=np.stack(masks) if masks else np.zeros((0, height, width), dtype=bool),
        image_shape=(height, width),
        fluxes=np.asarray(fluxes, dtype=np.float32) if photometry else None,
        magnitudes=np.asarray(mags, dtype=np.float32) if photometry else None,
        bands=bands if photometry else (),
    )


def detections_to_coco(results, image_ids, *, include_masks: bool = True) -> list[dict]:
    """COCO *results* list (what ``COCO.loadRes`` and leaderboards take) of model predictions.

    Parameters
    ----------
    results : dict or sequence of dict
        ``predict_scene`` outputs: ``boxes`` (N, 4) x0 y0 x1 y1, ``classes``, ``scores``, ``masks`` (N, H, W).
    image_ids : int or sequence of int
        COCO image id of each result.
    include_masks : bool
        Write ``segmentation`` (RLE) and ``area``; needed for mask (segm) evaluation.
    """
    if isinstance(results, dict):
        results, image_ids = [results], [image_ids]
    results, image_ids = list(results), list(image_ids)
    if len(results) != len(image_ids):
        raise ValueError(f"{len(results)} results but {len(image_ids)} image ids")
    out = []
    for image_id, result in zip(image_ids, results):
        boxes = np.asarray(result["boxes"], dtype=np.float64).reshape(-1, 4)
        classes = np.asarray(result["classes"]).reshape(-1)
        scores = np.asarray(result["scores"], dtype=np.float64).reshape(-1)
        if not len(boxes) == len(classes) == len(scores):
            raise ValueError(f"image {image_id}: {len(boxes)} boxes, {len(classes)} classes, {len(scores)} scores")
        unknown = sorted(set(int(c) for c in classes) - set(CLASS_NAMES))
        if unknown:
            raise ValueError(f"image {image_id}: unknown class id(s) {unknown}")
        rles = encode_masks(result["masks"]) if include_masks else [None] * len(boxes)
        if len(rles) != len(boxes):
            raise ValueError(f"image {image_id}: {len(rles)} masks for {len(boxes)} boxes")
        for k in range(len(boxes)):
            det = {"image_id": int(image_id), "category_id": int(classes[k]), "bbox": _bbox(boxes[k]),
                   "score": float(scores[k])}
            if include_masks:
                det["segmentation"] = rles[k]
                det["area"] = int(np.asarray(result["masks"][k]).sum())
            out.append(det)
    return out


def coco_results_to_detections(results, image_id: int, image_shape) -> dict:
    """The ``predict_scene``-style dict of one image from a COCO results list (or JSON path)."""
    where = str(results) if not isinstance(results, list) else "COCO results"
    results = load_coco(results) if not isinstance(results, list) else results
    height, width = (int(s) for s in image_shape)
    rows = [r for r in results if int(r["image_id"]) == int(image_id)]
    boxes = np.array([[r["bbox"][0], r["bbox"][1], r["bbox"][0] + r["bbox"][2], r["bbox"][1] + r["bbox"][3]]
                      for r in rows], dtype=np.float32).reshape(-1, 4)
    masks = [
        decode_segmentation(r["segmentation"], height, width, where=f"{where}: result {i} of image {image_id}")
        if "segmentation" in r else np.zeros((height, width), dtype=bool)
        for i, r in enumerate(rows)
    ]
    return {
        "boxes": boxes,
        "classes": np.array([r["category_id"] for r in rows], dtype=np.int32),
        "scores": np.array([r["score"] for r in rows], dtype=np.float32),
        "masks": np.stack(masks) if masks else np.zeros((0, height, width), dtype=bool),
    }


def coco_api(dataset: dict):
    """A ``pycocotools.coco.COCO`` built from an in-memory dataset dict (its prints silenced)."""
    from pycocotools.coco import COCO

    api = COCO()
    api.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    return api


__all__ = [
    "COCO_CATEGORIES",
    "coco_api",
    "coco_results_to_detections",
    "coco_to_labels",
    "decode_segmentation",
    "detections_to_coco",
    "encode_mask",
    "encode_masks",
    "load_coco",
    "save_coco",
    "scenes_to_coco",
]
