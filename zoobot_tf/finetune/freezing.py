"""Which encoder layers train when fine-tuning, at what learning rate, and what BatchNorm does.

Blocks: layers are grouped by a numbered name prefix, as each architecture lays them out
(EfficientNet's ``block6a_...``/``block6b_...`` form block 6; ``small_cnn``'s ``block2_conv``;
timm-style ``stages_2_...`` (ConvNeXt) and ``layer3_...`` (ResNet)); the layers with weights
before the first block form ``stem`` and those after the last (EfficientNet's ``top_conv``/
``top_bn``) form ``top``, which trains with the last block. An architecture with other names
registers its pattern with :func:`register_block_pattern`; an encoder matching none counts each
layer with weights as a block.

BatchNorm: an encoder pretrained on one survey carries that survey's BatchNorm statistics. On
a new survey (other bands, PSF, noise, pixel scale) the activations no longer have those
statistics, and a BatchNorm frozen with them feeds every later layer shifted, mis-scaled
features. This was why fine-tuning stalled at chance on a new survey (issue 12). So by default
(``batchnorm='adapt'``) the moving statistics of every BatchNorm are first re-estimated on the
new training images (:func:`recalibrate_batchnorm`), and the BatchNorm layers of the blocks
that train keep training (batch statistics, moving averages updated with a momentum short
enough for a few hundred steps). ``'fixed'`` re-estimates them the same way and then keeps every
BatchNorm in inference mode while the rest trains, so training and evaluation normalise alike
(no moving average to lag behind, no batch statistics of a few mostly empty images).
``'train'`` skips the re-estimation; ``'frozen'`` keeps the pretraining statistics in inference
mode throughout (right only when the new images look like the pretraining images).
"""

from __future__ import annotations

import re

import keras
import numpy as np

from zoobot_tf.finetune.modes import BATCHNORM_MODES

__all__ = [
    "BATCHNORM_MODES",
    "block_learning_rates",
    "encoder_blocks",
    "freeze_batchnorm",
    "freeze_encoder",
    "recalibrate_batchnorm",
    "register_block_pattern",
    "set_batchnorm_momentum",
    "unfreeze_top_blocks",
]

_BLOCK_PATTERNS = [re.compile(p) for p in (r"^block(\d+)", r"^stages?[_.]?(\d+)", r"^layer(\d+)")]


def register_block_pattern(pattern: str) -> None:
    """Add a regex whose group 1 is the block number of a layer name (for new architectures)."""
    compiled = re.compile(pattern)
    if compiled.groups < 1:
        raise ValueError(f"block pattern {pattern!r} needs a group capturing the block number")
    if all(p.pattern != compiled.pattern for p in _BLOCK_PATTERNS):
        _BLOCK_PATTERNS.append(compiled)


def _has_weights(layer) -> bool:
    return bool(layer.weights)


def _walk(layer):
    for child in getattr(layer, "layers", []):
        yield child
        yield from _walk(child)


def _batchnorms(model):
    return [layer for layer in _walk(model) if isinstance(layer, keras.layers.BatchNormalization)]


def encoder_blocks(encoder) -> list[tuple[str, list]]:
    """``[(block name, [layers])]`` from input to output: ``stem``, ``block<N>``..., ``top``."""
    for pattern in _BLOCK_PATTERNS:
        numbers = [pattern.match(layer.name) for layer in encoder.layers]
        if any(numbers):
            break
    else:
        return [(layer.name, [layer]) for layer in encoder.layers if _has_weights(layer)]
    numbered: dict[int, list] = {}
    stem, top, seen_block = [], [], False
    for layer, match in zip(encoder.layers, numbers):
        if match:
            numbered.setdefault(int(match.group(1)), []).append(layer)
            seen_block = True
        else:
            (top if seen_block else stem).append(layer)
    blocks = [(f"block{n}", numbered[n]) for n in sorted(numbered)]
    if any(_has_weights(layer) for layer in stem):
        blocks.insert(0, ("stem", stem))
    if any(_has_weights(layer) for layer in top):
        blocks.append(("top", top))
    return blocks


def _trainable_groups(encoder, n_blocks):
    """Groups to train, top first, ``top`` merged into the last block: ``[(names, [layers])]``."""
    blocks = encoder_blocks(encoder)
    if blocks and blocks[-1][0] == "top" and len(blocks) > 1:
        (last_name, last), (_, top) = blocks[-2], blocks[-1]
        blocks = blocks[:-2] + [(f"{last_name}+top", last + top)]
    groups = list(reversed(blocks))
    if n_blocks is None:
        return groups
    n_blocks = int(n_blocks)
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0 (None: all), got {n_blocks}")
    return groups[:n_blocks]


def block_learning_rates(encoder, n_blocks=None, lr_decay: float = 0.75) -> dict[str, float]:
    """``{layer name: learning-rate multiplier}`` of the encoder layers that train.

    The top group trains at the head's rate (multiplier 1), the next one down at ``lr_decay``,
    then ``lr_decay**2``, ... (zoobot 2.x's ``lr_decay``). ``n_blocks`` counts groups from the
    top (None: all, 0: none).
    """
    if not 0.0 < float(lr_decay) <= 1.0:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    rates = {}
    for depth, (_, layers) in enumerate(_trainable_groups(encoder, n_blocks)):
        for layer in layers:
            if _has_weights(layer):
                rates[layer.name] = float(lr_decay) ** depth
    return rates


def freeze_batchnorm(model) -> int:
    """Set every BatchNormalization layer (at any depth) non-trainable; returns how many."""
    layers = _batchnorms(model)
    for layer in layers:
        layer.trainable = False
    return len(layers)


def set_batchnorm_momentum(model, momentum: float) -> int:
    """Set the moving-average momentum of every BatchNorm in ``model`` (before compiling); returns how many."""
    if not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"batchnorm_momentum must be in [0, 1), got {momentum}")
    layers = _batchnorms(model)
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)


def freeze_encoder(encoder) -> None:
    """Nothing in the encoder trains (BatchNorm in inference mode)."""
    encoder.trainable = False


def unfreeze_top_blocks(encoder, n_blocks, train_batchnorm: bool = True) -> list[str]:
    """Make the top ``n_blocks`` groups trainable (None: the whole encoder), the rest frozen.

    Parameters
    ----------
    encoder : keras.Model
    n_blocks : int or None
        Groups counted from the output (the ``top`` layers go with the last block); 0 keeps the
        encoder frozen; None or a number at least the number of groups unfreezes everything.
    train_batchnorm : bool
        False keeps every BatchNorm in inference mode with its stored statistics.

    Returns
    -------
    list of str
        Names of the encoder layers with weights that now train.
    """
    chosen = [layer for _, layers in _trainable_groups(encoder, n_blocks) for layer in layers]
    trainable = {id(layer) for layer in chosen}
    encoder.trainable = True
    for layer in _walk(encoder):
        layer.trainable = id(layer) in trainable
    for layer in chosen:  # sub-layers of a trainable composite layer train with it
        layer.trainable = True
    if not train_batchnorm:
        freeze_batchnorm(encoder)
    if not chosen:
        encoder.trainable = False
    return [layer.name for layer in encoder.layers if layer.trainable and layer.trainable_weights]


def recalibrate_batchnorm(encoder, images, max_batches: int | None = 50) -> int:
    """Re-estimate every BatchNorm's moving mean/variance on ``images`` (AdaBN / "precise BN").

    Runs the encoder in training mode, without gradients, over the batches of ``images`` (an
    iterable of image batches, e.g. a ``tf.data.Dataset`` of ``(images, labels)``), setting
    each layer's momentum so that the moving statistics become the plain average over the
    batches seen. Trainable flags and momenta are restored afterwards. Returns the number of
    batches used (0 when the encoder has no BatchNorm).
    """
    layers = _batchnorms(encoder)
    if not layers:
        return 0
    saved = [(layer, layer.trainable, layer.momentum) for layer in layers]
    seen = 0
    try:
        for layer in layers:
            layer.trainable = True
        for batch in images:
            if max_batches is not None and seen >= int(max_batches):
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            for layer in layers:
                layer.momentum = seen / (seen + 1.0)  # running mean over batches
            encoder(x, training=True)
            seen += 1
    finally:
        for layer, trainable, momentum in saved:
            layer.trainable = trainable
            layer.momentum = momentum
    if seen:
        bad = [layer.name for layer in layers if not np.isfinite(np.asarray(layer.moving_variance)).all()]
        if bad:
            raise ValueError(f"BatchNorm recalibration gave non-finite statistics in {bad[:5]}")
    return seen
