"""Interval coverage after demo-scale training, with and without test-time rotations/flips.

Trains the demo's model (:func:`zoobot_tf.demo.run_demo`: synthetic galaxies -> shards ->
EfficientNet-B0, Dirichlet head, MC dropout) unless ``--reuse`` points at a finished demo
folder, then predicts the held-out galaxies with ``--tta 1`` (MC dropout alone) and each
``--tta-views`` setting (the same MC samples for each rotation/flip) and reports, per setting,
how often the volunteer fraction (and the true fraction) falls inside the predicted 50% / 90%
intervals (:mod:`zoobot_tf.evaluation.calibration`), the same after one concentration scale
fitted on the validation split (:func:`~zoobot_tf.evaluation.calibration.fit_concentration_scale`), the RMSE of the expected fractions, and
the Spearman rank correlation between each galaxy's mutual information on the first question
(:func:`zoobot_tf.discovery.acquisition_scores`) and how close its true fraction is to 0.5::

    python benchmarks/interval_coverage.py --out /tmp/coverage            # demo scale (2000, 20 epochs)
    python benchmarks/interval_coverage.py --out /tmp/coverage --n 600 --epochs 8   # reduced
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="demo folder (trained here unless it holds run/model.keras)")
    parser.add_argument("--n", type=int, default=2000, help="synthetic galaxies (default 2000, the demo's)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20, the demo's)")
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--n-samples", type=int, default=5, help="MC-dropout samples per view (default 5)")
    parser.add_argument("--tta-views", type=int, nargs="+", default=[4, 8], help="TTA settings to compare (default 4 8)")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    from scipy import stats

    from zoobot_tf.demo import run_demo
    from zoobot_tf.discovery import acquisition_scores
    from zoobot_tf.evaluation import evaluate_files
    from zoobot_tf.shards import iter_records

    out = Path(args.out)
    start = time.perf_counter()
    if not (out / "run" / "model.keras").is_file():
        run_demo(out, n=args.n, epochs=args.epochs, architecture=args.architecture, progress=False)
    print(f"\nmodel ready after {time.perf_counter() - start:.0f} s")
    catalog = pd.read_csv(out / "synthetic" / "catalog.csv", dtype={"id_str": str})
    test_ids = [r["id_str"] for r in iter_records(out / "shards", "test")]
    test = catalog.set_index("id_str").loc[test_ids].reset_index()
    train_ids = [r["id_str"] for r in iter_records(out / "shards", "train")]
    train = catalog.set_index("id_str").loc[train_ids].reset_index()

    from zoobot_tf.evaluation.calibration import coverage, fit_concentration_scale
    from zoobot_tf.predictions import load_predictions, predict
    from zoobot_tf.schemas import get_schema

    schema = get_schema("decals_dr5")
    val_ids = [r["id_str"] for r in iter_records(out / "shards", "val")]
    val = catalog.set_index("id_str").loc[val_ids].reset_index()
    rows = []
    for tta in [1, *args.tta_views]:
        t = time.perf_counter()
        path = predict(test, out / "run", n_samples=args.n_samples, tta=tta,
                       save_loc=out / f"coverage_tta{tta}.hdf5", progress=False)
        seconds = time.perf_counter() - t
        result = evaluate_files(path, test, train_catalog=train, out_dir=out / f"coverage_tta{tta}")
        cal, table = result["calibration"].loc["overall"], result["table"].loc["overall"]
        scores = acquisition_scores(path).set_index("id_str")
        truth = test.set_index("id_str").loc[scores.index, "smooth-or-featured_smooth_true_fraction"]
        ambiguity = -np.abs(truth.to_numpy() - 0.5)
        rho_mi = stats.spearmanr(scores["smooth-or-featured_mutual_information"], ambiguity).statistic
        rho_h = stats.spearmanr(scores["smooth-or-featured_predictive_entropy"], ambiguity).statistic
        print(result["text"].split("interval coverage")[-1])
        # one concentration scale fitted on the validation split (temperature scaling)
        val_path = predict(val, out / "run", n_samples=args.n_samples, tta=tta,
                           save_loc=out / f"coverage_val_tta{tta}.hdf5", progress=False)
        v_ids, _, v_alpha = load_predictions(val_path)
        scale, _ = fit_concentration_scale(v_alpha, val.set_index("id_str").loc[v_ids, schema.label_cols], schema)
        t_ids, _, t_alpha = load_predictions(path)
        by_id = test.set_index("id_str").loc[t_ids]
        scaled = coverage(scale * t_alpha, by_id[schema.label_cols], schema,
                          true_fractions=by_id[[f"{c}_true_fraction" for c in schema.label_cols]].to_numpy())
        scaled = scaled.loc["overall"]
        rows.append({"tta": tta, "samples": args.n_samples * tta, "coverage_50": cal["coverage_50"],
                     "coverage_90": cal["coverage_90"], "truth_coverage_50": cal.get("truth_coverage_50"),
                     "truth_coverage_90": cal.get("truth_coverage_90"),
                     "rmse_volunteers": table["rmse_volunteers"], "rmse_truth": table.get("rmse_truth"),
                     "scale": scale, "scaled_coverage_50": scaled["coverage_50"],
                     "scaled_coverage_90": scaled["coverage_90"], "scaled_truth_coverage_90": scaled["truth_coverage_90"],
                     "spearman_mi": rho_mi, "spearman_entropy": rho_h, "predict_s": seconds})
    summary = pd.DataFrame(rows).set_index("tta")
    print(f"\n{len(test)} held-out galaxies; overall coverage (calibrated: 0.50 / 0.90), RMSE, and Spearman of "
          "smooth-or-featured mutual information / predictive entropy with -|true smooth fraction - 0.5|:")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    summary.to_csv(out / "coverage_summary.csv")


if __name__ == "__main__":
    main()
