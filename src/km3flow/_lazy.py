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
    package: str, attributes: Mapping[str, str], submodules: frozenset[str] | set[str] = frozenset()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package``.

    Parameters
    ----------
    package
        The package's ``__name__``.
    attributes
        Public name → module that defines it.
    submodules
        Names of subpackages/modules reachable as attributes.
    """

    def __getattr__(name: str) -> Any:
        if name in attributes:
            value = getattr(importlib.import_module(attributes[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(attributes) | set(submodules))

    return __getattr__, __dir__
