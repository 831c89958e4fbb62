"""The layering of docs/architecture.md holds: no module imports from a higher layer.

Checked by AST over every file of src/km3flow: ``import``/``from … import`` statements at
any depth (lazy imports inside functions and ``TYPE_CHECKING`` blocks included) and the
module paths written as strings (``"km3flow.io.evt:EvtPump"`` in lazy-export tables, the
format registry, …), which are imports deferred to run time. The layers are read from
the "Layers" section of docs/architecture.md, so the page and the code cannot drift apart.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "km3flow"
MODULE_PATH = re.compile(r"^km3flow(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$")
# Name → implementation registries of a lower layer that name a higher layer's class as a
# string, imported only when that name is asked for (docs/architecture.md, "Layers").
ALLOWED_NAMES = {
    ("km3flow.core.executor", "km3flow.parallel.pool:PoolExecutor"),
    ("km3flow.core.executor", "km3flow.parallel.dask:DaskExecutor"),
}


def read_layers() -> dict[str, int]:
    """Package or module → layer number, from docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for number, names in re.findall(r"^(\d+)\. \*\*\w+\*\*: (.*)$", section, re.M):
        for name in re.findall(r"`([\w.]+)`", names):
            layers["km3flow" if name == "km3flow" else f"km3flow.{name}"] = int(number)
    return layers


LAYERS = read_layers()


def layer_of(module: str) -> int:
    """The layer of the longest listed prefix of ``module``."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        name = ".".join(parts[:k])
        if name in LAYERS and (k > 1 or len(parts) == 1):
            return LAYERS[name]
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def module_name(path: pathlib.Path) -> tuple[str, str]:
    """(module, package) of a source file."""
    parts = ["km3flow", *path.relative_to(SRC).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _is_module(name: str) -> bool:
    rel = pathlib.Path(*name.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """(line, module) of every km3flow module imported or named as a string in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("km3flow")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("km3flow"):
                continue
            for alias in node.names:  # "from . import daq" imports the module km3flow.io.daq
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else target))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and MODULE_PATH.match(node.value)
              and _is_module(node.value.partition(":")[0])):  # not "km3flow.formats" groups
            found.append((node.lineno, node.value))
    return found


FILES = sorted(SRC.rglob("*.py"))


def test_the_docs_list_the_layers_in_order():
    assert sorted(set(LAYERS.values())) == list(range(1, max(LAYERS.values()) + 1))
    assert LAYERS["km3flow.core"] < LAYERS["km3flow.dataclasses"] < LAYERS["km3flow.io"]
    assert LAYERS["km3flow.io"] == LAYERS["km3flow.controlhost"]
    assert LAYERS["km3flow.io"] < LAYERS["km3flow.ml"] == LAYERS["km3flow.parallel"]
    assert LAYERS["km3flow.parallel"] < LAYERS["km3flow.cli"]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SRC)) for p in FILES])
def test_no_import_from_a_higher_layer(path):
    module, package = module_name(path)
    if module == "km3flow":
        # The package root is the facade: its lazy table names every subpackage; what it
        # imports itself (outside TYPE_CHECKING) is of the lowest layer.
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert layer_of(f"km3flow.{node.module}") == 1, node.module
        return
    own = layer_of(module)
    for line, target in imported(ast.parse(path.read_text()), package):
        if (module, target) in ALLOWED_NAMES:
            continue
        name = target.partition(":")[0]
        assert layer_of(name) <= own, (f"{path.relative_to(SRC)}:{line}: {module} (layer "
                                        f"{own}) imports {target} (layer {layer_of(name)})")


def test_the_check_sees_lazy_and_string_imports():
    """The checker finds imports inside functions and module paths in strings."""
    code = ("def f():\n    from ..parallel import pool\n"
            "TABLE = {'X': 'km3flow.ml.binning', 'Y': 'km3flow.io.evt:EvtPump'}\n")
    found = [target for _, target in imported(ast.parse(code), "km3flow.io")]
    assert sorted(found) == ["km3flow.io.evt:EvtPump", "km3flow.ml.binning",
                             "km3flow.parallel.pool"]
    assert layer_of("km3flow.parallel.pool") > layer_of("km3flow.io.evt")
