"""Map a timm state dict onto a Keras encoder whose layers are named after timm's modules.

Per Keras layer kind, which timm parameter fills which Keras variable and how it is laid out:

=====================  ==========================  ====================================
Keras layer            timm key (prefix = name)     layout change
=====================  ==========================  ====================================
Conv2D                 ``.weight`` / ``.bias``      OIHW -> HWIO
DepthwiseConv2D        ``.weight`` / ``.bias``      (C, 1, H, W) -> (H, W, C, 1)
Dense                  ``.weight`` / ``.bias``      (out, in) -> (in, out)
LayerNormalization     ``.weight`` / ``.bias``      none (eps 1e-6 as timm)
BatchNormalization     ``.weight``, ``.bias``,      none (eps 1e-5 as PyTorch);
                       ``.running_mean/var``        ``.num_batches_tracked`` is a counter
LayerScale             the prefix itself            none
custom (``timm_rules``)  what the layer's own            as the layer says (MaxViT's
                       ``timm_rules()`` names       relative-position bias)
=====================  ==========================  ====================================

:func:`export_timm_state_dict` runs the table backwards (a Keras encoder -> a state dict that
``timm.create_model(name, num_classes=0).load_state_dict`` takes).

The import is all or nothing: every Keras variable must find its key with the right shape and
every checkpoint key must be used, else a one-line ValueError names what is missing, left over
or mis-shaped, and the encoder is left untouched.

A stem (the first convolution) whose input channels differ from the encoder's is adapted when
asked (``adapt_channels=True``), as timm's ``adapt_input_conv`` does: to one channel by summing
the input weights, from one channel by repeating them divided by the count, from three to N by
repeating the RGB weights scaled by 3 / N. On an image whose channels are all equal the adapted
encoder gives the features the original gives (up to float rounding).
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from zoobot_tf.models.convnext.layers import LayerScale

__all__ = ["adapt_stem_weight", "assign_timm_weights", "export_timm_state_dict", "timm_weight_plan"]

logger = logging.getLogger(__name__)

#: checkpoint entries that carry no weight (BatchNorm's step counter)
IGNORED_SUFFIXES = (".num_batches_tracked",)


def _conv(w):
    return np.transpose(w, (2, 3, 1, 0))


def _depthwise(w):
    return np.transpose(w, (2, 3, 0, 1))


def _dense(w):
    return np.transpose(w) if w.ndim == 2 else w


def _same(w):
    return w


#: forward transform -> its inverse (Keras layout back to timm's)
_INVERSE = {
    _conv: lambda w: np.transpose(w, (3, 2, 0, 1)),
    _depthwise: lambda w: np.transpose(w, (2, 3, 0, 1)),
    _dense: _dense,
    _same: _same,
}
#: layouts a custom layer's ``timm_rules()`` may name
_LAYOUTS = {"conv": _conv, "depthwise": _depthwise, "dense": _dense, "same": _same}


def adapt_stem_weight(weight, channels, key="stem"):
    """A timm stem kernel ``(out, in, kh, kw)`` for ``channels`` input channels (timm's ``adapt_input_conv``).

    ``in -> 1``: sum over the inputs; ``1 -> C``: repeat, divided by C; ``3 -> C``: repeat the RGB
    weights, truncate to C, scaled by 3 / C. Any other pair is a ValueError naming ``key``.
    """
    weight = np.asarray(weight, np.float32)
    given = int(weight.shape[1])
    if channels == given:
        return weight
    if channels == 1:
        return weight.sum(axis=1, keepdims=True)
    if given == 1:
        return np.repeat(weight, channels, axis=1) / channels
    if given == 3:
        tiled = np.tile(weight, (1, -(-channels // 3), 1, 1))[:, :channels]
        return tiled * (3.0 / channels)
    raise ValueError(
        f"checkpoint key {key} has {given}-channel input weights: adapting them to {channels} channels is "
        "defined only to or from 1 channel, or from 3"
    )


def _rules(layer):
    """``{keras variable name: (timm key, transform)}`` for one layer, or None if unknown."""
    prefix = layer.name
    custom = getattr(layer, "timm_rules", None)
    if callable(custom):
        return {name: (key, _LAYOUTS[layout]) for name, (key, layout) in custom().items()}
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return {"kernel": (f"{prefix}.weight", _depthwise), "bias": (f"{prefix}.bias", _same)}
    if isinstance(layer, keras.layers.Conv2D):
        return {"kernel": (f"{prefix}.weight", _conv), "bias": (f"{prefix}.bias", _same)}
    if isinstance(layer, keras.layers.Dense):
        return {"kernel": (f"{prefix}.weight", _dense), "bias": (f"{prefix}.bias", _same)}
    if isinstance(layer, keras.layers.LayerNormalization):
        return {"gamma": (f"{prefix}.weight", _same), "beta": (f"{prefix}.bias", _same)}
    if isinstance(layer, keras.layers.BatchNormalization):
        return {
            "gamma": (f"{prefix}.weight", _same),
            "beta": (f"{prefix}.bias", _same),
            "moving_mean": (f"{prefix}.running_mean", _same),
            "moving_variance": (f"{prefix}.running_var", _same),
        }
    if isinstance(layer, LayerScale):
        return {"gamma": (prefix, _same)}
    return None


def _walk(layer):
    for child in getattr(layer, "layers", []):
        yield child
        yield from _walk(child)


def _short(names, n=3):
    names = list(names)
    shown = ", ".join(names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _stem_channels_differ(raw_shape, want):
    return (
        len(raw_shape) == 4 and len(want) == 4 and raw_shape[1] != want[2]
        and (raw_shape[0], raw_shape[2], raw_shape[3]) == (want[3], want[0], want[1])
    )


def _shape_error(key, raw_shape, variable, architecture, stem):
    raw_shape, want = tuple(raw_shape), tuple(variable.shape)
    if stem and _stem_channels_differ(raw_shape, want):
        return (
            f"checkpoint key {key} has shape {raw_shape}: {raw_shape[1]}-channel images, "
            f"but the {architecture} encoder takes {want[2]} channels"
        )
    return (
        f"checkpoint key {key} has shape {raw_shape}, which does not fit {architecture}'s {variable.path} {want}: "
        f"a checkpoint of another architecture?"
    )


def timm_weight_plan(encoder, state_dict, architecture="encoder", adapt_channels=False):
    """``[(keras variable, float32 array)]`` for every variable of ``encoder``, checked.

    ``adapt_channels``: adapt a stem kernel made for another number of input channels
    (:func:`adapt_stem_weight`) instead of refusing it.

    Raises
    ------
    ValueError
        One line naming the missing key(s), the key with the wrong shape (the input-channel
        count for the stem) or the keys the encoder does not use.
    """
    plan, missing, used = [], [], set()
    first_conv = True
    for layer in _walk(encoder):
        if not layer.weights:
            continue
        rules = _rules(layer)
        if rules is None:
            raise ValueError(f"layer {layer.name} ({type(layer).__name__}) of {architecture} has no timm mapping")
        is_stem = first_conv and isinstance(layer, keras.layers.Conv2D)
        first_conv = first_conv and not is_stem
        for variable in layer.weights:
            name = variable.path.rsplit("/", 1)[-1]
            if name not in rules:
                raise ValueError(f"Keras weight {variable.path} of {architecture} has no timm mapping")
            key, transform = rules[name]
            if key not in state_dict:
                missing.append(key)
                continue
            raw = np.asarray(state_dict[key])
            if is_stem and adapt_channels and name == "kernel" and _stem_channels_differ(raw.shape, variable.shape):
                logger.info("adapting %s from %d to %d input channels", key, raw.shape[1], variable.shape[2])
                raw = adapt_stem_weight(raw, int(variable.shape[2]), key)
            value = transform(raw)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(_shape_error(key, raw.shape, variable, architecture, is_stem))
            plan.append((variable, value.astype(np.float32)))
            used.add(key)
    if missing and not used:
        raise ValueError(
            f"checkpoint has none of the keys {architecture} needs ({_short(missing)}); its own keys are "
            f"{_short(k for k in state_dict if not k.endswith(IGNORED_SUFFIXES))}: not a {architecture} checkpoint"
        )
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} key(s) that {architecture} needs: {_short(missing)}")
    unused = [k for k in state_dict if k not in used and not k.endswith(IGNORED_SUFFIXES)]
    if unused:
        raise ValueError(f"checkpoint keys not used by {architecture}: {_short(unused)}")
    return plan


def assign_timm_weights(encoder, state_dict, architecture="encoder", adapt_channels=False):
    """Check the whole mapping first (:func:`timm_weight_plan`), then set every variable."""
    plan = timm_weight_plan(encoder, state_dict, architecture, adapt_channels=adapt_channels)
    for variable, value in plan:
        variable.assign(value)
    return len(plan)


def export_timm_state_dict(encoder):
    """``{timm key: float32 array}`` of ``encoder`` (plus BatchNorm's step counters), timm's layout.

    The inverse of :func:`assign_timm_weights`: save it with ``safetensors.numpy.save_file`` and
    timm (or :func:`~zoobot_tf.models.pretrained.import_encoder`) loads it.
    """
    state = {}
    for layer in _walk(encoder):
        if not layer.weights:
            continue
        rules = _rules(layer)
        if rules is None:
            raise ValueError(f"layer {layer.name} ({type(layer).__name__}) has no timm mapping")
        for variable in layer.weights:
            key, transform = rules[variable.path.rsplit("/", 1)[-1]]
            state[key] = np.ascontiguousarray(_INVERSE[transform](np.asarray(variable.numpy(), np.float32)))
        if isinstance(layer, keras.layers.BatchNormalization):
            state[f"{layer.name}.num_batches_tracked"] = np.zeros((), np.int64)
    return state
