"""Time from the start of each epoch to its first training step: one-replica MirroredStrategy vs none.

``make demo`` stalled 15-19 s before the first batch of some epochs. The wait lies between
``on_epoch_begin`` and the first batch, i.e. in creating that epoch's input iterator (Keras makes
a new one every epoch; the first element is fetched inside the first step). ``strategy='mirrored'``
used to build a one-replica ``MirroredStrategy`` on a one-device machine, which wraps that in a
distributed iterator; ``get_strategy('mirrored')`` now returns the default strategy there. The
rest of the wait (3-4 s an epoch without a strategy, more under load) was Keras building that new
iterator at each epoch's start; ``train`` now repeats the training pipeline and passes
``steps_per_epoch``, so Keras keeps one iterator for the whole run (the same batches, epoch for
epoch, as re-iterating). This script trains the same small model both ways in one process and prints, per epoch, the seconds
from ``on_epoch_begin`` to the first batch, the first step (incl. its first element) and the epoch::

    python benchmarks/epoch_start.py --n 600 --epochs 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def on_epoch_begin(self, epoch, logs=None):
            self.begin = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.first_begin = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.first_end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.rows.append((self.first_begin - self.begin, self.first_end - self.first_begin,
                              time.perf_counter() - self.begin))

    return EpochTimer()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=600, help="synthetic galaxies (default 600)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from zoobot_tf.shards import write_shards
    from zoobot_tf.synthetic import make_synthetic_dataset
    from zoobot_tf.training import train

    work = Path(tempfile.mkdtemp(prefix="zoobot_epoch_start_"))
    catalog = make_synthetic_dataset(work / "synthetic", n=args.n, size=64, progress=False)
    write_shards(catalog, work / "shards", schema="decals_dr5", size=64, progress=False)
    strategies = {
        "MirroredStrategy, one replica": tf.distribute.MirroredStrategy(devices=["/cpu:0"]),
        "default strategy": "default",
    }
    results = {}
    for name, strategy in strategies.items():
        timer = epoch_timer()
        train(work / name.replace(" ", "_").replace(",", ""), "decals_dr5", work / "shards", architecture="small_cnn",
              batch_size=32, epochs=args.epochs, patience=args.epochs, image_size=48, progress=False, overwrite=True,
              strategy=strategy, callbacks=[timer])
        results[name] = timer.rows
    for name, rows in results.items():
        print(f"\n{name}\n{'epoch':>6s}{'to first batch (s)':>20s}{'first step (s)':>16s}{'epoch (s)':>11s}")
        for epoch, (wait, step, total) in enumerate(rows, start=1):
            print(f"{epoch:6d}{wait:20.2f}{step:16.2f}{total:11.1f}")
    mirrored, plain = (sum(r[0] for r in rows[1:]) for rows in results.values())
    print(f"\nepochs 2-{args.epochs}: {mirrored:.1f} s waiting for the first batch with the one-replica "
          f"MirroredStrategy, {plain:.1f} s without (ratio {mirrored / max(plain, 1e-9):.1f})")


if __name__ == "__main__":
    main()
