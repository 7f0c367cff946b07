"""Which encoder layers train in each fine-tuning phase.

Why BatchNorm always stays frozen: with a few hundred new images, batch statistics are noisy
and differ from the survey the encoder was trained on; updating the moving mean/variance (or
normalising with batch statistics in training) would shift every feature the head relies on.
In Keras 3 a BatchNormalization layer with ``trainable=False`` runs in inference mode, using
and keeping its moving statistics.

Blocks: layers are grouped by a ``block<N>`` name prefix (EfficientNet's ``block6a_...``,
``block6b_...`` form block 6; ``small_cnn``'s ``block2_conv``, ``block2_bn`` form block 2); the
layers after the last block (EfficientNet's ``top_conv``/``top_bn``) train whenever any block
does. An encoder without such names counts each layer with weights as a block.
"""

from __future__ import annotations

import re

import keras

__all__ = ["encoder_blocks", "freeze_batchnorm", "freeze_encoder", "unfreeze_top_blocks"]

_BLOCK = re.compile(r"^block(\d+)")


def _has_weights(layer) -> bool:
    return bool(layer.weights)


def encoder_blocks(encoder) -> list[tuple[str, list]]:
    """``[(block name, [layers])]`` from input to output (see module docstring)."""
    numbered: dict[int, list] = {}
    top, seen_block = [], False
    for layer in encoder.layers:
        match = _BLOCK.match(layer.name)
        if match:
            numbered.setdefault(int(match.group(1)), []).append(layer)
            seen_block = True
        elif seen_block:
            top.append(layer)
    if not numbered:
        return [(layer.name, [layer]) for layer in encoder.layers if _has_weights(layer)]
    blocks = [(f"block{n}", numbered[n]) for n in sorted(numbered)]
    if any(_has_weights(layer) for layer in top):
        blocks.append(("top", top))
    return blocks


def freeze_batchnorm(model) -> int:
    """Set every BatchNormalization layer (at any depth) non-trainable; returns how many."""
    count = 0
    for layer in _walk(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


def _walk(layer):
    for child in getattr(layer, "layers", []):
        yield child
        yield from _walk(child)


def freeze_encoder(encoder) -> None:
    """Phase 1: nothing in the encoder trains (BatchNorm in inference mode)."""
    encoder.trainable = False


def unfreeze_top_blocks(encoder, n_blocks: int) -> list[str]:
    """Phase 2: train the last ``n_blocks`` blocks (and the layers after them), BatchNorm excepted.

    Parameters
    ----------
    encoder : keras.Model
    n_blocks : int
        Blocks to unfreeze, counted from the output; 0 keeps the encoder frozen, a number at
        least the number of blocks unfreezes them all.

    Returns
    -------
    list of str
        Names of the encoder layers with weights that now train.
    """
    n_blocks = int(n_blocks)
    if n_blocks < 0:
        raise ValueError(f"n_blocks_unfrozen must be >= 0, got {n_blocks}")
    blocks = encoder_blocks(encoder)
    chosen = []
    if n_blocks:
        has_top = bool(blocks) and blocks[-1][0] == "top"
        numbered = blocks[:-1] if has_top else blocks
        chosen = numbered[-n_blocks:] + (blocks[-1:] if has_top else [])
    trainable = {id(layer) for _, layers in chosen for layer in layers}
    encoder.trainable = True
    for layer in _walk(encoder):
        layer.trainable = id(layer) in trainable
    # sub-layers of a trainable composite layer train with it
    for _, layers in chosen:
        for layer in layers:
            layer.trainable = True
    freeze_batchnorm(encoder)
    return [layer.name for layer in encoder.layers if layer.trainable and layer.trainable_weights]
