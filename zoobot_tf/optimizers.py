"""AdamW with a learning rate per encoder block and no weight decay on norms, biases and position tables.

Why a subclass: Keras 3 optimizers have no parameter groups. Fine-tuning a pretrained encoder
wants the head and the top blocks to move faster than the early blocks (layer-wise learning-rate
decay, as in zoobot 2.x's ``FinetuneableZoobot*`` and BEiT/ConvNeXt fine-tuning recipes), and
wants decoupled weight decay only on weight matrices (shrinking a BatchNorm/LayerNorm scale, a
bias or a position table towards zero only hurts). ``exclude_from_weight_decay`` on a plain
``keras.optimizers.AdamW`` is lost when the optimizer is rebuilt from its config (a saved model,
a distribution strategy); here the exclusions and the per-layer multipliers are part of the
config, so they survive ``get_config``/``from_config`` and ``model.save``/``load_model``.

The decay applied to a variable is ``lr * multiplier * weight_decay * variable`` (decoupled, as
in AdamW), so a slow block also decays slowly, as with PyTorch parameter groups.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["NO_DECAY_NAMES", "LayerDecayAdamW", "no_decay_names"]

#: variable names (substrings, Keras' ``exclude_from_weight_decay(var_names=...)`` semantics)
#: kept free of weight decay: norm scales/offsets, biases, position tables and class tokens
NO_DECAY_NAMES = ("bias", "gamma", "beta", "position", "class_token", "cls_token", "layer_scale")


def no_decay_names(model) -> list[str]:
    """:data:`NO_DECAY_NAMES` plus the name of every 1-D trainable variable of ``model`` (timm's rule)."""
    names = set(NO_DECAY_NAMES)
    names.update(v.name for v in model.trainable_weights if len(v.shape) <= 1)
    return sorted(names)


@keras.saving.register_keras_serializable(package="zoobot_tf")
class LayerDecayAdamW(keras.optimizers.AdamW):
    """AdamW whose step for a variable is scaled by the multiplier of the layer holding it.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule
        Rate of the head (multiplier 1).
    weight_decay : float
        Decoupled weight decay (0.05 as in zoobot 2.x).
    lr_multipliers : dict, optional
        ``{layer name: multiplier}``; a variable takes the multiplier of the first component of
        its ``path`` found here (1 otherwise).
    exclude_names : sequence of str
        Variables whose name contains one of these get no weight decay (default
        :data:`NO_DECAY_NAMES`).
    **kwargs
        Any other ``keras.optimizers.AdamW`` argument.
    """

    def __init__(self, learning_rate=1e-3, weight_decay=0.05, lr_multipliers=None, exclude_names=NO_DECAY_NAMES,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.lr_multipliers = {str(k): float(v) for k, v in (lr_multipliers or {}).items()}
        bad = {k: v for k, v in self.lr_multipliers.items() if not v >= 0}
        if bad:
            raise ValueError(f"learning-rate multipliers must be >= 0, got {bad}")
        self.exclude_names = [str(n) for n in exclude_names or ()]
        if self.exclude_names:
            self.exclude_from_weight_decay(var_names=self.exclude_names)
        self._multiplier_by_key = {}

    def multiplier(self, path: str) -> float:
        """The learning-rate multiplier of a variable with this ``path`` (e.g. ``'block6a_se/kernel'``)."""
        for part in str(path).split("/"):
            if part in self.lr_multipliers:
                return self.lr_multipliers[part]
        return 1.0

    def build(self, variables):
        super().build(variables)
        self._multiplier_by_key = {self._var_key(v): self.multiplier(v.path) for v in variables}

    def _apply_weight_decay(self, variables):
        """Decay is applied in :meth:`update_step`, where the variable's own rate is known."""

    def update_step(self, gradient, variable, learning_rate):
        factor = self._multiplier_by_key.get(self._var_key(variable), 1.0)
        lr = ops.cast(learning_rate, variable.dtype)
        if factor != 1.0:
            lr = ops.multiply(lr, ops.cast(factor, variable.dtype))
        if self.weight_decay is not None and self._use_weight_decay(variable):
            wd = ops.cast(self.weight_decay, variable.dtype)
            self.assign_sub(variable, ops.multiply(variable, ops.multiply(lr, wd)))
        super().update_step(gradient, variable, lr)

    def get_config(self):
        config = super().get_config()
        config.update(lr_multipliers=dict(self.lr_multipliers), exclude_names=list(self.exclude_names))
        return config
