"""The package's import graph, read from its source: no circle, no import from a lower layer to a
higher one (docs: DESIGN.md, "Layers"), and command-line parsers that do not import TensorFlow.

Every import counts, also those inside functions and the names that lazy package exports
(``_EXPORTS``) resolve on first use.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "zoobot_tf"

#: layer of each top-level module or sub-package, lowest first (a layer may import its own and lower ones)
LAYERS = {
    "ground": {"", "_lazy", "allocator", "atomic", "native_logs", "onednn", "options", "presets", "recipe", "schemas", "runs",
               "saving", "typed_options",
               "workers"},
    "data": {"images", "catalogs", "shards", "data", "synthetic"},
    "models": {"models", "losses", "optimizers"},
    "engine": {"training", "finetune", "predictions", "evaluation"},
    "applications": {"classification", "kaggle", "detection", "discovery", "demo"},
    "command line": {"cli", "__main__", "commands"},
}
ORDER = list(LAYERS)
#: applications import the engine, never each other
APPLICATIONS = LAYERS["applications"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imported_names(name: str, path: Path) -> set[str]:
    """Every ``zoobot_tf...`` name the module imports (statements anywhere, lazy export targets)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            for value in getattr(node.value, "values", []):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    target = value.value
                    found.add(target if target.startswith("zoobot_tf.") else f"{name}.{target}")
    return {n for n in found if n == "zoobot_tf" or n.startswith("zoobot_tf.")}


def _resolve(name: str, modules) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(top: str) -> str:
    for layer, members in LAYERS.items():
        if top in members:
            return layer
    raise AssertionError(f"zoobot_tf.{top} is in no layer: add it to LAYERS here and to DESIGN.md")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    edges = {}
    for name, path in modules.items():
        targets = {_resolve(n, modules) for n in _imported_names(name, path)}
        edges[name] = {t for t in targets if t and t != name}
    return edges


def test_every_module_has_a_layer(graph):
    for module in graph:
        _layer(_top(module))


def upward_imports(graph) -> list[str]:
    """Imports from a lower layer to a higher one, and between two applications."""
    found = []
    for module, targets in graph.items():
        here = ORDER.index(_layer(_top(module)))
        for target in targets:
            if ORDER.index(_layer(_top(target))) > here:
                found.append(f"{module} ({_layer(_top(module))}) imports {target} ({_layer(_top(target))})")
            elif _top(module) in APPLICATIONS and _top(target) in APPLICATIONS and _top(module) != _top(target):
                found.append(f"{module} imports {target}: applications never import each other")
    return sorted(found)


def package_circles(graph) -> list[str]:
    """Pairs of top-level packages that reach each other through imports."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(_top(module), set()).update(_top(t) for t in targets if _top(t) != _top(module))

    def reaches(start, goal, seen):
        for nxt in packages.get(start, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    return sorted(f"{a} <-> {b}" for a in packages for b in packages[a] if reaches(b, a, set()))


def test_no_import_from_a_lower_layer_to_a_higher_one(graph):
    found = upward_imports(graph)
    assert not found, "upward imports:\n" + "\n".join(found)


def test_no_circle_between_packages(graph):
    circles = package_circles(graph)
    assert not circles, "import circles between packages: " + ", ".join(circles)


def test_the_checks_see_what_the_restructure_removed():
    """The import circle and the upward imports issue 11 found, replayed on a small graph."""
    before = {
        "zoobot_tf.models.get_model": {"zoobot_tf.kaggle.model", "zoobot_tf.classification.losses"},
        "zoobot_tf.kaggle.model": {"zoobot_tf.models.get_model"},
        "zoobot_tf.kaggle.train": {"zoobot_tf.classification.labels"},
        "zoobot_tf.classification.losses": set(),
        "zoobot_tf.classification.labels": set(),
    }
    assert package_circles(before) == ["kaggle <-> models", "models <-> kaggle"]
    assert len(upward_imports(before)) == 3


def test_keras_cv_only_in_detection():
    users = sorted(
        name for name, path in _modules().items()
        if _top(name) != "detection" and "keras_cv" in {n.split(".")[0] for n in _all_imports(path)}
    )
    assert not users, f"keras-cv (the [detection] extra) imported outside zoobot_tf.detection: {users}"


def _all_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def test_saving_knows_every_module_that_registers_keras_objects():
    from zoobot_tf.saving import KERAS_OBJECT_MODULES, OPTIONAL_KERAS_OBJECT_MODULES

    listed = set(KERAS_OBJECT_MODULES) | set(OPTIONAL_KERAS_OBJECT_MODULES)
    registering = {
        name for name, path in _modules().items() if "register_keras_serializable" in path.read_text()
    }
    assert registering, "found no module registering Keras objects: the scan is broken"
    assert registering <= listed, f"not listed in zoobot_tf.saving: {sorted(registering - listed)}"
    assert listed <= set(_modules()), f"zoobot_tf.saving lists missing modules: {sorted(listed - set(_modules()))}"


def test_command_line_parsers_do_not_import_tensorflow():
    """``zoobot-tf --help`` and every verb's parser stay fast: no TensorFlow, keras-cv or pyplot."""
    code = (
        "import json, sys\n"
        "import zoobot_tf.cli as cli\n"
        "after_import = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "for verb in cli.VERBS:\n"
        "    cli.build_parser([verb])\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'keras_cv', 'matplotlib.pyplot') if m in sys.modules)\n"
        "print(json.dumps({'after_import': after_import, 'after_parsers': heavy}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"after_import": [], "after_parsers": []}, seen


def _defined_names(path: Path) -> set[str]:
    """Names a module defines at top level (functions, classes, assignments, imports, lazy exports)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            if any(getattr(t, "id", None) == "_EXPORTS" for t in targets) and isinstance(node.value, ast.Dict):
                names.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            for child in ast.walk(node):
                if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                    names.add(child.name)
                elif isinstance(child, ast.Assign):
                    names.update(n.id for t in child.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


_DOTTED = re.compile(r"zoobot_tf(\.[A-Za-z_]\w*)+")


def _unresolved_imports(paths) -> list[str]:
    """``zoobot_tf`` imports (anywhere in a file, also inside functions) naming a module or a name
    that does not exist: what moving a module leaves behind when a caller is missed."""
    modules = _modules()
    missing = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED.fullmatch(node.value):
                # dotted names in strings: lazy exports, saving's module list, monkeypatch targets
                target = node.value
                if target not in modules:
                    module, _, name = target.rpartition(".")
                    if module not in modules or name not in _defined_names(modules[module]):
                        missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {target!r} does not exist")
                continue
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
                package = _module_name(path)
                for key, value in zip(node.value.keys, node.value.values):
                    module = value.value if value.value.startswith("zoobot_tf.") else f"{package}.{value.value}"
                    if module not in modules or key.value not in _defined_names(modules[module]):
                        missing.append(f"{path.relative_to(PACKAGE.parent)}:{key.lineno}: lazy export "
                                       f"{key.value!r} -> {module} does not exist")
                continue
            if isinstance(node, ast.Import):
                wanted = [(a.name, None) for a in node.names if a.name.startswith("zoobot_tf")]
            elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("zoobot_tf"):
                wanted = [(node.module, a.name) for a in node.names]
            else:
                continue
            for module, name in wanted:
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                if module not in modules:
                    missing.append(f"{where}: no module {module}")
                elif name and name != "*" and f"{module}.{name}" not in modules \
                        and name not in _defined_names(modules[module]):
                    missing.append(f"{where}: {module} has no {name}")
    return sorted(set(missing))


def test_every_import_of_the_package_resolves():
    """Package, tests, scripts and benchmarks import only modules and names that exist."""
    root = PACKAGE.parent
    paths = [*PACKAGE.rglob("*.py"), *(root / "tests").glob("*.py"), *(root / "scripts").glob("*.py"),
             *(root / "benchmarks").glob("*.py")]
    paths = [p for p in paths if p.name != Path(__file__).name]  # its replayed history names old modules
    missing = _unresolved_imports(paths)
    assert not missing, "\n".join(missing)


def test_no_module_chooses_a_matplotlib_backend():
    """Figures are built on matplotlib.figure.Figure: importing or plotting never switches a user's
    (notebook) backend, and no pyplot figure is left open."""
    offenders = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            imported = []
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if "matplotlib.pyplot" in imported:
                offenders.append(f"{name}:{node.lineno} imports pyplot")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "use" \
                    and getattr(node.func.value, "id", None) == "matplotlib":
                offenders.append(f"{name}:{node.lineno} calls matplotlib.use")
    assert not offenders, offenders


def test_only_atomic_py_renames_files_into_place():
    """Every writer gets its temporary file from ``zoobot_tf.atomic`` (fsync, cleanup on error, one
    naming scheme): no other module renames or replaces files itself."""
    import re

    pattern = re.compile(r"\bos\.(replace|rename)\(|\.(replace|rename)\((?:self\.)?\w*(path|out|dst|target)\w*\)")
    offenders = [
        f"{name}:{number}"
        for name, path in _modules().items()
        if not name.endswith("atomic")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
