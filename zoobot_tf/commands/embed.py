"""`zoobot-tf embed`: encoder features of a catalog into HDF5, then (``--pca K``) K principal
components into parquet for ``zoobot-tf similar`` / ``anomalies``.

Workers split a catalog like ``predict`` does; ``--merge`` joins their complete files (and runs
the PCA on the whole).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoobot_tf.options import add_recipe_arguments, add_worker_arguments, recipe_overrides

__all__ = ["add_arguments", "pca_path", "run"]


def pca_path(out, k: int) -> Path:
    """``embeddings.hdf5`` -> ``embeddings_pca16.parquet``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_pca{int(k)}.parquet")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf embed`` (see :func:`zoobot_tf.predictions.embed`)."""
    parser.add_argument("--catalog", help="catalog CSV/parquet with id_str and file_loc")
    parser.add_argument("--model", help="trained model (.keras or training run directory)")
    parser.add_argument("--out", required=True, help="embedding HDF5 (resumed if it exists)")
    parser.add_argument("--tta", type=int, default=1,
                        help="rotations/flips averaged per galaxy, 1 (off) to 8; 4 = the four rotations")
    parser.add_argument("--pca", type=int, default=0, metavar="K",
                        help="also write K principal components to OUT_pcaK.parquet (id_str, pca_0..K-1)")
    parser.add_argument("--pca-sample", type=int, default=20000, help="galaxies the PCA is fitted on (default 20000)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call (default 64)")
    add_worker_arguments(parser, "embeds")
    parser.add_argument("--merge", nargs="+", metavar="FILE", default=None,
                        help="instead of embedding: merge these complete worker files into OUT")
    parser.add_argument("--retry-errors", action="store_true", help="retry images recorded as unreadable")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_recipe_arguments(parser, training=False)
    return parser


def run(args: argparse.Namespace) -> int:
    from zoobot_tf.predictions.hdf5 import merge_embeddings, read_attrs

    if args.merge:
        path = merge_embeddings(args.merge, args.out)
    else:
        if not args.catalog or not args.model:
            raise ValueError("embed needs --catalog and --model (or --merge FILES)")
        from zoobot_tf.workers import resolve_worker

        args.worker_index, args.num_workers = resolve_worker(args.worker_index, args.num_workers)
        if args.pca and args.num_workers > 1:
            raise ValueError("--pca is fitted on the whole catalog: embed each worker without it, "
                             "then run embed --merge ... --pca K")
        from zoobot_tf.predictions.embedding import embed

        path = embed(args.catalog, args.model, save_loc=args.out, tta=args.tta, batch_size=args.batch_size,
                     **recipe_overrides(args), num_workers=args.num_workers,
                     worker_index=args.worker_index, progress=not args.no_progress, retry_errors=args.retry_errors)
    attrs = read_attrs(path)
    print(f"wrote {path}: {attrs['n_rows']} galaxies x {attrs['n_features']} features, "
          f"{attrs.get('n_errors', 0)} unreadable image(s)")
    if args.pca:
        from zoobot_tf.predictions.pca import apply_pca, fit_pca

        pca = fit_pca(path, args.pca, sample=args.pca_sample)
        out = apply_pca(path, pca_path(path, args.pca), pca)
        explained = pca.explained_variance_ratio.sum()
        print(f"wrote {out}: {args.pca} components fitted on {pca.n_fitted} galaxies, "
              f"{100 * explained:.1f}% of the variance")
    return 0
