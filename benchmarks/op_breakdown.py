"""Where a Keras (TensorFlow) EfficientNet-B0 training step loses to torch on CPU, op by op.

Times forward + backward of the building blocks of EfficientNet-B0's first stages at 224 px
(batch 8, float32) in TensorFlow (Keras layers under ``tf.function``) and in torch (the same
layers, NCHW and ``channels_last``) in another Python (``--torch-python``, with torch), in the
same run, and prints the ratios. The blocks: a 3x3 depthwise convolution, a 1x1 convolution,
BatchNorm in training mode, SiLU, and the Dirichlet-multinomial loss on 34 outputs::

    python benchmarks/op_breakdown.py --torch-python /path/to/torch-venv/bin/python --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: (name, (height, width, channels)) at 224 px input: stem output and the first stages
SHAPES = [("112px x 32ch", (112, 112, 32)), ("56px x 144ch", (56, 56, 144)), ("28px x 240ch", (28, 28, 240))]
OPS = ("depthwise3x3", "conv1x1", "batchnorm", "silu")

TORCH = r"""
import json, sys, time
import torch
batch, steps, threads, shapes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
if threads:
    torch.set_num_threads(threads)
results = {}
for layout in ("nchw", "channels_last"):
    for name, (h, w, c) in shapes:
        layers = {"depthwise3x3": torch.nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                  "conv1x1": torch.nn.Conv2d(c, c, 1, bias=False), "batchnorm": torch.nn.BatchNorm2d(c),
                  "silu": torch.nn.SiLU()}
        for op, layer in layers.items():
            x = torch.rand(batch, c, h, w, requires_grad=True)
            if layout == "channels_last":
                layer = layer.to(memory_format=torch.channels_last)
                x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
            def step():
                layer.zero_grad(set_to_none=True)
                x.grad = None
                layer(x).sum().backward()
            for _ in range(2):
                step()
            start = time.perf_counter()
            for _ in range(steps):
                step()
            results[f"{layout}|{name}|{op}"] = (time.perf_counter() - start) / steps * 1000
print(json.dumps(results))
"""


def tf_times(batch: int, steps: int) -> dict:
    """Milliseconds per forward + backward of each op and shape in TensorFlow (Keras layers)."""
    import keras
    import tensorflow as tf

    results = {}
    for name, (h, w, c) in SHAPES:
        layers = {"depthwise3x3": keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False),
                  "conv1x1": keras.layers.Conv2D(c, 1, use_bias=False), "batchnorm": keras.layers.BatchNormalization(),
                  "silu": keras.layers.Activation("silu")}
        for op, layer in layers.items():
            x = tf.random.uniform((batch, h, w, c))
            layer.build(x.shape)

            @tf.function
            def step(x, layer=layer):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = tf.reduce_sum(layer(x, training=True))
                return tape.gradient(y, [x, *layer.trainable_variables])

            for _ in range(2):
                step(x)
            start = time.perf_counter()
            for _ in range(steps):
                [g.numpy() for g in step(x) if g is not None][:1]
            results[f"{name}|{op}"] = (time.perf_counter() - start) / steps * 1000
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads of both frameworks")
    parser.add_argument("--torch-python", required=True, help="a Python with torch")
    args = parser.parse_args(argv)
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    ours = tf_times(args.batch_size, args.steps)
    done = subprocess.run([args.torch_python, "-c", TORCH, str(args.batch_size), str(args.steps), str(args.threads or 0),
                           json.dumps(SHAPES)], capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"forward + backward, batch {args.batch_size}, float32, ms per call (TensorFlow {tf.__version__} NHWC; "
          f"torch NCHW / channels_last); ratio = TF time / torch channels_last time")
    print(f"  {'shape':14s} {'op':13s} {'TF':>8s} {'torch':>8s} {'t.c_last':>9s} {'ratio':>7s}")
    for name, _ in SHAPES:
        for op in OPS:
            tf_ms, nchw, last = ours[f"{name}|{op}"], theirs[f"nchw|{name}|{op}"], theirs[f"channels_last|{name}|{op}"]
            print(f"  {name:14s} {op:13s} {tf_ms:8.2f} {nchw:8.2f} {last:9.2f} {tf_ms / last:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
