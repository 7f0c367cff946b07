"""Lazy package exports: a name is imported from its submodule on first use.

Why: several packages re-export names from submodules that import TensorFlow; loading them
lazily keeps ``zoobot-tf --help`` and the spawned image-preparing workers free of that cost.
"""

from __future__ import annotations

import importlib


def lazy_exports(package_name: str, exports: dict[str, str], namespace: dict):
    """``(__getattr__, __dir__)`` for a package whose ``exports`` maps name -> submodule.

    A submodule is relative to the package unless it starts with ``zoobot_tf.``.
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package_name!r} has no attribute {name!r}")
        module = exports[name]
        module = module if module.startswith("zoobot_tf.") else f"{package_name}.{module}"
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
