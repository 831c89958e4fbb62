"""Pumps over DAQ binary files: random access to events, summary slices and timeslices.

:class:`DAQReader` (alias :class:`DAQPump`) indexes the frame preambles once when it is
created, so ``len(reader)`` is known and ``reader[i]`` decodes frame ``i`` directly.
:class:`TimeslicePump` and :class:`SummarysliceReader` are the same reader restricted to
one kind of frame.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from itertools import repeat
from typing import Any

import numpy as np

from ...core import Blob, Pump
from ...core.blob import LazyBlob, Pending
from ...dataclasses import Table
from ...dataclasses.schema import FillNote
from ...exceptions import FormatError
from .format import (
    DATA_TYPES, EVENT_TYPE, HEADER_DTYPE, PREAMBLE_SIZE, SUMMARYSLICE_TYPE, TIMESLICE_STREAMS,
    TIMESLICE_TYPES,
)
from .frames import FrameRef, index_frames, source_name
from .bulk import read_events, read_summaryslices, read_timeslices
from .parse import DAQ_FILLS, DAQHeader, parse_frame


class DAQReader(Pump):
    """Read a Jpp DAQ binary file (IO_EVT, IO_SUM, IO_TSL*, IO_TSSN dumps) as blobs.

    Parameters
    ----------
    filename : str
        The ``.dat`` file (alternatively ``data=``: a bytes-like stream in memory).
    legacy : bool or None
        True for files written before Jpp v13 (no class versions), e.g. the
        ``*_legacy.dat`` test files; False for Jpp v13+ (KM3Pipe's default). None: decide
        from the first frame, which must decode consistently in exactly one of the two
        layouts (a v13+ frame read as legacy is shifted by 2 bytes and its counts do not
        add up). Default None (KM3Pipe's default was False; passing it still works).
    data_types : iterable of int, optional
        Only serve frames of these data-type codes (all top-level frames by default).
    chunk_size : int
        When iterating, runs of up to this many adjacent frames of one type are decoded
        together by the bulk readers (:mod:`km3flow.io.daq.bulk`) and served one blob at
        a time; ``reader[i]`` always decodes frame ``i`` alone. Default 256; 1 disables it.
        The blobs of a chunk carry their main table (``Hits``, ``Summaryslice``,
        ``TimesliceHits``) at once; ``DAQHeader`` and the other tables are built, for
        the whole chunk, when a blob's user first reads one of them
        (:class:`~km3flow.core.blob.LazyBlob`: the same keys, order and values).

    Notes
    -----
    A first pass reads every frame preamble and checks that the frames tile the file
    exactly; a truncated or foreign file raises :class:`~km3flow.exceptions.FormatError`
    at construction, naming the byte offset. Each blob carries ``DAQFrame``
    (offset, length, data type) besides the decoded tables (see :func:`parse_frame`).
    The same pass logs one warning per file for what the format cannot forbid: a
    timeslice/summary-slice ``frame_index`` repeated within a run, or UTC times that go
    backwards while the frame index goes forward (:func:`sequence_findings`).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> reader = DAQReader(filename=data_path("daq/IO_EVT.dat"))
    >>> len(reader), len(reader[0]["Hits"]), int(reader[0]["Hits"].triggered.sum())
    (3, 239, 182)
    >>> reader.close()
    """

    parallel_input = "filename"  # one file per parallel task; FilePump spreads many files

    default_types: frozenset[int] | None = None

    def configure(self) -> None:
        filename = self.get("filename")
        data = self.get("data")
        legacy = self.get("legacy", default=None)
        self.chunk_size = max(int(self.get("chunk_size", default=256)), 1)
        # set once a chunk's deferred entries were read (see _Deferred)
        self._entries_read = False
        types = self.get("data_types", default=self.default_types)
        self.data_types = None if types is None else frozenset(int(t) for t in types)
        self._mmap: mmap.mmap | None = None
        if (filename is None) == (data is None):
            raise TypeError(f"{self.__class__.__name__} needs exactly one of filename= or data=")
        if filename is not None:
            self.filename = os.fspath(filename)
            self.path = source_name(self.filename)
            # the map keeps its own handle, so no file object stays open (and none leaks
            # when a reader is dropped without close())
            with open(self.filename, "rb") as fobj:
                if os.fstat(fobj.fileno()).st_size:
                    self._mmap = mmap.mmap(fobj.fileno(), 0, access=mmap.ACCESS_READ)
            self._buffer: Any = self._mmap if self._mmap is not None else b""
        else:
            self.filename = None
            self.path = None
            self._buffer = memoryview(data).cast("B")
        try:
            frames = index_frames(self._buffer)  # the map when there is one
        except FormatError as err:
            if self.path is not None and err.path is None:
                raise FormatError(err.reason, path=self.path, offset=err.offset) from None
            raise
        self.all_frames = frames
        self.legacy = self._detect_legacy() if legacy is None else bool(legacy)
        if self.data_types is not None:
            frames = frames[np.isin(frames["data_type"], list(self.data_types))]
        self.frames = frames
        # logged with the first event decoded
        self._fill_note = FillNote(self.log, DAQ_FILLS,
                                   f"not in DAQ events ({self.path or 'data in memory'})")
        self.log.debug("indexed %d frames (%d served) in %s", len(self.all_frames),
                       len(frames), self.path)
        findings = sequence_findings(self._buffer, self.all_frames, self.legacy)
        if findings:
            self.log.warning("%s: %s", self.path or "DAQ stream", "; ".join(findings))

    def __len__(self) -> int:
        return len(self.frames)

    def _detect_legacy(self) -> bool:
        if not len(self.all_frames):
            return False
        off, length = int(self.all_frames["offset"][0]), int(self.all_frames["length"][0])
        frame = bytes(self._buffer[off:off + length])
        for legacy in (False, True):
            try:
                parse_frame(frame, legacy)
            except FormatError:
                continue
            self.log.debug("%s: first frame decodes with legacy=%s", self.path, legacy)
            return legacy
        return False  # neither decodes: the v13+ decoder will report the error

    def frame(self, index: int) -> FrameRef:
        """Offset, length and data type of frame ``index`` (of those served)."""
        row = self.frames[index]
        return FrameRef(int(row["offset"]), int(row["length"]), int(row["data_type"]))

    def raw(self, index: int) -> bytes:
        """The bytes of frame ``index``, preamble included (e.g. to replay them)."""
        ref = self.frame(index)
        if self._buffer is None:
            raise ValueError(f"{self.__class__.__name__} is closed")
        return bytes(self._buffer[ref.offset:ref.offset + ref.length])

    def get_blob(self, index: int) -> Blob:
        ref = self.frame(index)
        blob = parse_frame(self.raw(index), self.legacy, path=self.path, offset=ref.offset)
        blob["DAQFrame"] = ref
        if ref.data_type == EVENT_TYPE:
            self._fill_note()
        return blob

    def blob_generator(self) -> Iterator[Blob]:
        """Yield the blobs in order, decoding runs of adjacent same-type frames together."""
        frames = self.frames
        n = len(frames)
        # Python lists: indexing numpy arrays element by element costs more per frame
        types = frames["data_type"].tolist()
        offsets, lengths = frames["offset"].tolist(), frames["length"].tolist()
        i = 0
        while i < n:
            j = i + 1
            while (j < n and j - i < self.chunk_size and types[j] == types[i]
                   and offsets[j] == offsets[j - 1] + lengths[j - 1]):
                j += 1
            if j - i == 1:
                yield self.get_blob(i)
            else:
                yield from self._chunk_blobs(i, j)
            i = j

    def _chunk_blobs(self, i: int, j: int) -> Iterator[Blob]:
        if self._buffer is None:
            raise ValueError(f"{self.__class__.__name__} is closed")
        sel = self.frames[i:j]
        start = int(sel["offset"][0])
        stop = int(sel["offset"][-1] + sel["length"][-1])
        data = self._buffer[start:stop]
        dtype = int(sel["data_type"][0])
        # the chunk's frames, known already: the bulk reader need not walk them again
        index = sel.copy()
        index["offset"] -= start
        try:
            if dtype == EVENT_TYPE:
                batch: Any = read_events(data, self.legacy, index=index)
            elif dtype == SUMMARYSLICE_TYPE:
                batch = read_summaryslices(data, self.legacy, index=index)
            else:
                batch = read_timeslices(data, self.legacy, index=index)
        except FormatError:
            # decode frame by frame so that the error names the file and absolute offset
            for k in range(i, j):
                yield self.get_blob(k)
            return
        # Per chunk, the main table of every frame at once (Table._split cuts them without
        # numpy's per-view Python hook); the header and the secondary tables are built
        # when a blob's user reads one of them (LazyBlob), or at once once that happened
        # in an earlier chunk (_Deferred.entries). Keys and their order are those of
        # parse_frame, then DAQFrame.
        # (tuple.__new__ directly: FrameRef._make is a Python call per frame)
        refs = list(map(tuple.__new__, repeat(FrameRef), zip(
            sel["offset"].tolist(), sel["length"].tolist(), sel["data_type"].tolist())))
        split = Table._split
        if dtype == EVENT_TYPE:
            self._fill_note()
            new, later = _Deferred(self, batch.header, [
                ("EventInfo", batch.info, None, "/event_info", False),
                ("TriggeredHits", batch.triggered_hits, batch.triggered_offsets,
                 "/triggered_hits", True)]).entries(j - i)
            hits = split(batch.hits, batch.hits_offsets.tolist(), "/hits", "Hits", True)
            for (header, info, trig), tab, ref in zip(later, hits, refs):
                yield new(DAQHeader=header, EventInfo=info, Hits=tab, TriggeredHits=trig,
                          DAQFrame=ref)
        elif dtype == SUMMARYSLICE_TYPE:
            new, later = _Deferred(self, batch.header, [
                ("SummarysliceInfo", batch.info, None, "/summaryslice_info", False)],
            ).entries(j - i)
            rows = split(batch.frames, batch.offsets.tolist(), "/summaryslice", "Summaryslice")
            for (header, info), tab, ref in zip(later, rows, refs):
                yield new(DAQHeader=header, SummarysliceInfo=info, Summaryslice=tab,
                          DAQFrame=ref)
        else:
            new, later = _Deferred(self, batch.header, [
                ("TimesliceInfo", batch.info, None, "/timeslice_info", False),
                ("TimesliceFrameInfo", batch.frame_info, batch.frame_offsets,
                 "/timeslice_frame_info", False)]).entries(j - i)
            hits = split(batch.hits, batch.hits_offsets.tolist(), "/timeslice_hits",
                         "TimesliceHits", True)
            stream = TIMESLICE_STREAMS[dtype]
            for (header, info, frame_info), tab, ref in zip(later, hits, refs):
                yield new(DAQHeader=header, TimesliceInfo=info, TimesliceFrameInfo=frame_info,
                          TimesliceHits=tab, TimesliceStream=stream, DAQFrame=ref)

    def counts(self) -> dict[str, int]:
        """Number of frames per kind in the whole file, e.g. ``{'DAQEvent': 3}``."""
        codes, n = np.unique(self.all_frames["data_type"], return_counts=True)
        return {DATA_TYPES[int(c)]: int(k) for c, k in zip(codes, n)}

    def close(self) -> None:
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
        self._buffer = None

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self.path!r}: {len(self)} frames>"


def sequence_findings(buffer: Any, frames: np.ndarray, legacy: bool) -> list[str]:
    """What the frame headers of a stream say that its format cannot forbid: a timeslice or
    summary slice ``frame_index`` that occurs twice for one run and data type (a copied
    frame), and UTC times (of timeslices, summary slices or events) that go backwards
    while the frame index goes forward (a time that contradicts the frame counter).
    Frames merely out of order, with times that follow their frame indices, are normal
    (several filter processes write one file, as in km3net-testdata's IO_SUM_legacy.dat)
    and are not reported.

    Reads the 20-byte headers of all frames with one gather (no frame is decoded); returns
    one sentence per finding (frames numbered 0, 1, … in file order), empty when all is
    well.

    Parameters
    ----------
    buffer
        The stream (bytes-like or mmap).
    frames
        The frame index (:func:`~km3flow.io.daq.frames.index_frames`).
    legacy
        True for pre-v13 streams (no 2-byte class version before the header).
    """
    body = PREAMBLE_SIZE + (0 if legacy else 2)
    at_file = np.flatnonzero(
        np.isin(frames["data_type"], list(TIMESLICE_TYPES | {SUMMARYSLICE_TYPE, EVENT_TYPE}))
        & (frames["length"] >= body + HEADER_DTYPE.itemsize))
    sel = frames[at_file]
    if len(sel) < 2:
        return []
    raw = np.frombuffer(buffer, dtype=np.uint8)
    # one gather per header byte: an (n, 20) index array would cost 160 bytes per frame
    at = sel["offset"] + body
    hdr_bytes = np.empty((len(sel), HEADER_DTYPE.itemsize), dtype=np.uint8)
    for b in range(HEADER_DTYPE.itemsize):
        hdr_bytes[:, b] = raw[at + b]
    hdr = hdr_bytes.view(HEADER_DTYPE).reshape(len(sel))
    out = []
    for code in np.unique(sel["data_type"]).tolist():
        mine = sel["data_type"] == code
        h = hdr[mine]
        frame_of = at_file[mine]  # frame numbers in the file
        name = DATA_TYPES[code]
        key = (h["run"].astype(np.int64) << 32) | h["frame_index"].astype(np.uint32)
        uniq, counts = np.unique(key, return_counts=True)
        # (events share the frame_index of their timeslice: only their times are checked)
        if code != EVENT_TYPE and (counts > 1).any():
            rep = np.flatnonzero(counts > 1)
            pair = frame_of[np.flatnonzero(key == uniq[rep[0]])[:2]].tolist()
            examples = ", ".join(f"{int(uniq[k]) & 0xFFFFFFFF} ({counts[k]}x)"
                                 for k in rep[:5])
            out.append(f"{int((counts[rep] - 1).sum())} of {len(h)} {name} frames repeat a "
                       f"frame_index of their run (frames {pair[0]} and {pair[1]} have the "
                       f"same); repeated: {examples}")
        # the 16 ns cycles (< 62.5e6) and masked seconds fit one int64 in 16 ns units
        t = (h["utc_seconds"] & 0x7FFFFFFF).astype(np.int64) * 62_500_000 + h["utc_16ns_cycles"]
        order = np.argsort(key, kind="stable")
        back = np.flatnonzero(np.diff(t[order]) < 0)
        if len(back):
            k = int(order[back[0] + 1])
            out.append(f"{name}: a UTC time before that of the previous frame_index, "
                       f"{len(back)}x (first at frame {int(frame_of[k])}, "
                       f"frame_index {int(h['frame_index'][k])})")
    return out


class _Deferred:
    """The entries of a decoded chunk's blobs that can wait: the DAQHeader and the given
    tables of every frame (see :class:`~km3flow.core.blob.LazyBlob`).

    ``tables`` lists ``(key, table of all frames, row offsets or None for one row per
    frame, h5loc, split_h5)``; the table's name is its key. When the first blob of the
    chunk needs them, they are built for the whole chunk, and the reader is told: from
    its next chunk on it builds them at once (a reader whose user reads them, e.g. to
    write every entry to HDF5, pays the lazy detour for one chunk only).
    """

    __slots__ = ("_reader", "_header", "_tables", "_keys", "_rows")

    def __init__(self, reader: DAQReader, header: np.ndarray,
                 tables: list[tuple[str, Table, np.ndarray | None, str, bool]]) -> None:
        self._reader = reader
        self._header = header
        self._tables = tables
        self._keys = ("DAQHeader", *(t[0] for t in tables))
        self._rows: list[tuple[Any, ...]] | None = None

    def entries(self, n: int) -> tuple[type[Blob], Iterator[tuple[Any, ...]]]:
        """The blob class and, per frame, the values of the DAQHeader and the tables:
        built now (Blob) if an earlier chunk's were read, else placeholders (LazyBlob)."""
        if self._reader._entries_read:
            return Blob, iter(self._built())
        markers = list(map(Pending, zip(repeat(self), range(n))))
        return LazyBlob, zip(*[markers] * len(self._keys))

    def _built(self) -> list[tuple[Any, ...]]:
        rows = self._rows
        if rows is None:
            columns: list[list[Any]] = [_headers(self._header)]
            for key, tab, bounds, h5loc, split in self._tables:
                columns.append(Table._split(
                    tab, range(len(tab) + 1) if bounds is None else bounds.tolist(),
                    h5loc, key, split))
            rows = self._rows = list(zip(*columns))
        return rows

    def __call__(self, k: int) -> Iterator[tuple[str, Any]]:
        self._reader._entries_read = True
        return zip(self._keys, self._built()[k])


def _headers(hdr: np.ndarray) -> list[DAQHeader]:
    """DAQHeader dicts (as :func:`~km3flow.io.daq.parse.parse_header` makes) for a batch."""
    present = hdr.dtype.names or ()
    legacy = "version" not in present
    body = 28 if legacy else 30
    n = len(hdr)
    names = ("length", "data_type", "version", "detector_id", "run", "frame_index")
    cols = [hdr[k].tolist() if k in present else [None] * n for k in names]
    # the derived values for all frames at once (numpy), then one dict per frame
    seconds = hdr["utc_seconds"].astype(np.uint32)
    cycles = hdr["utc_16ns_cycles"].astype(np.int64)
    cols += [(seconds & 0x7FFFFFFF).astype(np.int64).tolist(),
             (seconds >> 31).astype(bool).tolist(), cycles.tolist(),
             (cycles * 16).tolist()]
    # keyword arguments: cheaper than a dict from zip(keys, values) (0.3 vs 0.45 µs)
    return [DAQHeader(length=a, data_type=b, version=c, detector_id=d, run=e, frame_index=f,
                      utc_seconds=g, white_rabbit=h, utc_16ns_cycles=k, nanoseconds=m,
                      body=body)
            for a, b, c, d, e, f, g, h, k, m in zip(*cols)]


class DAQPump(DAQReader):
    """KM3Pipe's name of :class:`DAQReader`."""


class TimeslicePump(DAQReader):
    """A :class:`DAQReader` serving only timeslices (IO_TSL, IO_TSL0/1/2, IO_TSSN).

    Parameters
    ----------
    stream : str, optional
        Restrict to one stream: ``"L0"``, ``"L1"``, ``"L2"``, ``"SN"``, or ``""`` for the
        generic/legacy type 1001.
    """

    default_types = TIMESLICE_TYPES

    def configure(self) -> None:
        stream = self.get("stream")
        if stream is not None:
            codes = [c for c, s in TIMESLICE_STREAMS.items() if s == stream]
            if not codes:
                raise ValueError(f"unknown timeslice stream {stream!r}; "
                                 f"use one of {sorted(TIMESLICE_STREAMS.values())}")
            self.parameters.setdefault("data_types", codes)
        super().configure()


class SummarysliceReader(DAQReader):
    """A :class:`DAQReader` serving only summary slices (IO_SUM)."""

    default_types = frozenset((SUMMARYSLICE_TYPE,))


