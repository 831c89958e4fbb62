"""Lazy attributes for packages: names are imported from their modules on first use.

Keeps ``import km3flow`` and its subpackages light: PyTables, uproot and torch are loaded only
when something that needs them is touched.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str,
    attributes: Mapping[str, str],
    submodules: frozenset[str] | set[str] | Mapping[str, str] = frozenset(),
    fallback: Callable[[str], str | None] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package``.

    Parameters
    ----------
    package
        The package's ``__name__``.
    attributes
        Public name → module that defines it.
    submodules
        Names of subpackages/modules reachable as attributes; a mapping gives the module
        each name stands for (an old location kept for users: ``km3flow.io.online`` is
        ``km3flow.io.root.online``).
    fallback
        Called with a name found in neither: the module that defines it, or ``None``
        (the format registry supplies the pumps of ``km3flow.io`` this way).
    """
    modules = (dict(submodules) if isinstance(submodules, Mapping)
               else {name: f"{package}.{name}" for name in submodules})

    def __getattr__(name: str) -> Any:
        if name in attributes:
            value = getattr(importlib.import_module(attributes[name]), name)
        elif name in modules:
            value = importlib.import_module(modules[name])
        elif fallback is not None and not name.startswith("__") and (found := fallback(name)):
            value = getattr(importlib.import_module(found), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(attributes) | set(modules))

    return __getattr__, __dir__
