"""Recognise a KM3NeT file's format from its bytes (not only its name) and open its pump."""

from __future__ import annotations

import os
import struct
from typing import Any

from ..exceptions import FormatError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ROOT_MAGIC = b"root"
# Data-type codes of the Jpp DAQ preamble that may start a stream file.
DAQ_TYPES = {1001, 1002, 1003, 1004, 1005, 2001, 10001}

FORMATS = ("hdf5", "offline", "online", "daq", "monitoring", "evt", "detx", "datx")


def _root_kind(path: str) -> str:
    from .._optional import import_optional

    uproot = import_optional("uproot", extra="root")
    try:
        with uproot.open(path) as f:
            names = {k.split(";")[0]
                     for k in f.keys(recursive=False, filter_classname="TTree")}
            # The names decide unless both kinds of tree are there: reading a TTree's
            # header (for num_entries) deserialises all its branches, ~40 ms for an
            # offline file, which a thousand-file run would pay again in every reader.
            both = "E" in names and any(k.startswith("KM3NET_") for k in names)
            entries = ({k: f[k].num_entries for k in names} if both
                       else dict.fromkeys(names, 1))
    except Exception as err:  # uproot raises many types for damaged files
        raise FormatError(f"not a readable ROOT file ({type(err).__name__}: {err})",
                          path=path) from err
    keys = set(entries)
    # Jpp files carry an empty offline tree 'E' beside their online trees (and vice versa).
    online = sum(n for k, n in entries.items() if k.startswith("KM3NET_"))
    if "E" in keys and (entries["E"] > 0 or online == 0):
        return "offline"
    if online > 0 or any(k.startswith("KM3NET_") for k in keys):
        return "online"
    raise FormatError("a ROOT file, but with neither an offline tree 'E' nor online "
                      f"KM3NET_* trees (keys: {', '.join(sorted(keys)) or 'none'})", path=path)


def detect_format(path: str | os.PathLike) -> str:
    """Return the format of a file: one of ``FORMATS``.

    Raises
    ------
    FormatError
        When the file is missing, empty, or none of the KM3NeT formats.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fobj:
            head = fobj.read(4096)
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise FormatError("no such file", path=path) from None
    except IsADirectoryError:
        raise FormatError("is a directory, expected a file", path=path) from None
    if not head:
        raise FormatError("the file is empty", path=path)
    lower = path.lower()
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(ROOT_MAGIC):
        return _root_kind(path)
    if lower.endswith(".datx"):
        return "datx"
    if lower.endswith(".detx"):
        return "detx"
    text = head.decode("ascii", errors="replace")
    if "start_event:" in text or text.lstrip().startswith(("start_run:", "comment:", "cut_")):
        return "evt"
    if len(head) >= 8 and head[4:8] == b"TMCH":
        return "monitoring"  # CLB monitoring packets (IO_MONIT)
    if len(head) >= 8:
        length, dtype = struct.unpack("<ii", head[:8])
        if dtype in DAQ_TYPES and 8 <= length <= size:
            return "daq"
        if dtype in DAQ_TYPES and length > size:
            # A DAQ preamble whose frame runs past the end: a DAQ file cut short.
            raise FormatError(f"truncated DAQ file: the first frame (data type {dtype}) "
                              f"announces {length} bytes, but the file has only {size}",
                              path=path, offset=0)
    raise FormatError("not a KM3NeT file km3flow knows (expected HDF5, ROOT, DAQ binary, EVT "
                      "or DETX/DATX)", path=path)


def open_pump(path: str | os.PathLike, **params: Any) -> Any:
    """Return a pump for ``path``, choosing the reader from the file's content."""
    return pump_class(path)(filename=os.fspath(path), **params)


def pump_class(path: str | os.PathLike) -> type:
    """Return the pump class that reads ``path`` (see :func:`open_pump`)."""
    fmt = detect_format(path)
    from . import daq, evt, hdf5, online, root

    classes = {"hdf5": hdf5.HDF5Pump, "offline": root.OfflinePump, "online": online.OnlinePump,
               "daq": daq.DAQPump, "monitoring": daq.TMCHPump, "evt": evt.EvtPump}
    if fmt not in classes:
        raise FormatError(f"a {fmt} detector file, which holds no events to pump", path=path)
    return classes[fmt]
