"""ConvNeXt's one custom layer: the per-channel layer scale (timm's ``gamma``)."""

from __future__ import annotations

import keras

__all__ = ["LayerScale"]


@keras.saving.register_keras_serializable(package="zoobot_tf")
class LayerScale(keras.layers.Layer):
    """Multiply the last axis by a learned vector (ConvNeXt's residual-branch scale).

    Parameters
    ----------
    init_value : float
        Initial value of every entry (timm's ``ls_init_value``, 1e-6).
    """

    def __init__(self, init_value=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma",
            shape=(int(input_shape[-1]),),
            initializer=keras.initializers.Constant(self.init_value),
        )

    def call(self, inputs):
        return inputs * keras.ops.cast(self.gamma, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}
