"""`zoobot-tf similar`: the galaxies that look most like one galaxy (or a new image).

Cosine distance on the PCA features of ``zoobot-tf embed --pca`` through a faiss index
(:class:`~zoobot_tf.discovery.index.FeatureIndex`); a new image is embedded with the model and
image options recorded in the features file, then projected with its PCA.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from zoobot_tf.discovery.common import catalog_locations, gallery_images, load_features

__all__ = ["embed_image", "find_similar", "similar_gallery"]


def embed_image(image, pca, model=None) -> np.ndarray:
    """PCA features ``(1, K)`` of a new image file, embedded like the catalog was (the image recipe
    the features file records, else the model's own)."""
    import json

    from zoobot_tf.data.inputs import load_model_input
    from zoobot_tf.predictions.embedding import Embedder
    from zoobot_tf.predictions.predict_on_catalog import _load_model, resolve_recipe
    from zoobot_tf.recipe import ImageRecipe

    attrs = (pca.embedding_attrs or {}) if pca is not None else {}
    if pca is None or not attrs:
        raise ValueError("querying by image needs a PCA parquet from zoobot-tf embed --pca (it records the PCA "
                         "and how the features were made)")
    model = model or attrs.get("model_file")
    if not model or str(model).startswith("<"):
        raise ValueError("the features were made with an in-memory model; pass model= (--model) to embed the image")
    model, model_path, _ = _load_model(model)
    recorded = attrs.get("image_recipe")
    recipe = resolve_recipe(model, model_path, ImageRecipe.from_dict(json.loads(recorded)) if recorded else None)
    pixels = load_model_input(image, recipe)[None]
    return pca.transform(Embedder(model, int(attrs.get("tta", 1)))(pixels))


def find_similar(features, query_id=None, image=None, k: int = 8, model=None) -> pd.DataFrame:
    """The ``k`` galaxies nearest a query.

    Parameters
    ----------
    features : str or Path
        PCA parquet from ``zoobot-tf embed --pca`` (or an embedding HDF5).
    query_id : str, optional
        A galaxy of ``features`` (itself excluded from the answer).
    image : str or Path, optional
        A new image file instead (needs the PCA parquet; ``model`` default: the one recorded).
    k : int

    Returns
    -------
    pandas.DataFrame
        ``rank`` (1 = nearest), ``id_str``, ``distance`` (cosine distance, 0 = same direction).
    """
    if (query_id is None) == (image is None):
        raise ValueError("give exactly one of a query id_str or a query image")
    ids, x, pca = load_features(features)
    from zoobot_tf.discovery.index import FeatureIndex

    index = FeatureIndex(x)
    if query_id is not None:
        where = np.flatnonzero(ids == str(query_id))
        if not where.size:
            raise ValueError(f"id_str {query_id!r} is not in {features} ({len(ids)} galaxies)")
        query = x[where]
    else:
        query = embed_image(image, pca, model)
    distances, rows = index.search(query, int(k) + (query_id is not None))
    keep = rows[0] >= 0
    found = pd.DataFrame({"id_str": ids[rows[0][keep]], "distance": distances[0][keep]})
    if query_id is not None:
        found = found[found["id_str"] != str(query_id)]
    found = found.head(int(k)).reset_index(drop=True)
    found.insert(0, "rank", np.arange(1, len(found) + 1))
    return found


def similar_gallery(found: pd.DataFrame, catalog, query_label: str, query_file, source: str, n_columns: int = 5):
    """Gallery figure: the query (framed) then its neighbours with ids and distances."""
    from zoobot_tf.evaluation.gallery import gallery_figure

    locations = catalog_locations(catalog, found["id_str"], source)
    images = gallery_images([query_file] + list(locations))
    titles = [f"query\n{query_label}"] + [f"{i}\nd={d:.3f}" for i, d in zip(found["id_str"], found["distance"])]
    return gallery_figure(images, titles, n_columns=n_columns, highlight=[0],
                          title=f"{len(found)} nearest galaxies by cosine distance")
