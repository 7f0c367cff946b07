"""Heads: pooled features -> dropout -> dense -> output activation, as a separate Keras model.

Keeping the head a model of its own (input: features) lets prediction run the encoder once per
image and the stochastic head ``n_samples`` times on the same features, and lets fine-tuning swap
the head while keeping the encoder.
"""

from __future__ import annotations

import keras
import numpy as np

from zoobot_tf.models.layers import DirichletConcentration, MCDropout

#: Dirichlet concentration of every answer before training (see build_head)
INITIAL_CONCENTRATION = 5.0

__all__ = ["HEAD_KINDS", "build_head"]

#: ``dirichlet``: concentrations for the Dirichlet-multinomial loss (vote counts);
#: ``softmax``: class probabilities (one label per galaxy);
#: ``regression``: unbounded linear outputs (e.g. vote fractions with a MSE loss).
HEAD_KINDS = ("dirichlet", "softmax", "regression")


def build_head(
    kind,
    input_dim,
    output_dim,
    dropout_rate=0.2,
    test_time_dropout=True,
    concentration_range=(1.0, 101.0),
    name="head",
):
    """Build a head model ``(batch, input_dim) -> (batch, output_dim)``.

    Parameters
    ----------
    kind : {'dirichlet', 'softmax', 'regression'}
    input_dim : int
        Feature dimension of the encoder.
    output_dim : int
        Answers (dirichlet), classes (softmax) or targets (regression).
    dropout_rate : float
        Dropout before the dense layer, in [0, 1).
    test_time_dropout : bool
        Keep that dropout on at inference (MC dropout), so repeated predictions sample the
        model's uncertainty.
    concentration_range : (float, float)
        Range of the Dirichlet concentrations (``kind='dirichlet'`` only).

    Returns
    -------
    keras.Model
        Outputs are float32 even under a mixed-precision policy.
    """
    if kind not in HEAD_KINDS:
        raise ValueError(f"unknown head {kind!r}; choose from {', '.join(HEAD_KINDS)}")
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")
    if int(output_dim) < 1:
        raise ValueError(f"output_dim must be a positive int, got {output_dim!r}")
    if kind == "softmax" and int(output_dim) < 2:
        raise ValueError(f"a softmax head needs at least 2 classes, got output_dim={output_dim}")
    features = keras.Input(shape=(int(input_dim),), name="features")
    x = MCDropout(float(dropout_rate), always_on=test_time_dropout, name="head_dropout")(features)
    bias_initializer = "zeros"
    if kind == "dirichlet":
        # Start broad: every concentration at INITIAL_CONCENTRATION pseudo-votes rather than at
        # the middle of the range (~51, a confidently uniform guess). From the middle the first
        # epochs drive most outputs into the flat bottom of the sigmoid, where gradients vanish
        # and short runs stall at the "predict the population mean" loss.
        low, high = concentration_range
        start = (min(max(INITIAL_CONCENTRATION, low + 1e-3), high - 1e-3) - low) / (high - low)
        bias_initializer = keras.initializers.Constant(float(np.log(start / (1.0 - start))))
    x = keras.layers.Dense(int(output_dim), bias_initializer=bias_initializer, name="head_dense")(x)
    if kind == "dirichlet":
        outputs = DirichletConcentration(low, high, name="concentrations")(x)
    elif kind == "softmax":
        outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    else:
        outputs = keras.layers.Activation("linear", dtype="float32", name="predictions")(x)
    return keras.Model(features, outputs, name=name)
