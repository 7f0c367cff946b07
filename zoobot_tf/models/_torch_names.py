"""Let layers named like timm's modules (``stem.0``, ``layer1.0.conv1``) live on Keras' torch backend.

Keras' torch backend registers each layer's variables in a ``torch.nn.ParameterDict`` keyed by the
variable path (``stem.0/kernel``), and torch refuses ``.`` in such keys. ConvNeXt and ResNet name
their layers after timm's modules so that checkpoints map key by key and saved models keep
loading, so the names stay; where a path has a ``.``, the torch registration key escapes it as
``__`` (Keras' own code runs for every other layer). Nothing else reads those keys: Keras trains
and saves through its own variables.
"""

from __future__ import annotations

import keras


def _key(variable):
    return variable.path.replace(".", "__")


def allow_dotted_layer_names():
    """Patch Keras' torch layer (once) to escape ``.`` in its parameter keys; a no-op on other backends."""
    if keras.backend.backend() != "torch":
        return
    import torch
    from keras.src.backend.torch.layer import TorchLayer

    if getattr(TorchLayer, "_zoobot_dotted_names", False):
        return
    track, post_track, post_untrack = (
        TorchLayer._track_variables, TorchLayer._post_track_variable, TorchLayer._post_untrack_variable
    )

    def _track_variables(self):
        if not any("." in v.path for v in self.variables):
            return track(self)
        self._torch_params = torch.nn.ParameterDict({_key(v): v.value for v in self.variables})

    def _post_track_variable(self, variable):
        if "." not in variable.path:
            return post_track(self, variable)
        if hasattr(self, "_torch_params") and _key(variable) not in self.torch_params:
            self.torch_params[_key(variable)] = variable.value

    def _post_untrack_variable(self, variable):
        if "." not in variable.path:
            return post_untrack(self, variable)
        if hasattr(self, "_torch_params") and _key(variable) in self.torch_params:
            self.torch_params.pop(_key(variable))

    TorchLayer._track_variables = _track_variables
    TorchLayer._post_track_variable = _post_track_variable
    TorchLayer._post_untrack_variable = _post_untrack_variable
    TorchLayer._zoobot_dotted_names = True
