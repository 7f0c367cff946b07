"""EfficientNet backbones from ``keras.applications``, random init, any number of channels.

``keras.applications.EfficientNetB*`` (v1) always starts with ``Rescaling(1/255)`` and an
un-adapted ``Normalization`` (mean 0, variance 1) and has no ``include_preprocessing`` switch.
Our images arrive as float32 in [0, 1] (any number of bands), so the 1/255 would shrink them to
[0, 0.004], where the stem BatchNorm's epsilon (1e-3) swamps the batch variance and the signal
is damped. We therefore clone the network with both stem preprocessing layers replaced by
``Identity``: the [0, 1] images enter the stem convolution directly, and the stem BatchNorm
does the normalisation. ``weights=None`` always: nothing is downloaded.
"""

from __future__ import annotations

import warnings

import keras

from zoobot_tf.models.registry import register_architecture

__all__ = ["efficientnet_backbone"]

_VARIANTS = {
    "b0": keras.applications.EfficientNetB0,
    "b1": keras.applications.EfficientNetB1,
    "b2": keras.applications.EfficientNetB2,
    "b3": keras.applications.EfficientNetB3,
    "b4": keras.applications.EfficientNetB4,
    "b5": keras.applications.EfficientNetB5,
    "b6": keras.applications.EfficientNetB6,
    "b7": keras.applications.EfficientNetB7,
}


def _clone_function(batchnorm_momentum):
    def clone(layer):
        if isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization)):
            return keras.layers.Identity(name=f"skip_{layer.name}")
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["momentum"] = batchnorm_momentum
        return layer.__class__.from_config(config)

    return clone


def efficientnet_backbone(input_shape, variant="b0", pooling="avg", batchnorm_momentum=0.99, name="encoder"):
    """EfficientNet encoder: ``(batch, H, W, C)`` images in [0, 1] -> pooled features.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)``; H and W at least 32 (the network downsamples by 32), any C.
    variant : {'b0', ..., 'b7'}
    pooling : {'avg', 'max'}
        Global pooling of the last feature map (1280 features for B0).
    batchnorm_momentum : float
        Momentum of the BatchNorm moving statistics used at inference. Keras' 0.99 needs some
        hundreds of steps to forget the initial (0, 1); a short run (a demo, a small data set)
        is better served by e.g. 0.9.
    name : str
        Name of the returned model (``get_encoder`` looks for ``'encoder'``).
    """
    if variant not in _VARIANTS:
        raise KeyError(f"unknown EfficientNet variant {variant!r}; choose from {', '.join(_VARIANTS)}")
    if not 0.0 <= float(batchnorm_momentum) < 1.0:
        raise ValueError(f"batchnorm_momentum must be in [0, 1), got {batchnorm_momentum!r}")
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    height, width, _ = input_shape
    if min(height, width) < 32:
        raise ValueError(f"EfficientNet needs images of at least 32x32 pixels, got input_shape {tuple(input_shape)}")
    with warnings.catch_warnings():
        # keras warns for channel counts other than 1 or 3, which only matter for ImageNet weights
        warnings.filterwarnings("ignore", message=".*input channels.*")
        network = _VARIANTS[variant](
            include_top=False, weights=None, input_shape=tuple(input_shape), pooling=pooling, name=name
        )
    return keras.models.clone_model(network, clone_function=_clone_function(float(batchnorm_momentum)))


for _variant in _VARIANTS:

    def _builder(input_shape, name="encoder", _variant=_variant, **kwargs):
        return efficientnet_backbone(input_shape, variant=_variant, name=name, **kwargs)

    register_architecture(f"efficientnet_{_variant}")(_builder)
