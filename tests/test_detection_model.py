"""Mask R-CNN model side: RoIAlign, anchors and targets, losses, training, inference, saving.

Fast by construction: a tiny ResNet (8..64 filters, one block per stack), 64 px scenes drawn
here with numpy (Gaussian galaxies, point-source stars), a few training steps. The one graph-mode
training run is shared by the tests that need a trained model.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# detection needs the [detection] extra (installed by `make test`); skip cleanly without it
for _extra in ("keras_cv", "pycocotools", "sep"):
    pytest.importorskip(_extra)

from zoobot_tf.detection import build_mask_rcnn, load_mask_rcnn, paste_masks, roi_align, train_detection  # noqa: E402
from zoobot_tf.detection.model.anchors import build_anchor_generator, multilevel_anchors  # noqa: E402
from zoobot_tf.detection.model.backbone import RPN_LEVELS  # noqa: E402
from zoobot_tf.detection.model.boxes import decode_deltas, encode_deltas  # noqa: E402
from zoobot_tf.detection.model.losses import mask_loss, rcnn_losses, rpn_losses, smooth_l1  # noqa: E402
from zoobot_tf.detection.model.mask_rcnn import LOSS_NAMES, MaskRCNN  # noqa: E402
from zoobot_tf.detection.model.roi_align import assign_levels  # noqa: E402
from zoobot_tf.detection.model.targets import (  # noqa: E402
    IGNORE,
    NEGATIVE,
    POSITIVE,
    mask_targets,
    rcnn_targets,
    rpn_targets,
    sample_balanced,
)

TINY = dict(
    backbone="tiny", fpn_channels=16, box_head_dim=32, mask_head_channels=16, mask_head_convs=2,
    rpn_pre_nms_topk_train=300, rpn_post_nms_topk_train=100, rpn_pre_nms_topk_test=300,
    rpn_post_nms_topk_test=100, rpn_samples_per_image=64, roi_samples_per_image=64,
)


# ---------------------------------------------------------------------------- toy scenes
def _toy_scene(rng, size=64, bands=3):
    """Gaussian-blob galaxies and point-source stars with exact masks, boxes and classes."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    image = rng.normal(0.0, 0.02, (size, size, bands)).astype(np.float32)
    masks, classes = [], []
    kinds = [1] * int(rng.integers(2, 4)) + [2] * int(rng.integers(1, 3))
    for kind in kinds:
        x, y = rng.uniform(10, size - 10, 2)
        if kind == 1:
            sx, sy = rng.uniform(2.5, 5.0, 2)
            profile = np.exp(-0.5 * (((xx - x) / sx) ** 2 + ((yy - y) / sy) ** 2))
            colour = np.array([0.6, 0.8, 1.0][:bands] + [0.8] * max(bands - 3, 0))
        else:
            profile = np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / 0.8**2)
            colour = np.array([1.0, 0.7, 0.5][:bands] + [0.6] * max(bands - 3, 0))
        image += profile[..., None] * colour[None, None, :].astype(np.float32)
        masks.append(profile > 0.1)
        classes.append(kind)
    masks = np.stack(masks)
    boxes = []
    for mask in masks:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    return SimpleNamespace(image=image, boxes=np.array(boxes, np.float32), classes=np.array(classes, np.int32),
                           masks=masks)


def _toy_scenes(n, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    return [_toy_scene(rng, **kwargs) for _ in range(n)]


def _backbone_weights(model):
    return [w.copy() for w in model.backbone.get_weights()]


def _head_weights(model):
    return [w.copy() for w in model.box_head.get_weights() + model.rpn_head.get_weights()]


# ---------------------------------------------------------------------------- RoIAlign
def test_roi_align_matches_hand_computed_crops_on_linear_ramps():
    """Bilinear sampling of a linear ramp is exact, so each bin is the ramp at its centre."""
    i2, j2 = np.mgrid[:16, :16].astype(np.float32)  # level 2: stride 4, a 64 px image
    ramp2 = 1.0 + 2.0 * i2 + 3.0 * j2
    i4, j4 = np.mgrid[:16, :16].astype(np.float32)  # level 4: stride 16, a 256 px image
    ramp4 = 5.0 + i4 - j4
    features = {
        2: tf.constant(np.stack([ramp2, 10 * ramp2])[..., None]),
        3: tf.fill([2, 8, 8, 1], 100.0),
        4: tf.constant(np.stack([ramp4, 10 * ramp4])[..., None]),
        5: tf.fill([2, 2, 2, 1], 100.0),
    }
    small = [8.0, 12.0, 24.0, 40.0]  # 16 x 28 px -> level 2
    large = [0.0, 0.0, 224.0, 224.0]  # 224 px -> level 4 (the canonical size)
    boxes = tf.constant([[small, large], [large, small]])
    pooled = roi_align(features, boxes, output_size=2, sampling_ratio=2).numpy()[..., 0]
    # small: bin centres x = 12, 20 and y = 19, 33 px -> level-2 array coords x/4 - 0.5, y/4 - 0.5
    # = (2.5, 4.5) and (4.25, 7.75); 1 + 2 * row + 3 * col:
    expected_small = np.array([[17.0, 23.0], [24.0, 30.0]])
    # large: bin centres 56, 168 px -> level-4 coords 3.0, 10.0; 5 + row - col:
    expected_large = np.array([[5.0, -2.0], [12.0, 5.0]])
    np.testing.assert_allclose(pooled[0, 0], expected_small, atol=1e-4)
    np.testing.assert_allclose(pooled[0, 1], expected_large, atol=1e-4)
    np.testing.assert_allclose(pooled[1, 0], 10 * expected_large, atol=1e-3)
    np.testing.assert_allclose(pooled[1, 1], 10 * expected_small, atol=1e-3)


def test_roi_level_assignment_follows_box_size():
    sides = np.array([4.0, 111.0, 112.0, 224.0, 447.0, 448.0, 2000.0], np.float32)
    boxes = np.stack([np.zeros_like(sides), np.zeros_like(sides), sides, sides], axis=1)
    levels = assign_levels(boxes, 2, 5).numpy()
    np.testing.assert_array_equal(levels, [2, 2, 3, 4, 4, 5, 5])


# ---------------------------------------------------------------------------- anchors and targets
def _np_iou(a, b):
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def test_anchor_generation_and_rpn_target_assignment_on_toy_scene():
    generator = build_anchor_generator(RPN_LEVELS, (8, 16, 32, 64, 128), (1.0,), (0.5, 1.0, 2.0))
    anchors = multilevel_anchors(generator, 64, 64)
    assert {level: int(a.shape[0]) for level, a in anchors.items()} == {2: 768, 3: 192, 4: 48, 5: 12, 6: 3}
    # first anchor of P2: centre (2, 2), side 8, width/height 0.5
    np.testing.assert_allclose(anchors[2][0].numpy(), [2 - 4 * 0.5**0.5, 2 - 4 / 0.5**0.5,
                                                       2 + 4 * 0.5**0.5, 2 + 4 / 0.5**0.5], atol=1e-4)
    all_anchors = np.concatenate([anchors[level].numpy() for level in RPN_LEVELS])

    # galaxy equal to a P3 anchor (centre 12, side 16), a second galaxy, a 3 px star, one padding row
    gt = np.array([[[4, 4, 20, 20], [30, 10, 46, 28], [41, 40, 44, 43], [-1, -1, -1, -1]]], np.float32)
    valid = np.array([[True, True, True, False]])
    targets = rpn_targets(all_anchors, gt, valid, negative_threshold=0.3, positive_threshold=0.7)
    values = targets["match_values"].numpy()[0]
    columns = targets["matched_columns"].numpy()[0]

    iou = _np_iou(all_anchors, gt[0, :3])
    best = iou.max(axis=1)
    tied_for_best = (iou == iou.max(axis=0, keepdims=True)).any(axis=1)
    expected = np.full(len(all_anchors), IGNORE)
    expected[best < 0.3] = NEGATIVE
    expected[(best >= 0.7) | tied_for_best] = POSITIVE
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(columns[values == POSITIVE], iou.argmax(axis=1)[values == POSITIVE])
    # every object, the point-like star included, has at least one positive anchor
    assert set(columns[values == POSITIVE]) == {0, 1, 2}
    exact = int(np.flatnonzero(np.all(np.isclose(all_anchors, gt[0, 0]), axis=1))[0])
    assert values[exact] == POSITIVE and columns[exact] == 0
    np.testing.assert_allclose(targets["box_targets"].numpy()[0, exact], 0.0, atol=1e-5)
    # the deltas of every positive decode back to its object's box
    positive = values == POSITIVE
    decoded = decode_deltas(all_anchors[positive], targets["box_targets"].numpy()[0, positive]).numpy()
    np.testing.assert_allclose(decoded, gt[0, columns[positive]], atol=1e-3)

    empty = rpn_targets(all_anchors, -np.ones((1, 2, 4), np.float32), np.zeros((1, 2), bool))
    assert np.all(empty["match_values"].numpy() == NEGATIVE)


def test_box_deltas_round_trip_with_stage_two_weights():
    rng = np.random.default_rng(3)
    corner = rng.uniform(0, 40, (20, 2))
    anchors = np.concatenate([corner, corner + rng.uniform(2, 30, (20, 2))], axis=1).astype(np.float32)
    boxes = np.concatenate([anchors[:, :2] + rng.uniform(-3, 3, (20, 2)),
                            anchors[:, 2:] + rng.uniform(-3, 3, (20, 2))], axis=1)
    weights = (10.0, 10.0, 5.0, 5.0)
    deltas = encode_deltas(anchors, boxes, weights)
    np.testing.assert_allclose(decode_deltas(anchors, deltas, weights).numpy(), boxes, atol=1e-3)


def test_sample_balanced_caps_positives_and_fills_with_negatives():
    positive = np.zeros((2, 100), bool)
    negative = np.zeros((2, 100), bool)
    positive[0, :10], negative[0, 10:90] = True, True  # plenty of positives
    positive[1, :2], negative[1, 2:90] = True, True  # only two
    indices, weights, is_positive = (t.numpy() for t in sample_balanced(positive, negative, 32, 0.25))
    assert indices.shape == (2, 8 + 32)
    for b, n_pos in ((0, 8), (1, 2)):
        chosen = indices[b][weights[b] > 0]
        assert len(chosen) == 32 and len(set(chosen)) == 32
        assert is_positive[b].sum() == n_pos and is_positive[b, :8].sum() == n_pos
        assert positive[b, indices[b][is_positive[b]]].all()
        assert negative[b, indices[b][(weights[b] > 0) & ~is_positive[b]]].all()


def test_rcnn_targets_label_sample_and_encode_rois():
    gt = np.array([[[10, 10, 30, 30], [40, 40, 50, 56], [-1, -1, -1, -1]]], np.float32)
    classes = np.array([[1, 2, -1]], np.int32)
    gt_valid = classes > 0
    rois = np.array([[[11, 11, 31, 30], [0, 50, 8, 60], [10, 10, 30, 30]]], np.float32)
    roi_valid = np.array([[True, True, False]])  # the third is padding, even though it overlaps gt 0
    out = {k: v.numpy() for k, v in rcnn_targets(rois, roi_valid, gt, classes, gt_valid, num_samples=8,
                                                  positive_fraction=0.5).items()}
    used = out["weights"][0] > 0
    # positives: roi 0 (IoU 0.9 with gt 0) and the two appended ground truths; negative: roi 1
    assert used.sum() == 4 and out["is_positive"][0].sum() == 3
    sampled = {tuple(r): (c, p) for r, c, p in zip(out["rois"][0][used], out["class_targets"][0][used],
                                                    out["is_positive"][0][used])}
    assert sampled[(11.0, 11.0, 31.0, 30.0)] == (1, True)
    assert sampled[(40.0, 40.0, 50.0, 56.0)] == (2, True)
    assert sampled[(0.0, 50.0, 8.0, 60.0)] == (0, False)
    positive = out["is_positive"][0]
    decoded = decode_deltas(out["rois"][0][positive], out["box_targets"][0][positive], (10, 10, 5, 5)).numpy()
    np.testing.assert_allclose(decoded, gt[0, out["matched_columns"][0][positive]], atol=1e-3)


def test_mask_targets_and_paste_masks_share_one_convention():
    masks = np.zeros((1, 2, 64, 64), np.uint8)
    masks[0, 0, 10:20, 20:30] = 1  # box (20, 10, 30, 20)
    yy, xx = np.mgrid[:64, :64] + 0.5
    masks[0, 1] = (xx - 40.0) ** 2 + (yy - 38.0) ** 2 < 9.0**2
    rois = np.array([[[20, 10, 30, 20], [15, 5, 35, 25], [31, 29, 49, 47]]], np.float32)
    targets = mask_targets(tf.constant(masks), rois, np.array([[0, 0, 1]]), size=28).numpy()[0]

    def expected_rectangle(roi):
        # bin j samples x = x0 + (j + 0.5) w / 28, array index x - 0.5; the rectangle is separable,
        # so the bilinear value is the product of two 1-d interpolations of its edge profiles
        centres = (np.arange(28) + 0.5) / 28
        fx = np.interp(roi[0] + centres * (roi[2] - roi[0]) - 0.5, np.arange(64), masks[0, 0, 15])
        fy = np.interp(roi[1] + centres * (roi[3] - roi[1]) - 0.5, np.arange(64), masks[0, 0, :, 25])
        return (np.outer(fy, fx) >= 0.5).astype(np.float32)

    # the exact box: all ones but the corners, where two edge weights of 0.68 multiply to 0.46
    expected = np.ones((28, 28), np.float32)
    expected[[0, 0, -1, -1], [0, -1, 0, -1]] = 0.0
    np.testing.assert_array_equal(expected_rectangle(rois[0, 0]), expected)
    np.testing.assert_array_equal(targets[0], expected)
    # a RoI twice the box: the box fills its middle half
    np.testing.assert_array_equal(targets[1], expected_rectangle(rois[0, 1]))
    assert 0.2 < targets[1].mean() < 0.3
    # the disc, resampled into its box and pasted back, is (nearly) itself
    pasted = paste_masks(targets[2:], rois[0, 2:], (64, 64))[0]
    iou = (pasted & masks[0, 1].astype(bool)).sum() / (pasted | masks[0, 1].astype(bool)).sum()
    assert iou > 0.9


def test_paste_masks_fills_exactly_the_box():
    probs = np.ones((2, 28, 28), np.float32)
    probs[1, :, 14:] = 0.0  # left half only
    pasted = paste_masks(probs, np.array([[10, 20, 30, 40], [10, 20, 30, 40]], np.float32), (64, 48))
    assert pasted.shape == (2, 64, 48) and pasted.dtype == bool
    expected = np.zeros((64, 48), bool)
    expected[20:40, 10:30] = True
    np.testing.assert_array_equal(pasted[0], expected)
    expected[:, 20:] = False
    np.testing.assert_array_equal(pasted[1], expected)


# ---------------------------------------------------------------------------- losses
def test_losses_on_known_values():
    np.testing.assert_allclose(smooth_l1(tf.constant([0.05, 1.0, -2.0]), 0.1).numpy(), [0.0125, 0.95, 1.95])
    logits = tf.zeros((1, 4))
    is_positive = tf.constant([[True, False, False, False]])
    weights = tf.constant([[1.0, 1.0, 1.0, 0.0]])
    deltas = tf.zeros((1, 4, 4))
    target = tf.constant([[[1.0, 0, 0, 0], [5.0, 5, 5, 5], [0, 0, 0, 0], [0, 0, 0, 0]]])
    cls, box = rpn_losses(logits, is_positive, weights, deltas, target, beta=1.0 / 9.0)
    np.testing.assert_allclose(float(cls), np.log(2.0), rtol=1e-5)  # mean over the 3 sampled
    np.testing.assert_allclose(float(box), (1.0 - 0.5 / 9.0) / 3.0, rtol=1e-5)  # positives only

    class_targets = tf.constant([[2, 0]])
    class_logits = tf.constant([[[-20.0, -20.0, 20.0], [20.0, -20.0, -20.0]]])
    box_targets = tf.constant([[[0.5, -0.5, 0.1, 0.2], [9.0, 9.0, 9.0, 9.0]]])
    pred = np.full((1, 2, 3, 4), 7.0, np.float32)
    pred[0, 0, 2] = [0.5, -0.5, 0.1, 0.2]  # exact on the ground-truth class's channel only
    cls, box = rcnn_losses(class_logits, pred, class_targets, box_targets, tf.ones((1, 2)),
                           tf.constant([[True, False]]))
    assert float(cls) < 1e-6 and float(box) < 1e-6
    cls, _ = rcnn_losses(-class_logits, pred, class_targets, box_targets, tf.ones((1, 2)), tf.constant([[True, False]]))
    assert float(cls) > 10

    target_mask = np.zeros((1, 1, 4, 4), np.float32)
    target_mask[..., :2] = 1.0
    logits = np.zeros((1, 1, 4, 4, 2), np.float32)
    logits[..., 1] = np.where(target_mask[0, 0] > 0, 30.0, -30.0)  # class 2 -> channel 1
    logits[..., 0] = -logits[..., 1]  # the other class's channel is wrong, and must not count
    assert float(mask_loss(logits, tf.constant([[2]]), target_mask, tf.ones((1, 1)))) < 1e-6
    assert float(mask_loss(logits, tf.constant([[1]]), target_mask, tf.ones((1, 1)))) > 10


# ---------------------------------------------------------------------------- model
def test_build_config_round_trip_and_input_checks():
    model = build_mask_rcnn(num_bands=5, num_classes=2, **TINY)
    config = model.get_config()
    assert config["num_bands"] == 5 and config["backbone"]["filters"] == [8, 16, 32, 64]
    clone = MaskRCNN.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()
    with pytest.raises(ValueError, match="unknown backbone"):
        build_mask_rcnn(backbone="resnet1000")
    with pytest.raises(ValueError, match="5 bands"):
        model.detect(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="multiples of 32"):
        model.detect(np.zeros((1, 60, 64, 5), np.float32))
    n_all, n_backbone = len(model.trainable_variables), len(model.backbone.trainable_variables)
    assert n_backbone > 0
    model.set_backbone_trainable(False)
    assert len(model.trainable_variables) == n_all - n_backbone
    assert not model.backbone.trainable_variables
    assert model.get_config()["backbone_trainable"] is False


def test_calibrate_batchnorm_sets_moving_statistics_to_the_mean_batch_statistics():
    model = build_mask_rcnn(num_bands=3, **TINY)
    model.set_backbone_trainable(False)
    stem = keras.Model(model.backbone.input, model.backbone.get_layer("conv1_conv").output)
    bn = model.backbone.get_layer("conv1_bn")
    weights_before = [w.copy() for w in stem.get_weights()] + [bn.gamma.numpy().copy(), bn.beta.numpy().copy()]
    batches = [np.stack([s.image for s in _toy_scenes(2, seed=seed)]) for seed in (10, 11)]
    assert model.calibrate_batchnorm(batches) == 2
    batch_means = [stem(b).numpy().mean(axis=(0, 1, 2)) for b in batches]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(batch_means, axis=0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(bn.moving_variance.numpy(), 1.0)
    assert bn.momentum == pytest.approx(0.99) and not model.backbone.trainable
    for before, after in zip(weights_before, stem.get_weights() + [bn.gamma.numpy(), bn.beta.numpy()]):
        np.testing.assert_array_equal(before, after)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained in graph mode, heads only (backbone frozen), on toy scenes."""
    keras.utils.set_random_seed(0)
    model = build_mask_rcnn(num_bands=3, scaling="zscale", **TINY)
    backbone_before = _backbone_weights(model)
    heads_before = _head_weights(model)
    save_dir = tmp_path_factory.mktemp("detection_heads")
    model, history = train_detection(
        _toy_scenes(6, seed=1), save_dir, epochs_heads=4, epochs_all=0, model=model, scaling=None,
        batch_size=2, learning_rate=3e-3, steps_per_epoch=3, progress=False,
    )
    return SimpleNamespace(model=model, history=history, save_dir=save_dir, backbone_before=backbone_before,
                           heads_before=heads_before)


@pytest.mark.slow
def test_loss_decreases_when_training_on_toy_scenes(trained):
    history = trained.history
    assert [row["phase"] for row in history] == ["heads"] * 4
    assert set(LOSS_NAMES) | {"loss"} <= set(history[0])
    first, last = history[0], history[-1]
    assert np.isfinite([row["loss"] for row in history]).all()
    assert last["loss"] < 0.85 * first["loss"], [round(row["loss"], 3) for row in history]
    assert last["rpn_class_loss"] < first["rpn_class_loss"]
    # heads only: the frozen backbone (BatchNorm statistics included) did not move, the heads did
    for before, after in zip(trained.backbone_before, trained.model.backbone.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.allclose(b, a) for b, a in zip(trained.heads_before, _head_weights(trained.model)))
    for name in ("model.keras", "history.csv", "history.json", "loss.png", "config.json"):
        assert (trained.save_dir / name).is_file(), name


def test_predict_scene_output_format(trained):
    image = _toy_scenes(1, seed=9)[0].image[:60, :50]  # not a multiple of 32: padded inside
    out = trained.model.predict_scene(image, score_threshold=0.0, max_detections=10)
    assert set(out) == {"boxes", "classes", "scores", "masks"}
    n = len(out["scores"])
    assert n == 10
    assert out["boxes"].shape == (n, 4) and out["boxes"].dtype == np.float32
    assert out["classes"].shape == (n,) and set(out["classes"].tolist()) <= {1, 2}
    assert out["masks"].shape == (n, 60, 50) and out["masks"].dtype == bool
    assert np.all(np.diff(out["scores"]) <= 1e-6) and np.all((out["scores"] >= 0) & (out["scores"] <= 1))
    boxes = out["boxes"]
    assert np.all(boxes[:, [0, 2]] <= 50) and np.all(boxes[:, [1, 3]] <= 60) and np.all(boxes >= 0)
    assert np.all(boxes[:, 2] >= boxes[:, 0]) and np.all(boxes[:, 3] >= boxes[:, 1])
    # every mask pixel lies inside its box
    for box, mask in zip(boxes, out["masks"]):
        rows, cols = np.nonzero(mask)
        if rows.size:
            assert cols.min() >= np.floor(box[0]) and cols.max() < np.ceil(box[2])
            assert rows.min() >= np.floor(box[1]) and rows.max() < np.ceil(box[3])
    strict = trained.model.predict_scene(image, score_threshold=0.999, max_detections=10)
    assert len(strict["scores"]) <= n and np.all(strict["scores"] >= 0.999)
    with pytest.raises(ValueError, match="NaN"):
        trained.model.predict_scene(np.full((64, 64, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="3\\) image"):
        trained.model.predict_scene(np.zeros((64, 64, 4), np.float32))


def test_save_load_round_trip_with_safe_mode(trained, tmp_path):
    path = tmp_path / "detector.keras"
    trained.model.save(path)
    loaded = load_mask_rcnn(path, compile=True)  # the optimizer state comes back too, to resume training
    assert isinstance(loaded, MaskRCNN)
    assert int(loaded.optimizer.iterations) == int(trained.model.optimizer.iterations) == 12
    assert loaded.get_config() == trained.model.get_config()
    assert loaded.scaling == "zscale" and loaded.backbone_trainable is False
    for a, b in zip(trained.model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.stack([s.image for s in _toy_scenes(1, seed=4)])
    expected = trained.model.detect(images, 0.0, 20)
    got = loaded.detect(images, 0.0, 20)
    for key in ("boxes", "scores", "classes", "mask_probs"):
        np.testing.assert_allclose(got[key].numpy(), expected[key].numpy(), atol=1e-5, err_msg=key)
    with pytest.raises(FileNotFoundError):
        load_mask_rcnn(tmp_path / "missing.keras")


class _BackboneSnapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(_backbone_weights(self.model))


@pytest.mark.slow
def test_two_phase_schedule_freezes_then_trains_the_backbone(tmp_path):
    keras.utils.set_random_seed(1)
    model = build_mask_rcnn(num_bands=3, **TINY)
    initial = _backbone_weights(model)
    snapshots = _BackboneSnapshots()
    scenes = _toy_scenes(2, seed=2)
    model, history = train_detection(
        scenes, tmp_path, epochs_heads=1, epochs_all=1, model=model, scaling=None, batch_size=2,
        steps_per_epoch=1, callbacks=[snapshots], run_eagerly=True, calibration_batches=2, progress=False,
        augment=False,  # so the calibration batches are the scenes as given (checked at the end)
    )
    assert [(row["epoch"], row["phase"]) for row in history] == [(1, "heads"), (2, "all")]
    assert history[1]["learning_rate"] == pytest.approx(history[0]["learning_rate"] / 10)
    for before, after in zip(initial, snapshots.snapshots[0]):
        np.testing.assert_array_equal(before, after)
    assert any(not np.allclose(b, a) for b, a in zip(initial, snapshots.snapshots[1]))
    assert model.backbone_trainable is True
    # after phase 2 the BatchNorm statistics are recomputed from training batches (all of these
    # two scenes), so the stem's moving mean is the mean of its output over them
    stem = keras.Model(model.backbone.input, model.backbone.get_layer("conv1_conv").output)
    batch_mean = stem(np.stack([s.image for s in scenes])).numpy().mean(axis=(0, 1, 2))
    moving_mean = model.backbone.get_layer("conv1_bn").moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, batch_mean, rtol=1e-3, atol=1e-5)


def test_scenes_to_dataset_pads_to_multiples_of_32_and_rejects_bad_scenes(tmp_path):
    from zoobot_tf.detection import scenes_to_dataset

    big, small = _toy_scenes(2, seed=5)
    small = SimpleNamespace(image=small.image[:60, :50], boxes=small.boxes[:1], classes=small.classes[:1],
                            masks=small.masks[:1, :60, :50])
    dataset, info = scenes_to_dataset([big, small], batch_size=2, shuffle=False)
    assert info["image_shape"] == (64, 64, 3) and info["max_objects"] == len(big.classes)
    batch = next(iter(dataset))
    np.testing.assert_array_equal(batch["images"][1, :60, :50].numpy(), small.image)
    assert not batch["images"][1, 60:].numpy().any() and not batch["masks"][1, :, :, 50:].numpy().any()
    np.testing.assert_array_equal(batch["classes"][1].numpy(), [small.classes[0]] + [-1] * (info["max_objects"] - 1))
    np.testing.assert_array_equal(batch["boxes"][1, 1:].numpy(), -1.0)

    bad = SimpleNamespace(**{**vars(big), "boxes": big.boxes * np.array([1, 1, 0, 1], np.float32)})
    with pytest.raises(ValueError, match="scene 1: object 0 has an empty box"):
        train_detection([big, bad], tmp_path, epochs_heads=1, epochs_all=0, backbone="tiny")
    wrong = SimpleNamespace(**{**vars(big), "masks": big.masks[:, :32]})
    with pytest.raises(ValueError, match="scene 0: masks of shape"):
        scenes_to_dataset([wrong])
    with pytest.raises(ValueError, match="max_objects=1"):
        scenes_to_dataset([big], max_objects=1)


def test_dihedral_augment_moves_boxes_masks_and_pixels_together():
    """Every augmented scene is one of the 8 flips/rotations: each box is still its mask's tight box,
    the light inside each mask is unchanged, padding rows stay -1, and the draw changes per epoch
    (the same sequence for the same seed)."""
    from zoobot_tf.detection import make_scenes, scenes_to_dataset
    from zoobot_tf.detection.instances import boxes_from_masks

    scenes = make_scenes(3, (64, 64), seed=2, n_galaxies=4, n_stars=2, crowding=0.5)
    variants = [{np.rot90(np.flip(s.image, 1) if f else s.image, k).tobytes() for k in range(4) for f in (0, 1)}
                for s in scenes]

    def epochs(seed):
        dataset, info = scenes_to_dataset(scenes, batch_size=1, shuffle=False, augment=True, seed=seed,
                                          max_objects=12)
        return [[{k: v[0].numpy() for k, v in batch.items()} for batch in dataset] for _ in range(4)]

    first, again = epochs(7), epochs(7)
    seen = set()
    for epoch, repeat in zip(first, again):
        for i, (example, same) in enumerate(zip(epoch, repeat)):
            np.testing.assert_array_equal(example["images"], same["images"])
            scene, n = scenes[i], len(scenes[i].classes)
            assert example["images"].tobytes() in variants[i]
            masks = example["masks"].astype(bool)
            np.testing.assert_allclose(example["boxes"][:n], boxes_from_masks(masks[:n]))
            assert (example["boxes"][n:] == -1).all() and (example["classes"][n:] == -1).all()
            for j in range(n):
                np.testing.assert_allclose(example["images"][masks[j]].sum(), scene.image[scene.masks[j]].sum(),
                                           rtol=1e-5)
            seen.add((i, example["images"].tobytes()))
    assert len(seen) > 6  # not one fixed transform per scene
    plain, _ = scenes_to_dataset(scenes, batch_size=1, shuffle=False)
    for scene, batch in zip(scenes, plain):
        np.testing.assert_array_equal(batch["images"][0].numpy(), scene.image)


def _inverse_view(k, image):
    from zoobot_tf.detection.model.dihedral import dihedral_image

    for j in range(8):
        if np.array_equal(dihedral_image(dihedral_image(image, k), j), image):
            return j
    raise AssertionError(f"no inverse of view {k}")


def test_undo_dihedral_returns_boxes_and_mask_grids_to_the_original_frame():
    """A box and an asymmetric mask grid found on view k, undone, paste to the view's mask turned back."""
    from zoobot_tf.detection.instances import boxes_from_masks
    from zoobot_tf.detection.model.dihedral import dihedral_image, undo_dihedral

    rng = np.random.default_rng(0)
    probe = rng.normal(size=(48, 48, 1))
    grid = np.zeros((1, 7, 7), np.float32)
    grid[0, 0, :], grid[0, :, 0], grid[0, -1, -1], grid[0, 1, 3] = 1.0, 1.0, 1.0, 1.0  # spans the box; no symmetry
    box = np.array([[5.0, 9.0, 30.0, 21.0]], np.float32)  # (x0, y0, x1, y1) on the view
    for k in range(8):
        on_view = paste_masks(grid, box, (48, 48))[0]
        back = dihedral_image(on_view[..., None], _inverse_view(k, probe))[..., 0]
        boxes, grids = undo_dihedral(box, grid, k, 48, 48)
        np.testing.assert_allclose(boxes, boxes_from_masks(back[None]))
        np.testing.assert_array_equal(paste_masks(grids, boxes, (48, 48))[0], back)
    with pytest.raises(ValueError, match="transposes"):
        dihedral_image(np.zeros((32, 64, 3)), 5)


def test_fuse_dihedral_averages_agreeing_views_and_scores_a_lone_view_low():
    from zoobot_tf.detection import fuse_dihedral

    grid = np.ones((1, 4, 4), np.float32)
    views = []
    for k in range(8):  # one source seen by every view (scores 0.6-0.95, boxes jitter by a pixel); one seen once
        boxes, scores, classes = [[10 + k % 2, 10, 20 + k % 2, 20]], [0.6 + 0.05 * k], [1 if k < 5 else 2]
        if k == 3:
            boxes, scores, classes = boxes + [[40, 40, 50, 50]], scores + [0.99], classes + [2]
        views.append({"boxes": np.array(boxes, np.float32), "scores": np.array(scores, np.float32),
                      "classes": np.array(classes), "grids": np.repeat(grid, len(scores), axis=0)})
    fused = fuse_dihedral(views)
    scores = 0.6 + 0.05 * np.arange(8)
    np.testing.assert_allclose(fused["scores"], [scores.mean(), 0.99 / 8], rtol=1e-6)
    weights = scores / scores.sum()
    np.testing.assert_allclose(fused["boxes"][0], [10 + weights[1::2].sum(), 10, 20 + weights[1::2].sum(), 20],
                               rtol=1e-6)
    assert fused["classes"].tolist() == [1, 2]  # class 1 holds 5 views' votes (sum 3.5) against class 2's 3 (2.55)
    assert fused["grids"].shape == (2, 4, 4)


@pytest.mark.slow  # 8 s
def test_predict_scene_with_augment_is_equivariant_under_the_flips_it_averages():
    """The 8 views of a field and of its mirror image are the same 8 images, so the merged detections
    of the mirror image are the mirrored detections."""
    from zoobot_tf.detection import make_scene
    from zoobot_tf.detection.scalings import apply_scaling

    keras.utils.set_random_seed(3)
    model = build_mask_rcnn(num_bands=3, backbone="tiny", fpn_channels=16, box_head_dim=16, mask_head_channels=8,
                            mask_head_convs=1, rpn_pre_nms_topk_test=200, rpn_post_nms_topk_test=50)
    image = apply_scaling(make_scene(64, 4, 2, rng=1).image, "lupton")
    out = model.predict_scene(image, score_threshold=0.0, augment=True)
    mirrored = model.predict_scene(np.ascontiguousarray(image[:, ::-1]), score_threshold=0.0, augment=True)
    assert len(out["boxes"]) > 0 and len(mirrored["boxes"]) == len(out["boxes"])
    expected = out["boxes"][:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [64, 0, 64, 0]
    distance = np.abs(expected[:, None, :] - mirrored["boxes"][None, :, :]).max(axis=-1)
    assert distance.min(axis=1).max() < 1e-3 and distance.min(axis=0).max() < 1e-3
    np.testing.assert_allclose(np.sort(mirrored["scores"]), np.sort(out["scores"]), atol=1e-5)
    assert out["masks"].shape == (len(out["boxes"]), 64, 64)
    # without a threshold, the model's own operating point (saved in its config) applies
    model.augmented_score_threshold = float(np.median(out["scores"]))
    assert MaskRCNN.from_config(model.get_config()).augmented_score_threshold == model.augmented_score_threshold
    default = model.predict_scene(image, augment=True)
    np.testing.assert_allclose(default["scores"], out["scores"][out["scores"] >= model.augmented_score_threshold])
    single = model.predict_scene(image, score_threshold=0.0)
    assert single["masks"].shape[1:] == (64, 64)


def test_detectors_saved_with_flat_hyperparameters_still_load():
    """Before the config groups a saved config listed 33 flat names (and 'raw' for the unscaled flux)."""
    from dataclasses import asdict

    from zoobot_tf.detection.model.config import group_options

    model = build_mask_rcnn(num_bands=3, backbone="tiny", rpn_nms_iou=0.6, mask_head_channels=8, heads={"fpn_channels": 16},
                            anchors={"sizes": (4, 8, 16, 32, 64)}, augmented_score_threshold=0.3)
    assert model.rpn.nms_iou == 0.6 and model.heads.mask_head_channels == 8 and model.heads.fpn_channels == 16
    config = model.get_config()
    flat = {k: v for k, v in config.items() if k not in ("anchors", "rpn", "roi", "heads", "detection")}
    flat.update({f"anchor_{k}": v for k, v in config["anchors"].items()})
    flat.update({f"rpn_{k}": v for k, v in config["rpn"].items()})
    flat.update({f"roi_{k}": v for k, v in config["roi"].items()})
    flat.update(config["heads"])
    flat.update(detection_iou=config["detection"]["iou"], class_agnostic_nms=True, max_detections=300,
                detection_score_threshold=0.05, augmented_score_threshold=0.3, scaling="raw")
    old = MaskRCNN.from_config(flat)
    for group in ("anchors", "rpn", "roi", "heads", "detection"):
        assert asdict(getattr(old, group)) == config[group], group
    assert old.scaling == "none" and old.augmented_score_threshold == 0.3
    with pytest.raises(ValueError, match="rpn_nms_iou=0.5 and rpn\\['nms_iou'\\]=0.6 disagree"):
        group_options({"rpn": {"nms_iou": 0.6}, "rpn_nms_iou": 0.5})
    with pytest.raises(ValueError, match="unknown heads option"):
        build_mask_rcnn(num_bands=3, backbone="tiny", heads={"fpn_width": 16})
