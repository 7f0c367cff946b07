"""The command line's verbs: one module per verb, each with ``add_arguments(parser)`` and ``run(args)``.

:mod:`zoobot_tf.cli` mounts them (``zoobot-tf <verb>``), importing a verb's module only when that
verb runs; the option groups several verbs share (image recipe, workers, progress, ...) live in
:mod:`zoobot_tf.options`, so each concept has one name and one default. A module here may import
any layer of the package; nothing in the package imports this one.
"""
