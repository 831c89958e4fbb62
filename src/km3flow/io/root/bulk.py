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

import numpy as np

from ...dataclasses import Table
from ._tables import Chunk
from .offline import OfflinePump
from .usr import USR_TABLES


def _with_group_id_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` plus a trailing ``<i8`` ``group_id`` field, the other fields at their offsets."""
    names = [n for n in dtype.names if n != "group_id"]
    return np.dtype({"names": names + ["group_id"],
                     "formats": [dtype.fields[n][0] for n in names] + ["<i8"],
                     "offsets": [dtype.fields[n][1] for n in names] + [dtype.itemsize],
                     "itemsize": dtype.itemsize + 8})


def _copy_records(out: np.ndarray, start: int, part: np.ndarray) -> None:
    """Copy ``part``'s records into ``out[start:]`` (whose dtype adds group_id): one byte copy."""
    n, size = len(part), part.dtype.itemsize
    if n:
        dest = out[start:start + n].view(np.uint8).reshape(n, out.dtype.itemsize)
        dest[:, :size] = np.ascontiguousarray(part).view(np.uint8).reshape(n, size)


def _assemble(key: str, parts: list[tuple[Chunk, Table | None, int]]) -> Table:
    """One Table with ``group_id`` from the per-chunk tables of ``key`` (None: NaN rows)."""
    template = next(t for _, t, _ in parts if t is not None)
    out = np.empty(sum(n for _, _, n in parts), _with_group_id_dtype(template.dtype))
    pos = 0
    for chunk, table, n in parts:
        if table is None:  # a usr table from before its columns were known
            out[pos:pos + n] = np.zeros(1, out.dtype)
            for name in template.dtype.names:
                out[name][pos:pos + n] = np.nan
            offsets = chunk.offsets[USR_TABLES[key][2]] if USR_TABLES[key][2] != "EventInfo" \
                else np.arange(chunk.stop - chunk.start + 1)
        else:
            _copy_records(out, pos, table)
            offsets = (np.arange(chunk.stop - chunk.start + 1) if key == "EventInfo"
                       else chunk.offsets[key])
        out["group_id"][pos:pos + n] = np.repeat(
            np.arange(chunk.start, chunk.stop, dtype=np.int64), np.diff(offsets))
        pos += n
    return Table(out, h5loc=template.h5loc, split_h5=template.split_h5, name=template.name)


def _tables_of(chunk: Chunk) -> dict[str, Table]:
    return {"EventInfo": chunk.event_info, **chunk.tables}


def _chunks(path: str | os.PathLike, step_size: int, **options: object
            ) -> Iterator[tuple[OfflinePump, Chunk]]:
    with OfflinePump(filename=path, step_size=step_size, **options) as pump:
        for start in range(0, len(pump), step_size):
            yield pump, pump.read_chunk(start, start + step_size)


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
    options = {"collections": collections, "calibrated": calibrated, "usr": usr}
    for _, chunk in _chunks(path, step_size, **options):
        yield {key: _assemble(key, [(chunk, table, len(table))])
               for key, table in _tables_of(chunk).items()}


def read_offline(path: str | os.PathLike, step_size: int = 2000,
                 collections: Sequence[str] | None = None, calibrated: bool | None = None,
                 usr: bool = True) -> dict[str, Table]:
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
        Tracks and McTracks; NaN where an object lacks a name) and ``Header`` where the
        file has one. Tables carry the pump's h5locs.

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
    parts: dict[str, list[tuple[Chunk, Table | None, int]]] = {}
    header: Table | None = None
    n_chunks = 0
    options = {"collections": collections, "calibrated": calibrated, "usr": usr}
    for pump, chunk in _chunks(path, step_size, **options):
        header = pump._header_table
        tables = _tables_of(chunk)
        for key, table in tables.items():
            if key not in parts and key in USR_TABLES:  # columns known from this chunk on
                follow = USR_TABLES[key][2]
                parts[key] = [(c, None, n) for c, _, n in parts[follow] if c is not chunk]
            parts.setdefault(key, []).append((chunk, table, len(table)))
        for key in parts.keys() - tables.keys():  # a usr table this chunk lacks
            follow = USR_TABLES[key][2]
            parts[key].append((chunk, None, len(tables[follow])))
        n_chunks += 1
    if n_chunks == 0:  # no events: empty tables of the pump's layout
        with OfflinePump(filename=path, **options) as pump:
            header = pump._header_table
            chunk = pump.read_chunk(0, 0)
        parts = {key: [(chunk, table, 0)] for key, table in _tables_of(chunk).items()}
    result = {key: _assemble(key, chunk_parts) for key, chunk_parts in parts.items()}
    if header is not None:
        result["Header"] = header
    return result
