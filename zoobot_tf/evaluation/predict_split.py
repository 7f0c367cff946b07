"""Model outputs over one split of a shard directory, through the evaluation transform.

Why here: every held-out evaluation (classifiers, the Kaggle model) needs the same thing, images
prepared exactly as at evaluation time in training (:func:`zoobot_tf.data.get_dataset` with
``augment=False`` and the model's image recipe), in stored order with their ids.
"""

from __future__ import annotations

import numpy as np

__all__ = ["predict_split"]


def predict_split(model, shard_dir, split, *, recipe, batch_size=64, mask_channel=None, progress=True):
    """Model outputs (class probabilities, Kaggle fractions, ...) of every galaxy of one split, in
    stored order, with the images prepared by the evaluation transform; for a model with MC
    dropout, the mean over the samples ``predict`` would draw (seed 0).

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

    dataset = get_dataset(shard_dir, split, batch_size, recipe=recipe, augment=False, include_ids=True)
    from zoobot_tf.evaluation.held_out import eval_samples
    from zoobot_tf.predictions.sampling import Sampler, resolve_fast_path

    sampler = Sampler(model, eval_samples(model), resolve_fast_path(model, "auto"), seed=0)
    ids, labels, outputs, sizes = [], [], [], []
    for images, batch_labels, batch_ids in tqdm(dataset, desc=f"evaluating {split}", unit="batch", disable=None if progress else True):
        outputs.append(sampler(images).mean(axis=-1))
        labels.append(batch_labels.numpy())
        ids += [i.decode("utf-8") for i in batch_ids.numpy()]
        if mask_channel is not None:
            sizes.append(galaxy_mask_sizes(images.numpy(), channel=mask_channel))
    out = {"id_str": ids, "labels": np.concatenate(labels), "outputs": np.concatenate(outputs)}
    if mask_channel is not None:
        out["mask_sizes"] = np.concatenate(sizes)
    return out
