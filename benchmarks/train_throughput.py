"""Training-step throughput of EfficientNet-B0 with the Dirichlet head at several image sizes.

Each size gets the model :func:`zoobot_tf.training.train` builds (same head, loss, optimizer,
strategy and XLA setting) and trains on one random batch held in memory (no I/O, no
augmentation), so the figure is the model's own cost per step. After ``--warmup`` steps (graph
tracing, allocator warm-up), ``--steps`` steps are timed. All sizes run in the same process, and
the ratio of the smallest to the largest size is printed beside the images/s: that ratio is what to
compare across machines::

    python benchmarks/train_throughput.py --sizes 128 224 --steps 10 --batch-size 32

No zoobot 2.9 figure is computed here: its training step is PyTorch's own convolution code, which
cannot be re-enacted without torch. Measured separately on this CPU (batch 8, 224 px): zoobot
6.20 images/s, 8.74 with ``torch.channels_last``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build(size: int, architecture: str, strategy, mixed_precision: bool):
    """The model and compile settings of ``train`` for ``size`` px RGB images (decals_dr5)."""
    import keras

    from zoobot_tf.losses import DirichletMultinomialLoss
    from zoobot_tf.models import get_model
    from zoobot_tf.schemas import get_schema
    from zoobot_tf.training.strategy import uses_gpu

    schema = get_schema("decals_dr5")
    previous = keras.config.dtype_policy()
    try:
        if mixed_precision:
            keras.config.set_dtype_policy("mixed_float16")
        with strategy.scope():
            model = get_model(schema, (size, size, 3), architecture=architecture)
            model.compile(
                optimizer=keras.optimizers.Adam(1e-3),
                loss=DirichletMultinomialLoss(schema.question_index_groups),
                jit_compile="auto" if uses_gpu() else False,
            )
    finally:
        keras.config.set_dtype_policy(previous)
    return model, schema


def measure(size: int, batch_size: int, steps: int, warmup: int, architecture: str, strategy,
            mixed_precision: bool, seed: int = 0) -> dict:
    """Images/s of ``steps`` timed training steps at ``size`` px (after ``warmup`` steps)."""
    import numpy as np
    import tensorflow as tf

    model, schema = build(size, architecture, strategy, mixed_precision)
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (batch_size, size, size, 3)).astype(np.float32)
    votes = rng.integers(0, 20, (batch_size, schema.n_answers)).astype(np.float32)
    data = tf.data.Dataset.from_tensors((images, votes)).repeat()
    model.fit(data, steps_per_epoch=max(warmup, 1), epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    history = model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    elapsed = time.perf_counter() - start
    loss = float(history.history["loss"][-1])
    return {
        "size": size,
        "batch_size": batch_size,
        "steps": steps,
        "seconds_per_step": elapsed / steps,
        "images_per_second": steps * batch_size / elapsed,
        "final_loss_finite": bool(np.isfinite(loss)),
    }


def device_description() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        return f"{len(gpus)} GPU(s): {', '.join(names)}"
    return f"CPU only ({os.cpu_count()} cores)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224], help="image sides (default 128 224)")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default 32 on CPU, 128 on GPU)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per size (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--architecture", default="efficientnet_b0", help="backbone (default efficientnet_b0)")
    parser.add_argument(
        "--strategy", default="mirrored", choices=["mirrored", "default"], help="tf.distribute strategy"
    )
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                        help="mixed_float16 (default as train: on with a tensor-core GPU, off on CPU)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    from zoobot_tf.training.strategy import get_strategy, resolve_mixed_precision, uses_gpu

    strategy = get_strategy(args.strategy)
    args.mixed_precision = resolve_mixed_precision("auto" if args.mixed_precision is None else args.mixed_precision)
    batch_size = args.batch_size or (128 if uses_gpu() else 32)
    device = device_description()
    print(f"{args.architecture}, {device}, {type(strategy).__name__} x{strategy.num_replicas_in_sync}, "
          f"batch {batch_size}, {args.warmup} warm-up + {args.steps} timed steps"
          + (", mixed_float16" if args.mixed_precision else ", float32") + (", XLA" if uses_gpu() else ", no XLA"))
    results = []
    for size in args.sizes:
        result = measure(size, batch_size, args.steps, args.warmup, args.architecture, strategy, args.mixed_precision)
        results.append(result)
        print(f"  {size:4d} px: {result['images_per_second']:8.1f} images/s  "
              f"({result['seconds_per_step'] * 1000:7.1f} ms/step)", flush=True)
    if len(results) > 1:
        small, large = min(results, key=lambda r: r["size"]), max(results, key=lambda r: r["size"])
        ratio = small["images_per_second"] / large["images_per_second"]
        pixels = (large["size"] / small["size"]) ** 2
        print(f"  ratio {small['size']}/{large['size']} px: {ratio:.2f}x images/s (pixel ratio {pixels:.2f}x)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": device, "architecture": args.architecture, "results": results}, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
