"""Predict a whole survey catalog with a trained model: full-size settings, one worker per process.

Writes Zoobot's HDF5 layout (``id_str``, ``label_cols``, ``predictions[galaxy, answer, sample]``)
with ``n_samples`` MC-dropout samples per galaxy, straight from the images in the catalog's
``file_loc`` column. Safe to kill and rerun: it resumes where it stopped.

One GPU / one machine::

    python scripts/predict_catalog.py --catalog catalog.csv --model run/model.keras \\
        --out preds/decals.hdf5 --schema decals_dr5

Many workers (e.g. a SLURM job array of 8 tasks): each process takes the galaxies whose
``crc32(id_str) % num_workers == worker_index`` and writes ``<out stem>_worker{i}of{n}.hdf5``.
The index and count come from ``--worker-index``/``--num-workers`` or, when not given, from
``ZOOBOT_WORKER_INDEX``/``ZOOBOT_NUM_WORKERS`` or the SLURM array (index
``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN``, count ``SLURM_ARRAY_TASK_COUNT``; see
:mod:`zoobot_tf.workers`), so ``--array=0-7`` and ``--array=1-8`` both work::

    #SBATCH --array=1-8
    python scripts/predict_catalog.py --catalog catalog.csv --model model.keras --out preds/decals.hdf5

then merge the complete worker files (all 8 must be there) and summarise::

    zoobot-tf merge-predictions preds/decals_worker*of8.hdf5 --out preds/decals.hdf5
    zoobot-tf summarise --predictions preds/decals.hdf5 --out preds/decals_summary

Defaults are the full-size ones: 5 samples, batch 128, the model's own input size and channels.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    """``zoobot-tf predict`` with full-size defaults (worker share from flags or the SLURM array);
    ``--merge FILES... --out OUT`` is ``zoobot-tf merge-predictions``."""
    from zoobot_tf.predictions import merge_command
    from zoobot_tf.predictions.command import add_arguments, run

    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["--merge"]:
        parser = merge_command.add_arguments(argparse.ArgumentParser(description="merge complete worker files"))
        return merge_command.run(parser.parse_args(argv[1:]))
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.set_defaults(batch_size=128)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
