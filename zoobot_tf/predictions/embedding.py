"""Encoder features for every galaxy of a catalog, streamed into a resumable HDF5 file.

``embed(catalog, model, save_loc='embeddings.hdf5')`` is :func:`~zoobot_tf.predictions.predict`
with the encoder's pooled features in place of MC samples: the same catalog checks, image
pipeline, worker split, resume-after-kill and merge (:func:`merge_embeddings`); the file holds
``id_str`` and ``representations[N, D]`` (see :mod:`zoobot_tf.predictions.hdf5`). With ``tta``
views the features of the rotated/flipped images are averaged, so the representation of a
galaxy hardly depends on how it lies on the sky.
"""

from __future__ import annotations

import numpy as np

from zoobot_tf.predictions.hdf5 import EmbeddingWriter, chunk_rows_for
from zoobot_tf.predictions.predict_on_catalog import (
    _load_model,
    fill_file,
    prepare_rows,
    recipe_attrs,
    resolve_recipe,
    worker_file,
)
from zoobot_tf.predictions.tta import check_views, dihedral_views

__all__ = ["Embedder", "embed"]


class Embedder:
    """``embedder(images) -> (B, D)`` float32 encoder features, averaged over ``n_views`` views.

    Raises ValueError when the model has no separate encoder (see :func:`zoobot_tf.models.get_encoder`).
    """

    def __init__(self, model, n_views: int = 1):
        from zoobot_tf.predictions.sampling import compiled_encoder

        try:
            self._encode = compiled_encoder(model)
        except ValueError as err:
            raise ValueError(f"embed needs a model with an encoder part: {err}") from None
        self.n_views = check_views(n_views)
        self.n_features = int(self._encode(np.zeros((1, *model.input_shape[1:]), np.float32)).shape[-1])

    def __call__(self, images) -> np.ndarray:
        views = dihedral_views(images, self.n_views)
        return np.mean([np.asarray(self._encode(v), dtype=np.float32) for v in views], axis=0)


def embed(
    catalog,
    model,
    save_loc="embeddings.hdf5",
    tta: int = 1,
    batch_size: int = 64,
    recipe=None,
    num_workers: int = 1,
    worker_index: int = 0,
    progress: bool = True,
    retry_errors: bool = False,
    **recipe_overrides,
):
    """Write the encoder features of every galaxy of ``catalog`` to ``save_loc``.

    Parameters
    ----------
    catalog, model, batch_size, recipe, num_workers, worker_index, progress, retry_errors
        As in :func:`zoobot_tf.predictions.predict` (the model's own image recipe, resume,
        ``_worker{i}of{n}`` file names).
    **recipe_overrides
        ``stored_size``, ``eval_crop``, ``scaling``: as in :func:`~zoobot_tf.predictions.predict`.
    save_loc : str or Path
        The HDF5 file: ``id_str (N,)``, ``representations (N, D)`` float32, ``errors/``.
    tta : int
        Views averaged per galaxy: 1 (off) to 8 rotations/flips
        (:func:`zoobot_tf.predictions.tta.dihedral_views`); 4 = the four rotations.

    Returns
    -------
    Path
        The file written, marked ``complete``.
    """
    tta = check_views(tta)
    rows = prepare_rows(catalog, batch_size, num_workers, worker_index)
    model, model_path, model_file = _load_model(model)
    recipe = resolve_recipe(model, model_path, recipe, **recipe_overrides)
    embedder = Embedder(model, tta)
    save_loc = worker_file(save_loc, num_workers, worker_index)
    attrs = {
        "model_file": model_file,
        "num_workers": int(num_workers),
        "worker_index": int(worker_index),
        "tta": tta,
        **recipe_attrs(recipe),
    }
    check = ("num_workers", "worker_index", "tta", "image_recipe")
    n = embedder.n_features
    return fill_file(
        save_loc, rows, embedder, recipe,
        open_writer=lambda: EmbeddingWriter(save_loc, n, attrs=attrs, check_attrs=check,
                                            chunk_rows=chunk_rows_for(n, 1, batch_size)),
        read_state=lambda: EmbeddingWriter.existing_state(save_loc, n, attrs, check),
        batch_size=int(batch_size), progress=progress, retry_errors=retry_errors,
        finish_attrs={}, desc="embed",
    )
