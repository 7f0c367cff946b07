"""Detection metrics on hand-made cases with known answers."""

import numpy as np
import pytest

# detection needs the [detection] extra (installed by `make test`); skip cleanly without it
for _extra in ("keras_cv", "pycocotools", "sep"):
    pytest.importorskip(_extra)

from zoobot_tf.detection.instances import Labels, boxes_from_masks
from zoobot_tf.detection.metrics import (
    box_iou,
    classification_scores,
    coco_metrics,
    completeness_purity,
    evaluate_detections,
    mask_iou,
    match_detections,
)

SHAPE = (64, 64)


def square_labels(squares, classes, magnitudes=None, scores=None):
    """Labels of filled squares (x0, y0, side) on a 64 x 64 image."""
    masks = np.zeros((len(squares),) + SHAPE, bool)
    for k, (x, y, s) in enumerate(squares):
        masks[k, y : y + s, x : x + s] = True
    return Labels(boxes=boxes_from_masks(masks), classes=classes, masks=masks, image_shape=SHAPE,
                  magnitudes=None if magnitudes is None else np.asarray(magnitudes, float)[:, None],
                  scores=scores, bands=("r",) if magnitudes is not None else ())


TRUTH = square_labels([(2, 2, 8), (20, 5, 10), (40, 40, 12), (5, 40, 6)], [1, 1, 2, 2], magnitudes=[20.2, 21.5, 22.1, 23.7])


def as_prediction(labels, scores=None):
    return {"boxes": labels.boxes, "classes": labels.classes, "masks": labels.masks,
            "scores": np.ones(len(labels)) if scores is None else np.asarray(scores)}


def test_ious_of_known_boxes_and_masks():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [2, 0, 12, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 80 / 120, 0.0]])
    ma = np.zeros((1, 20, 20), bool)
    ma[0, :10, :10] = True
    mb = np.zeros((2, 20, 20), bool)
    mb[0, :10, 5:15] = True
    mb[1, :5, :10] = True  # inside a: IoU 50 / 100
    np.testing.assert_allclose(mask_iou(ma, mb), [[50 / 150, 0.5]])
    assert mask_iou(ma, mb[:0]).shape == (1, 0)


def test_perfect_predictions():
    prediction = as_prediction(TRUTH, scores=[0.9, 0.8, 0.7, 0.6])
    for iou_type in ("bbox", "segm"):
        stats = coco_metrics([TRUTH], [prediction], iou_type=iou_type)
        assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
        assert stats["AP75"] == pytest.approx(1.0) and stats["AP_small"] == pytest.approx(1.0)
        assert stats["AP_galaxy"] == pytest.approx(1.0) and stats["AP_star"] == pytest.approx(1.0)
        assert np.isnan(stats["AP_large"])  # no object above 96^2 px: undefined, not 0
    report = evaluate_detections([TRUTH], [prediction], images=[np.ones(SHAPE + (1,))])
    assert (report["per_class"][["precision", "recall", "f1"]].to_numpy() == 1.0).all()
    assert report["median_box_iou"] == 1.0 and report["median_mask_iou"] == 1.0
    assert report["n_matched"] == 4


def test_one_missed_one_false_positive_and_one_misclassified():
    # truth: galaxies g0 g1, stars s2 s3. Predictions: g0 found, g1 found but called a star,
    # s2 found, s3 missed, plus a false positive galaxy in empty sky.
    pred = square_labels([(2, 2, 8), (20, 5, 10), (40, 40, 12), (50, 5, 6)], [1, 2, 2, 1])
    match = match_detections(TRUTH, pred)
    assert sorted(zip(match.truth_index.tolist(), match.pred_index.tolist())) == [(0, 0), (1, 1), (2, 2)]
    assert match.truth_matched.tolist() == [True, True, True, False]
    table = classification_scores([TRUTH], [pred], [match]).set_index("class_name")
    # galaxy: TP 1 (g0); FP 1 (the false positive); FN 1 (g1 called a star)
    assert table.loc["galaxy", ["tp", "fp", "fn"]].tolist() == [1, 1, 1]
    assert table.loc["galaxy", "precision"] == pytest.approx(0.5) and table.loc["galaxy", "recall"] == pytest.approx(0.5)
    # star: TP 1 (s2); FP 1 (g1 called a star); FN 1 (s3 missed)
    assert table.loc["star", ["tp", "fp", "fn"]].tolist() == [1, 1, 1]
    assert table.loc["star", "f1"] == pytest.approx(0.5)
    # class-agnostic detection: 3 of 4 found, 3 of 4 predictions real
    report = evaluate_detections([TRUTH], [pred], images=[np.ones(SHAPE + (1,))])
    assert report["n_truth"] == 4 and report["n_pred"] == 4 and report["n_matched"] == 3


def test_shifted_box_has_known_iou_and_match_threshold():
    truth = square_labels([(10, 10, 10)], [1])
    two = square_labels([(12, 10, 10)], [1])  # IoU 80/120
    five = square_labels([(15, 10, 10)], [1])  # IoU 50/150: no match
    m = match_detections(truth, two)
    assert len(m.truth_index) == 1
    assert m.box_iou[0] == pytest.approx(2 / 3) and m.mask_iou[0] == pytest.approx(2 / 3)
    assert len(match_detections(truth, five).truth_index) == 0
    report = evaluate_detections([truth], [two], images=[np.ones(SHAPE + (1,))])
    assert report["median_box_iou"] == pytest.approx(2 / 3)
    # COCO: matched at IoU 0.5..0.65 (4 of 10 thresholds) -> AP 0.4, AP50 1, AP75 0
    stats = report["coco_bbox"]
    assert stats["AP50"] == pytest.approx(1.0) and stats["AP75"] == pytest.approx(0.0)
    assert stats["AP"] == pytest.approx(0.4)


def test_greedy_matching_takes_best_iou_first():
    truth = square_labels([(10, 10, 10), (14, 10, 10)], [1, 1])
    pred = square_labels([(13, 10, 10)], [1])  # IoU 0.54 with truth 0, 0.82 with truth 1
    m = match_detections(truth, pred)
    assert m.truth_index.tolist() == [1] and m.pred_index.tolist() == [0]


def test_ap_drops_when_the_best_score_is_a_false_positive():
    truth = square_labels([(10, 10, 10)], [1])
    pred = square_labels([(10, 10, 10), (40, 40, 10)], [1, 1])
    good_first = coco_metrics([truth], [as_prediction(pred, [0.9, 0.1])])["AP"]
    bad_first = coco_metrics([truth], [as_prediction(pred, [0.1, 0.9])])["AP"]
    assert good_first == pytest.approx(1.0)
    assert bad_first == pytest.approx(0.5, abs=0.01)  # precision 1/2 at every recall level
    none = coco_metrics([truth], [as_prediction(pred.select([]))])
    assert none["AP"] == 0.0


def test_completeness_purity_per_magnitude_bin():
    table = completeness_purity(
        true_magnitudes=[20.1, 20.9, 21.5, 22.2, 22.8, 30.0],
        true_matched=[True, True, False, True, False, False],
        pred_magnitudes=[20.2, 20.8, 22.1, 21.7, np.nan],
        pred_matched=[True, True, True, False, False],
        bins=[20, 21, 22, 23],
    )
    assert table["n_truth"].tolist() == [2, 1, 2]
    assert table["completeness"].tolist() == [1.0, 0.0, 0.5]
    assert table["n_pred"].tolist() == [2, 1, 1]
    assert table["purity"].tolist() == [1.0, 0.0, 1.0]
    assert table.attrs["n_truth_outside"] == 1 and table.attrs["n_pred_outside"] == 1
    with pytest.raises(ValueError, match="increasing"):
        completeness_purity([], [], [], [], bins=[22, 21])


def test_evaluate_measures_prediction_magnitudes_from_images():
    # truth magnitudes 20.2 21.5 22.1 23.7; the image gives each predicted mask a known flux
    pred = square_labels([(2, 2, 8), (40, 40, 12), (50, 5, 6)], [1, 2, 1])
    image = np.zeros(SHAPE + (1,))
    image[2:10, 2:10] = 10 ** (-0.4 * (20.5 - 27)) / 64  # mag 20.5 in total
    image[40:52, 40:52] = 10 ** (-0.4 * (22.5 - 27)) / 144
    image[5:11, 50:56] = 10 ** (-0.4 * (23.5 - 27)) / 36
    report = evaluate_detections([TRUTH], [pred], images=[image], magnitude_bins=[20, 21, 22, 23, 24])
    table = report["completeness_purity"]
    assert table["n_truth"].tolist() == [1, 1, 1, 1] and table["completeness"].tolist() == [1, 0, 1, 0]
    assert table["n_pred"].tolist() == [1, 0, 1, 1] and table["n_pred_matched"].tolist() == [1, 0, 1, 0]
