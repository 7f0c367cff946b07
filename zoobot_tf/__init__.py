"""zoobot_tf: galaxy morphology at survey scale with Keras 3 / TensorFlow."""

__version__ = "0.1.0"
