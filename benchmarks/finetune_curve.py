"""Accuracy on a new survey against the number of labels: fine-tuning, its baselines and its suspects.

Two new "surveys", both rendered by the one renderer from the synthetic galaxies the encoder
was pretrained on (colour, asinh, centred):

* ``domain`` (:data:`zoobot_tf.synthetic.DOMAIN_SHIFT`): one band, broader PSF, more noise,
  coarser pixels; the Hubble type, 6 classes; every split with the same class mix.
* ``sparse`` (:data:`zoobot_tf.synthetic.SPARSE_SHIFT`): like the small real survey of issue 21:
  one band, 4 classes, galaxies reaching the frame's edge with a bright nucleus, a linear stretch
  with the sky clipped to 0 (mean pixel ~0.003); the training split imbalanced
  (:data:`SPARSE_TRAIN_MIX`), validation and test balanced.

A fixed held-out test set (``--test`` galaxies) scores every method at every label count
(``--labels``; 20% of a count is the validation split, so a count is all the labels used).
Methods (``--methods``):

* ``defaults``: :func:`zoobot_tf.finetune.finetune` with its current defaults; its
  ``metrics.json`` also gives ``probe`` (the linear probe on the frozen encoder's features) and
  ``majority`` (the training split's majority class), on the same test galaxies;
* ``before``: the defaults before issue 21 (:func:`before_options`: 40 epochs, early stopping on
  the raw weights' validation loss with patience 8, a random head, no fallback to the probe,
  random crops of 0.7-0.8 of the area and evaluation crop 0.75, any-angle rotation, BatchNorm
  re-estimated then trained with momentum 0.9, learning rate 1e-3 with per-block decay 0.75,
  the images unscaled);
* ``plain``: the plain loop of issue 21: Keras ``fit``, Adam 1e-3, every layer trainable
  (BatchNorm included), 90-degree rotations and flips only, whole images, 8 epochs, no
  validation; the images scaled as ``finetune``'s defaults scale them (``scaling='auto'``);
* ``scratch``: the defaults from the same architecture with fresh random weights (no per-block decay);
* ``pixels``: ridge classifier on the raw pixels (strength chosen on the validation split).

``--variants`` (at ``--variant-labels``) are ``before`` with one suspect changed at a time
(:func:`_variants`). ``--seeds`` repeats every method with other training seeds (the galaxies
and splits stay). Every fine-tune records how much validation accuracy moves from epoch to
epoch over its last 5 epochs (``val_step_last5``, points). The source encoder is pretrained
here with the ``make demo`` recipe unless ``--pretrained`` names one.

Rows are appended to ``finetune_curve.csv`` as they finish and a rerun skips the rows already
there, so a killed run continues. Prints the tables and writes ``table.txt`` (with the command,
commit and machine) and ``finetune_curve.png`` to ``--out``::

    nice python benchmarks/finetune_curve.py --out work/finetune_curve

A zoobot checkpoint enters through ``--encoder-weights PATH --architecture convnext_nano``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

#: training-split class mix of the sparse shift (validation and test are balanced)
SPARSE_TRAIN_MIX = {"E": 0.4, "Sab": 0.3, "Sc": 0.2, "Im": 0.1}
SHIFTS = ("domain", "sparse")


def before_options():
    """The fine-tuning options of the defaults before issue 21."""
    from zoobot_tf.recipe import Augmentation

    return {"scaling": "none", "ema_epochs": 0.0, "keep": "best", "head_init": "random", "probe_fallback": False, "epochs": 40,
            "patience": 8, "augmentation": Augmentation((0.7, 0.8), (0.9, 1.1), "any", True), "eval_crop": 0.75,
            "batchnorm": "adapt", "batchnorm_momentum": 0.9, "learning_rate": 1e-3, "lr_decay": 0.75}


def _variants():
    from zoobot_tf.recipe import Augmentation

    return {
        # (the new defaults with one change: named defaults+...)
        "defaults+lr_3e-4": {"learning_rate": 3e-4},
        # the survey's images as stored (no 'auto' asinh stretch of a dark survey)
        "defaults+scaling_none": {"scaling": "none"},
        # the probe or the fine-tune, no blend of their weights
        "defaults+no_probe_blend": {"probe_blend": False},
        # LP-FT: the head starts as the probe (then blended as usual)
        "defaults+probe_head": {"head_init": "probe"},
        # the defaults of 4c9e1cf (before the scaling and the blend): the images as stored, probe or fine-tune
        "defaults+scaling_none+no_probe_blend": {"scaling": "none", "probe_blend": False},
        "defaults+zoom_1.25": {"augmentation": Augmentation((0.43, 0.53), (0.9, 1.1), "any", True), "eval_crop": 0.48},
        # the crop: whole images, in training and at evaluation
        "before+no_crop": {"augmentation": Augmentation((1.0, 1.0), (1.0, 1.0), "any", True), "eval_crop": 1.0},
        # BatchNorm: slower moving statistics; or the source's statistics, never re-estimated
        "before+bn_momentum_0.99": {"batchnorm_momentum": 0.99},
        "before+bn_frozen": {"batchnorm": "frozen"},
        # selection: the weight average validated, checkpointed and kept
        "before+weight_average": {"ema_epochs": 2.0},
        "before+weight_average_1": {"ema_epochs": 1.0},
        # the learning rate of a small encoder
        "before+lr_3e-4": {"learning_rate": 3e-4},
        "before+lr_3e-3": {"learning_rate": 3e-3},
        "before+no_lr_decay": {"lr_decay": 1.0},
        # BatchNorm re-estimated, then fixed (inference mode) while the rest trains
        "before+bn_fixed": {"batchnorm": "fixed"},
        # selection: the whole schedule, the last weights kept (raw, or averaged)
        "before+keep_last": {"keep": "last"},
        "before+weight_average+keep_last": {"ema_epochs": 2.0, "keep": "last"},
        # the new head starts as the linear probe (LP-FT), alone and with the weight average
        "before+probe_head": {"head_init": "probe"},
        "before+probe_head+weight_average": {"head_init": "probe", "ema_epochs": 2.0},
        "before+probe_head+weight_average+keep_last": {"head_init": "probe", "ema_epochs": 2.0, "keep": "last"},
        # the probe kept when no fine-tuned epoch reaches its validation loss, alone and with the average
        "before+probe_fallback": {"probe_fallback": True},
        "before+probe_fallback+weight_average": {"probe_fallback": True, "ema_epochs": 2.0},
        # class weights against an imbalanced training split (the sparse shift's)
        "before+balanced_weights": {"class_weight": "balanced"},
    }


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


def render_target(out, shift, n, seed):
    from zoobot_tf.synthetic import DOMAIN_SHIFT, SPARSE_SHIFT, make_synthetic_dataset

    path = out / f"target_{shift}" / "catalog.csv"
    if path.is_file():
        return pd.read_csv(path)
    options = DOMAIN_SHIFT if shift == "domain" else SPARSE_SHIFT
    return make_synthetic_dataset(out / f"target_{shift}", n=n, size=64, seed=seed, progress=False, **options)


def pretrain(out, n, epochs, architecture, image_size, seed, backbone_kwargs, greyscale=0.0):
    """The ``make demo`` model (:data:`zoobot_tf.demo.DEMO_TRAINING`: 3000 colour synthetic galaxies,
    the small CNN, 20 epochs), with ``n``, ``epochs``, ... as given (skipped when already done);
    ``greyscale`` > 0 adds greyscale views with that probability to its augmentation."""
    from zoobot_tf.demo import DEMO_TRAINING, demo_train_kwargs
    from zoobot_tf.recipe import Augmentation
    from zoobot_tf.shards import write_shards
    from zoobot_tf.synthetic import make_synthetic_dataset
    from zoobot_tf.training import train

    run_dir = out / ("source_run" + (f"_greyscale{greyscale:g}" if greyscale else ""))
    if (run_dir / "model.keras").is_file():
        return run_dir
    if not (out / "source_shards" / "manifest.json").is_file():
        catalog = make_synthetic_dataset(out / "source", n=n, size=DEMO_TRAINING["render_size"], seed=seed,
                                         progress=False)
        write_shards(catalog, out / "source_shards", schema="decals_dr5", size=DEMO_TRAINING["render_size"],
                     seed=seed, val_fraction=0.1, test_fraction=0.0, progress=False, overwrite=True)
    settings = {**DEMO_TRAINING, "architecture": architecture, "epochs": epochs, "image_size": image_size}
    options = {k: v for k, v in demo_train_kwargs(settings).items() if k != "filters" or not backbone_kwargs}
    train(run_dir, "decals_dr5", out / "source_shards", seed=seed, progress=False, overwrite=True, **options,
          augmentation=Augmentation(greyscale=greyscale), **backbone_kwargs)
    return run_dir


def labelled_subset(target, n_labels, n_test, seed, train_mix=None):
    """The fixed test set plus ``n_labels`` others (80% train, 20% val), as a catalog with a ``split`` column.

    Galaxies are taken in a fixed hashed order, so a larger count holds every smaller one. With
    ``train_mix`` ({class: fraction}) the test and validation splits are balanced across its
    classes and the training split follows the mix.
    """
    from zoobot_tf.shards.split import split_key

    order = sorted(target["id_str"], key=lambda i: split_key(i, seed))
    n_val = max(int(round(0.2 * n_labels)), 10)
    if train_mix is None:
        test, pool = order[:n_test], order[n_test:]
        if n_labels > len(pool):
            raise ValueError(f"{n_labels} labels asked for, only {len(pool)} galaxies outside the test set")
        split = {**{i: "test" for i in test}, **{i: "val" for i in pool[:n_val]},
                 **{i: "train" for i in pool[n_val:n_labels]}}
    else:
        label = dict(zip(target["id_str"], target["label"]))
        k, n_train, split = len(train_mix), n_labels - n_val, {}
        for c, fraction in train_mix.items():
            ids = [i for i in order if label[i] == c]
            sizes = (n_test // k, n_val // k, int(round(fraction * n_train)))
            if sum(sizes) > len(ids):
                raise ValueError(f"class {c}: {sum(sizes)} galaxies needed, {len(ids)} rendered")
            edges = np.cumsum((0,) + sizes)
            for name, lo, hi in zip(("test", "val", "train"), edges[:-1], edges[1:]):
                split.update({i: name for i in ids[lo:hi]})
    subset = target[target["id_str"].isin(split)].copy()
    subset["split"] = subset["id_str"].map(split)
    return subset


def val_step_last5(run_dir) -> float | None:
    """Largest change of validation accuracy between consecutive epochs over the last 5 (points)."""
    from zoobot_tf.finetune import finetune_log

    values = [row["val_accuracy"] for row in finetune_log(run_dir) if "val_accuracy" in row]
    if len(values) < 2:
        return None
    return round(100.0 * float(np.abs(np.diff(np.asarray(values[-5:]))).max()), 2)


def plain_loop(source, subset, classes, image_size, seed, epochs=8, batch_size=32):
    """The plain loop of issue 21 -> test-set metrics."""
    import keras

    from zoobot_tf.data.inputs import catalog_dataset, catalog_recipe
    from zoobot_tf.images import choose_scaling
    from zoobot_tf.evaluation.classification import classifier_metrics
    from zoobot_tf.finetune import copy_encoder, load_source_model
    from zoobot_tf.models import get_encoder
    from zoobot_tf.recipe import Augmentation

    keras.utils.set_random_seed(seed)
    encoder = get_encoder(load_source_model(source)[0])
    channels = int(encoder.input.shape[-1])
    scaling, _ = choose_scaling(subset["file_loc"], "auto")  # the pixels finetune's defaults see
    recipe = catalog_recipe(subset["file_loc"], image_size, channels, eval_crop=1.0, scaling=scaling,
                            augmentation=Augmentation((1.0, 1.0), (1.0, 1.0), "90", True))
    encoder = copy_encoder(encoder, (image_size, image_size, channels))
    encoder.trainable = True
    inputs = keras.Input((image_size, image_size, channels))
    outputs = keras.layers.Dense(len(classes), activation="softmax")(encoder(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    index = {c: i for i, c in enumerate(classes)}

    def batches(part, training):
        ds = catalog_dataset(part["file_loc"], recipe, batch_size, labels=part["label"].map(index).to_numpy(),
                             training=training, shuffle=training, seed=seed)
        return ds.map(lambda b: (b["image"], b["label"]))

    train, test = subset[subset["split"] == "train"], subset[subset["split"] == "test"]
    model.fit(batches(train, True), epochs=epochs, verbose=0)
    probabilities = model.predict(batches(test, False), verbose=0)
    return classifier_metrics(test["label"].map(index).to_numpy(), probabilities, classes)


def _row(metrics) -> dict:
    low, high = (metrics.get("intervals") or {}).get("accuracy", (None, None))
    return {"test_accuracy": round(float(metrics["accuracy"]), 4),
            "balanced_accuracy": round(float(metrics["balanced_accuracy"]), 4),
            "macro_f1": round(float(metrics["macro_f1"]), 4),
            "accuracy_low": None if low is None else round(low, 4), "accuracy_high": None if high is None else round(high, 4)}


def machine() -> str:
    cpus = os.cpu_count()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{platform.node()}: {model}, {cpus} CPU cores visible (shared), {platform.system()} {platform.release()}"


def commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="finetune_curve_output", help="work and output folder")
    parser.add_argument("--shifts", default="domain,sparse", help=f"new surveys (comma-separated from {SHIFTS})")
    parser.add_argument("--labels", default="100,300,1000", help="label counts (comma-separated)")
    parser.add_argument("--test", type=int, default=400, help="fixed held-out test galaxies (default 400)")
    parser.add_argument("--pretrained", default=None, help="pretrained model or run directory (default: pretrain here)")
    parser.add_argument("--encoder-weights", default=None, help="imported zoobot encoder weights (with --architecture)")
    parser.add_argument("--architecture", default="small_cnn",
                        help="encoder architecture pretrained here (default small_cnn: CPU-sized)")
    parser.add_argument("--backbone-kwargs", default=None,
                        help="JSON options of the architecture (default: the demo's)")
    parser.add_argument("--source-n", type=int, default=3000, help="colour galaxies to pretrain on (default 3000, the demo's)")
    parser.add_argument("--source-epochs", type=int, default=20, help="pretraining epochs (default 20, the demo's)")
    parser.add_argument("--source-greyscale", type=float, default=0.0,
                        help="probability of a greyscale view in pretraining (default 0, the demo's)")
    parser.add_argument("--render-only", action="store_true", help="pretrain and render, then stop (no fine-tuning)")
    parser.add_argument("--image-size", type=int, default=48, help="model input side (default 48)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="fine-tuning epochs of every run (default: each method's own, finetune's for the defaults)")
    parser.add_argument("--patience", type=int, default=None, help="early-stopping patience of every run (default: the same)")
    parser.add_argument("--methods", default="pixels,defaults,plain,scratch",
                        help="methods at every count (comma-separated: pixels, defaults, before, plain, scratch)")
    parser.add_argument("--variants", default="", help=f"'all' or comma-separated names of {list(_variants())}")
    parser.add_argument("--variant-labels", default="300", help="label counts of the variants (default 300)")
    parser.add_argument("--tag", default="", help="suffix of the output files (parallel runs sharing --out)")
    parser.add_argument("--seed", type=int, default=0, help="data seed: galaxies, splits (default 0)")
    parser.add_argument("--seeds", default="0",
                        help="training seeds (initialisation, shuffling, augmentation) of every method, comma-separated "
                             "(default 0); several give mean and spread")
    args = parser.parse_args(argv)

    import inspect

    import keras

    from zoobot_tf.finetune import finetune, load_source_model
    from zoobot_tf.models import get_model

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    counts = [int(c) for c in args.labels.split(",")]
    variant_counts = [int(c) for c in args.variant_labels.split(",") if c.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    shifts = [s.strip() for s in args.shifts.split(",") if s.strip()]
    variants = _variants()
    chosen = list(variants) if args.variants == "all" else [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [s for s in shifts if s not in SHIFTS] + [v for v in chosen if v not in variants]
    if unknown:
        raise SystemExit(f"unknown shift(s) / variant(s): {unknown}")

    if args.encoder_weights:
        if "encoder_weights" not in inspect.signature(get_model).parameters:
            raise SystemExit("--encoder-weights needs the zoobot encoder importer")
        source = get_model("decals_dr5", (args.image_size, args.image_size, 3), architecture=args.architecture,
                           encoder_weights=args.encoder_weights)
    elif args.pretrained:
        source = Path(args.pretrained)
    else:
        backbone_kwargs = json.loads(args.backbone_kwargs) if args.backbone_kwargs is not None else {}
        source = pretrain(out, args.source_n, args.source_epochs, args.architecture, args.image_size, args.seed,
                          backbone_kwargs, args.source_greyscale)

    stem = f"finetune_curve{args.tag}"
    csv_path = out / f"{stem}.csv"
    done = pd.read_csv(csv_path) if csv_path.is_file() else pd.DataFrame(columns=["shift", "method", "labels", "seed"])
    done["seed"] = done["seed"].fillna(0).astype(int) if "seed" in done else 0
    finished = set(zip(done["shift"], done["method"], done["labels"].astype(int), done["seed"]))
    rows = done.to_dict("records")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    seed = seeds[0]

    def record(shift, method, n, seconds, **values):
        rows.append({"shift": shift, "method": method, "labels": n, "seed": seed, **values,
                     "seconds": round(seconds, 1)})
        pd.DataFrame(rows).to_csv(csv_path, index=False)
        print(json.dumps(rows[-1], default=str), flush=True)

    for shift in shifts:
        mix = SPARSE_TRAIN_MIX if shift == "sparse" else None
        pool = args.test + max(counts + [1000])  # fixed, so that every run of the script sees the same galaxies
        n_render = pool if mix is None else int(2.2 * pool)
        target = render_target(out, shift, n_render, seed=args.seed + 100)
        classes = sorted(target["label"].unique())
        index = {c: i for i, c in enumerate(classes)}
        if args.render_only:
            continue

        def run_finetune(name, n, subset, start, **options):
            if (shift, name, n, seed) in finished:
                return
            t0 = time.time()
            run_dir = out / "runs" / shift / (f"{name}_{n}" + (f"_seed{seed}" if seed else ""))
            fixed = {k: v for k, v in (("epochs", args.epochs), ("patience", args.patience)) if v is not None}
            result = finetune(start, run_dir, catalog=subset, image_size=args.image_size, seed=seed, overwrite=True,
                              progress=False, label_set=classes, **{**options, **fixed})
            metrics = result.metrics
            record(shift, name, n, time.time() - t0, **_row(metrics), epochs_run=metrics["epochs_run"],
                   best_epoch=metrics["best_epoch"], val_step_last5=val_step_last5(run_dir))
            for baseline, method in (("linear_probe", "probe"), ("majority_class", "majority")):
                if name in ("defaults", "before") and baseline in metrics.get("baselines", {}):
                    suffix = "" if name == "defaults" else "_before"
                    record(shift, method + suffix, n, 0.0, **_row(metrics["baselines"][baseline]))

        for n, seed in [(n, s) for n in counts for s in seeds]:
            subset = labelled_subset(target, n, args.test, args.seed, mix)
            if "pixels" in methods and seed == seeds[0] and (shift, "pixels", n, seed) not in finished:
                t0 = time.time()
                parts = {s: subset[subset["split"] == s] for s in ("train", "val", "test")}
                x = {s: pixels(p, args.image_size) / 255.0 for s, p in parts.items()}
                y = {s: p["label"].map(index).to_numpy() for s, p in parts.items()}
                predicted, strength = ridge_on_pixels(x["train"], y["train"], x["val"], y["val"], x["test"], len(classes))
                from zoobot_tf.evaluation.classification import classifier_metrics

                record(shift, "pixels", n, time.time() - t0,
                       **_row(classifier_metrics(y["test"], np.eye(len(classes))[predicted], classes)),
                       ridge_strength=strength)
            if "defaults" in methods:
                run_finetune("defaults", n, subset, source)
            if "before" in methods:
                run_finetune("before", n, subset, source, **before_options())
            if "plain" in methods and (shift, "plain", n, seed) not in finished:
                t0 = time.time()
                metrics = plain_loop(source, subset, classes, args.image_size, seed)
                record(shift, "plain", n, time.time() - t0, **_row(metrics), epochs_run=8)
            if "scratch" in methods:
                keras.utils.set_random_seed(seed)
                fresh = keras.models.clone_model(load_source_model(source)[0])  # same architecture, new weights
                run_finetune("scratch", n, subset, fresh, lr_decay=1.0)
            if n in variant_counts:
                for name in chosen:
                    base = {} if name.startswith("defaults+") else before_options()
                    run_finetune(name, n, subset, source, **{**base, **variants[name]})

    table = pd.DataFrame(rows)
    if table.empty:
        print(f"nothing fine-tuned yet (--render-only): source {source}, surveys in {out}")
        return 0
    report = _report(table, args, argv, out)
    (out / "table.txt").write_text(report)
    print("\n" + report)
    _plot(table, out / f"{stem}.png")
    print(f"table: {csv_path}; plot: {out / f'{stem}.png'}")
    return 0


def _report(table, args, argv, out) -> str:
    command = "python benchmarks/finetune_curve.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# {command}", f"# commit {commit()}; {date.today().isoformat()}", f"# machine: {machine()}",
             f"# test set: {args.test} galaxies per shift; epochs {args.epochs or 'as each method'}, patience "
             f"{args.patience or 'as each method'}; input {args.image_size} px from 64 px PNGs", ""]
    for shift, part in table.groupby("shift", sort=False):
        order = list(dict.fromkeys(part["method"]))
        lines.append(f"## {shift}: test accuracy [95% bootstrap interval] (or mean sd over training seeds) / balanced "
                     "accuracy / largest epoch-to-epoch change of validation accuracy over the last 5 epochs (points)")
        cells = {}
        for (method, n), group in part.groupby(["method", "labels"], sort=False):
            steps = group["val_step_last5"].dropna() if "val_step_last5" in group else ()
            step = "" if not len(steps) else f" / {steps.max():g}"
            if len(group) == 1:
                row = group.iloc[0]
                cells[(method, int(n))] = (f"{row.test_accuracy:.3f} [{row.accuracy_low:.3f},{row.accuracy_high:.3f}] / "
                                           f"{row.balanced_accuracy:.3f}{step}")
            else:  # several training seeds: mean, standard deviation, seeds
                cells[(method, int(n))] = (f"{group.test_accuracy.mean():.3f} sd {group.test_accuracy.std():.3f} "
                                           f"(n={len(group)}) / {group.balanced_accuracy.mean():.3f}{step}")
        counts = sorted({n for _, n in cells})
        grid = pd.DataFrame([[cells.get((m, n), "") for n in counts] for m in order], index=order,
                            columns=[f"{n} labels" for n in counts])
        lines.append(grid.to_string())
        lines.append("")
    return "\n".join(lines) + "\n"


def _plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shifts = list(dict.fromkeys(table["shift"]))
    fig, axes = plt.subplots(1, len(shifts), figsize=(5 * len(shifts), 3.6), squeeze=False)
    for ax, shift in zip(axes[0], shifts):
        part = table[(table["shift"] == shift) & ~table["method"].str.contains(r"\+")]
        for method, group in part.groupby("method"):
            group = group.groupby("labels", as_index=False)["test_accuracy"].mean()
            ax.plot(group["labels"], group["test_accuracy"], marker="o", label=method,
                    linestyle=":" if method in ("majority", "pixels") else "-")
        ax.set_xscale("log")
        ax.set_xlabel("labels (train + val)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"fine-tuning across a shift: {shift}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
