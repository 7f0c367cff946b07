"""`zoobot-tf demo` / `make demo`: the main job end to end on the embedded synthetic data.

Synthetic galaxies with known ideal vote fractions -> TFRecord shards (+ a PNG of one augmented
batch) -> a CNN trained with the Dirichlet-multinomial loss -> ``predict_on_catalog`` with MC
dropout on the held-out galaxies -> summary table, plots, and a printed comparison of predicted
fractions against volunteer fractions and the true fractions, with the trivial "predict the
training mean" baseline beside it.

Why the demo's training settings (:data:`DEMO_TRAINING`) differ from the library's defaults
(EfficientNet-B0, 224 px, concentrations in ``(1, 101)``):

* ``small_cnn``: EfficientNet-B0 from scratch at 48 px learned little in 20 epochs on a CPU
  budget (a development run, not stored), and an epoch costs several times the CPU of the
  four-block CNN, which then affords more galaxies (RMSE vs the true fractions 0.205 against 0.322
  for the baseline: benchmarks/results/demo/comparison.txt).
* ``concentration_range=(0.1, 101)``: with a lower bound of 1 an answer whose true fraction is
  below ~1/25 (the synthetic volunteers' concentration) cannot be predicted, and the head must
  saturate its sigmoids to approach it; see ``tests/test_oracle.py``.
* the demo is deterministic for a given seed: the training through
  ``tf.config.experimental.enable_op_determinism`` (the same loss at every epoch in every run), the
  MC-dropout predictions through ``predict(seed=seed)`` (two runs wrote identical predictions:
  benchmarks/results/demo_timing/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoobot_tf.typed_options import field_values, options_from

#: training settings of the demo (and the default of ``benchmarks/quality.py``); see the module doc
DEMO_TRAINING = {
    "n": 3000,
    "render_size": 64,
    "image_size": 48,
    "architecture": "small_cnn",
    "filters": (32, 64, 128, 256),
    "epochs": 20,
    "patience": 6,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "batchnorm_momentum": 0.9,
    "concentration_range": (0.1, 101.0),
}


def demo_train_kwargs(settings) -> dict:
    """Keyword arguments of :func:`zoobot_tf.training.train` for ``settings`` (a DEMO_TRAINING-like dict)."""
    kwargs = {key: settings[key] for key in ("architecture", "epochs", "patience", "batch_size", "learning_rate",
                                             "image_size", "concentration_range")}
    if settings["architecture"] == "small_cnn":
        kwargs["filters"] = tuple(settings["filters"])
    if settings["architecture"] in ("small_cnn",) or settings["architecture"].startswith("efficientnet"):
        kwargs["batchnorm_momentum"] = settings["batchnorm_momentum"]
    return kwargs


def _step(number, total, text):
    print(f"\n[{number}/{total}] {text}", flush=True)


@dataclass(frozen=True)
class DemoOptions:
    """The demo's size and training budget (see :func:`run_demo`)."""

    n: object = DEMO_TRAINING["n"]
    size: object = DEMO_TRAINING["render_size"]
    image_size: object = DEMO_TRAINING["image_size"]
    epochs: object = DEMO_TRAINING["epochs"]
    augment: object = True
    batch_size: object = DEMO_TRAINING["batch_size"]
    architecture: object = DEMO_TRAINING["architecture"]
    n_samples: object = 5


def run_demo(
    out_dir,
    schema="decals_dr5",
    seed=0,
    progress=True,
    deterministic=True,
    *,
    options: DemoOptions | None = None,
    **kwargs,
) -> dict:
    """Run the demo into ``out_dir``; returns the evaluation result (also printed and saved).

    ``deterministic`` turns on TensorFlow's op determinism for the rest of the process, so that
    the same seed prints the same figures.
    """
    _o = options_from(DemoOptions, options, **kwargs)
    (n, size, image_size, epochs, augment, batch_size, architecture, n_samples) = field_values(_o)
    import tensorflow as tf

    from zoobot_tf.catalogs import read_catalog
    from zoobot_tf.data import get_dataset
    from zoobot_tf.evaluation import evaluate, expected_fractions, format_comparison
    from zoobot_tf.evaluation.plots import save_image_grid
    from zoobot_tf.predictions import load_predictions, predict, summarise
    from zoobot_tf.schemas import get_schema
    from zoobot_tf.shards import iter_records, write_shards
    from zoobot_tf.synthetic import make_synthetic_dataset
    from zoobot_tf.training import train

    if deterministic:
        tf.config.experimental.enable_op_determinism()
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

    _step(3, total, f"training {architecture} at {image_size}px for up to {epochs} epochs")
    run_dir = out_dir / "run"
    settings = {**DEMO_TRAINING, "architecture": architecture, "epochs": epochs, "batch_size": batch_size,
                "image_size": image_size, "patience": min(DEMO_TRAINING["patience"], max(3, epochs // 3))}
    _, history = train(run_dir, schema.name, shard_dir, seed=seed, progress=progress, augment=augment, overwrite=True,
                       **demo_train_kwargs(settings))
    print(f"  best val_loss {min(history['val_loss']):.2f} (first epoch {history['val_loss'][0]:.2f})")

    _step(4, total, f"predict_on_catalog: {n_samples} MC-dropout samples per held-out galaxy -> predictions.hdf5")
    test_ids = [record["id_str"] for record in iter_records(shard_dir, "test")]
    train_ids = [record["id_str"] for record in iter_records(shard_dir, "train")]
    by_id = catalog.set_index("id_str").copy()  # one block: fast row lookups
    test_catalog = by_id.loc[test_ids].reset_index()
    predictions_path = predict(test_catalog, run_dir, n_samples=n_samples, save_loc=out_dir / "predictions.hdf5",
                               batch_size=64, seed=seed, progress=progress)

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
