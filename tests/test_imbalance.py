"""Imbalance strategies change the class mix / the loss as intended; schedules and the study optimizers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from zoobot_tf.classification.imbalance import (
    ImbalanceTransform,
    class_uniform_batches,
    class_weights,
    mixup_batches,
)
from zoobot_tf.classification.losses import ClassWeightedCrossEntropy, TopKAccuracy
from zoobot_tf.classification.schedules import WarmupCosineDecay, dat_study_optimizer, linformer_study_optimizer

BATCH = 11


def imbalanced_batches(n_major=100, n_minor=10, batch_size=BATCH):
    """A 10:1 two-class set of (2, 2, 1) images whose pixels hold the galaxy's index + 1."""
    labels = np.array([0] * n_major + [1] * n_minor, dtype=np.int32)
    images = np.arange(1, len(labels) + 1, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(labels), seed=0)
    return ds.batch(batch_size, drop_remainder=True), labels


def test_uniform_sampling_balances_a_10_to_1_set():
    natural, labels = imbalanced_batches()
    assert np.bincount(labels).tolist() == [100, 10]
    n_batches = len(labels) // BATCH
    balanced = class_uniform_batches(natural.repeat(), [0, 1], BATCH, n_batches, seed=1)
    counts = np.zeros(2, int)
    for _ in range(6):  # epochs: an epoch keeps its length
        seen = list(balanced)
        assert len(seen) == n_batches and all(x.shape == (BATCH, 2, 2, 1) for x, _ in seen)
        for images, batch_labels in seen:
            counts += np.bincount(batch_labels.numpy(), minlength=2)
            # images travel with their own labels: the minority galaxies are indices 101..110
            assert np.array_equal(images.numpy()[:, 0, 0, 0] > 100, batch_labels.numpy() == 1)
    fraction = counts[1] / counts.sum()
    assert counts.sum() == 6 * n_batches * BATCH
    assert abs(fraction - 0.5) < 0.06, counts  # natural mix: 0.09


def test_class_weights_scale_each_class_loss_exactly():
    weights = class_weights([90, 10, 0])
    assert weights == pytest.approx([100 / (2 * 90), 100 / (2 * 10), 1.0])
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=8).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 0, 1, 2, 0], np.int32)
    ce = -np.log(probabilities[np.arange(8), labels])
    plain = float(ClassWeightedCrossEntropy()(labels, probabilities))
    weighted = float(ClassWeightedCrossEntropy(weights)(labels, probabilities))
    assert plain == pytest.approx(ce.mean(), rel=1e-5)
    assert weighted == pytest.approx((np.asarray(weights)[labels] * ce).mean(), rel=1e-5)
    # one galaxy of class 1 alone: its loss is scaled by exactly w_1
    alone = float(ClassWeightedCrossEntropy(weights)(labels[1:2], probabilities[1:2]))
    assert alone == pytest.approx(weights[1] * ce[1], rel=1e-5)
    # a mixed label weighs the mixture of its classes' weights and cross-entropies
    mixed = np.array([[0.7, 0.3, 0.0]], np.float32)
    expected = (0.7 * weights[0] + 0.3 * weights[1]) * -(0.7 * np.log(probabilities[0, 0]) + 0.3 * np.log(probabilities[0, 1]))
    assert float(ClassWeightedCrossEntropy(weights)(mixed, probabilities[:1])) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="2 class weights for a model with 3 classes"):
        ClassWeightedCrossEntropy([1.0, 2.0])(labels, probabilities)


def _recover_pairs(images, mixed_labels, n_classes):
    """Per galaxy: lambda from the labels, and the two image values implied by the mix."""
    y = mixed_labels.numpy()
    assert y.shape[1] == n_classes
    assert np.allclose(y.sum(axis=1), 1.0, atol=1e-5) and (y >= -1e-6).all()
    return y, images.numpy()[:, 0, 0, 0]


def test_mixup_mixes_images_and_labels_with_one_beta_lambda():
    rng = np.random.default_rng(1)
    n, alpha = 4096, 0.4
    labels = np.arange(n, dtype=np.int32) % 2  # class 0 / class 1 alternately
    values = np.where(labels == 0, 0.0, 1.0).astype(np.float32) + rng.uniform(0, 1e-3, n).astype(np.float32)
    images = values[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(64)
    lams, class_values = [], []
    for mixed_images, mixed_labels in mixup_batches(ds, 2, alpha=alpha, seed=3):
        y, x = _recover_pairs(mixed_images, mixed_labels, 2)
        # image = lam x_i + (1 - lam) x_j with x ~ class index, label = lam y_i + (1 - lam) y_j:
        # the mixed pixel equals the mixed label's class-1 share (up to the 1e-3 jitter)
        assert np.allclose(x, y[:, 1], atol=2e-3)
        class_values.append(y)
    mixed = np.concatenate(class_values)
    # galaxies mixed with a partner of the other class reveal lambda (or 1 - lambda): Beta(a, a) is symmetric
    lams = mixed[(mixed[:, 0] > 1e-6) & (mixed[:, 1] > 1e-6)][:, 0]
    assert len(lams) > 1000
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 0.001
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mixup_batches(ds, 2, alpha=0.0)


def test_balanced_mixup_partners_come_from_the_class_uniform_stream():
    natural, labels = imbalanced_batches()
    n_batches = len(labels) // BATCH
    transform = ImbalanceTransform("balanced_mixup", 2, BATCH, n_batches, (0, 1), mixup_alpha=1.0, seed=5)
    partner_minor, natural_minor, total = 0, 0, 0
    for _ in range(8):
        batches = list(transform(natural.repeat().take(n_batches)))
        assert len(batches) == n_batches
        for images, y in batches:
            y = y.numpy()
            lam_label = y[:, 0] + y[:, 1]
            assert np.allclose(lam_label, 1.0, atol=1e-5)
            total += len(y)
            # pixel = lam * index_i + (1 - lam) * index_j; the label's class-1 share is lam * [i minor] +
            # (1 - lam) * [j minor]. With Beta(1, 1) lambdas, a minority partner shows as a class-1 share
            # that the natural galaxy cannot explain alone.
            partner_minor += int(((y[:, 1] > 1e-6) & (y[:, 1] < 1 - 1e-6)).sum())
            natural_minor += int((y[:, 1] >= 1 - 1e-6).sum())
    # natural minority ~9 %; with a class-uniform partner about half of all pairs contain one minority galaxy
    assert 0.35 < partner_minor / total < 0.65, (partner_minor, total)
    assert natural_minor / total < 0.1
    assert transform.get_config()["strategy"] == "balanced_mixup"


def test_top_k_accuracy_metric_takes_integer_and_mixed_labels():
    probabilities = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]], np.float32)
    labels = np.array([1, 2, 0], np.int32)
    for k, expected in ((1, 1 / 3), (2, 1.0)):
        metric = TopKAccuracy(k)
        metric.update_state(labels, probabilities)
        assert float(metric.result()) == pytest.approx(expected)
    metric = TopKAccuracy(1)
    metric.update_state(np.array([[0.2, 0.8, 0.0], [0.0, 0.4, 0.6], [0.6, 0.4, 0.0]], np.float32), probabilities)
    assert float(metric.result()) == pytest.approx(1 / 3)
    assert TopKAccuracy(2).name == "top2_accuracy" and TopKAccuracy(1).name == "accuracy"


def test_warmup_cosine_schedule_values_and_serialisation():
    schedule = WarmupCosineDecay(4e-4, total_steps=100, warmup_steps=10, minimum_learning_rate=5e-6,
                                 warmup_initial_learning_rate=5e-7)
    assert float(schedule(0)) == pytest.approx(5e-7)
    assert float(schedule(5)) == pytest.approx(5e-7 + (4e-4 - 5e-7) / 2)
    assert float(schedule(10)) == pytest.approx(4e-4)
    assert float(schedule(55)) == pytest.approx((4e-4 + 5e-6) / 2, rel=1e-5)
    assert float(schedule(100)) == pytest.approx(5e-6)
    assert float(schedule(500)) == pytest.approx(5e-6)
    rebuilt = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(rebuilt, WarmupCosineDecay) and rebuilt.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosineDecay(1e-3, total_steps=5, warmup_steps=10)


def test_study_optimizers_have_the_published_settings():
    dat = dat_study_optimizer(steps_per_epoch=7, epochs=300)
    assert isinstance(dat, keras.optimizers.AdamW)
    assert dat.weight_decay == pytest.approx(0.05) and dat.global_clipnorm == pytest.approx(1.0)
    schedule = dat._learning_rate
    assert float(schedule(70)) == pytest.approx(4e-4) and float(schedule(7 * 300)) == pytest.approx(5e-6)
    rebuilt = keras.optimizers.deserialize(keras.optimizers.serialize(dat))
    assert rebuilt.global_clipnorm == pytest.approx(1.0)

    adam = linformer_study_optimizer(steps_per_epoch=10)
    schedule = adam._learning_rate
    assert float(schedule(0)) == pytest.approx(3e-4) and float(schedule(49)) == pytest.approx(3e-4)
    assert float(schedule(50)) == pytest.approx(3e-4 * 0.9) and float(schedule(100)) == pytest.approx(3e-4 * 0.81)
