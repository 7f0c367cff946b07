"""Model outputs over one split of a shard directory, through the evaluation transform.

Why here: every held-out evaluation (classifiers, the Kaggle model) needs the same thing, images
prepared exactly as at evaluation time in training (:func:`zoobot_tf.data.get_dataset` with
``augment=False``, the run's size, channels and centre crop), in stored order with their ids.
"""

from __future__ import annotations

import numpy as np

from zoobot_tf.data.crops import CROP_SCALE

__all__ = ["predict_split"]


def predict_split(model, shard_dir, split, *, batch_size=64, image_size=None, greyscale=False, crop_scale=CROP_SCALE,
                  mask_channel=None, progress=True):
    """Model outputs (class probabilities, Kaggle fractions, ...) of every galaxy of one split, in
    stored order, with the images prepared by the evaluation transform.

    Returns
    -------
    dict
        ``id_str`` (list), ``labels`` ((N,) int or (N, A) float, as stored), ``outputs``
        ``(N, n_outputs)`` and, when ``mask_channel`` is given, ``mask_sizes`` (N,) galaxy-mask
        pixels per model-input image.
    """
    from tqdm.auto import tqdm

    from zoobot_tf.evaluation.classification import galaxy_mask_sizes
    from zoobot_tf.data import get_dataset

    dataset = get_dataset(shard_dir, split, batch_size, augment=False, include_ids=True, output_size=image_size,
                          greyscale=greyscale, crop_scale=tuple(crop_scale or CROP_SCALE))
    ids, labels, probabilities, sizes = [], [], [], []
    for images, batch_labels, batch_ids in tqdm(dataset, desc=f"evaluating {split}", unit="batch", disable=None if progress else True):
        probabilities.append(np.asarray(model(images, training=False)))
        labels.append(batch_labels.numpy())
        ids += [i.decode("utf-8") for i in batch_ids.numpy()]
        if mask_channel is not None:
            sizes.append(galaxy_mask_sizes(images.numpy(), channel=mask_channel))
    out = {"id_str": ids, "labels": np.concatenate(labels), "outputs": np.concatenate(probabilities)}
    if mask_channel is not None:
        out["mask_sizes"] = np.concatenate(sizes)
    return out
