"""Pipeline configuration files: one TOML section of parameters per module name."""

from __future__ import annotations

import os
import sys
from typing import Any

from ..exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML file; raise :class:`ConfigError` naming the file on any problem."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fobj:
            return tomllib.load(fobj)
    except FileNotFoundError:
        raise ConfigError(f"configuration file '{path}' does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"configuration file '{path}' is not valid TOML: {err}") from err


def load_pipeline_config(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read a pipeline configuration: every top-level entry must be a table (a module)."""
    data = load_toml(path)
    for key, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"configuration file '{os.fspath(path)}': top-level key '{key}' must be a "
                f"[section] named after a module, got {type(value).__name__}"
            )
    return data
