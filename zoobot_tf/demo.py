"""`zoobot-tf demo` / `make demo`: the main job end to end on the embedded synthetic data.

Synthetic galaxies with known ideal vote fractions -> canonical catalog -> TFRecord shards ->
one augmented training batch from the tf.data pipeline, saved as a PNG grid, and a printed summary.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def run_demo(out_dir, n=300, size=64, schema="decals_dr5", batch_size=32, seed=0, progress=True) -> dict:
    """Run the data part of the demo into ``out_dir``; returns a summary dict (also printed)."""
    from zoobot_tf.data import get_dataset
    from zoobot_tf.plots import save_image_grid
    from zoobot_tf.schemas import get_schema
    from zoobot_tf.shards import write_shards
    from zoobot_tf.synthetic import make_synthetic_dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = get_schema(schema)

    print(f"[1/3] rendering {n} synthetic galaxies with {schema.name} votes -> {out_dir / 'synthetic'}")
    catalog = make_synthetic_dataset(out_dir / "synthetic", n=n, schema=schema.name, size=96, seed=seed, progress=progress)

    print(f"[2/3] writing {size}px shards -> {out_dir / 'shards'}")
    manifest = write_shards(
        catalog, out_dir / "shards", schema=schema.name, size=size, channels=3, seed=seed, shard_size=128,
        progress=progress,
    )

    print("[3/3] reading one augmented training batch through tf.data")
    dataset = get_dataset(out_dir / "shards", "train", batch_size=batch_size, augment=True, seed=seed)
    images, labels = next(iter(dataset))
    images, labels = images.numpy(), labels.numpy()
    smooth = schema.get_question(schema.questions[0].text)
    fractions = schema.vote_fractions(labels)[:, smooth.start_index : smooth.end_index + 1]
    titles = [f"{schema.questions[0].answers[int(np.argmax(f))].suffix} {f.max():.2f}" for f in fractions]
    grid = save_image_grid(images, out_dir / "augmented_batch.png", titles=titles, title="augmented training batch")

    counts = {split: manifest.n_records(split) for split in manifest.split_names()}
    summary = {
        "galaxies": len(catalog),
        "schema": f"{schema.name} ({schema.n_questions} questions, {schema.n_answers} answers)",
        "records per split": counts,
        "image shape": list(manifest.image_shape),
        "batch": f"images {images.shape} in [{images.min():.2f}, {images.max():.2f}], labels {labels.shape}",
        "grid": grid,
    }
    print("\nzoobot_tf demo summary")
    for key, value in summary.items():
        print(f"  {key:>18}: {value}")
    return summary


def add_arguments(parser):
    parser.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    parser.add_argument("--n", type=int, default=300, help="number of synthetic galaxies")
    parser.add_argument("--size", type=int, default=64, help="image size in the shards (pixels)")
    parser.add_argument("--seed", type=int, default=0)


def run(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    run_demo(args.out, n=args.n, size=args.size, seed=args.seed)
    return 0
