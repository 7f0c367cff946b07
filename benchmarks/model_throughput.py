"""Model throughput on any Keras backend: training-step and inference images/s from in-memory batches.

Each architecture gets the same head and loss (default: the decals_dr5 Dirichlet head and
:class:`~zoobot_tf.losses.DirichletMultinomialLoss`; ``--head softmax``: 8 classes and
cross-entropy, as timm's benchmarks), Adam, and one random batch of ``--channels``-band images
held on the device (no I/O, no augmentation). After ``--warmup`` untimed steps (tracing, XLA
compilation), ``--steps`` training steps (``train_on_batch``: forward, backward, update) and
``--steps`` inference batches (``predict_on_batch``) are timed; each step waits for its result.
All architectures run in one process, the baseline (``--baseline``, EfficientNet-B0) first, and
the table gives ratios to it: compare ratios across machines, not images/s.

The backend is Keras' (``KERAS_BACKEND=jax|torch|tensorflow``); TensorFlow is imported only when
it is the backend, so this runs where only JAX or PyTorch is installed (README: "Models on any
Keras backend"). Results, with the command, commit, machine, backend and versions, go to
``benchmarks/results/model_throughput/<date>_<backend>.json`` (``--out`` to choose)::

    KERAS_BACKEND=jax python benchmarks/model_throughput.py --architectures efficientnet_b0,convnext_nano \\
        --batch-size 128 --steps 20 --mixed-precision

CPU smoke run: ``--image-size 32 --batch-size 2 --steps 1 --architectures small_cnn``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BASELINE = "efficientnet_b0"
DEFAULT_ARCHITECTURES = (BASELINE, "convnext_nano", "resnet50", "dat_tiny", "linformer_vit")
RESULTS = Path(__file__).resolve().parent / "results" / "model_throughput"
DTYPE_POLICIES = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def build(architecture, image_size, channels, head="dirichlet", dtype_policy="float32", jit_compile="auto"):
    """The model compiled with its loss, and a function making a (images, targets) batch."""
    import keras
    import numpy as np

    from zoobot_tf.losses import DirichletMultinomialLoss
    from zoobot_tf.models import get_model
    from zoobot_tf.schemas import get_schema

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy)
    try:
        shape = (image_size, image_size, channels)
        if head == "dirichlet":
            schema = get_schema("decals_dr5")
            model = get_model(schema, shape, architecture=architecture)
            loss = DirichletMultinomialLoss(schema)

            def targets(rng, n):
                return rng.integers(0, 20, size=(n, schema.n_answers)).astype("float32")
        else:
            model = get_model(8, shape, architecture=architecture, head="softmax")
            loss = "sparse_categorical_crossentropy"

            def targets(rng, n):
                return rng.integers(0, 8, size=n)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, jit_compile=jit_compile)
    finally:
        keras.config.set_dtype_policy(previous)
    model.optimizer.build(model.trainable_variables)  # so the first train step traces only once

    def batch(n, seed=0):
        rng = np.random.default_rng(seed)
        images = rng.uniform(size=(n,) + shape).astype("float32")
        return keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(targets(rng, n))

    return model, batch


def measure_throughput(architecture, image_size=224, channels=3, batch_size=4, steps=3, warmup=1,
                       head="dirichlet", dtype_policy="float32", jit_compile="auto", seed=0):
    """Parameter count and images/s (training step, inference) of one architecture.

    Returns
    -------
    dict
        ``architecture``, ``params``, ``train_images_per_s``, ``predict_images_per_s``, ``final_loss``.
    """
    import keras
    import numpy as np

    if min(int(steps), int(batch_size)) < 1 or int(warmup) < 0:
        raise ValueError(f"steps and batch_size must be >= 1 and warmup >= 0, got {steps}, {batch_size}, {warmup}")
    keras.utils.set_random_seed(seed)
    model, batch = build(architecture, image_size, channels, head, dtype_policy, jit_compile)
    images, targets = batch(int(batch_size), seed)  # on the device, converted once

    def rate(step):
        for _ in range(max(int(warmup), 1)):  # tracing and first-call compilation, not timed
            step()
        start = time.perf_counter()
        for _ in range(int(steps)):
            last = step()
        return batch_size * int(steps) / (time.perf_counter() - start), last

    # a float of the loss / a numpy output makes each step wait for the device
    train, loss = rate(lambda: float(np.asarray(model.train_on_batch(images, targets)).ravel()[0]))
    predict, _ = rate(lambda: np.asarray(model.predict_on_batch(images)))
    return {
        "architecture": architecture,
        "params": model.count_params(),
        "train_images_per_s": train,
        "predict_images_per_s": predict,
        "final_loss": loss,
    }


def format_table(results, baseline=BASELINE):
    """Lines of a table: absolute figures and ratios to ``baseline`` (which must be in results)."""
    base = next(r for r in results if r["architecture"] == baseline)
    lines = [
        f"{'architecture':<16}{'params (M)':>11}{'train img/s':>13}{'infer img/s':>13}"
        f"{'params x':>10}{'train x':>9}{'infer x':>9}"
    ]
    for r in results:
        lines.append(
            f"{r['architecture']:<16}{r['params'] / 1e6:>11.2f}{r['train_images_per_s']:>13.2f}"
            f"{r['predict_images_per_s']:>13.2f}{r['params'] / base['params']:>10.2f}"
            f"{r['train_images_per_s'] / base['train_images_per_s']:>9.2f}"
            f"{r['predict_images_per_s'] / base['predict_images_per_s']:>9.2f}"
        )
    return lines


def devices(backend):
    """The accelerators the backend computes on, in words (CPU when none)."""
    if backend == "jax":
        import jax

        return [f"{d.platform}: {getattr(d, 'device_kind', d)}" for d in jax.devices()]
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return [f"cuda: {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        return [f"cpu: {torch.get_num_threads()} threads"]
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return [f"gpu: {tf.config.experimental.get_device_details(g).get('device_name', g.name)}" for g in gpus] or [
            "cpu"
        ]
    return [backend]


def versions(backend):
    import keras
    import numpy as np

    import zoobot_tf

    found = {"zoobot_tf": zoobot_tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
             "python": sys.version.split()[0]}
    module = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}.get(backend)
    if module:
        found[module] = __import__(module).__version__
    return found


def commit():
    """The git commit of this checkout (``ZOOBOT_COMMIT`` where the copy has no .git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=10)
        if head.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                   cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)
            return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.environ.get("ZOOBOT_COMMIT", "unknown")


def record(results, args, backend, path=None):
    """Write the results with what is needed to reproduce and compare them; returns the path."""
    now = datetime.datetime.now(datetime.timezone.utc)
    path = Path(path) if path else RESULTS / f"{now:%Y%m%dT%H%M%SZ}_{backend}.json"
    base = next(r for r in results if r["architecture"] == args.baseline)
    payload = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "commit": commit(),
        "date": now.isoformat(timespec="seconds"),
        "backend": backend,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "devices": devices(backend)},
        "versions": versions(backend),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": [{**r, "train_ratio": r["train_images_per_s"] / base["train_images_per_s"],
                     "predict_ratio": r["predict_images_per_s"] / base["predict_images_per_s"]} for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", default=",".join(DEFAULT_ARCHITECTURES),
                        help=f"comma-separated backbones (default {','.join(DEFAULT_ARCHITECTURES)})")
    parser.add_argument("--baseline", default=BASELINE, help=f"measured first, the ratios' 1.0 (default {BASELINE})")
    parser.add_argument("--batch-size", type=int, default=4, help="images per step (default 4, for a CPU)")
    parser.add_argument("--image-size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--channels", type=int, default=3, help="image bands (default 3; the DAT study: 11)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--head", choices=["dirichlet", "softmax"], default="dirichlet",
                        help="decals_dr5 Dirichlet head + loss (default), or 8-class softmax + cross-entropy")
    parser.add_argument("--mixed-precision", nargs="?", const="float16", default="off", choices=list(DTYPE_POLICIES),
                        help="mixed precision: float16 (the flag alone), bfloat16, or off (default)")
    parser.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto",
                        help="XLA / torch.compile of the steps: Keras' auto (default), on or off")
    parser.add_argument("--out", default=None,
                        help="results file (default benchmarks/results/model_throughput/<date>_<backend>.json)")
    args = parser.parse_args(argv)

    import keras

    backend = keras.backend.backend()
    names = [a.strip() for a in args.architectures.split(",") if a.strip()]
    names = [args.baseline] + [a for a in names if a != args.baseline]
    jit = {"auto": "auto", "on": True, "off": False}[args.jit_compile]
    print(f"{backend} on {', '.join(devices(backend))}: {args.image_size}px x {args.channels} bands, "
          f"batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{DTYPE_POLICIES[args.mixed_precision]}, {args.head} head, jit_compile={args.jit_compile}", flush=True)
    results = []
    for name in names:
        print(f"  measuring {name} ...", flush=True)
        results.append(measure_throughput(
            name, image_size=args.image_size, channels=args.channels, batch_size=args.batch_size,
            steps=args.steps, warmup=args.warmup, head=args.head,
            dtype_policy=DTYPE_POLICIES[args.mixed_precision], jit_compile=jit,
        ))
    print("\n".join(format_table(results, args.baseline)))
    print(f"recorded in {record(results, args, backend, args.out)}")


if __name__ == "__main__":
    main()
