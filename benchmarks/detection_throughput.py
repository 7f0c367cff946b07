"""Detection benchmark: megapixels/s of ``detect`` on synthetic fields, and completeness/purity vs ``sep``.

In one run, on the same synthetic multi-band fields (:func:`zoobot_tf.detection.make_scenes`,
written as FITS with a WCS, so the timing includes reading, scaling, tiling, merging and the
catalog photometry):

* ``detect`` (:func:`zoobot_tf.detection.detect_field`) with a Mask R-CNN: ``--model`` a trained
  ``.keras``; else one trained here for ``--train-epochs`` on small scenes (0: untrained, which
  measures speed only). The tile size's graph is traced on a warm-up tile first, untimed.
* ``sep`` (:func:`zoobot_tf.detection.labels_from_sep`, background + extraction + segmentation +
  star/galaxy proxy), the classical baseline, timed on the same fields; the ratio is printed.
* completeness and purity per r magnitude bin of both against the true catalog (objects with a
  labelled mask), plus precision/recall/F1 per class and median box IoU (match: box IoU > 0.5).
  The Mask R-CNN catalog is matched by its boxes (it holds no masks).

Example (CPU, a couple of minutes)::

    python benchmarks/detection_throughput.py --fields 3 --field-size 512 --backbone tiny
    python benchmarks/detection_throughput.py --model run/model.keras --fields 8 --field-size 1024
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoobot_tf.detection.scalings import DEFAULT_SCALING  # noqa: E402


def catalog_to_labels(catalog, image_shape, bands):
    """Labels of a detect catalog (box-filled masks; magnitudes from the catalog's mag_<band>)."""
    import numpy as np

    from zoobot_tf.detection.instances import Labels

    boxes = catalog[["x0", "y0", "x1", "y1"]].to_numpy(np.float32)
    masks = np.zeros((len(boxes),) + tuple(image_shape), dtype=bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        masks[k, int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
    mag_cols = [f"mag_{b}" for b in bands]
    return Labels(boxes=boxes, classes=catalog["class_id"].to_numpy(), masks=masks, image_shape=image_shape,
                  scores=catalog["score"].to_numpy(), bands=bands,
                  magnitudes=catalog[mag_cols].to_numpy(np.float32) if set(mag_cols) <= set(catalog) else None)


def summarise(name, report):
    per_class = report["per_class"].set_index("class_name")
    print(f"\n{name}: {report['n_pred']} detections, {report['n_matched']} of {report['n_truth']} true objects matched, "
          f"median box IoU {report['median_box_iou']:.3f}, COCO box AP50 {report['coco_bbox']['AP50']:.3f}")
    print(per_class[["tp", "fp", "fn", "precision", "recall", "f1"]].round(3).to_string())
    table = report["completeness_purity"]
    if table is not None:
        print(table[["mag_lo", "mag_hi", "n_truth", "completeness", "n_pred", "purity"]].round(3).to_string(index=False))


def get_model(args, tmp: Path):
    import keras

    from zoobot_tf.detection import build_mask_rcnn, load_mask_rcnn, make_scenes, train_detection

    if args.model:
        return load_mask_rcnn(args.model), "loaded " + args.model
    keras.utils.set_random_seed(0)
    if args.train_epochs > 0:
        scenes = make_scenes(args.train_scenes, args.tile_size, seed=1, n_galaxies=(4, 12), n_stars=(2, 6))
        start = time.perf_counter()
        model, _ = train_detection(scenes, tmp / "train", epochs_heads=args.train_epochs, epochs_all=args.train_epochs,
                                   backbone=args.backbone, scaling=args.scaling, progress=False)
        return model, f"{args.backbone} trained {2 * args.train_epochs} epochs on {len(scenes)} scenes " \
                      f"in {time.perf_counter() - start:.0f} s"
    return build_mask_rcnn(num_bands=3, backbone=args.backbone, scaling=args.scaling), f"untrained {args.backbone}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=3, help="synthetic fields (default 3)")
    parser.add_argument("--field-size", type=int, default=512, help="field side in pixels (default 512)")
    parser.add_argument("--density", type=float, default=300.0,
                        help="objects per megapixel (default 300; 30%% stars)")
    parser.add_argument("--crowding", type=float, default=0.2, help="blend probability (default 0.2)")
    parser.add_argument("--model", default=None, help="trained .keras Mask R-CNN (default: build one)")
    parser.add_argument("--backbone", default="tiny", help="backbone when building a model (default tiny)")
    parser.add_argument("--train-epochs", type=int, default=0, help="epochs per phase to train a built model (default 0)")
    parser.add_argument("--train-scenes", type=int, default=16, help="training scenes when training (default 16)")
    parser.add_argument("--scaling", default=DEFAULT_SCALING, help=f"contrast scaling (default {DEFAULT_SCALING})")
    parser.add_argument("--tile-size", type=int, default=256, help="tile side (default 256)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap (default 32)")
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    import numpy as np

    from zoobot_tf.detection import (
        apply_scaling,
        detect_field,
        evaluate_detections,
        labels_from_sep,
        make_scenes,
        write_scene_fits,
    )

    n_objects = args.density * (args.field_size / 1000.0) ** 2
    n_galaxies, n_stars = max(1, round(0.7 * n_objects)), max(1, round(0.3 * n_objects))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"rendering {args.fields} fields of {args.field_size}^2 px, {n_galaxies} galaxies + {n_stars} stars each ...",
              flush=True)
        fields = make_scenes(args.fields, args.field_size, seed=2024, n_galaxies=n_galaxies, n_stars=n_stars,
                             crowding=args.crowding)
        paths = [write_scene_fits(f, tmp / f"field_{i:03d}.fits") for i, f in enumerate(fields)]
        megapixels = args.fields * args.field_size**2 / 1e6

        model, how = get_model(args, tmp)
        tile = apply_scaling(fields[0].image[: args.tile_size, : args.tile_size], args.scaling)
        model.predict_scene(tile, score_threshold=args.score_threshold)  # trace, untimed

        start = time.perf_counter()
        catalog = detect_field(paths, model, scaling=args.scaling, tile_size=args.tile_size, overlap=args.overlap,
                               score_threshold=args.score_threshold, progress=False)
        detect_s = time.perf_counter() - start

        start = time.perf_counter()
        sep_labels = [labels_from_sep(f.image, bands=f.bands) for f in fields]
        sep_s = time.perf_counter() - start

    print(f"\nmodel: {how}")
    print(f"detect: {megapixels / detect_s:.3f} Mpx/s ({detect_s:.1f} s for {megapixels:.2f} Mpx, "
          f"tiles {args.tile_size} px, overlap {args.overlap}; {len(catalog)} sources)")
    print(f"sep:    {megapixels / sep_s:.3f} Mpx/s ({sep_s:.1f} s); detect / sep speed ratio {sep_s / detect_s:.3f}")

    bins = np.arange(17.0, 27.0, 1.0)
    sep_report = evaluate_detections(fields, sep_labels, magnitude_bins=bins)
    predictions = [catalog_to_labels(catalog[catalog["file"] == str(p)], f.image_shape, f.bands)
                   for p, f in zip(paths, fields)]
    model_report = evaluate_detections(fields, predictions, magnitude_bins=bins)
    summarise("sep", sep_report)
    summarise("Mask R-CNN detect", model_report)
    if args.out:
        def plain(report):
            return {"coco_bbox": report["coco_bbox"], "median_box_iou": report["median_box_iou"],
                    "per_class": report["per_class"].to_dict(orient="records"),
                    "completeness_purity": report["completeness_purity"].to_dict(orient="records")}

        Path(args.out).write_text(json.dumps({
            "megapixels": megapixels, "detect_s": detect_s, "sep_s": sep_s, "model": how,
            "detect_mpx_per_s": megapixels / detect_s, "sep_mpx_per_s": megapixels / sep_s,
            "sep": plain(sep_report), "detect": plain(model_report)}, indent=1, default=float))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
