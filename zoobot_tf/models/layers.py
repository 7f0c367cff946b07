"""Custom layers of the heads: MC dropout and the Dirichlet concentration activation.

Both are registered with Keras (package ``zoobot_tf``) and have a full ``get_config``, so a
model containing them saves as ``.keras`` and loads with ``safe_mode=True`` once this module is
imported (:func:`zoobot_tf.saving.load_model` does that).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["DirichletConcentration", "MCDropout"]


@keras.saving.register_keras_serializable(package="zoobot_tf")
class MCDropout(keras.layers.Dropout):
    """Dropout that can stay on at inference time (Monte-Carlo dropout).

    Why not ``Dropout(rate)(x, training=True)``: in Keras 3 a functional model passes its own
    ``training`` flag to every layer when it is called, so a flag fixed at build time is silently
    overridden and ``model.predict`` would be deterministic. This layer ignores the flag when
    ``always_on`` is true, so every forward pass (``predict``, ``__call__``, ``evaluate``)
    draws a fresh mask, while the rest of the model (BatchNorm) still follows the flag.

    Parameters
    ----------
    rate : float
        Fraction of units dropped, in [0, 1).
    always_on : bool
        True: dropout in training *and* inference (MC dropout). False: an ordinary Dropout.
    noise_shape, seed, **kwargs
        As for :class:`keras.layers.Dropout`.
    """

    def __init__(self, rate, always_on=True, noise_shape=None, seed=None, **kwargs):
        super().__init__(rate, noise_shape=noise_shape, seed=seed, **kwargs)
        self.always_on = bool(always_on)

    def call(self, inputs, training=False):
        return super().call(inputs, training=True if self.always_on else training)

    def get_config(self):
        return {**super().get_config(), "always_on": self.always_on}


@keras.saving.register_keras_serializable(package="zoobot_tf")
class DirichletConcentration(keras.layers.Layer):
    """Map logits to Dirichlet concentrations in ``(min_value, max_value)`` by a scaled sigmoid.

    ``min_value + (max_value - min_value) * sigmoid(x)``. The default ``(1, 101)`` is Zoobot's
    ``1 + 100 * sigmoid``: a lower bound of 1 keeps every answer's marginal Beta free of the
    U-shape that piles probability onto fractions of exactly 0 and 1, and the upper bound caps
    the confidence at about a hundred volunteers' worth, which keeps the loss well conditioned.
    Computed in float32 whatever the global mixed-precision policy (the loss needs the precision).
    """

    def __init__(self, min_value=1.0, max_value=101.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0.0 < float(min_value) < float(max_value):
            raise ValueError(
                f"concentration range must satisfy 0 < min_value < max_value, got ({min_value}, {max_value})"
            )
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        return self.min_value + (self.max_value - self.min_value) * ops.sigmoid(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "min_value": self.min_value, "max_value": self.max_value}
