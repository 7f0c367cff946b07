"""Held-out evaluation of a trained classifier: numbers (``metrics.json``), per-galaxy
predictions (CSV) and the figures people look at (confusion matrix, top-2 accuracy by galaxy
size, training curves), all in one folder.

Images go through exactly the evaluation transform of training (:func:`zoobot_tf.data.get_dataset`
with ``augment=False`` and the model's image recipe), so the numbers describe the model as it
will be used. The galaxy size of each galaxy is the galaxy-mask area in the image the model
sees, when the shards carry a galaxy mask, or a catalog column otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from zoobot_tf.evaluation.predict_split import predict_split
from zoobot_tf.runs import open_run, recipe_for_model

__all__ = ["evaluate_classifier"]


def _catalog_sizes(ids, catalog, column):
    from zoobot_tf.catalogs import read_catalog

    table = read_catalog(catalog)
    if "id_str" not in table.columns or column not in table.columns:
        raise ValueError(f"catalog {catalog!r} needs columns 'id_str' and {column!r}")
    values = table.assign(id_str=table["id_str"].astype(str)).set_index("id_str")[column]
    missing = [i for i in ids if i not in values.index]
    if missing:
        raise ValueError(f"{len(missing)} evaluated galaxies are not in catalog {catalog!r}, e.g. {missing[:5]}")
    return values.loc[ids].to_numpy(dtype=np.float64)


def evaluate_classifier(run, out_dir=None, *, shard_dir=None, split="test", batch_size=64, catalog=None,
                        size_column=None, bins=5, progress=True, extra=None) -> dict:
    """Evaluate a classification run on a held-out split and write its report.

    Parameters
    ----------
    run : path or (keras.Model, dict)
        A run directory from :func:`zoobot_tf.classification.train_classifier` (or
        :func:`zoobot_tf.training.train` with a label set), or ``(model, config)``.
    out_dir : path, optional
        Default ``<run>/evaluation``.
    shard_dir : path, optional
        Default: the run's shards.
    split : str
        ``'test'`` (default) or ``'val'``.
    batch_size : int
    catalog, size_column : optional
        Catalog (DataFrame or CSV/parquet) and its column of galaxy sizes, used when the shards
        carry no galaxy mask (or to bin by another size, e.g. a Petrosian radius).
    bins : int or sequence of float
        Size bins of the top-2 plot (equal-count bins, or edges).
    progress : bool
    extra : dict, optional
        More entries for ``metrics.json`` (e.g. the imbalance strategy of the run).

    Returns
    -------
    dict
        The content of ``metrics.json``: ``n``, ``accuracy`` (= ``top1_accuracy``),
        ``top2_accuracy``, ``top3_accuracy``, ``balanced_accuracy``, ``per_class``,
        ``confusion_matrix``, ``classes``, ``top2_by_size`` (rows of the binned table) and
        ``files`` (paths written).
    """
    from zoobot_tf.evaluation.classification import classification_report, top_k_accuracy_by_bin
    from zoobot_tf.evaluation.plots import plot_accuracy_by_size, plot_confusion_matrix, plot_training_curves
    from zoobot_tf.shards import load_manifest

    model, config, out_dir, shard_dir = open_run(run, out_dir, shard_dir)
    if config.get("label_kind") != "class":
        raise ValueError(f"run {config.get('save_dir')} is not a classifier (label kind "
                         f"{config.get('label_kind')!r}); evaluate decision-tree runs with `zoobot-tf evaluate`")
    manifest = load_manifest(shard_dir)
    classes = list(config["label_cols"])
    if list(manifest.label_cols) != classes:
        raise ValueError(f"shards in {shard_dir} have classes {manifest.label_cols}, the model {classes}")
    recipe = recipe_for_model(model, config.get("save_dir"))
    has_mask = recipe.stored.galaxy_mask and recipe.channels == recipe.stored.total_channels
    result = predict_split(model, shard_dir, split, recipe=recipe, batch_size=batch_size, progress=progress,
                           mask_channel=-1 if has_mask and size_column is None else None)
    labels, probabilities = result["labels"], result["outputs"]
    report = classification_report(labels, probabilities, classes)
    files = {"confusion_matrix": plot_confusion_matrix(report["confusion_matrix"], classes,
                                                       out_dir / "confusion_matrix.png",
                                                       title=f"confusion matrix ({split}, n={len(labels)})")}

    predictions = pd.DataFrame({"id_str": result["id_str"], "label": [classes[i] for i in labels],
                                "predicted": [classes[i] for i in probabilities.argmax(axis=1)]})
    for i, name in enumerate(classes):
        predictions[f"p_{name}"] = probabilities[:, i]
    sizes, size_label = None, None
    if size_column is not None:
        if catalog is None:
            raise ValueError("size_column needs catalog=")
        sizes, size_label = _catalog_sizes(result["id_str"], catalog, size_column), size_column
    elif "mask_sizes" in result:
        sizes, size_label = result["mask_sizes"], "galaxy-mask size (pixels in the model input)"
    if sizes is not None:
        predictions["size"] = sizes
        table = top_k_accuracy_by_bin(labels, probabilities, sizes, bins=bins, k=2)
        table.to_csv(out_dir / "top2_by_size.csv", index=False)
        report["top2_by_size"] = table.to_dict(orient="records")
        report["size"] = size_label
        files["top2_by_size"] = plot_accuracy_by_size(table, out_dir / "top2_by_size.png", xlabel=size_label,
                                                      title=f"top-2 accuracy by galaxy size ({split})")
    else:
        report["top2_by_size"] = None
        report["size"] = "no galaxy mask in the shards and no size_column given"
    predictions.to_csv(out_dir / "predictions.csv", index=False)
    files["predictions"] = out_dir / "predictions.csv"
    log = (Path(config.get("save_dir", "")) if isinstance(run, tuple) else Path(run)) / "training_log.csv"
    if log.is_file():
        files["training_curves"] = Path(plot_training_curves(log, out_dir / "training_curves.png"))
    report["split"] = split
    report.update(extra or {})
    report["files"] = {k: str(v) for k, v in files.items()}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    return report
