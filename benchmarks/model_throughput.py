"""Model throughput: images/s of a training step and of inference, and parameter counts, for
DAT-tiny, the Linformer ViT, ConvNeXt-Nano (zoobot's recommended pretrained encoder), ResNet-50
and EfficientNet-B0 at 224 px, as ratios to EfficientNet-B0.

Every model gets the same softmax head (8 classes), the same random batch of ``--channels``-band
images, Adam and sparse categorical cross-entropy. Each is traced and warmed up on
``--warmup`` batches first (not timed); then ``--steps`` training steps (``train_on_batch``:
forward, backward, optimizer update) and ``--steps`` inference batches (``predict_on_batch``)
are timed. All models run in the same process, one after the other, so the ratios compare like
with like; on a GPU Keras compiles the steps with XLA (``jit_compile='auto'``), on a CPU it does
not. The CPU defaults are small (batch 4, 3 steps); on a GPU use e.g. ``--batch-size 64 --steps 20``::

    python benchmarks/model_throughput.py --batch-size 4 --steps 3
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BASELINE = "efficientnet_b0"
DEFAULT_ARCHITECTURES = (BASELINE, "convnext_nano", "resnet50", "dat_tiny", "linformer_vit")


def measure_throughput(architecture, image_size=224, channels=3, batch_size=4, steps=3, warmup=1, n_classes=8, seed=0):
    """Parameter count and images/s (training step, inference) of one architecture.

    Returns
    -------
    dict
        ``architecture``, ``params``, ``train_images_per_s``, ``predict_images_per_s``.
    """
    import keras
    import numpy as np

    from zoobot_tf.models import get_model

    if min(int(steps), int(batch_size)) < 1 or int(warmup) < 0:
        raise ValueError(f"steps and batch_size must be >= 1 and warmup >= 0, got {steps}, {batch_size}, {warmup}")
    keras.utils.set_random_seed(seed)
    model = get_model(n_classes, (image_size, image_size, channels), architecture=architecture, head="softmax")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)  # so the first train step traces only once
    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(batch_size, image_size, image_size, channels)).astype("float32")
    labels = rng.integers(0, n_classes, size=batch_size)

    def rate(step):
        for _ in range(max(int(warmup), 1)):  # tracing and first-call compilation, not timed
            step()
        start = time.perf_counter()
        for _ in range(int(steps)):
            step()
        return batch_size * int(steps) / (time.perf_counter() - start)

    # a float() of the loss / a numpy output makes each step wait for the device
    train = rate(lambda: float(np.asarray(model.train_on_batch(images, labels)).ravel()[0]))
    predict = rate(lambda: np.asarray(model.predict_on_batch(images)))
    return {
        "architecture": architecture,
        "params": model.count_params(),
        "train_images_per_s": train,
        "predict_images_per_s": predict,
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4, help="images per step (default 4, for a CPU)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--image-size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--channels", type=int, default=3, help="image bands (default 3; the DAT study: 11)")
    parser.add_argument(
        "--architectures",
        default=",".join(DEFAULT_ARCHITECTURES),
        help=f"comma-separated backbones (default {','.join(DEFAULT_ARCHITECTURES)}); {BASELINE} always runs",
    )
    args = parser.parse_args(argv)

    import tensorflow as tf

    names = [a.strip() for a in args.architectures.split(",") if a.strip()]
    names = [BASELINE] + [a for a in names if a != BASELINE]
    gpus = tf.config.list_physical_devices("GPU")
    device = f"{len(gpus)} GPU(s)" if gpus else f"CPU only, {os.cpu_count()} core(s)"
    print(
        f"{args.image_size}px x {args.channels} bands, batch {args.batch_size}, {args.steps} timed steps "
        f"after {args.warmup} warm-up, {device}",
        flush=True,
    )
    results = []
    for name in names:
        print(f"  measuring {name} ...", flush=True)
        results.append(
            measure_throughput(
                name,
                image_size=args.image_size,
                channels=args.channels,
                batch_size=args.batch_size,
                steps=args.steps,
                warmup=args.warmup,
            )
        )
    print("\n".join(format_table(results)))


if __name__ == "__main__":
    main()
