"""Intersphinx inventories written from ``docs/intersphinx.toml``, for builds without network.

Intersphinx normally downloads each project's ``objects.inv``. km3flow's site is built in
CI and on physicists' machines without network, so the names it links to are listed, with
their pages, in ``docs/intersphinx.toml``, and :func:`write_inventories` writes one
inventory per project in Sphinx's version-2 format (a four-line header, then
zlib-compressed lines ``name domain:role priority uri display-name``). The build then
resolves those names as it would with the downloaded inventories, and stays reproducible:
the same source gives the same links.
"""

from __future__ import annotations

import tomllib
import zlib
from pathlib import Path

from sphinx.errors import ConfigError

_HEADER = ("# Sphinx inventory version 2\n"
           "# Project: {project}\n"
           "# Version: \n"
           "# The remainder of this file is compressed using zlib.\n")


def _entries(project: str, objects: dict[str, object], source: Path) -> list[str]:
    lines = []
    for name, value in sorted(objects.items()):
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, str) for v in value) or ":" not in value[0]):
            raise ConfigError(f"{source}: [{project}.objects] {name!r} must be "
                              f'["domain:role", "page#anchor"], got {value!r}')
        role, uri = value
        if " " in name or " " in uri or "$" in uri[:-1]:
            raise ConfigError(f"{source}: [{project}.objects] {name!r}: a name or page has no "
                              "spaces, and \"$\" (the name) may only end the page")
        # "-" as display name means "the name itself" in the inventory format
        lines.append(f"{name} {role} 1 {uri} -\n")
    return lines


def write_inventories(source: Path, folder: Path) -> dict[str, tuple[str, str]]:
    """Write one ``objects.inv`` per project of ``source`` into ``folder``.

    Parameters
    ----------
    source : pathlib.Path
        The TOML file: a table per project with ``url`` and an ``objects`` table mapping
        each name to ``["domain:role", "page#anchor"]``.
    folder : pathlib.Path
        Where the inventories go (created if missing; a file is rewritten only when its
        content changes, so Sphinx does not re-read it on every build).

    Returns
    -------
    dict
        ``intersphinx_mapping`` for ``conf.py``: project -> (url, inventory path).
    """
    with source.open("rb") as fh:
        config = tomllib.load(fh)
    folder.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for project, table in config.items():
        url, objects = table.get("url"), table.get("objects")
        if not isinstance(url, str) or not url.endswith("/") or not isinstance(objects, dict):
            raise ConfigError(f"{source}: [{project}] needs url = \"https://…/\" (ending in /) "
                              f"and an [{project}.objects] table")
        body = zlib.compress("".join(_entries(project, objects, source)).encode())
        data = _HEADER.format(project=project).encode() + body
        path = folder / f"{project}.inv"
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        mapping[project] = (url, str(path))
    return mapping
