"""Prediction throughput: n full MC-dropout passes vs the encoder-once fast path, end to end.

Both runs call :func:`zoobot_tf.predictions.predict` on the same catalog of 424x424 PNGs (GZ
DECaLS cut-out size) with EfficientNet-B0 and ``n_samples`` MC samples, so the figures include
reading, decoding and resizing the images and writing the HDF5 file:

* full passes: the whole model ``n_samples`` times per batch (``fast_path=False``)
* fast path:   the encoder once per batch, the MC-dropout head ``n_samples`` times on its features

* zoobot re-enacted: zoobot's predict path re-enacted in this repository (``benchmarks/zoobot_baseline.py``,
  not zoobot itself): PIL decode and
  resize per image in ``--workers`` processes, the whole model ``n_samples`` times per batch,
  HDF5 written at the end; the ratio fast path / zoobot is the end-to-end speed-up over the peer

Synthetic galaxies (:func:`zoobot_tf.synthetic.make_synthetic_dataset`) are rendered into a
temporary directory (``--unique`` distinct images, copied to ``--n`` files), so the script needs
no data. Each mode is traced once on a small warm-up catalog first, so tracing is not timed,
and the timed runs alternate between the modes over ``--rounds`` slices of the catalog.
Prints galaxies/s of both and the ratio, measured in the same process, in wall-clock time and
per CPU-second of this process (the latter hardly moves when other jobs share the machine)::

    python benchmarks/predict_throughput.py --n 300 --size 224 --batch-size 32 --n-samples 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_catalog(directory: Path, n: int, unique: int, image_size: int):
    """``n`` PNG files (``unique`` distinct synthetic galaxies, repeated) and their catalog."""
    import pandas as pd

    from zoobot_tf.synthetic import make_synthetic_dataset

    unique = max(1, min(int(unique), int(n)))
    source = make_synthetic_dataset(directory / "render", n=unique, size=image_size, progress=False)
    rows = []
    for i in range(int(n)):
        path = directory / f"gal_{i:05d}.png"
        shutil.copyfile(source["file_loc"].iloc[i % unique], path)
        rows.append({"id_str": f"gal_{i:05d}", "file_loc": str(path)})
    return pd.DataFrame(rows)


def timed_predict(catalog, model, out: Path, **kwargs) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of this process) of one ``predict`` call."""
    from zoobot_tf.predictions import predict

    wall, cpu = time.perf_counter(), time.process_time()
    predict(catalog, model, save_loc=out, progress=False, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="galaxies per timed run (default 300)")
    parser.add_argument("--unique", type=int, default=40, help="distinct rendered galaxies (default 40)")
    parser.add_argument("--image-size", type=int, default=424, help="PNG side in pixels (default 424)")
    parser.add_argument("--size", type=int, default=224, help="model input side (default 224)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    parser.add_argument("--n-samples", type=int, default=5, help="MC samples per galaxy (default 5)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating full/fast rounds (default 4)")
    parser.add_argument("--architecture", default="efficientnet_b0", help="backbone (default efficientnet_b0)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="zoobot baseline's DataLoader worker processes (default: CPU count)")
    parser.add_argument("--zoobot-batch-size", type=int, default=None,
                        help="zoobot baseline's batch (default: --batch-size)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import zoobot_baseline

    import keras
    import numpy as np

    from zoobot_tf.models import get_model

    keras.utils.set_random_seed(0)
    model = get_model("decals_dr5", (args.size, args.size, 3), architecture=args.architecture)
    # a fresh model carries no image recipe: the PNGs as stored, resized whole (as the zoobot baseline does)
    common = dict(n_samples=args.n_samples, batch_size=args.batch_size, schema="decals_dr5",
                  stored_size=args.image_size, eval_crop=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"rendering {args.n} {args.image_size}px PNGs ...", flush=True)
        catalog = make_catalog(tmp, args.n, args.unique, args.image_size)
        for path in catalog["file_loc"]:  # warm the page cache for both runs alike
            Path(path).read_bytes()
        zoobot_batch = args.zoobot_batch_size or args.batch_size

        def run(mode, rows, out):
            if mode == "zoobot":
                return zoobot_baseline.predict_seconds(catalog["file_loc"].iloc[rows].tolist(), model,
                                                       args.n_samples, zoobot_batch, out, workers=args.workers)
            return timed_predict(catalog.iloc[rows], model, out, fast_path=mode == "fast", **common)

        modes = ("full", "fast", "zoobot")
        for mode in modes:
            run(mode, np.arange(min(args.batch_size, args.n)), tmp / f"warm_{mode}.hdf5")

        # alternate the modes over slices of the catalog so that a change in machine load (a
        # shared CI box) hits all alike; each slice is a fresh end-to-end call
        wall, cpu = dict.fromkeys(modes, 0.0), dict.fromkeys(modes, 0.0)
        slices = np.array_split(np.arange(args.n), max(1, args.rounds))
        for k, rows in enumerate(slices):
            for mode in (modes if k % 2 == 0 else modes[::-1]):
                w, c = run(mode, rows, tmp / f"round{k}_{mode}.hdf5")
                wall[mode] += w
                cpu[mode] += c

    print(f"{args.architecture} {args.size}px, n_samples={args.n_samples}, batch {args.batch_size}, "
          f"{args.n} galaxies from {args.image_size}px PNGs in {len(slices)} alternating rounds, "
          f"{os.cpu_count()} CPU(s)")
    print(f"{'':26}{'galaxies/s':>12}{'galaxies/CPU-s':>16}")
    names = {"zoobot": f"zoobot re-enacted ({args.n_samples})", "full": f"{args.n_samples} full passes",
             "fast": "fast path"}
    for mode in ("zoobot", "full", "fast"):
        print(f"  {names[mode]:24}{args.n / wall[mode]:12.1f}{args.n / cpu[mode]:16.1f}")
    for a, b in (("full", "fast"), ("zoobot", "full"), ("zoobot", "fast")):
        label = f"{b} / {a}".replace("zoobot", "zoobot re-enacted")
        print(f"  {'ratio ' + label:24}{wall[a] / wall[b]:11.2f}x{cpu[a] / cpu[b]:15.2f}x")
    # galaxies per CPU-second is what a machine of your own would see per core; wall-clock
    # figures on a shared machine also depend on what else runs there


if __name__ == "__main__":
    main()
