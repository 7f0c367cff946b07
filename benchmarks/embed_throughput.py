"""Embedding and search throughput: ``embed`` beside ``predict`` on the same catalog, and faiss
search on 10^6 random vectors beside a brute-force numpy baseline, in one run.

1. ``embed`` (encoder features, ``--tta`` views averaged) and ``predict`` (fast path: encoder
   once + ``--n-samples`` MC-dropout heads) over the same PNG catalog (rendered like
   ``benchmarks/predict_throughput.py``), alternating over ``--rounds`` slices so that a change
   of machine load hits both alike; galaxies/s in wall-clock and per CPU-second of this process.
2. ``--vectors`` random ``--dim``-dimensional vectors (PCA features): queries/s of
   :class:`zoobot_tf.discovery.FeatureIndex` (exact flat, IVF, HNSW) against
   normalised-matrix-product + argpartition in numpy, with their recall@k against exact
   (random Gaussian vectors have no clusters: the hardest case for IVF)::

    python benchmarks/embed_throughput.py --n 200 --size 128 --vectors 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def timed(function, *args, **kwargs) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def embed_vs_predict(args) -> None:
    import keras
    import numpy as np

    from predict_throughput import make_catalog
    from zoobot_tf.models import get_model
    from zoobot_tf.predictions import embed, predict

    keras.utils.set_random_seed(0)
    model = get_model("decals_dr5", (args.size, args.size, 3), architecture=args.architecture)
    jobs = {
        f"predict ({args.n_samples} samples)": lambda cat, out: predict(
            cat, model, save_loc=out, n_samples=args.n_samples, batch_size=args.batch_size, schema="decals_dr5",
            progress=False),
        f"embed (tta={args.tta})": lambda cat, out: embed(
            cat, model, save_loc=out, tta=args.tta, batch_size=args.batch_size, progress=False),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"rendering {args.n} {args.image_size}px PNGs ...", flush=True)
        catalog = make_catalog(tmp, args.n, args.unique, args.image_size)
        for path in catalog["file_loc"]:
            Path(path).read_bytes()
        for name, job in jobs.items():  # trace once, untimed
            job(catalog.iloc[: args.batch_size], tmp / f"warm_{len(name)}.hdf5")
        wall, cpu = dict.fromkeys(jobs, 0.0), dict.fromkeys(jobs, 0.0)
        slices = np.array_split(np.arange(args.n), max(1, args.rounds))
        for k, rows in enumerate(slices):
            for name in (list(jobs) if k % 2 == 0 else list(jobs)[::-1]):
                w, c = timed(jobs[name], catalog.iloc[rows], tmp / f"round{k}_{len(name)}.hdf5")
                wall[name] += w
                cpu[name] += c
    print(f"\n{args.architecture} {args.size}px, batch {args.batch_size}, {args.n} galaxies from "
          f"{args.image_size}px PNGs, {len(slices)} alternating rounds, {os.cpu_count()} CPU(s)")
    print(f"{'':24}{'galaxies/s':>12}{'galaxies/CPU-s':>16}")
    for name in jobs:
        print(f"  {name:22}{args.n / wall[name]:12.1f}{args.n / cpu[name]:16.1f}")
    first, second = list(jobs)
    print(f"  {'speed embed / predict':22}{wall[first] / wall[second]:11.2f}x{cpu[first] / cpu[second]:15.2f}x")


def brute_force(x_unit, queries, k, batch=64):
    """Exact cosine k-NN in numpy: matrix product + argpartition, ``batch`` queries at a time."""
    import numpy as np

    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    out = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), batch):
        sim = q[start : start + batch] @ x_unit.T
        top = np.argpartition(-sim, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, top, axis=1), axis=1)
        out[start : start + batch] = np.take_along_axis(top, order, axis=1)
    return out


def search(args) -> None:
    import numpy as np

    from zoobot_tf.discovery import FeatureIndex

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.vectors, args.dim)).astype(np.float32)
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    x_unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    k = args.k

    t = time.perf_counter()
    exact = brute_force(x_unit, queries, k)
    numpy_s = time.perf_counter() - t
    rows = {}
    for name, kind in (("faiss flat (exact)", "flat"), ("faiss IVF (default)", "ivf"), ("faiss HNSW", "hnsw")):
        if kind in args.skip_index:
            continue
        t = time.perf_counter()
        index = FeatureIndex(x, kind=kind)
        build = time.perf_counter() - t
        t = time.perf_counter()
        _, found = index.search(queries, k)
        seconds = time.perf_counter() - t
        recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact)])
        rows[name] = (build, args.queries / seconds, recall, index.index.ntotal)
        del index
    print(f"\nsearch: {args.vectors:.0e} random {args.dim}-d vectors, {args.queries} queries, k={k}, "
          f"{os.cpu_count()} CPU(s)")
    print(f"{'':24}{'build s':>9}{'queries/s':>12}{'x numpy':>9}{'recall@k':>10}")
    print(f"  {'numpy brute force':22}{0:9.1f}{args.queries / numpy_s:12.0f}{1:9.1f}{1:10.3f}")
    for name, (build, qps, recall, _) in rows.items():
        print(f"  {name:22}{build:9.1f}{qps:12.0f}{qps * numpy_s / args.queries:9.1f}{recall:10.3f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="galaxies per timed job (default 200)")
    parser.add_argument("--unique", type=int, default=40, help="distinct rendered galaxies (default 40)")
    parser.add_argument("--image-size", type=int, default=424, help="PNG side in pixels (default 424)")
    parser.add_argument("--size", type=int, default=224, help="model input side (default 224)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-samples", type=int, default=5, help="predict's MC samples (default 5)")
    parser.add_argument("--tta", type=int, default=1, help="embed's views (default 1)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--vectors", type=int, default=1_000_000, help="vectors in the search index (default 10^6)")
    parser.add_argument("--dim", type=int, default=16, help="dimension (PCA components, default 16)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--skip-embed", action="store_true", help="only the search part")
    parser.add_argument("--skip-index", nargs="*", default=[], choices=["flat", "ivf", "hnsw"],
                        help="index kinds not to time (HNSW builds slowly on few cores)")
    args = parser.parse_args(argv)
    if not args.skip_embed:
        embed_vs_predict(args)
    search(args)


if __name__ == "__main__":
    main()
