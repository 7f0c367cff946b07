"""Does ``predict`` reproduce the metric each kind of run reports, on the same galaxies?

For every kind of run the package makes, this script runs it through the command line as a user
would, reads the held-out metric the run reports, then predicts the same galaxies with
``zoobot-tf predict`` (its defaults: the model file decides how images are prepared) once with
the run directory beside the model and once with the ``.keras`` file copied alone, and scores the
predictions here, with numpy, from the HDF5 file and the catalog:

* train (a decision tree, synthetic shards) -> validation vote-fraction RMSE;
* finetune from a catalog and from shards: classifier (accuracy), regressor (RMSE), tree
  (vote-fraction RMSE);
* train-classifier (class shards) -> test accuracy; the Kaggle model (``zoobot-tf train-kaggle``)
  -> test RMSE;
* the real Galaxy Zoo DECaLS sample of tests/data (6 galaxies): train + finetune of a tree.

Scoring does not use the package's ``evaluate`` so that code from before the image recipe (which
could not score classifiers) is measured the same way. Run it on any checkout::

    python benchmarks/recipe_consistency.py --out /tmp/consistency
    PYTHONPATH=/path/to/old/checkout python benchmarks/recipe_consistency.py --out /tmp/before

It writes ``results.json`` and ``output.txt`` (the table) with the command, commit and machine.
A run that reports no held-out metric shows ``-`` (before the image recipe, ``train`` reported none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

REGRESSION_TARGETS = ["axis_ratio", "bulge_radius_ratio"]


def zoobot(*args, cwd=None) -> str:
    """Run ``python -m zoobot_tf ARGS`` (the checkout on PYTHONPATH decides which code) and return stdout."""
    command = [sys.executable, "-m", "zoobot_tf", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def split_of(id_str: str) -> str:
    bucket = zlib.crc32(id_str.encode()) % 10
    return "train" if bucket < 6 else ("val" if bucket < 8 else "test")


def shard_ids(shard_dir, split) -> list[str]:
    from zoobot_tf.shards.reader import iter_records

    return [record["id_str"] for record in iter_records(shard_dir, split)]


def read_hdf5(path, outputs=None):
    """``(ids, label_cols, predictions)``; a file whose outputs are unnamed (``output_0``..., a bare
    model file saved before models carried their task) takes the run's ``outputs`` in order."""
    with h5py.File(path, "r") as f:
        n = int(f.attrs.get("n_written", len(f["id_str"])))
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in f["id_str"][:n]]
        cols = [c.decode() if isinstance(c, bytes) else str(c) for c in f["label_cols"][:]]
        if outputs is not None and cols == [f"output_{i}" for i in range(len(outputs))]:
            cols = list(outputs)
        return ids, cols, f["predictions"][:n]


def accuracy(path, table, classes, column="label") -> float:
    ids, classes, samples = read_hdf5(path, classes)
    predicted = np.asarray(classes)[samples.mean(axis=-1).argmax(axis=1)]
    return float(np.mean(predicted == table.loc[ids, column].astype(str).to_numpy()))


def rmse(path, table, columns) -> float:
    ids, label_cols, samples = read_hdf5(path, columns)
    truth = table.loc[ids, label_cols].to_numpy(dtype=np.float64)
    return float(np.sqrt(np.mean((samples.mean(axis=-1) - truth) ** 2)))


def vote_rmse(path, table, schema_name) -> float:
    """RMSE of the expected vote fractions (mean over samples) against the volunteers', pooled over
    every answer of every question with at least one vote."""
    from zoobot_tf.schemas import get_schema

    schema = get_schema(schema_name)
    ids, label_cols, samples = read_hdf5(path, schema.label_cols)
    alpha = samples[:, [label_cols.index(c) for c in schema.label_cols]].astype(np.float64)
    votes = table.loc[ids, schema.label_cols].to_numpy(dtype=np.float64)
    errors = []
    for start, end in schema.question_index_groups:
        a, v = alpha[:, start : end + 1], votes[:, start : end + 1]
        expected = (a / a.sum(axis=1, keepdims=True)).mean(axis=-1)
        total = v.sum(axis=1)
        asked = total > 0
        errors.append(((expected[asked] - v[asked] / total[asked, None]) ** 2).ravel())
    return float(np.sqrt(np.concatenate(errors).mean()))


def predicted(run_model: Path, table: pd.DataFrame, ids, out: Path, alone: bool) -> Path:
    """Predict ``ids`` with ``run_model`` (its run directory beside it, or copied alone)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    model = run_model
    if alone:
        lone = out.parent / f"{out.stem}_lone"
        lone.mkdir(parents=True, exist_ok=True)
        model = lone / "model.keras"
        shutil.copy(run_model, model)
    catalog = out.with_suffix(".csv")
    table.loc[list(ids)].reset_index().to_csv(catalog, index=False)
    zoobot("predict", "--catalog", catalog, "--model", model, "--out", out, "--n-samples", 5, "--no-progress")
    return out


def score(kind, metric_name, reported, run_model, table, ids, out_dir, scorer) -> dict:
    row = {"run": kind, "metric": metric_name, "n": len(ids), "reported": reported}
    for alone in (False, True):
        key = "predict_alone" if alone else "predict_with_run"
        try:
            path = predicted(run_model, table, ids, out_dir / f"{kind.replace(' ', '_')}_{key}.hdf5", alone)
            row[key] = scorer(path)
        except RuntimeError as err:  # e.g. a bare file that cannot be predicted: say so
            row[key] = None
            row[f"{key}_error"] = str(err).strip().splitlines()[-1][:300]
    print(json.dumps(row), flush=True)
    return row


def metrics_of(path, key):
    path = Path(path)
    if not path.is_file():
        return None, None
    data = json.loads(path.read_text())
    return data.get(key), data.get("split")


def synthetic_runs(args, work: Path) -> list[dict]:
    from zoobot_tf.schemas import get_label_set, get_schema

    rows = []
    zoobot("synthetic", "--n", args.n, "--size", args.size, "--out", work / "synthetic", "--seed", args.seed,
           "--no-progress")
    table = pd.read_csv(work / "synthetic" / "catalog.csv", dtype={"id_str": str})
    table = table.assign(split=[split_of(i) for i in table["id_str"]])
    table.to_csv(work / "labelled.csv", index=False)
    table = table.set_index("id_str")
    common = ["--epochs", args.epochs, "--batch-size", 32, "--no-progress"]

    # 1. train on a decision tree (the source model of the fine-tunes)
    zoobot("make-shards", "--catalog", work / "labelled.csv", "--schema", "decals_dr5", "--out", work / "tree_shards",
           "--size", args.size, "--no-progress")
    zoobot("train", "--shards", work / "tree_shards", "--out", work / "train", "--architecture", "small_cnn",
           "--image-size", args.image_size, *common)
    reported, _ = metrics_of(work / "train" / "metrics.json", "vote_fraction_rmse")
    val = shard_ids(work / "tree_shards", "val")
    rows.append(score("train tree", "val vote-fraction RMSE", reported, work / "train" / "model.keras", table, val,
                      work / "preds", lambda p: vote_rmse(p, table, "decals_dr5")))

    # 2. fine-tunes from the catalog (its split column) and from shards
    zoobot("make-shards", "--catalog", work / "labelled.csv", "--schema", "hubble_sequence", "--out",
           work / "class_shards", "--size", args.size, "--no-progress")
    classes = sorted(table["label"].astype(str).unique())
    heads = {
        "classifier": (["--head", "classifier"], "accuracy", lambda p: accuracy(p, table, classes)),
        "regressor": (["--head", "regressor", "--label-cols", ",".join(REGRESSION_TARGETS)], "rmse",
                      lambda p: rmse(p, table, REGRESSION_TARGETS)),
        "tree": (["--head", "decals_dr5"], "vote_fraction_rmse", lambda p: vote_rmse(p, table, "decals_dr5")),
    }
    for source in ("catalog", "shards"):
        for head, (options, key, scorer) in heads.items():
            if source == "catalog":
                data = ["--catalog", work / "labelled.csv"]
            elif head == "classifier":
                data = ["--shards", work / "class_shards"]
            else:
                data = ["--shards", work / "tree_shards"]
            if source == "shards" and head == "classifier":  # class shards keep the label set's order
                scorer = lambda p: accuracy(p, table, list(get_label_set("hubble_sequence").classes))  # noqa: E731
            if source == "shards" and head == "regressor":
                options = ["--head", "regressor", "--label-cols", "smooth-or-featured_smooth"]
                scorer = lambda p: rmse(p, table, ["smooth-or-featured_smooth"])  # noqa: E731 - vote counts
            out = work / f"finetune_{head}_{source}"
            zoobot("finetune", "--model", work / "train", *data, *options, "--image-size", args.image_size,
                   "--out", out, *common)
            reported, split = metrics_of(out / "metrics.json", key)
            ids = (shard_ids(data[1], split) if source == "shards"
                   else table.index[table["split"] == split].tolist())
            rows.append(score(f"finetune {head} from {source}", f"{split} {key}", reported, out / "model.keras",
                              table, ids, work / "preds", scorer))

    # 3. train-classifier on class shards
    zoobot("train-classifier", "--shards", work / "class_shards", "--out", work / "classifier", "--architecture",
           "small_cnn", "--image-size", args.image_size, "--epochs", args.epochs, "--batch-size", 32, "--no-progress")
    reported, split = metrics_of(work / "classifier" / "evaluation" / "metrics.json", "accuracy")
    rows.append(score("train-classifier", "test accuracy", reported, work / "classifier" / "model.keras", table,
                      shard_ids(work / "class_shards", "test"), work / "preds",
                      lambda p: accuracy(p, table, list(get_label_set("hubble_sequence").classes))))

    # 4. the Kaggle model (its script makes synthetic GZ2-vote galaxies into Kaggle targets)
    options = ["--out", work / "kaggle", "--n-synthetic", args.n, "--size", args.size, "--architecture", "small_cnn",
               "--epochs", args.epochs, "--batch-size", 32, "--no-progress"]
    script = Path(__import__("zoobot_tf").__file__).resolve().parents[1] / "scripts" / "train_gz_kaggle.py"
    if script.is_file():  # code from before the train-kaggle verb
        subprocess.run([sys.executable, str(script), *map(str, options), "--workers", "1"], check=True,
                       capture_output=True)
    else:
        zoobot("train-kaggle", *options)
    kaggle = pd.read_csv(work / "kaggle" / "synthetic" / "kaggle_catalog.csv", dtype={"id_str": str}).set_index("id_str")
    reported, _ = metrics_of(work / "kaggle" / "run" / "evaluation" / "metrics.json", "rmse")
    classes = get_schema("gz_kaggle37").label_cols
    rows.append(score("kaggle", "test RMSE", reported, work / "kaggle" / "run" / "model.keras", kaggle,
                      shard_ids(work / "kaggle" / "shards", "test"), work / "preds",
                      lambda p: rmse(p, kaggle, classes)))
    return rows


def real_runs(args, work: Path) -> list[dict]:
    """The 6 real GZ DECaLS galaxies of tests/data: a tree trained and fine-tuned (a consistency check)."""
    repo = Path(__file__).resolve().parents[1]
    decals = repo / "tests" / "data" / "galaxy_zoo" / "decals"
    zoobot("make-catalog", "--format", "decals", "--table", decals / "gz_decals_volunteers_5.csv", "--images", decals,
           "--out", work / "decals_catalog.csv", "--no-progress")
    table = pd.read_csv(work / "decals_catalog.csv", dtype={"id_str": str})
    table["split"] = ["train", "train", "train", "val", "val", "test"][: len(table)]
    table.to_csv(work / "decals_labelled.csv", index=False)
    table = table.set_index("id_str")
    zoobot("make-shards", "--catalog", work / "decals_labelled.csv", "--schema", "decals_dr5", "--out",
           work / "decals_shards", "--size", args.size, "--no-progress")
    common = ["--epochs", 2, "--batch-size", 2, "--no-progress"]
    zoobot("train", "--shards", work / "decals_shards", "--out", work / "decals_train", "--architecture", "small_cnn",
           "--image-size", args.image_size, *common)
    reported, _ = metrics_of(work / "decals_train" / "metrics.json", "vote_fraction_rmse")
    rows = [score("real DECaLS: train tree", "val vote-fraction RMSE", reported, work / "decals_train" / "model.keras",
                  table, shard_ids(work / "decals_shards", "val"), work / "preds",
                  lambda p: vote_rmse(p, table, "decals_dr5"))]
    out = work / "decals_finetune"
    zoobot("finetune", "--model", work / "decals_train", "--catalog", work / "decals_labelled.csv", "--head",
           "decals_dr5", "--image-size", args.image_size, "--out", out, *common)
    reported, split = metrics_of(out / "metrics.json", "vote_fraction_rmse")
    rows.append(score("real DECaLS: finetune tree from catalog", f"{split} vote-fraction RMSE", reported,
                      out / "model.keras", table, table.index[table["split"] == split].tolist(), work / "preds",
                      lambda p: vote_rmse(p, table, "decals_dr5")))
    return rows


def fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=500, help="synthetic galaxies (default 500)")
    parser.add_argument("--size", type=int, default=64, help="stored side (default 64)")
    parser.add_argument("--image-size", type=int, default=48, help="model input side (default 48)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    rows = synthetic_runs(args, work) + real_runs(args, work)
    import zoobot_tf

    code = Path(zoobot_tf.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "code": str(code), "commit": commit, "zoobot_tf": zoobot_tf.__version__,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "wall_s": round(time.time() - start, 1), "rows": rows,
    }
    (work / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"{'run':42s} {'metric':32s} {'n':>4s} {'reported':>9s} {'predict':>9s} {'.keras alone':>13s}"]
    for row in rows:
        lines.append(f"{row['run']:42s} {row['metric']:32s} {row['n']:4d} {fmt(row['reported']):>9s} "
                     f"{fmt(row['predict_with_run']):>9s} {fmt(row['predict_alone']):>13s}")
    errors = [f"{r['run']}: {r[k]}" for r in rows for k in ("predict_with_run_error", "predict_alone_error") if k in r]
    text = "\n".join([f"commit {commit} ({code}); {record['command']}; {record['wall_s']} s", *lines, *errors])
    (work / "output.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
