"""Whole-file (and chunk-level) reading of offline ROOT files into flat Tables with ``group_id``.

:func:`read_offline` returns every table of a file at once, :func:`iter_offline` yields them
chunk by chunk (memory bounded by ``step_size``). Both read through the same chunk converter
as :class:`~km3flow.io.root.OfflinePump`, without building per-event blobs, and give each
table a ``group_id`` column: the event's index in the file, as in an HDF5 file written by
the pump and :class:`~km3flow.io.hdf5.HDF5Sink`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ...dataclasses import Table
from ._tables import Chunk
from .offline import OfflinePump
from .usr import USR_TABLES


_GROUP_ID = (("group_id", "<i8"),)


def _with_group_id_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` plus a trailing ``<i8`` ``group_id`` field, the other fields at their offsets."""
    names = list(dtype.names or ())
    fields = dtype.fields
    assert fields is not None  # a structured dtype
    spec: Any = {"names": names + ["group_id"],  # (numpy's stubs want a TypedDict)
                 "formats": [fields[n][0] for n in names] + ["<i8"],
                 "offsets": [fields[n][1] for n in names] + [dtype.itemsize],
                 "itemsize": dtype.itemsize + 8}
    return np.dtype(spec)


def _add_group_id(table: Table) -> Table:
    """A copy of ``table`` with an (uninitialised) group_id field; for the small usr tables.

    Both sides are seen as opaque ``V<itemsize>`` records: one memcpy per record (a
    ``uint8`` 2D view would copy byte by byte).
    """
    out = np.empty(len(table), _with_group_id_dtype(table.dtype))
    n, size = len(table), table.dtype.itemsize
    if n:
        dest = np.ndarray((n,), dtype=f"V{size}", buffer=out, strides=(out.itemsize,))
        dest[...] = np.ascontiguousarray(table).view(f"V{size}").reshape(n)
    return Table(out, h5loc=table.h5loc, split_h5=table.split_h5, name=table.name)


def _event_of(chunk: Chunk, offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(chunk.start, chunk.stop, dtype=np.int64), np.diff(offsets))


def _chunk_tables(chunk: Chunk) -> dict[str, Table]:
    """The chunk's tables, each with its group_id filled (the collections' built with one)."""
    n = chunk.stop - chunk.start
    tables: dict[str, Table] = {"EventInfo": chunk.event_info, **chunk.tables}
    for key, table in tables.items():
        if "group_id" not in (table.dtype.names or ()):  # usr tables: built without it
            table = tables[key] = _add_group_id(table)
        offsets = np.arange(n + 1) if key == "EventInfo" else chunk.offsets[key]
        table["group_id"] = _event_of(chunk, offsets)
    return tables


def _nan_rows(like: Table, group_id: np.ndarray) -> np.ndarray:
    """Rows of a usr table for a chunk before its columns were known: NaN, with group_id."""
    out = np.empty(len(group_id), like.dtype)
    for name in like.dtype.names or ():
        out[name] = group_id if name == "group_id" else np.nan
    return out


def _join(parts: list[np.ndarray], like: Table) -> Table:
    """One Table from the per-chunk parts (no copy for a single chunk)."""
    if len(parts) == 1 and isinstance(parts[0], Table):
        return parts[0]
    data = np.concatenate([np.asarray(p) for p in parts]) if parts else np.empty(0, like.dtype)
    return Table(data, h5loc=like.h5loc, split_h5=like.split_h5, name=like.name)


def _header_of(pump: OfflinePump) -> object | None:
    """What the pump's blobs carry under ``Header`` (None when the file has no header)."""
    table = getattr(pump, "_header_table", None)
    return table if table is not None else pump.header


def _chunks(path: str | os.PathLike, step_size: int, **options: Any
            ) -> Iterator[tuple[OfflinePump, Chunk]]:
    with OfflinePump(filename=path, step_size=step_size, **options) as pump:
        for start in range(0, len(pump), step_size):
            yield pump, pump.read_chunk(start, start + step_size, extra=_GROUP_ID)


def iter_offline(path: str | os.PathLike, step_size: int = 2000,
                 collections: Sequence[str] | None = None, calibrated: bool | None = None,
                 usr: bool = True) -> Iterator[dict[str, Table]]:
    """Yield the tables of an offline file chunk by chunk, each with a ``group_id`` column.

    Parameters
    ----------
    path : str or os.PathLike
        The offline (aanet) ROOT file.
    step_size : int
        Events per chunk (default 2000); memory is bounded by one chunk.
    collections, calibrated, usr
        As for :class:`~km3flow.io.root.OfflinePump`.

    Yields
    ------
    dict of str to Table
        ``EventInfo``, ``Hits``, ``McHits``, ``Tracks``, ``McTracks`` (those in
        ``collections``) and the usr tables (``EventUsr``, ``TracksUsr``, ``McTracksUsr``;
        from the first chunk with named usr values on) of the chunk's events, ``group_id``
        being the event's index in the file.

    Raises
    ------
    FormatError
        As :class:`~km3flow.io.root.OfflinePump` (the file and the events of the chunk).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> chunks = list(iter_offline(data_path("offline/numucc.root"), step_size=4))
    >>> [len(c["EventInfo"]) for c in chunks], chunks[1]["EventInfo"].group_id.tolist()
    ([4, 4, 2], [4, 5, 6, 7])
    """
    options: dict[str, Any] = {"collections": collections, "calibrated": calibrated, "usr": usr}
    for _, chunk in _chunks(path, step_size, **options):
        yield _chunk_tables(chunk)


def read_offline(path: str | os.PathLike, step_size: int = 2000,
                 collections: Sequence[str] | None = None, calibrated: bool | None = None,
                 usr: bool = True) -> dict[str, Any]:
    """Read all events of an offline file into whole-file Tables with a ``group_id`` column.

    The file is read ``step_size`` events at a time (bounding uproot's intermediate
    arrays); the chunks' tables are copied once into the result.

    Parameters
    ----------
    path : str or os.PathLike
        The offline (aanet) ROOT file.
    step_size : int
        Events per chunk read (default 2000).
    collections, calibrated, usr
        As for :class:`~km3flow.io.root.OfflinePump`: which of Hits, McHits, Tracks,
        McTracks to read (all), whether to add the hits' pos/dir, whether to read usr data.

    Returns
    -------
    dict of str to Table
        ``EventInfo`` (one row per event; ``group_id`` = row), ``Hits``, ``McHits``,
        ``Tracks``, ``McTracks`` (the schema's columns of :mod:`km3flow.dataclasses.schema`
        plus ``group_id``, the event index), the usr tables ``EventUsr``/``TracksUsr``/
        ``McTracksUsr`` where the file has named usr values (rows aligned with EventInfo,
        Tracks and McTracks; NaN where an object lacks a name) and, where the file has
        one, ``Header`` as the pump's blobs carry it. Tables carry the pump's h5locs.

    Raises
    ------
    FormatError
        As :class:`~km3flow.io.root.OfflinePump`.

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> tables = read_offline(data_path("offline/usr-sample.root"))
    >>> len(tables["EventInfo"]), tables["EventUsr"].CoC.round(2).tolist()
    (3, [118.63, 44.34, 99.94])
    """
    parts: dict[str, list[np.ndarray]] = {}
    like: dict[str, Table] = {}
    group_ids: dict[str, list[np.ndarray]] = {}  # per key, per chunk so far
    header: object | None = None
    options: dict[str, Any] = {"collections": collections, "calibrated": calibrated, "usr": usr}
    for pump, chunk in _chunks(path, step_size, **options):
        header = _header_of(pump)
        tables = _chunk_tables(chunk)
        for key, table in tables.items():
            if key not in parts and key in USR_TABLES:  # columns known from this chunk on
                parts[key] = [_nan_rows(table, gid)
                              for gid in group_ids.get(USR_TABLES[key][2], [])]
            parts.setdefault(key, []).append(table)
            like[key] = table
        for key in parts.keys() - tables.keys():  # a usr table this chunk lacks
            parts[key].append(_nan_rows(like[key], tables[USR_TABLES[key][2]]["group_id"]))
        for key, table in tables.items():
            group_ids.setdefault(key, []).append(table["group_id"])
    if not like:  # no events: empty tables of the pump's layout
        with OfflinePump(filename=path, **options) as pump:
            header = _header_of(pump)
            like = _chunk_tables(pump.read_chunk(0, 0, extra=_GROUP_ID))
        parts = {key: [table] for key, table in like.items()}
    result: dict[str, Any] = {key: _join(key_parts, like[key]) for key, key_parts in parts.items()}
    if header is not None:
        result["Header"] = header
    return result
