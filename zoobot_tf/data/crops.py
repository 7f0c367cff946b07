"""The crops a model sees, defined once for training, fine-tuning, evaluation and prediction.

Training takes random crops whose area is a fraction in ``CROP_SCALE`` of the stored image (aspect
ratio in ``CROP_RATIO``); evaluation and prediction take the centre crop of area
``mean(CROP_SCALE)``, so that a galaxy fills the frame as it did during training. No TensorFlow
here: run configs and prediction defaults read these without building a pipeline.
"""

from __future__ import annotations

__all__ = ["CROP_RATIO", "CROP_SCALE", "eval_crop_fraction"]

#: area fraction of the stored image kept by a training crop (random in this range)
CROP_SCALE = (0.7, 0.8)
#: aspect-ratio range of a training crop
CROP_RATIO = (0.9, 1.1)


def eval_crop_fraction(crop_scale=CROP_SCALE) -> float:
    """Area fraction kept by the evaluation (centre) crop: the middle of the training range."""
    low, high = crop_scale
    return (float(low) + float(high)) / 2.0
