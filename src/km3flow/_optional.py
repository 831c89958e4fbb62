"""Lazy import of the heavy optional dependencies (torch, uproot, dask, matplotlib)."""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import OptionalDependencyMissing


def import_optional(name: str, extra: str) -> ModuleType:
    """Import module ``name`` or raise an error naming the km3flow extra that installs it.

    Parameters
    ----------
    name
        The module to import, e.g. ``"torch"`` or ``"uproot"``.
    extra
        The km3flow extra that brings it, e.g. ``"ml"`` (``pip install km3flow[ml]``).
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise OptionalDependencyMissing(
            f"'{name}' is needed for this feature but is not installed; "
            f"install it with: pip install 'km3flow[{extra}]'"
        ) from err
