"""EfficientNet-B0 in keras.applications' layout (``efficientnet_b0``) against timm's
(``efficientnet_b0_timm``, the layout of zoobot's published encoder), side by side.

Speed: training steps of both models (``train``'s model, loss and optimizer; one random batch in
memory, :func:`train_throughput.measure`) timed in this process, alternating the two layouts for
``--rounds`` rounds so a change of load on a shared machine hits both; prints the median images/s
of each and the ratio timm / keras.applications. Quality: ``benchmarks/quality.py`` once per
layout on the same synthetic galaxies and settings (``--quality-args``), with the overall RMSE
against the true fractions and the ratio to the volunteer floor of each::

    python benchmarks/efficientnet_layouts.py --out benchmarks/results/efficientnet_layouts

Writes ``layouts.json`` under ``--out`` and prints the table; ``--no-quality`` skips the training.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LAYOUTS = ("efficientnet_b0", "efficientnet_b0_timm")
QUALITY_ARGS = "--sizes 1000 --epochs 10 --render-size 64 --image-size 64 --n-val 200 --n-test 300"


def speed(size, batch_size, steps, rounds):
    """{layout: [images/s per round]}, the layouts alternating within each round."""
    from train_throughput import measure

    from zoobot_tf.training.strategy import get_strategy

    strategy = get_strategy("default")
    rates = {layout: [] for layout in LAYOUTS}
    for _ in range(rounds):
        for layout in LAYOUTS:
            result = measure(size, batch_size, steps, 2, layout, strategy, mixed_precision=False)
            rates[layout].append(result["images_per_second"])
            print(f"  {layout:22s} {size} px: {result['images_per_second']:.1f} images/s", flush=True)
    return rates


def quality(layout, quality_args, out):
    """Run quality.py for ``layout``; its overall row of the largest training set."""
    folder = out / f"quality_{layout}"
    command = [sys.executable, str(Path(__file__).with_name("quality.py")), "--architecture", layout,
               "--out", str(folder), *quality_args.split()]
    print("  " + " ".join(command), flush=True)
    subprocess.run(command, check=True)
    result = json.loads((folder / "quality.json").read_text())
    largest = result["sizes"][-1]
    return {"n_train": largest["n_train"], "seconds": largest["seconds"], "best_epoch": largest["best_epoch"],
            **{k: largest["table"]["overall"][k] for k in ("rmse_truth", "ratio_to_floor", "rmse_volunteers")}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="image side of the speed test (default 128)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--quality-args", default=QUALITY_ARGS, help=f"quality.py options (default '{QUALITY_ARGS}')")
    parser.add_argument("--no-quality", action="store_true", help="speed only")
    parser.add_argument("--out", default="efficientnet_layouts")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rates = speed(args.size, args.batch_size, args.steps, args.rounds)
    summary = {"speed": {"size": args.size, "batch_size": args.batch_size, "steps": args.steps, "rounds": rates,
                         "median_images_per_second": {k: statistics.median(v) for k, v in rates.items()}}}
    medians = summary["speed"]["median_images_per_second"]
    print(f"median images/s: {medians}; timm / keras.applications: {medians[LAYOUTS[1]] / medians[LAYOUTS[0]]:.2f}x")
    if not args.no_quality:
        summary["quality_args"] = args.quality_args
        summary["quality"] = {layout: quality(layout, args.quality_args, out) for layout in LAYOUTS}
        for layout, row in summary["quality"].items():
            print(f"  {layout:22s} RMSE vs truth {row['rmse_truth']:.3f}, {row['ratio_to_floor']:.2f}x the floor, "
                  f"vs volunteers {row['rmse_volunteers']:.3f} ({row['seconds']} s, best epoch {row['best_epoch']})")
    (out / "layouts.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
