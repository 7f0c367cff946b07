"""Training-input throughput: TFRecord shards vs decoding PNGs from disk every step.

Both pipelines read the same galaxies, shuffle, batch, apply the *same* augmentation
(:func:`zoobot_tf.data.augment.augment_images`: rotation with reflect fill, flips, random crop,
resize) and prefetch; the only difference is where the pixels come from:

* shards:   ``get_dataset`` -> TFRecord -> ``decode_raw`` (no codec)
* PNG:      ``tf.io.read_file`` + ``tf.io.decode_png`` on every step
* zoobot's loader re-enacted in this repository (``benchmarks/zoobot_baseline.py``, not zoobot
  itself): PIL decode, rotate, flips and random resized crop per image in ``--zoobot-workers``
  Python processes

``--stored-size`` takes several sides: shards are written at each and timed in the same run (the
default stores at the rendered 424 px and at 259 px, the side whose 0.78 evaluation crop is 224,
which ``write_shards`` now uses by default). Run it under ``taskset -c 0`` for what one core
delivers; the printout compares it with a GPU's appetite (``--gpu-images-per-second``, 2000 for an
H100 EfficientNet-B0 training step until measured).

Synthetic 424x424 RGB galaxies (exponential discs + bulges + noise, like GZ DECaLS cut-outs) are
rendered into a temporary directory, so the script needs no data. Prints images/s of both and
their ratio (measured in the same process, so the ratio is what to compare across machines)::

    taskset -c 0 python benchmarks/pipeline_throughput.py --n 500 --size 224 --batch-size 32
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402


def render_galaxies(directory: Path, n: int, image_size: int, seed: int = 0) -> pd.DataFrame:
    """Write ``n`` noisy synthetic galaxy PNGs; return a decals_dr5 catalog with random votes."""
    from zoobot_tf.schemas import get_schema

    rng = np.random.default_rng(seed)
    cols = get_schema("decals_dr5").label_cols
    yy, xx = np.mgrid[:image_size, :image_size].astype(np.float32) - (image_size - 1) / 2
    rows = []
    for i in range(n):
        angle, axis_ratio = rng.uniform(0, np.pi), rng.uniform(0.3, 1.0)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = (-xx * np.sin(angle) + yy * np.cos(angle)) / axis_ratio
        radius = np.hypot(u, v)
        scale = rng.uniform(10, 40)
        disc = np.exp(-radius / scale)
        bulge = rng.uniform(0, 1) * np.exp(-((radius / (0.2 * scale)) ** 0.5))
        colour = rng.uniform(0.6, 1.0, 3)
        noise = rng.standard_normal((image_size, image_size, 3), dtype=np.float32) * 6 + 8
        image = (disc[..., None] * colour.astype(np.float32) + bulge[..., None]) * 180 + noise
        path = directory / f"gal_{i:05d}.png"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
        rows.append({"id_str": f"gal_{i:05d}", "file_loc": str(path), **dict(zip(cols, rng.integers(0, 20, len(cols))))})
    return pd.DataFrame(rows)


def png_dataset(paths: list[str], labels: np.ndarray, batch_size: int, output_size: int, seed: int):
    """The baseline: decode PNGs from disk on every step, then the same augmentation."""
    import tensorflow as tf

    from zoobot_tf.data import augment as aug

    def load(path, label):
        return tf.io.decode_png(tf.io.read_file(path), channels=3), label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels)).shuffle(len(paths), seed=seed).repeat()
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    seeds = tf.data.Dataset.random(seed=seed).batch(2)

    def augment(batch, batch_seed):
        images, label = batch
        return aug.augment_images(aug.to_float32(images), batch_seed, output_size=output_size), label

    return tf.data.Dataset.zip(ds, seeds).map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def images_per_second(dataset, batch_size: int, n_images: int, warmup_batches: int = 3) -> float:
    """Iterate ``n_images`` after ``warmup_batches`` (which fill prefetch buffers and tracing)."""
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator)[0].numpy()
    n_batches = max(1, n_images // batch_size)
    start = time.perf_counter()
    for _ in range(n_batches):
        next(iterator)[0].numpy()
    return n_batches * batch_size / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="galaxies to render (default 500)")
    parser.add_argument("--size", type=int, default=224, help="network input size after augmentation (default 224)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--image-size", type=int, default=424, help="rendered PNG side (default 424, as GZ)")
    parser.add_argument("--stored-size", type=int, nargs="+", default=None,
                        help="shard image sides, each timed (default: --image-size and 259)")
    parser.add_argument("--gpu-images-per-second", type=float, default=2000.0,
                        help="what the GPU consumes, to compare with (default 2000: H100 planning figure)")
    parser.add_argument("--epochs", type=float, default=2.0, help="epochs of images to time per pipeline (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating timing rounds, best kept (default 2)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="shard-writing processes")
    parser.add_argument("--dir", default=None, help="work directory (default: a temporary one, deleted)")
    parser.add_argument("--zoobot-workers", type=int, default=os.cpu_count() or 1,
                        help="zoobot baseline's DataLoader worker processes (default: CPU count)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import zoobot_baseline

    import tensorflow as tf

    from zoobot_tf.data import get_dataset
    from zoobot_tf.schemas import get_schema
    from zoobot_tf.shards import write_shards

    stored_sizes = args.stored_size or [args.image_size, 259]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        (root / "png").mkdir()
        start = time.perf_counter()
        catalog = render_galaxies(root / "png", args.n, args.image_size)
        render_s = time.perf_counter() - start
        png_mb = sum(p.stat().st_size for p in (root / "png").glob("*.png")) / 1e6
        shards, setup = {}, []
        for stored in stored_sizes:
            start = time.perf_counter()
            write_shards(catalog, root / f"shards{stored}", schema="decals_dr5", size=stored, val_fraction=0.0,
                         test_fraction=0.0, workers=args.workers, progress=False)
            shard_mb = sum(p.stat().st_size for p in (root / f"shards{stored}").glob("*/*.tfrecord")) / 1e6
            setup.append(f"shards at {stored}px {time.perf_counter() - start:.1f} s, {shard_mb:.0f} MB")
            shards[stored] = get_dataset(root / f"shards{stored}", "train", args.batch_size, output_size=args.size,
                                         repeat=True, seed=0)

        n_images = int(args.epochs * args.n)
        labels = catalog[get_schema("decals_dr5").label_cols].to_numpy(np.float32)
        pngs = png_dataset(catalog["file_loc"].tolist(), labels, args.batch_size, args.size, seed=0)
        # alternate the pipelines and keep each one's best round: other load on the machine hits all alike
        rates = {stored: 0.0 for stored in stored_sizes}
        png_rate = zoobot_rate = 0.0
        paths = catalog["file_loc"].tolist()
        for _ in range(args.rounds):
            for stored, dataset in shards.items():
                rates[stored] = max(rates[stored], images_per_second(dataset, args.batch_size, n_images))
            png_rate = max(png_rate, images_per_second(pngs, args.batch_size, n_images))
            zoobot_rate = max(zoobot_rate, zoobot_baseline.loader_images_per_second(
                paths, args.batch_size, args.size, n_images, workers=args.zoobot_workers))

    devices = ", ".join(d.device_type for d in tf.config.list_logical_devices())
    print(f"pipeline throughput: {args.n} galaxies {args.image_size}px PNG -> uint8 shards, output {args.size}px, "
          f"batch {args.batch_size}, {cores} CPU core(s) available to this process, devices: {devices}")
    print(f"  setup: render {render_s:.1f} s ({png_mb:.0f} MB of PNG); " + "; ".join(setup))
    print(f"  best of {args.rounds} alternating rounds of {n_images} images each (augment on):")
    for stored, rate in rates.items():
        print(f"  shards stored at {stored:4d}px:             {rate:8.1f} images/s")
    print(f"  PNG decode each step (same aug.):  {png_rate:8.1f} images/s")
    print(f"  zoobot's loader re-enacted ({args.zoobot_workers} workers): {zoobot_rate:8.1f} images/s")
    first = stored_sizes[0]
    for stored in stored_sizes[1:]:
        print(f"  ratio shards {stored}px / {first}px:       {rates[stored] / rates[first]:8.2f}x")
    best = max(rates, key=rates.get)
    print(f"  ratio shards {best}px / PNG:           {rates[best] / png_rate:8.2f}x")
    print(f"  ratio shards {best}px / zoobot's loader re-enacted: {rates[best] / zoobot_rate:8.2f}x")
    per_core = rates[best] / max(cores, 1)
    print(f"  a GPU step consuming {args.gpu_images_per_second:.0f} images/s needs "
          f"{args.gpu_images_per_second / per_core:.1f} such cores ({per_core:.0f} images/s per core)")


if __name__ == "__main__":
    main()
