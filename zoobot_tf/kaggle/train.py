"""Train and evaluate the Kaggle 37-output model on ``gz_kaggle37`` shards.

Training is :func:`zoobot_tf.training.train` with the Kaggle model (sigmoids + decision-tree
re-weighting) and the RMSE loss; evaluation scores the held-out split with RMSE and prints it
beside the "predict the training mean" baseline, the number any model must beat.
"""

from __future__ import annotations

import json

__all__ = ["evaluate_kaggle", "train_kaggle"]


def _check_shards(shard_dir):
    from zoobot_tf.shards import load_manifest

    manifest = load_manifest(shard_dir)
    if manifest.schema != "gz_kaggle37" or manifest.label_kind != "weighted_fractions":
        raise ValueError(
            f"shards in {shard_dir} hold schema {manifest.schema!r} ({manifest.label_kind!r} labels); the Kaggle model "
            "needs write_shards(..., schema='gz_kaggle37') shards of dependency-weighted fractions"
        )
    return manifest


def train_kaggle(save_dir, shard_dir, *, architecture="efficientnet_b0", epochs=50, batch_size=64,
                 learning_rate=1e-3, patience=8, evaluate=True, progress=True, **train_kwargs):
    """Train the Kaggle model (RMSE loss and metric) and evaluate it against the mean baseline.

    Parameters
    ----------
    save_dir, shard_dir : path
        Run directory (resumable, as :func:`zoobot_tf.training.train`) and ``gz_kaggle37`` shards.
    architecture : str
        Backbone (``'efficientnet_b0'``, ``'small_cnn'``, ``'dat_tiny'``, ...).
    epochs, batch_size, learning_rate, patience
        As :func:`zoobot_tf.training.train` (Adam).
    evaluate : bool
        Score the ``test`` split (if any) into ``save_dir/evaluation``.
    progress : bool
    **train_kwargs
        Passed to :func:`zoobot_tf.training.train`.

    Returns
    -------
    (keras.Model, dict, dict or None)
        Model, history (``loss`` and ``rmse`` per epoch) and the evaluation report.
    """
    import keras

    from zoobot_tf.kaggle.model import RootMeanSquaredErrorLoss, build_kaggle_model
    from zoobot_tf.training.trainer import train

    manifest = _check_shards(shard_dir)
    model, history = train(
        save_dir, "gz_kaggle37", shard_dir, architecture=architecture, batch_size=batch_size, epochs=epochs,
        learning_rate=learning_rate, patience=patience, progress=progress, build_model=build_kaggle_model,
        output_head="regression",
        loss=RootMeanSquaredErrorLoss(), metrics=[keras.metrics.RootMeanSquaredError(name="rmse")], **train_kwargs,
    )
    report = None
    if evaluate and "test" in manifest.splits and manifest.n_records("test") > 0:
        report = evaluate_kaggle(save_dir, progress=progress)
    return model, history, report


def evaluate_kaggle(run, out_dir=None, *, shard_dir=None, split="test", batch_size=64, progress=True) -> dict:
    """RMSE of a Kaggle-model run on a held-out split, beside the training-mean baseline.

    Writes ``metrics.json`` and ``predictions.csv`` (``id_str`` + the 37 ``Class*`` columns, the
    challenge's submission layout) to ``out_dir`` (default ``<run>/evaluation``) and prints the
    two RMSEs.

    Returns
    -------
    dict
        ``rmse``, ``baseline_rmse`` (predict the training mean), ``rmse_per_column``,
        ``baseline_rmse_per_column``, ``n``, ``split``, ``max_child_excess`` (largest amount by
        which a predicted answer exceeds its parent; 0 up to rounding) and ``files``.
    """
    import pandas as pd

    from zoobot_tf.evaluation.classification import regressor_metrics
    from zoobot_tf.evaluation.predict_split import predict_split
    from zoobot_tf.kaggle.model import mean_baseline, rmse
    from zoobot_tf.runs import open_run, recipe_for_model
    from zoobot_tf.schemas import get_schema
    from zoobot_tf.shards.reader import read_split_labels

    model, config, out_dir, shard_dir = open_run(run, out_dir, shard_dir)
    _check_shards(shard_dir)
    schema = get_schema("gz_kaggle37")
    result = predict_split(model, shard_dir, split, recipe=recipe_for_model(model, config.get("save_dir")),
                           batch_size=batch_size, progress=progress)
    labels, predictions = result["labels"], result["outputs"]
    baseline = mean_baseline(read_split_labels(shard_dir, "train"), len(labels))
    model_scores = regressor_metrics(labels, predictions, schema.label_cols)
    baseline_scores = regressor_metrics(labels, baseline, schema.label_cols)
    excess = max(float((predictions[:, q.start_index : q.end_index + 1]
                        - predictions[:, [q.asked_after.index]]).max()) for q in schema.questions if q.asked_after)
    report = {
        "split": split,
        "n": int(len(labels)),
        "rmse": rmse(labels, predictions),
        "baseline_rmse": rmse(labels, baseline),
        "rmse_per_column": model_scores["rmse_per_column"],
        "baseline_rmse_per_column": baseline_scores["rmse_per_column"],
        "max_child_excess": max(excess, 0.0),
    }
    table = pd.DataFrame(predictions, columns=schema.label_cols)
    table.insert(0, "id_str", result["id_str"])
    table.to_csv(out_dir / "predictions.csv", index=False)
    report["files"] = {"predictions": str(out_dir / "predictions.csv"), "metrics": str(out_dir / "metrics.json")}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{split} RMSE {report['rmse']:.4f}  (predict-the-training-mean baseline {report['baseline_rmse']:.4f}, "
          f"n={report['n']})", flush=True)
    return report
