"""Where does an attention model look? The last stage's attention overlaid on the r band, one PNG
per galaxy.

* DAT: the sampling points of the last deformable block (where its keys and values are read:
  reference grid + learned offsets), coloured by the attention they receive, with the
  reference grid they moved from (:func:`zoobot_tf.models.dat.deformable_attention_maps`).
* Linformer ViT: the class token's attention in the last block, mapped back onto the patches.
  Linformer attends to ``k`` *projections* of the sequence (``F^T V``), so the weight of patch
  ``n`` in the class token's output is ``sum_j a_j F[n, j]``: exact, but it can be negative;
  the map shows its magnitude.
* CNNs have no attention: asking for their maps is an error, not an empty picture.

Images are prepared exactly as for training (the run's shard image options, then the
evaluation centre crop), so the maps show what the model saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["compute_attention_maps", "linformer_class_token_attention", "plot_attention_map", "write_attention_maps"]


def _encoder(model):
    try:
        return model.get_layer("encoder")
    except ValueError:
        return model


def _blocks(model):
    from zoobot_tf.models.dat import DATBlock
    from zoobot_tf.models.linformer import LinformerBlock

    layers = _encoder(model).layers
    deformable = [layer for layer in layers if isinstance(layer, DATBlock) and layer.kind == "deformable"]
    linformer = [layer for layer in layers if isinstance(layer, LinformerBlock)]
    return deformable, linformer


def linformer_class_token_attention(model, images, batch_size=16):
    """Class-token attention of the last Linformer block, per patch.

    Returns
    -------
    dict
        ``attention``: ``(N, heads, k)`` softmax weights of the class token over the ``k``
        projected keys; ``patch_weights``: ``(N, heads, gh, gw)`` weight of each patch's value in
        the class token's output (``a F^T``, signed); ``map``: ``(N, gh, gw)`` mean over heads of
        ``|patch_weights|``, scaled to a maximum of 1 per galaxy; ``block``: the block's name.
    """
    import keras
    import tensorflow as tf

    _, blocks = _blocks(model)
    if not blocks:
        raise ValueError(f"model {model.name!r} has no Linformer blocks")
    encoder, block = _encoder(model), blocks[-1]
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[1:] != tuple(encoder.input.shape[1:]):
        raise ValueError(f"images must have shape (N,) + {tuple(encoder.input.shape[1:])}, got {images.shape}")
    grid = tuple(encoder.get_layer("patch_embedding").output.shape[1:3])
    attention = block.attention
    heads = attention.num_heads
    head_dim = attention.inner_dim // heads
    value_projection = attention.proj_k if attention.share_kv else attention.proj_v
    probe = keras.Model(encoder.input, block.input)
    parts, weights = [], []
    for start in range(0, len(images), int(batch_size)):
        x = block.norm1(probe(images[start : start + int(batch_size)], training=False))
        n_tokens = x.shape[1]
        query = tf.reshape(attention.to_q(x)[:, 0], [-1, heads, head_dim])  # the class token
        keys = tf.einsum("bnd,nk->bkd", attention.to_k(x), tf.cast(attention.proj_k, x.dtype))
        keys = tf.transpose(tf.reshape(keys, [-1, attention.k, heads, head_dim]), [0, 2, 1, 3])
        logits = tf.einsum("bhd,bhkd->bhk", query, keys) * head_dim**-0.5
        a = tf.nn.softmax(logits, axis=-1)
        token_weights = tf.einsum("bhk,nk->bhn", a, tf.cast(value_projection, a.dtype))
        parts.append(a.numpy())
        weights.append(token_weights.numpy()[:, :, 1:].reshape(-1, heads, *grid))
        if n_tokens != 1 + grid[0] * grid[1]:
            raise ValueError(f"block {block.name!r} sees {n_tokens} tokens, expected 1 + {grid[0]} x {grid[1]} patches")
    patch_weights = np.concatenate(weights)
    magnitude = np.abs(patch_weights).mean(axis=1)
    peak = magnitude.reshape(len(magnitude), -1).max(axis=1)
    return {
        "attention": np.concatenate(parts),
        "patch_weights": patch_weights,
        "map": magnitude / np.where(peak > 0, peak, 1.0)[:, None, None],
        "block": block.name,
    }


def compute_attention_maps(model, images, block=-1, batch_size=16) -> dict:
    """The last stage's attention of a DAT or Linformer ViT model for a batch of images.

    Parameters
    ----------
    model : keras.Model
        From :func:`zoobot_tf.models.get_model` (or its encoder).
    images : array (N, H, W, C)
        As the model takes them (float32).
    block : int
        DAT: which deformable block (-1: the last).
    batch_size : int

    Returns
    -------
    dict
        ``kind`` ('deformable' or 'linformer') plus the arrays of
        :func:`zoobot_tf.models.dat.deformable_attention_maps` or
        :func:`linformer_class_token_attention`.

    Raises
    ------
    ValueError
        The model has no attention layers (e.g. a CNN).
    """
    from zoobot_tf.models.dat import deformable_attention_maps

    deformable, linformer = _blocks(model)
    if deformable:
        return {"kind": "deformable", **deformable_attention_maps(model, images, block=block, batch_size=batch_size)}
    if linformer:
        return {"kind": "linformer", **linformer_class_token_attention(model, images, batch_size=batch_size)}
    raise ValueError(
        f"model {model.name!r} has no attention layers (it is a CNN or another attention-free backbone); attention "
        "maps need a Deformable Attention Transformer (architecture dat_*) or a Linformer ViT (linformer_*)"
    )


def _display(band):
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    return ImageNormalize(band, interval=PercentileInterval(99.5), stretch=AsinhStretch(0.1))


def plot_attention_map(image, maps, index, path, band=1, title=None) -> Path:
    """One galaxy's attention over one band of its image, as a PNG.

    Parameters
    ----------
    image : array (H, W, C)
        The model-input image.
    maps : dict
        From :func:`compute_attention_maps` (all galaxies).
    index : int
        Which galaxy of ``maps``.
    path : path
    band : int
        Channel shown (1: r of g, r, i, z, y; clipped to the channels there are).
    title : str, optional
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    image = np.asarray(image, dtype=np.float32)
    band = min(int(band), image.shape[-1] - 1)
    shown = image[..., band]
    height, width = shown.shape
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.subplots()
    ax.imshow(shown, cmap="gray", norm=_display(shown), origin="upper")
    limits = [-0.5, width - 0.5, -0.5, height - 0.5]  # x0, x1, y0, y1: the image, widened for outside points
    if maps["kind"] == "deformable":
        sampling = maps["sampling_points"][index]  # (groups, Hk, Wk, 2) as (y, x)
        reference = maps["reference_points"][index]
        weight = maps["key_weights"][index]
        ref = reference.reshape(-1, 2)
        ax.scatter(ref[:, 1], ref[:, 0], s=4, c="white", alpha=0.6, label="reference grid")
        markers = "osD^v<>p"
        top = max(float(weight.max()), 1e-12)
        for g in range(sampling.shape[0]):
            pts, ref_g, w = sampling[g].reshape(-1, 2), reference[g].reshape(-1, 2), weight[g].ravel()
            ax.plot(np.stack([ref_g[:, 1], pts[:, 1]]), np.stack([ref_g[:, 0], pts[:, 0]]), color="cyan", lw=0.5,
                    alpha=0.6)
            scatter = ax.scatter(pts[:, 1], pts[:, 0], c=w, cmap="autumn", vmin=0.0, vmax=top, s=18 + 60 * w / top,
                                 marker=markers[g % len(markers)], edgecolors="black", linewidths=0.3,
                                 label=f"sampling points, group {g + 1}")
        points = sampling.reshape(-1, 2)
        margin = 1.0
        limits = [min(limits[0], points[:, 1].min() - margin), max(limits[1], points[:, 1].max() + margin),
                  min(limits[2], points[:, 0].min() - margin), max(limits[3], points[:, 0].max() + margin)]
        ax.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, edgecolor="grey", lw=0.8, ls="--"))
        fig.colorbar(scatter, ax=ax, fraction=0.046, pad=0.04, label="attention received (mean over queries)")
        ax.legend(loc="lower left", fontsize=6, framealpha=0.6)
    else:
        overlay = ax.imshow(maps["map"][index], cmap="inferno", alpha=0.45, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                            interpolation="nearest", vmin=0, vmax=1)
        fig.colorbar(overlay, ax=ax, fraction=0.046, pad=0.04, label="class-token attention (relative)")
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[3], limits[2])
    ax.set_facecolor("black")
    ax.set_title(title or f"{maps['kind']} attention, {maps['block']}", fontsize=8, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _model_inputs(paths, ids, recipe):
    """Images prepared by the model's recipe, evaluation crop: ``(N, S, S, C)`` float32."""
    from zoobot_tf.data.inputs import load_model_input

    arrays = []
    for id_str, path in zip(ids, paths):
        try:
            arrays.append(load_model_input(path, recipe))
        except Exception as err:  # noqa: BLE001 - re-raised naming the row
            raise ValueError(f"cannot prepare image of id_str {id_str!r} (file_loc {path!r}): {err}") from err
    return np.stack(arrays)


def write_attention_maps(model, catalog, out_dir, *, n=8, band=1, block=-1, batch_size=8) -> list[Path]:
    """Attention-map PNGs of the first ``n`` galaxies of a catalog (``<out_dir>/<id_str>.png``).

    Parameters
    ----------
    model : path
        A ``.keras`` file (its image recipe prepares the images) or a run directory.
    catalog : path or pandas.DataFrame
        Columns ``id_str`` and ``file_loc`` (images in the format the run was trained on).
    out_dir : path
    n : int
        Galaxies to draw (the first ``n`` rows).
    band : int
        Channel shown under the attention (1 = r for g, r, i, z, y FITS).
    block : int
        DAT: which deformable block (-1: the last).
    batch_size : int

    Returns
    -------
    list of Path
        The PNGs written.
    """
    from zoobot_tf.catalogs import read_catalog
    from zoobot_tf.predictions.predict_on_catalog import _load_model, resolve_recipe

    keras_model, model_path, _ = _load_model(model)
    recipe = resolve_recipe(keras_model, model_path)
    table = read_catalog(catalog)
    missing = [c for c in ("id_str", "file_loc") if c not in table.columns]
    if missing:
        raise ValueError(f"catalog {catalog if not hasattr(catalog, 'columns') else ''} lacks columns {missing}")
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rows = table.head(int(n))
    ids = rows["id_str"].astype(str).tolist()
    images = _model_inputs(rows["file_loc"].astype(str).tolist(), ids, recipe)
    maps = compute_attention_maps(keras_model, images, block=block, batch_size=batch_size)
    out_dir = Path(out_dir)
    written = []
    for i, id_str in enumerate(ids):
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in id_str)
        written.append(plot_attention_map(images[i], maps, i, out_dir / f"{safe}.png", band=band,
                                          title=f"{id_str}\n{maps['kind']} attention ({maps['block']})"))
    return written
