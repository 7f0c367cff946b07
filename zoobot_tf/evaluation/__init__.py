"""Every metric and figure. How good are predicted vote distributions? RMSE of vote fractions
against volunteers (and against the true fractions of synthetic data), majority-answer accuracy,
confusion matrices, training curves — each beside the trivial "predict the training mean"
baseline, as a printed table, a CSV and PNG plots. How good is a classifier? Top-k accuracy,
per-class recall, accuracy by galaxy size. What fraction of a survey are mergers?

``metrics`` holds the vote-fraction numbers (plain arrays in, DataFrames out), ``classification``
the classifier / regressor / fine-tuning numbers, ``plots`` every figure (matplotlib ``Figure``,
no global backend), ``compare`` the comparison table (:func:`evaluate`), ``predict_split`` model
outputs over a shard split, ``merger_fraction`` the merger fraction of a survey, ``calibration``
the coverage of the predicted intervals, ``gallery`` the galaxy galleries of
:mod:`zoobot_tf.discovery`, ``report`` the files-in CLI verb ``zoobot-tf evaluate``. Importing this package does not import TensorFlow.
"""

from zoobot_tf.evaluation.calibration import coverage, coverage_figure, coverage_of_file
from zoobot_tf.evaluation.compare import comparison_table, evaluate, format_comparison
from zoobot_tf.evaluation.metrics import (
    OVERALL,
    asked_weights,
    baseline_fractions,
    confusion_matrices,
    confusion_matrix,
    expected_fractions,
    majority_answer_accuracy,
    majority_answers,
    mean_fractions,
    predicted_answers,
    true_asked_weights,
    vote_fraction_rmse,
)
from zoobot_tf.evaluation.classification import (
    classification_report,
    classifier_metrics,
    dirichlet_metrics,
    regressor_metrics,
    top_k_accuracy,
    top_k_accuracy_by_bin,
)
from zoobot_tf.evaluation.gallery import gallery_figure, save_figure
from zoobot_tf.evaluation.plots import (
    plot_accuracy_by_size,
    plot_confusion_matrices,
    plot_confusion_matrix,
    plot_predicted_vs_true,
    plot_rmse_comparison,
    plot_training_curves,
    read_training_log,
    save_image_grid,
)
from zoobot_tf.evaluation.report import (
    evaluate_files,
    read_hdf5_predictions,
    read_predictions,
    read_summary_predictions,
)

__all__ = [
    "OVERALL",
    "asked_weights",
    "baseline_fractions",
    "classification_report",
    "classifier_metrics",
    "comparison_table",
    "dirichlet_metrics",
    "plot_accuracy_by_size",
    "regressor_metrics",
    "save_image_grid",
    "top_k_accuracy",
    "top_k_accuracy_by_bin",
    "confusion_matrices",
    "confusion_matrix",
    "coverage",
    "coverage_figure",
    "coverage_of_file",
    "evaluate",
    "evaluate_files",
    "expected_fractions",
    "format_comparison",
    "gallery_figure",
    "majority_answer_accuracy",
    "majority_answers",
    "mean_fractions",
    "plot_confusion_matrices",
    "plot_confusion_matrix",
    "plot_predicted_vs_true",
    "plot_rmse_comparison",
    "plot_training_curves",
    "predicted_answers",
    "read_hdf5_predictions",
    "read_predictions",
    "read_summary_predictions",
    "read_training_log",
    "save_figure",
    "true_asked_weights",
    "vote_fraction_rmse",
]
