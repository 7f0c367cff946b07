"""Accuracy on a new survey against the number of labels: pretrained encoder, random init, pixels.

The new survey is the synthetic galaxies rendered differently from the pretraining set
(:data:`zoobot_tf.synthetic.DOMAIN_SHIFT`: one band, broader PSF, more noise, coarser pixels);
the task is the Hubble type (6 classes). A fixed held-out test set (``--test`` galaxies) scores
every method at every label count (``--labels``; 20% of each count is the validation split that
early stopping watches, so a count is all the labels used). Methods, all in this run:

* ``pretrained``: :func:`zoobot_tf.finetune.finetune` with its defaults from the pretrained
  encoder (``--pretrained``, or pretrained here on ``--source-n`` colour synthetic galaxies
  with the ``make demo`` recipe; by default a CPU-sized ``small_cnn``, ``--architecture
  efficientnet_b0`` for the demo's encoder);
* ``scratch``: the same fine-tuning from the same architecture with fresh random weights (no
  per-block decay: every layer starts from nothing);
* ``pixels``: ridge classifier on the raw pixels (numpy, ridge strength chosen on the
  validation split);
* with ``--ablations``, at the middle label count, the pretrained encoder with the old
  fine-tuning choices one at a time (BatchNorm frozen with the source statistics, no
  re-estimation, balanced class weights, head only).

Prints a table and writes ``finetune_curve.csv`` and ``finetune_curve.png`` to ``--out``::

    nice python benchmarks/finetune_curve.py --out work/finetune_curve

A zoobot checkpoint (e.g. ConvNeXt-Nano from ``mwalmsley/zoobot-encoder-convnext_nano``) enters
through ``--encoder-weights PATH --architecture convnext_nano`` once the encoder importer
(issue 12, items 1-2) is merged: the script then builds that encoder with those weights instead
of pretraining one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def ridge_on_pixels(train_x, train_y, val_x, val_y, test_x, n_classes, strengths=np.logspace(-1, 5, 13)):
    """Ridge classifier (one-hot targets, standardised pixels, dual form) -> test predictions.

    The ridge strength with the best validation accuracy is used; returns ``(predictions, strength)``.
    """
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    a, v, t = ((x - mean) / std for x in (train_x, val_x, test_x))
    targets = np.eye(n_classes)[train_y] - 1.0 / n_classes
    gram = a @ a.T
    best = (-1.0, None, None)
    for strength in strengths:
        dual = np.linalg.solve(gram + strength * np.eye(len(a)), targets)
        weights = a.T @ dual
        accuracy = float(((v @ weights).argmax(axis=1) == val_y).mean()) if len(v) else 0.0
        if accuracy > best[0]:
            best = (accuracy, strength, weights)
    return (t @ best[2]).argmax(axis=1), float(best[1])


def pixels(catalog, image_size):
    from zoobot_tf.images import load_image

    return np.stack([load_image(f, size=image_size, channels=1).reshape(-1) for f in catalog["file_loc"]])


def render_target(out, n, seed):
    from zoobot_tf.synthetic import DOMAIN_SHIFT, make_synthetic_dataset

    path = out / "target" / "catalog.csv"
    if path.is_file():
        return pd.read_csv(path)
    return make_synthetic_dataset(out / "target", n=n, size=64, seed=seed, progress=False, **DOMAIN_SHIFT)


def pretrain(out, n, epochs, architecture, image_size, seed, backbone_kwargs):
    """The ``make demo`` recipe on ``n`` colour synthetic galaxies (skipped when already done)."""
    from zoobot_tf.shards import write_shards
    from zoobot_tf.synthetic import make_synthetic_dataset
    from zoobot_tf.training import train

    run_dir = out / "source_run"
    if (run_dir / "model.keras").is_file():
        return run_dir
    catalog = make_synthetic_dataset(out / "source", n=n, size=64, seed=seed, progress=False)
    write_shards(catalog, out / "source_shards", schema="decals_dr5", size=64, seed=seed, val_fraction=0.1,
                 test_fraction=0.0, progress=False, overwrite=True)
    options = {"batchnorm_momentum": 0.9} if architecture in ("small_cnn", "efficientnet_b0") else {}
    train(run_dir, "decals_dr5", out / "source_shards", architecture=architecture, batch_size=32, epochs=epochs,
          patience=max(3, epochs // 3), image_size=image_size, seed=seed, progress=False, overwrite=True,
          **options, **backbone_kwargs)
    return run_dir


def labelled_subset(target, n_labels, n_test, seed):
    """The fixed test set plus ``n_labels`` others (80% train, 20% val), as a catalog with a ``split`` column."""
    from zoobot_tf.shards.split import split_key

    order = sorted(target["id_str"], key=lambda i: split_key(i, seed))
    test, pool = order[:n_test], order[n_test:]
    if n_labels > len(pool):
        raise ValueError(f"{n_labels} labels asked for, only {len(pool)} galaxies outside the test set")
    n_val = max(int(round(0.2 * n_labels)), 10)
    split = {**{i: "test" for i in test}, **{i: "val" for i in pool[:n_val]},
             **{i: "train" for i in pool[n_val:n_labels]}}
    subset = target[target["id_str"].isin(split)].copy()
    subset["split"] = subset["id_str"].map(split)
    return subset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="finetune_curve_output", help="work and output folder")
    parser.add_argument("--labels", default="100,300,1000", help="label counts (comma-separated)")
    parser.add_argument("--test", type=int, default=400, help="fixed held-out test galaxies (default 400)")
    parser.add_argument("--pretrained", default=None, help="pretrained model or run directory (default: pretrain here)")
    parser.add_argument("--encoder-weights", default=None,
                        help="imported zoobot encoder weights (needs the encoder importer of issue 12)")
    parser.add_argument("--architecture", default="small_cnn",
                        help="encoder architecture pretrained here (default small_cnn: CPU-sized; efficientnet_b0 is the demo's)")
    parser.add_argument("--backbone-kwargs", default=None,
                        help='JSON options of the architecture (default for small_cnn: {"filters": [32, 64, 128, 256]})')
    parser.add_argument("--source-n", type=int, default=2000, help="colour galaxies to pretrain on (default 2000)")
    parser.add_argument("--source-epochs", type=int, default=20, help="pretraining epochs (default 20, the demo's)")
    parser.add_argument("--image-size", type=int, default=48, help="model input side (default 48)")
    parser.add_argument("--epochs", type=int, default=30, help="maximum fine-tuning epochs (default 30)")
    parser.add_argument("--methods", default="pixels,pretrained,scratch", help="methods to run (comma-separated)")
    parser.add_argument("--ablations", action="store_true", help="also the old fine-tuning choices, middle count")
    parser.add_argument("--patience", type=int, default=6, help="early-stopping patience (default 6)")
    parser.add_argument("--tag", default="", help="suffix of the output files (parallel runs sharing --out)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import inspect

    import keras

    from zoobot_tf.models import get_model
    from zoobot_tf.finetune import finetune, load_source_model

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    counts = [int(c) for c in args.labels.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    target = render_target(out, args.test + max(counts), seed=args.seed + 100)
    classes = sorted(target["label"].unique())
    target_index = {c: i for i, c in enumerate(classes)}

    if args.encoder_weights:
        if "encoder_weights" not in inspect.signature(get_model).parameters:
            raise SystemExit("--encoder-weights needs the zoobot encoder importer (issue 12, items 1-2)")
        source = get_model("decals_dr5", (args.image_size, args.image_size, 3), architecture=args.architecture,
                           encoder_weights=args.encoder_weights)
    elif args.pretrained:
        source = Path(args.pretrained)
    else:
        if args.backbone_kwargs is not None:
            backbone_kwargs = json.loads(args.backbone_kwargs)
        else:
            backbone_kwargs = {"filters": [32, 64, 128, 256]} if args.architecture == "small_cnn" else {}
        source = pretrain(out, args.source_n, args.source_epochs, args.architecture, args.image_size, args.seed,
                          backbone_kwargs)
    rows = []

    def record(method, n, accuracy, seconds, **extra):
        rows.append({"method": method, "labels": n, "test_accuracy": round(float(accuracy), 4),
                     "seconds": round(seconds, 1), **extra})
        print(json.dumps(rows[-1]), flush=True)

    def run_finetune(name, n, subset, start, **options):
        t0 = time.time()
        result = finetune(start, out / "runs" / f"{name}_{n}", catalog=subset, image_size=args.image_size,
                          epochs=args.epochs, patience=args.patience, seed=args.seed, progress=False,
                          label_set=classes, **options)
        record(name, n, result.metrics["accuracy"], time.time() - t0, epochs_run=result.metrics["epochs_run"],
               best_epoch=result.metrics["best_epoch"])

    for n in counts:
        subset = labelled_subset(target, n, args.test, args.seed)
        if "pixels" in methods:
            t0 = time.time()
            parts = {s: subset[subset["split"] == s] for s in ("train", "val", "test")}
            x = {s: pixels(p, args.image_size) / 255.0 for s, p in parts.items()}
            y = {s: p["label"].map(target_index).to_numpy() for s, p in parts.items()}
            predicted, strength = ridge_on_pixels(x["train"], y["train"], x["val"], y["val"], x["test"], len(classes))
            record("pixels", n, (predicted == y["test"]).mean(), time.time() - t0, ridge_strength=strength)
        if "pretrained" in methods:
            run_finetune("pretrained", n, subset, source)
        if "scratch" in methods:
            keras.utils.set_random_seed(args.seed)
            fresh = keras.models.clone_model(load_source_model(source)[0])  # same architecture, new random weights
            run_finetune("scratch", n, subset, fresh, lr_decay=1.0)
        if args.ablations and n == counts[len(counts) // 2]:
            for name, options in (
                ("pretrained_bn_frozen", {"batchnorm": "frozen"}),
                ("pretrained_bn_not_reestimated", {"batchnorm": "train"}),
                ("pretrained_balanced_weights", {"class_weight": "balanced"}),
                ("pretrained_head_only", {"n_blocks": 0}),
                ("pretrained_head_only_bn_frozen", {"n_blocks": 0, "batchnorm": "frozen"}),
            ):
                run_finetune(name, n, subset, source, **options)

    table = pd.DataFrame(rows)
    stem = f"finetune_curve{args.tag}"
    table.to_csv(out / f"{stem}.csv", index=False)
    chance = float(target.loc[target["id_str"].isin(labelled_subset(target, counts[0], args.test, args.seed)
                                                     .query("split == 'test'")["id_str"]), "label"]
                   .value_counts(normalize=True).max())
    print(f"\nHubble type (6 classes) on {args.test} held-out galaxies of the shifted survey; "
          f"majority class {chance:.3f}")
    print(table.pivot_table(index="labels", columns="method", values="test_accuracy").to_string())
    _plot(table, chance, out / f"{stem}.png")
    print(f"table: {out / f'{stem}.csv'}; plot: {out / f'{stem}.png'}")
    return 0


def _plot(table, chance, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    curves = table[~table["method"].str.contains("_")]
    for method, group in curves.groupby("method"):
        ax.plot(group["labels"], group["test_accuracy"], marker="o", label=method)
    ax.axhline(chance, color="grey", linestyle=":", label="majority class")
    ax.set_xscale("log")
    ax.set_xlabel("labels (train + val)")
    ax.set_ylabel("test accuracy")
    ax.set_title("fine-tuning across a domain shift")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
