"""The format registry: every file format km3flow reads, how it is recognised, and its reader.

A format is declared by a :class:`FormatSpec`: its name, a cheap ``sniff(head, path)``
test, the reader (a ``"module:Class"`` path, imported only when a file of that format is
opened), the reader's input parameter and whether the reader can run per file in a worker.
Format detection (:func:`km3flow.io.detect.detect_format`), ``open_pump``, ``FilePump``,
``km3flow info``/``convert``, the pump exports of :mod:`km3flow.io` and the tests are all
driven by this registry.

Where formats come from
-----------------------
* every module of this package not starting with ``_`` that defines ``FORMAT``
  (km3flow's own formats: one small file each, importing nothing heavy);
* :func:`register_format` at run time;
* installed packages, through entry points in the group ``km3flow.formats`` whose object
  is a :class:`FormatSpec` (as ctapipe's ``EventSource`` plugins)::

      [project.entry-points."km3flow.formats"]
      myformat = "mypackage.formats:MY_FORMAT"

Sniffing contract
-----------------
``sniff(head, path)`` gets the first :data:`HEAD_SIZE` bytes of the file (fewer for a
short file, never empty) and its path, and returns ``True`` when the file is of its
format. It must be cheap: a look at the bytes or the name, or (ROOT) a look inside the
file only after the magic bytes matched. It raises :class:`~km3flow.exceptions.FormatError`
when the file is recognisably of its format but broken in a way that no other format can
explain (a DAQ file cut inside its first frame); detection then stops with that error.
Formats are asked in ascending ``order`` (then name); the first ``True`` wins.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...exceptions import ConfigError

if TYPE_CHECKING:
    from ...core.module import Pump

HEAD_SIZE = 4096
"""How many bytes of the file's start ``sniff`` gets."""

ENTRY_POINT_GROUP = "km3flow.formats"


@dataclass(frozen=True)
class FormatSpec:
    """One file format: how to recognise it and which pump reads it.

    Parameters
    ----------
    name
        Short unique name (``"evt"``), what ``detect_format`` returns and ``km3flow info``
        prints.
    sniff
        ``sniff(head: bytes, path: str) -> bool`` (see the module docstring).
    pump
        The reader as ``"module:Class"``, imported on first use; ``None`` for files that
        hold no events to pump (detector files).
    input
        The reader's parameter that takes the file (``pump(**{input: path})``).
    per_file
        Whether the reader can run on each file in a worker process (it then declares
        ``parallel_input`` naming ``input``), so that parallel drains split its files.
    order
        Sniffing order: lower first. km3flow's formats use 10..60; a format whose sniff
        must see a file before a built-in one does (another kind of ROOT file) sets a
        lower number.
    family
        A grouping used by tools: ``"root"`` (``km3flow info`` lists the trees),
        ``"detector"`` (read with :func:`~km3flow.io.detector.read_detector`), or anything.
    description
        A few words for messages: ``"EVT ASCII file"``.
    """

    name: str
    sniff: Callable[[bytes, str], bool]
    pump: str | None = None
    input: str = "filename"
    per_file: bool = True
    order: int = 100
    family: str = ""
    description: str = ""

    @property
    def pump_name(self) -> str | None:
        """The reader's class name (``"EvtPump"``), without importing it."""
        return self.pump.rpartition(":")[2] if self.pump else None

    @property
    def pump_module(self) -> str | None:
        """The module that defines the reader, without importing it."""
        return self.pump.partition(":")[0] if self.pump else None

    def load_pump(self) -> type[Pump]:
        """Import and return the reader class.

        Raises
        ------
        ConfigError
            When the format has no reader or its path cannot be imported.
        """
        if self.pump is None:
            raise ConfigError(f"the format '{self.name}' has no pump")
        module, _, attribute = self.pump.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"format '{self.name}': cannot load its pump "
                              f"'{self.pump}': {err}") from err


_REGISTERED: dict[str, FormatSpec] = {}


def register_format(spec: FormatSpec) -> None:
    """Add a format at run time (an installed package uses the entry point instead).

    Raises
    ------
    ConfigError
        When a format of that name exists already.
    """
    if not isinstance(spec, FormatSpec):
        raise ConfigError(f"register_format expects a FormatSpec, got {type(spec).__name__}")
    if spec.name in {s.name for s in formats()}:
        raise ConfigError(f"a format named '{spec.name}' is registered already")
    _REGISTERED[spec.name] = spec


@functools.lru_cache(maxsize=1)
def builtin_formats() -> tuple[FormatSpec, ...]:
    """km3flow's own formats: the ``FORMAT`` of each module of this package."""
    specs = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "FORMAT", None)
        if isinstance(spec, FormatSpec):
            specs.append(spec)
    return tuple(sorted(specs, key=_sort_key))


@functools.lru_cache(maxsize=4)
def _plugin_formats(search_path: tuple[str, ...]) -> tuple[FormatSpec, ...]:
    # Cached per sys.path: a package added to the path (or a test's temporary
    # dist-info) is seen on the next look-up.
    from importlib.metadata import entry_points

    specs = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as err:  # a broken plugin: say which one
            raise ConfigError(f"entry point '{ep.name} = {ep.value}' in group "
                              f"'{ENTRY_POINT_GROUP}' cannot be loaded: {err}") from err
        if not isinstance(spec, FormatSpec):
            raise ConfigError(f"entry point '{ep.name} = {ep.value}' in group "
                              f"'{ENTRY_POINT_GROUP}' is a {type(spec).__name__}, "
                              "expected a km3flow.io.formats.FormatSpec")
        specs.append(spec)
    return tuple(specs)


def formats() -> list[FormatSpec]:
    """All registered formats in sniffing order: built-in, run-time and installed ones.

    Raises
    ------
    ConfigError
        When two formats share a name.
    """
    seen: dict[str, FormatSpec] = {}
    for spec in (*builtin_formats(), *_REGISTERED.values(), *_plugin_formats(tuple(sys.path))):
        if spec.name in seen and seen[spec.name] is not spec:
            raise ConfigError(f"two formats are named '{spec.name}' (pumps "
                              f"{seen[spec.name].pump} and {spec.pump})")
        seen[spec.name] = spec
    return sorted(seen.values(), key=_sort_key)


def get_format(name: str) -> FormatSpec:
    """The format called ``name``.

    Raises
    ------
    ConfigError
        When no format has that name (the message lists the known ones).
    """
    for spec in formats():
        if spec.name == name:
            return spec
    raise ConfigError(f"no format named '{name}'; known: "
                      f"{', '.join(s.name for s in formats())}")


def builtin_pumps() -> dict[str, str]:
    """Class name → module of the readers of km3flow's own formats (``km3flow.io`` exports)."""
    return {spec.pump_name: spec.pump_module for spec in builtin_formats()
            if spec.pump_name and spec.pump_module}


def _sort_key(spec: FormatSpec) -> tuple[int, str]:
    return (spec.order, spec.name)


__all__ = ["ENTRY_POINT_GROUP", "HEAD_SIZE", "FormatSpec", "builtin_formats", "builtin_pumps",
           "formats", "get_format", "register_format"]
