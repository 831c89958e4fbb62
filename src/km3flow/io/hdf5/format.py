"""KM3Pipe HDF5 layout: format-version constants, naming rules and a checked file opener.

The layout (``format_version`` 5.1, used by KM3Pipe since 2016) is described in
``shared/specs/km3pipe-hdf5.md``: tables at their ``h5loc`` with a ``group_id`` column,
``/group_info``, split groups of one array per column with ``_indices``, and NDArrays
with a sibling ``<h5loc>_indices`` table.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np
import tables as tb

from ...exceptions import FormatError

FORMAT_VERSION = "5.1"
MINIMUM_FORMAT_VERSION = "4.1"
TITLE = "KM3NeT"
INDEX_DTYPE = np.dtype([("index", "<i8"), ("n_items", "<i8")])
GROUP_INFO_DTYPE = np.dtype([("blob_length", "<i8"), ("group_id", "<i8")])
PROVENANCE_ATTR = "km3flow_provenance"
PROVENANCE_NODE = "/km3flow_provenance"
COLUMNS_ATTR = "km3flow_columns"


def camelise(text: str) -> str:
    """``group_info`` → ``GroupInfo``, as KM3Pipe names the blob keys of HDF5 tables."""
    return "".join(part.capitalize() if part else "_" for part in text.split("_"))


def decamelise(text: str) -> str:
    """``EventInfo`` → ``event_info``."""
    s = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", text)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def version_tuple(version: Any) -> tuple[int, ...]:
    """``b'5.1'`` → ``(5, 1)``; an unparsable version gives ``()``."""
    if isinstance(version, (bytes, np.bytes_)):
        version = version.decode("ascii", "replace")
    try:
        return tuple(int(p) for p in str(version).strip().split("."))
    except ValueError:
        return ()


def attr_str(value: Any) -> str:
    """Decode a root attribute that may be bytes, ``np.bytes_`` or ``np.str_``."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


# HDF5's chunk cache is per dataset (PyTables' default: 16 MiB each). A sequential writer
# or reader needs one or two chunks of it: with the default, a converted file of 16 split
# columns grew the process by up to 256 MiB as the caches filled (measured: 35 -> 200 MB
# over a 100 MB DAQ input, flat at 85 MB with 1 MiB; benchmarks/scale.py).
CHUNK_CACHE_SIZE = 2**20


def make_filters(complib: str = "zlib", complevel: int = 5, shuffle: bool = True,
                 fletcher32: bool = True) -> tb.Filters:
    """The PyTables filters KM3Pipe uses by default (zlib 5, shuffle, Fletcher32)."""
    return tb.Filters(complevel=int(complevel), complib=complib, shuffle=bool(shuffle),
                      fletcher32=bool(fletcher32))


def _hdf5_cause(text: str) -> str:
    """The innermost message of an HDF5 error back trace (or its first line)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if "End of HDF5 error back trace" in lines:
        inner = [line for line in lines[:lines.index("End of HDF5 error back trace")]
                 if not line.startswith("File ")]
        if inner:
            return inner[-1]
    return lines[0] if lines else ""


def open_km3_file(path: str | os.PathLike, check_layout: bool = True) -> tb.File:
    """Open a KM3Pipe-layout HDF5 file for reading, or raise one clear FormatError.

    Raises
    ------
    FormatError
        The file is missing, not HDF5, truncated/damaged, from another layout (no
        ``format_version`` attribute and no ``/group_info``), or older than format 4.1.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FormatError("no such file", path=path)
    if os.path.isdir(path):
        raise FormatError("is a directory, expected an HDF5 file", path=path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        raise FormatError(f"cannot be read: {err.strerror}", path=path) from err
    if len(head) < 8:
        raise FormatError(f"is {len(head)} bytes long, too short for an HDF5 file", path=path)
    try:
        is_hdf5 = tb.is_hdf5_file(path)
    except (tb.HDF5ExtError, OSError, ValueError):
        is_hdf5 = False
    if not is_hdf5:
        raise FormatError(
            f"not an HDF5 file (no HDF5 signature; first bytes {head!r})", path=path
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. NaturalNameWarning of foreign names
            h5 = tb.open_file(path, "r", chunk_cache_size=CHUNK_CACHE_SIZE)
    except (tb.HDF5ExtError, OSError, ValueError, RuntimeError) as err:
        cause = _hdf5_cause(str(err)) or type(err).__name__
        truncated = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", cause)
        if truncated:
            raise FormatError(f"truncated HDF5 file: {truncated[1]} bytes long, but its "
                              f"superblock says {truncated[2]}", path=path) from err
        raise FormatError(
            f"cannot be opened as HDF5 (truncated or damaged file?): {cause}", path=path
        ) from err
    if not check_layout:
        return h5
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tb.NaturalNameWarning)
            _check_layout(h5, path)
    except BaseException:
        h5.close()
        raise
    return h5


def _check_layout(h5: tb.File, path: str) -> None:
    """Raise FormatError unless the open file has the KM3Pipe layout."""
    attrs = h5.root._v_attrs
    has_version = "format_version" in attrs._v_attrnamesuser
    if not has_version and "/group_info" not in h5:
        nodes = [n._v_pathname for n in h5.root._f_iter_nodes()][:8]
        raise FormatError(
            "not a KM3Pipe-layout HDF5 file: no 'format_version' root attribute and no "
            f"/group_info table (top-level nodes: {', '.join(nodes) or 'none'})",
            path=path,
        )
    if has_version:
        version = attr_str(attrs.format_version)
        vt = version_tuple(version)
        if not vt:
            raise FormatError(f"unreadable format_version {version!r}", path=path)
        if vt < version_tuple(MINIMUM_FORMAT_VERSION):
            raise FormatError(
                f"HDF5 format version {version} is older than the oldest supported "
                f"({MINIMUM_FORMAT_VERSION})", path=path,
            )
