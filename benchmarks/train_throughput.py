"""Training-step throughput of EfficientNet-B0 with the Dirichlet head at several image sizes.

Each size gets the model :func:`zoobot_tf.training.train` builds (same head, loss, optimizer,
strategy and XLA setting) and trains on one random batch held in memory (no I/O, no
augmentation), so the figure is the model's own cost per step. After ``--warmup`` steps (graph
tracing, allocator warm-up), ``--steps`` steps are timed. All sizes run in the same process, and
the ratio of the smallest to the largest size is printed beside the images/s: that ratio is what to
compare across machines::

    python benchmarks/train_throughput.py --sizes 128 224 --steps 10 --batch-size 32

Against torch (what zoobot trains with): ``--torch-python PATH`` names a Python that has torch and
timm (this package's environment need not); the same step (timm's ``efficientnet_b0`` with the
same number of outputs, Adam, a Dirichlet-multinomial loss written in torch, one random batch in
memory) is timed there in NCHW and in ``channels_last``, in the same run, and the ratios printed.
``--jit-compile`` tries XLA on the Keras side (``auto`` = as ``train``: on with a GPU only)::

    python benchmarks/train_throughput.py --sizes 128 224 --batch-size 8 --channels 1 \
        --torch-python /path/to/torch-venv/bin/python --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


TORCH_STEP = r"""
import json, sys, time
import torch, timm
size, batch, channels, outputs, steps, warmup, threads, layout = sys.argv[1:9]
size, batch, channels, outputs, steps, warmup, threads = map(int, (size, batch, channels, outputs, steps, warmup, threads))
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(0)
model = timm.create_model("efficientnet_b0", num_classes=outputs, in_chans=channels)
images = torch.rand(batch, channels, size, size)
votes = torch.randint(0, 20, (batch, outputs)).float()
if layout == "channels_last":
    model = model.to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
optimizer = torch.optim.Adam(model.parameters(), 1e-3)

def loss_fn(logits, votes):  # Dirichlet-multinomial over all answers (one group): the cost, not the tree
    alpha = 1 + 100 * torch.sigmoid(logits)
    total = votes.sum(-1)
    return -(torch.lgamma(alpha.sum(-1)) - torch.lgamma(total + alpha.sum(-1))
             + (torch.lgamma(votes + alpha) - torch.lgamma(alpha)).sum(-1)).mean()

def step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(images), votes)
    loss.backward()
    optimizer.step()
    return loss

model.train()
for _ in range(max(warmup, 1)):
    step()
start = time.perf_counter()
for _ in range(steps):
    loss = step()
elapsed = time.perf_counter() - start
print(json.dumps({"images_per_second": steps * batch / elapsed, "torch": torch.__version__,
                  "timm": timm.__version__, "finite": bool(torch.isfinite(loss))}))
"""


def torch_images_per_second(python: str, size: int, batch_size: int, channels: int, outputs: int, steps: int,
                            warmup: int, threads: int, layout: str) -> dict:
    """Images/s of timm's efficientnet_b0 training step in another Python (``layout`` NCHW or channels_last)."""
    import subprocess

    done = subprocess.run([python, "-c", TORCH_STEP, str(size), str(batch_size), str(channels), str(outputs),
                           str(steps), str(warmup), str(threads), layout], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def build(size: int, architecture: str, strategy, mixed_precision: bool, channels: int = 3, jit_compile="auto"):
    """The model and compile settings of ``train`` for ``size`` px images of ``channels`` (decals_dr5)."""
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
            model = get_model(schema, (size, size, channels), architecture=architecture)
            model.compile(
                optimizer=keras.optimizers.Adam(1e-3),
                loss=DirichletMultinomialLoss(schema.question_index_groups),
                jit_compile=("auto" if uses_gpu() else False) if jit_compile == "auto" else jit_compile == "on",
            )
    finally:
        keras.config.set_dtype_policy(previous)
    return model, schema


def measure(size: int, batch_size: int, steps: int, warmup: int, architecture: str, strategy,
            mixed_precision: bool, seed: int = 0, channels: int = 3, jit_compile="auto") -> dict:
    """Images/s of ``steps`` timed training steps at ``size`` px (after ``warmup`` steps)."""
    import numpy as np
    import tensorflow as tf

    model, schema = build(size, architecture, strategy, mixed_precision, channels, jit_compile)
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (batch_size, size, size, channels)).astype(np.float32)
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
    parser.add_argument("--channels", type=int, default=3, help="image channels (default 3)")
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "on", "off"],
                        help="XLA for the Keras step (default auto: as train, on with a GPU only)")
    parser.add_argument("--torch-python", default=None, help="a Python with torch + timm: time the same step there")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads of both frameworks (default: each framework's own)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from zoobot_tf.training.strategy import get_strategy, resolve_mixed_precision, uses_gpu

    strategy = get_strategy(args.strategy)
    args.mixed_precision = resolve_mixed_precision("auto" if args.mixed_precision is None else args.mixed_precision)
    batch_size = args.batch_size or (128 if uses_gpu() else 32)
    device = device_description()
    print(f"{args.architecture}, {device}, {type(strategy).__name__} x{strategy.num_replicas_in_sync}, "
          f"batch {batch_size}, {args.warmup} warm-up + {args.steps} timed steps"
          + (", mixed_float16" if args.mixed_precision else ", float32")
          + f", {args.channels} channel(s), jit_compile {args.jit_compile}")
    results = []
    for size in args.sizes:
        result = measure(size, batch_size, args.steps, args.warmup, args.architecture, strategy, args.mixed_precision,
                         channels=args.channels, jit_compile=args.jit_compile)
        results.append(result)
        print(f"  {size:4d} px: {result['images_per_second']:8.1f} images/s  "
              f"({result['seconds_per_step'] * 1000:7.1f} ms/step)", flush=True)
        if args.torch_python:
            from zoobot_tf.schemas import get_schema

            outputs = get_schema("decals_dr5").n_answers
            for layout in ("nchw", "channels_last"):
                torch_result = torch_images_per_second(args.torch_python, size, batch_size, args.channels, outputs,
                                                       args.steps, args.warmup, args.threads or 0, layout)
                result[f"torch_{layout}"] = torch_result
                print(f"        torch {torch_result['torch']} timm efficientnet_b0 {layout:13s}: "
                      f"{torch_result['images_per_second']:8.1f} images/s; keras / torch "
                      f"{result['images_per_second'] / torch_result['images_per_second']:.2f}x", flush=True)
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
