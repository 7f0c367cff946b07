"""Predict a whole survey catalog with a trained model: full-size settings, one worker per process.

Writes Zoobot's HDF5 layout (``id_str``, ``label_cols``, ``predictions[galaxy, answer, sample]``)
with ``n_samples`` MC-dropout samples per galaxy, straight from the images in the catalog's
``file_loc`` column. Safe to kill and rerun: it resumes where it stopped.

One GPU / one machine::

    python prediction/predict_catalog.py --catalog catalog.csv --model run/model.keras \\
        --out preds/decals.hdf5 --schema decals_dr5

Many workers (e.g. a SLURM job array of 8 tasks): each process takes the galaxies whose
``crc32(id_str) % num_workers == worker_index`` and writes ``<out stem>_worker{i}of{n}.hdf5``.
The index and count come from ``--worker-index``/``--num-workers`` or, when not given, from
``ZOOBOT_WORKER_INDEX``/``ZOOBOT_NUM_WORKERS`` or ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT``::

    #SBATCH --array=0-7
    python prediction/predict_catalog.py --catalog catalog.csv --model model.keras --out preds/decals.hdf5

then merge the complete worker files and summarise::

    python prediction/predict_catalog.py --merge preds/decals_worker*of8.hdf5 --out preds/decals.hdf5
    zoobot-tf summarise --predictions preds/decals.hdf5 --out preds/decals_summary

Defaults are the full-size ones: 5 samples, batch 128, the model's own input size and channels.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _env_int(*names):
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                raise SystemExit(f"environment variable {name}={value!r} is not an integer") from None
    return None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", help="catalog CSV/parquet with id_str and file_loc")
    parser.add_argument("--model", help="trained model .keras file")
    parser.add_argument("--out", required=True, help="output HDF5 file")
    parser.add_argument("--schema", default=None, help="decision tree of the outputs, e.g. decals_dr5")
    parser.add_argument("--n-samples", type=int, default=5, help="MC-dropout samples per galaxy (default 5)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per model call (default 128)")
    parser.add_argument("--crop-scale", type=float, default=None,
                        help="centre crop area fraction before resizing (0.75 matches zoobot_tf.data eval)")
    parser.add_argument("--scaling", default=None, help="image scaling for FITS catalogs")
    parser.add_argument("--num-workers", type=int, default=None, help="workers sharing the catalog")
    parser.add_argument("--worker-index", type=int, default=None, help="this worker (0-based)")
    parser.add_argument("--no-fast-path", action="store_true", help="n full passes instead of encoder once")
    parser.add_argument("--merge", nargs="+", metavar="HDF5", help="merge these complete worker files into --out")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.num_workers is None:
        args.num_workers = _env_int("ZOOBOT_NUM_WORKERS", "SLURM_ARRAY_TASK_COUNT") or 1
    if args.worker_index is None:
        args.worker_index = _env_int("ZOOBOT_WORKER_INDEX", "SLURM_ARRAY_TASK_ID") or 0
    if not args.merge and not (args.catalog and args.model):
        parser.error("--catalog and --model are required (unless --merge)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from zoobot_tf.predictions import merge_predictions, predict, read_attrs

    if args.merge:
        path = merge_predictions(args.merge, args.out)
    else:
        path = predict(
            args.catalog,
            args.model,
            n_samples=args.n_samples,
            save_loc=args.out,
            batch_size=args.batch_size,
            scaling=args.scaling,
            crop_scale=args.crop_scale,
            fast_path=False if args.no_fast_path else "auto",
            num_workers=args.num_workers,
            worker_index=args.worker_index,
            schema=args.schema,
            progress=not args.no_progress,
        )
    attrs = read_attrs(path)
    print(f"{path}: {attrs['n_rows']} galaxies, {attrs['n_samples']} samples, complete={bool(attrs['complete'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
