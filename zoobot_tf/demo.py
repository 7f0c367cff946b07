"""`zoobot-tf demo` / `make demo`: the main job end to end on the embedded synthetic data.

Synthetic galaxies with known ideal vote fractions -> TFRecord shards (+ a PNG of one augmented
batch) -> EfficientNet-B0 trained with the Dirichlet-multinomial loss -> ``predict_on_catalog``
with MC dropout on the held-out galaxies -> summary table, plots, and a printed comparison of
predicted fractions against volunteer fractions and the true fractions, with the trivial
"predict the training mean" baseline beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _step(number, total, text):
    print(f"\n[{number}/{total}] {text}", flush=True)


def run_demo(
    out_dir,
    n=2000,
    size=64,
    image_size=48,
    epochs=20,
    augment=True,
    batch_size=32,
    architecture="efficientnet_b0",
    n_samples=5,
    schema="decals_dr5",
    seed=0,
    progress=True,
) -> dict:
    """Run the demo into ``out_dir``; returns the evaluation result (also printed and saved)."""
    from zoobot_tf.catalogs import read_catalog
    from zoobot_tf.data import get_dataset
    from zoobot_tf.evaluation import evaluate, expected_fractions, format_comparison
    from zoobot_tf.evaluation.plots import save_image_grid
    from zoobot_tf.predictions import load_predictions, predict, summarise
    from zoobot_tf.schemas import get_schema
    from zoobot_tf.shards import iter_records, write_shards
    from zoobot_tf.synthetic import make_synthetic_dataset
    from zoobot_tf.training import train

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = get_schema(schema)
    total = 6

    _step(1, total, f"rendering {n} synthetic galaxies with {schema.name} volunteer votes -> {out_dir / 'synthetic'}")
    make_synthetic_dataset(out_dir / "synthetic", n=n, schema=schema.name, size=size, seed=seed, progress=progress)
    catalog = read_catalog(out_dir / "synthetic" / "catalog.csv")

    _step(2, total, f"writing {size}px train/val/test shards -> {out_dir / 'shards'}")
    shard_dir = out_dir / "shards"
    manifest = write_shards(catalog, shard_dir, schema=schema.name, size=size, channels=3, seed=seed,
                            shard_size=512, val_fraction=0.1, test_fraction=0.1, progress=progress)
    print("  records: " + ", ".join(f"{s} {manifest.n_records(s)}" for s in manifest.split_names()))
    images, votes = next(iter(get_dataset(shard_dir, "train", batch_size=32, augment=True, seed=seed,
                                          output_size=image_size)))
    titles = [f"{schema.questions[0].answers[int(np.argmax(v[:3]))].suffix}" for v in votes.numpy()]
    grid = save_image_grid(images.numpy(), out_dir / "augmented_batch.png", titles=titles,
                           title="one augmented training batch (majority root answer)")
    print(f"  augmented batch: {grid}")

    _step(3, total, f"training {architecture} at {image_size}px for up to {epochs} epochs (MirroredStrategy)")
    run_dir = out_dir / "run"
    _, history = train(
        run_dir, schema.name, shard_dir, architecture=architecture, batch_size=batch_size, epochs=epochs,
        patience=max(3, epochs // 3), learning_rate=1e-3, image_size=image_size, seed=seed, progress=progress,
        augment=augment,
        overwrite=True, **({"batchnorm_momentum": 0.9} if architecture.startswith("efficientnet") else {}),
    )
    print(f"  best val_loss {min(history['val_loss']):.2f} (first epoch {history['val_loss'][0]:.2f})")

    _step(4, total, f"predict_on_catalog: {n_samples} MC-dropout samples per held-out galaxy -> predictions.hdf5")
    test_ids = [record["id_str"] for record in iter_records(shard_dir, "test")]
    train_ids = [record["id_str"] for record in iter_records(shard_dir, "train")]
    by_id = catalog.set_index("id_str").copy()  # one block: fast row lookups
    test_catalog = by_id.loc[test_ids].reset_index()
    predictions_path = predict(test_catalog, run_dir, n_samples=n_samples, save_loc=out_dir / "predictions.hdf5",
                               batch_size=64, progress=progress)

    _step(5, total, "summarising: expected vote fractions, 90% intervals, probability each question is asked")
    summary = summarise(predictions_path, out=out_dir / "summary", csv=True)
    print(f"  {len(summary)} galaxies x {summary.shape[1] - 1} columns -> {out_dir / 'summary.parquet'} (+ .csv)")

    _step(6, total, "comparing with volunteers and with the true fractions")
    ids, label_cols, concentrations = load_predictions(predictions_path)
    ids = [str(i) for i in ids]
    predicted = expected_fractions(concentrations, schema)
    true_cols = [f"{c}_true_fraction" for c in schema.label_cols]
    result = evaluate(
        predicted,
        by_id.loc[ids, schema.label_cols].to_numpy(),
        schema,
        true_fractions=by_id.loc[ids, true_cols].to_numpy(),
        train_votes=by_id.loc[train_ids, schema.label_cols].to_numpy(),
        out_dir=out_dir / "evaluation",
        training_log=run_dir / "training_log.csv",
    )
    print()
    print(format_comparison(result, title=f"zoobot_tf demo: {len(ids)} held-out synthetic galaxies"))
    print(f"\nplots and tables: {out_dir / 'evaluation'}")
    return result


def add_arguments(parser):
    parser.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    parser.add_argument("--n", type=int, default=2000, help="number of synthetic galaxies (default 2000)")
    parser.add_argument("--size", type=int, default=64, help="rendered and stored image size (default 64)")
    parser.add_argument("--image-size", type=int, default=48, help="model input size (default 48)")
    parser.add_argument("--epochs", type=int, default=20, help="maximum training epochs (default 20)")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="no random rotation/flip/crop of the training images")
    parser.add_argument("--architecture", default="efficientnet_b0", help="backbone (default efficientnet_b0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    run_demo(args.out, n=args.n, size=args.size, image_size=args.image_size, epochs=args.epochs, augment=args.augment,
             architecture=args.architecture, seed=args.seed, progress=not args.no_progress)
    return 0
