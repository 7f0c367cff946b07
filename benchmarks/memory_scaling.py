"""Peak memory against catalog size: each job at a small and a large N, each in a fresh process.

Survey-scale jobs must not hold the whole survey in memory. For each job below, the script runs
it at a small and a large number of galaxies, each case in its own subprocess (so the peaks do
not mix and TensorFlow's own memory counts in both), reads that process's peak RSS
(``resource.getrusage``) and prints the table with the ratio large/small (goal: <= 1.5):

* ``predict``: ids re-using a few thousand 64 px PNGs, a small CNN at 32 px, 5 MC samples, HDF5;
* ``summarise``: a predictions file of decals_dr5 concentrations (5 samples), streamed to parquet;
* ``make-shards plan``: read, check, split, hash and plan a catalog of decals_dr5 votes
  (everything ``make-shards`` does before it reads the first image).

::

    python benchmarks/memory_scaling.py                    # 10^4 vs 10^5 / 10^6 rows (minutes)
    python benchmarks/memory_scaling.py --scale 0.1        # everything 10x smaller
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

N_IMAGES = 2000  # distinct images the predict catalog re-uses
N_SAMPLES = 5


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# --- inputs (built once, in the parent, outside the measured processes) ------------------------
def _images(directory: Path) -> list[str]:
    import numpy as np
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N_IMAGES):
        path = directory / f"img_{i:05d}.png"
        if not path.exists():
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _predict_catalog(work: Path, n: int) -> Path:
    import pandas as pd

    paths = _images(work / "images")
    path = work / f"predict_{n}.parquet"
    pd.DataFrame({"id_str": [f"gal_{i:09d}" for i in range(n)],
                  "file_loc": [paths[i % len(paths)] for i in range(n)]}).to_parquet(path)
    return path


def _model(work: Path) -> Path:
    path = work / "model.keras"
    if not path.exists():
        import keras

        from zoobot_tf.models import get_model
        from zoobot_tf.schemas import get_schema

        keras.utils.set_random_seed(0)
        get_model(get_schema("decals_dr5"), (32, 32, 3), architecture="small_cnn").save(path)
    return path


def _predictions_file(work: Path, n: int) -> Path:
    import numpy as np

    from zoobot_tf.predictions import PredictionWriter
    from zoobot_tf.schemas import get_schema

    schema = get_schema("decals_dr5")
    path = work / f"preds_{n}.hdf5"
    rng = np.random.default_rng(0)
    with PredictionWriter(path, schema.label_cols, N_SAMPLES, attrs={"schema": "decals_dr5"}) as writer:
        for start in range(0, n, 65536):
            rows = min(65536, n - start)
            ids = [f"gal_{i:09d}" for i in range(start, start + rows)]
            writer.add(ids, rng.uniform(1, 60, (rows, schema.n_answers, N_SAMPLES)).astype("float32"))
        writer.finish()
    return path


def _shards_catalog(work: Path, n: int) -> Path:
    import numpy as np
    import pandas as pd

    from zoobot_tf.schemas import get_schema

    cols = get_schema("decals_dr5").label_cols
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 40, (n, len(cols))).astype("float32")
    frame = pd.DataFrame(votes, columns=cols)
    frame.insert(0, "file_loc", [f"/survey/images/J{i % 1000:03d}/gal_{i:09d}.png" for i in range(n)])
    frame.insert(0, "id_str", [f"gal_{i:09d}" for i in range(n)])
    path = work / f"shards_{n}.parquet"
    frame.to_parquet(path)
    return path


# --- the measured jobs (run in a child process) --------------------------------------------------
def _run_predict(work: Path, n: int) -> dict:
    from zoobot_tf.predictions import predict

    out = work / f"out_predict_{n}.hdf5"
    out.unlink(missing_ok=True)
    predict(work / f"predict_{n}.parquet", work / "model.keras", n_samples=N_SAMPLES, save_loc=out,
            batch_size=256, schema="decals_dr5", progress=False)
    return {"output_mib": out.stat().st_size / 2**20}


def _run_summarise(work: Path, n: int) -> dict:
    from zoobot_tf.predictions import write_summary

    path = write_summary(work / f"preds_{n}.hdf5", work / f"summary_{n}", n_draws=8)
    return {"output_mib": path.stat().st_size / 2**20}


def _run_plan(work: Path, n: int) -> dict:
    from zoobot_tf.shards.writer import plan_shards

    shards, _ = plan_shards(work / f"shards_{n}.parquet", schema="decals_dr5", shard_size=256)
    return {"shards": len(shards)}


JOBS = {"predict": _run_predict, "summarise": _run_summarise, "make-shards plan": _run_plan}


def _child(job: str, work: str, n: int) -> None:
    import tensorflow  # noqa: F401 - every real job imports it; count it in both cases alike

    start = time.perf_counter()
    info = JOBS[job](Path(work), n)
    print(json.dumps({"peak_rss_mib": _peak_rss_mib(), "seconds": time.perf_counter() - start, **info}))


def _measure(job: str, work: Path, n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                          os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, __file__, "--child", job, str(work), str(n)],
                            capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{job} at n={n} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every N by this (e.g. 0.1 to try it)")
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return 0

    sizes = {"predict": (10**4, 10**5), "summarise": (10**4, 10**6), "make-shards plan": (10**4, 10**6)}
    builders = {"predict": _predict_catalog, "summarise": _predictions_file, "make-shards plan": _shards_catalog}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"{'job':<18}{'N small':>10}{'peak MiB':>10}{'s':>8}{'N large':>10}{'peak MiB':>10}{'s':>8}"
              f"{'ratio':>8}")
        for job in args.jobs:
            small, large = (max(100, int(n * args.scale)) for n in sizes[job])
            if job == "predict":
                _model(work)
            figures = []
            for n in (small, large):
                builders[job](work, n)
                figures.append(_measure(job, work, n))
            ratio = figures[1]["peak_rss_mib"] / figures[0]["peak_rss_mib"]
            print(f"{job:<18}{small:>10}{figures[0]['peak_rss_mib']:>10.0f}{figures[0]['seconds']:>8.1f}"
                  f"{large:>10}{figures[1]['peak_rss_mib']:>10.0f}{figures[1]['seconds']:>8.1f}{ratio:>8.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
