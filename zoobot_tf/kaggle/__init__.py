"""The Galaxy Zoo Kaggle challenge model: 37 sigmoid outputs re-weighted down the decision tree
(so no answer exceeds its parent), trained on RMSE and scored against the training-mean baseline.

- :class:`DecisionTreeReweighting` - the re-weighting layer (Keras-serialisable).
- :func:`build_kaggle_model`, :class:`RootMeanSquaredErrorLoss`, :func:`mean_baseline`, :func:`rmse`.
- :func:`train_kaggle`, :func:`evaluate_kaggle` - shards of schema ``gz_kaggle37`` -> a run + report.
- :func:`make_synthetic_kaggle_catalog` - the embedded synthetic galaxies as a Kaggle-style catalog.

Names load lazily (importing the package does not import TensorFlow).
"""

from zoobot_tf._lazy import lazy_exports

_EXPORTS = {
    "DecisionTreeReweighting": "reweighting",
    "build_kaggle_model": "model",
    "RootMeanSquaredErrorLoss": "model",
    "mean_baseline": "model",
    "rmse": "model",
    "train_kaggle": "train",
    "evaluate_kaggle": "train",
    "gz2_votes_to_kaggle": "synthetic",
    "make_synthetic_kaggle_catalog": "synthetic",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
