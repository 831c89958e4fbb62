"""Recognise a KM3NeT file's format from its bytes (not only its name) and open its pump.

The formats and their tests are those of the registry (:mod:`km3flow.io.formats`); this
module reads the file's first bytes once and asks each format in turn.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..exceptions import FormatError
from .formats import HEAD_SIZE, FormatSpec, formats

if TYPE_CHECKING:
    from ..core.module import Pump


def detect(path: str | os.PathLike) -> FormatSpec:
    """Return the registered format of a file (see :func:`detect_format`)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fobj:
            head = fobj.read(HEAD_SIZE)
    except FileNotFoundError:
        raise FormatError("no such file", path=path) from None
    except IsADirectoryError:
        raise FormatError("is a directory, expected a file", path=path) from None
    if not head:
        raise FormatError("the file is empty", path=path)
    known = formats()
    for spec in known:
        if spec.sniff(head, path):
            return spec
    raise FormatError("not a KM3NeT file km3flow knows (expected one of the formats "
                      f"{', '.join(spec.name for spec in known)})", path=path)


def detect_format(path: str | os.PathLike) -> str:
    """Return the name of a file's format (``"daq"``, ``"evt"``, ``"hdf5"``, …).

    Raises
    ------
    FormatError
        When the file is missing, empty, of no registered format, or recognisably of
        a format but broken (a DAQ file cut inside its first frame).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> detect_format(data_path("evt/KM3Sim.evt"))
    'evt'
    """
    return detect(path).name


def open_pump(path: str | os.PathLike, **params: Any) -> Any:
    """Return a pump for ``path``, choosing the reader from the file's content."""
    spec = detect(path)
    return reader_class(spec, path)(**{spec.input: os.fspath(path)}, **params)


def pump_class(path: str | os.PathLike) -> type:
    """Return the pump class that reads ``path`` (see :func:`open_pump`)."""
    return reader_class(detect(path), path)


def reader_class(spec: FormatSpec, path: str | os.PathLike) -> type[Pump]:
    """The pump class of ``spec``; a FormatError naming ``path`` for formats without one."""
    if spec.pump is None:
        raise FormatError(f"a {spec.description or spec.name + ' file'}, which holds no "
                          "events to pump", path=os.fspath(path))
    return spec.load_pump()
