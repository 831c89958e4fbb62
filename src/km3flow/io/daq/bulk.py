"""Decode all frames of one kind in a DAQ stream at once, vectorised over frames.

The per-frame decoders in :mod:`km3flow.io.daq.parse` pay a fixed Python cost per frame
(header, a few numpy calls, the Tables). The bulk readers here pay it once per stream:
after the preamble index, headers, record counts and the byte offsets of every record of
every frame are computed with numpy, and the records are gathered with one ``take`` on a
byte-strided view of the stream — one copy of the hit bytes, as many frames as there are.

Results are flat Tables plus ``offsets`` (frame ``i`` owns rows ``offsets[i]:offsets[i+1]``),
the layout of KM3Pipe's HDF5 ``_indices`` tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...dataclasses import Table
from ...dataclasses.schema import SCHEMAS, TEMPLATES
from ...exceptions import FormatError
from .format import (
    CLASS_VERSIONS, EVENT_TYPE, FRAME_HIT_DTYPE, SNAPSHOT_HIT_DTYPE, SUMMARY_FRAME_DTYPE,
    SUMMARY_FRAME_LEGACY_DTYPE, SUMMARYSLICE_TYPE, SUPERFRAME_HEADER_DTYPE, SUPERFRAME_TYPE,
    TIMESLICE_TYPES, TRIGGERED_HIT_DTYPE, TRIGGERED_HITS_DTYPE,
)
from .frames import Source, index_frames, source_name
from .parse import (
    _make_table, _view, parse_frame, summary_tables, timeslice_tables,
)
from .triggered import batch_triggered

_CYCLES_PER_SECOND = 62_500_000


class _Batch:
    """Base of the bulk results: ``len()`` is the number of frames (rows of ``info``), and
    iterating gives the fields in order, so ``info, hits, *rest = read_events(f)`` unpacks
    as it did when these were named tuples."""

    info: Table

    def __len__(self) -> int:
        return len(self.info)

    def __iter__(self) -> Iterator[Any]:
        # the subclasses are dataclasses (this base is not, so mypy cannot tell)
        return (getattr(self, f.name) for f in dataclasses.fields(self))  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, eq=False)
class EventBatch(_Batch):
    """All events of a stream: one EventInfo row per event, flat hits with offsets."""

    info: Table
    hits: Table
    hits_offsets: np.ndarray
    triggered_hits: Table
    triggered_offsets: np.ndarray
    header: np.ndarray  # the DAQ header of every frame (length, data_type, ...)


@dataclasses.dataclass(frozen=True, eq=False)
class SummarysliceBatch(_Batch):
    """All summary slices of a stream: one info row per slice, flat per-DOM rows."""

    info: Table
    frames: Table
    offsets: np.ndarray
    header: np.ndarray  # the DAQ header of every frame (length, data_type, ...)


@dataclasses.dataclass(frozen=True, eq=False)
class TimesliceBatch(_Batch):
    """All timeslices of a stream: info per slice, per-DOM frame info and flat hits."""

    info: Table
    frame_info: Table
    frame_offsets: np.ndarray
    hits: Table
    hits_offsets: np.ndarray
    header: np.ndarray  # the DAQ header of every frame (length, data_type, ...)


def _header_dtype(legacy: bool, extra: list[tuple[str, str]]) -> np.dtype:
    fields = [("length", "<i4"), ("data_type", "<i4")]
    if not legacy:
        fields.append(("version", "<u2"))
    fields += [("detector_id", "<i4"), ("run", "<i4"), ("frame_index", "<i4"),
               ("utc_seconds", "<u4"), ("utc_16ns_cycles", "<u4")]
    return np.dtype(fields + extra)


def _windows(raw: np.ndarray, itemsize: int) -> np.ndarray:
    """A view with one ``V<itemsize>`` element starting at every byte of ``raw``."""
    n = max(len(raw) - itemsize + 1, 0)
    return np.ndarray(shape=(n,), dtype=f"V{itemsize}", buffer=raw, strides=(1,))


def _gather(raw: np.ndarray, starts: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Records of ``dtype`` at the byte offsets ``starts`` (one copy)."""
    if not len(starts):
        return np.empty(0, dtype)
    return _windows(raw, dtype.itemsize)[starts].view(dtype)


def _record_starts(first: np.ndarray, counts: np.ndarray, size: int) -> np.ndarray:
    """Byte offsets of ``counts[i]`` consecutive records of ``size`` bytes from ``first[i]``."""
    total = int(counts.sum())
    before = np.cumsum(counts) - counts
    return np.repeat(first - size * before, counts) + size * np.arange(total, dtype=np.int64)


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


class _Stream:
    """The bytes and frame index of a source, and the frames of the wanted types.

    A file is read into memory whole; for files larger than memory, iterate a
    :class:`~km3flow.io.daq.DAQReader`, which maps the file and decodes it in chunks.
    """

    def __init__(self, source: Source, types: frozenset[int],
                 index: np.ndarray | None = None) -> None:
        self.path = source_name(source)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data: Any = source
        elif hasattr(source, "read"):
            data = source.read()
        else:
            with open(source, "rb") as fobj:
                data = fobj.read()
        self.raw = np.frombuffer(_view(data), np.uint8)
        if index is None:
            try:
                index = index_frames(data)
            except FormatError as err:
                raise FormatError(err.reason, path=self.path, offset=err.offset) from None
        self.frames = index[np.isin(index["data_type"], list(types))]
        self.offsets = self.frames["offset"]

    def headers(self, legacy: bool, extra: list[tuple[str, str]]) -> np.ndarray:
        dtype = _header_dtype(legacy, extra)
        too_short = np.flatnonzero(self.frames["length"] < dtype.itemsize)
        if len(too_short):
            self.fail(too_short[0], f"expected at least {dtype.itemsize} bytes of header, got "
                      f"{self.frames['length'][too_short[0]]}", legacy)
        hdr = _gather(self.raw, self.offsets, dtype)
        if not legacy:
            # per data type present, not per frame (the frames are of one or a few types)
            types = hdr["data_type"]
            wanted = np.empty(len(hdr), dtype=np.int64)
            for code in np.unique(types).tolist():
                wanted[types == code] = CLASS_VERSIONS[code]
            bad = np.flatnonzero(hdr["version"] != wanted)
            if len(bad):
                self.fail(bad[0], "class version mismatch", legacy)
        bad = np.flatnonzero((hdr["run"] < 0) | (hdr["frame_index"] < 0) |
                             (hdr["utc_16ns_cycles"] >= _CYCLES_PER_SECOND))
        if len(bad):
            self.fail(bad[0], "header out of range", legacy)
        return hdr

    def fail(self, k: int, fallback: str, legacy: bool) -> None:
        """Raise the precise error of frame ``k`` (found by the single-frame decoder)."""
        off, length = int(self.offsets[k]), int(self.frames["length"][k])
        parse_frame(self.raw[off:off + length], legacy, path=self.path, offset=off)
        raise FormatError(f"frame {k}: {fallback}", path=self.path, offset=off)


def _info_common(hdr: np.ndarray) -> dict[str, np.ndarray]:
    return {"detector_id": hdr["detector_id"], "run": hdr["run"],
            "frame_index": hdr["frame_index"], "utc_seconds": hdr["utc_seconds"] & 0x7FFFFFFF,
            "nanoseconds": hdr["utc_16ns_cycles"].astype(np.uint64) * 16}


def read_events(source: Source, legacy: bool = False, *,
                index: np.ndarray | None = None) -> EventBatch:
    """Decode every JDAQEvent of a stream (file name, file object or bytes) at once.

    Parameters
    ----------
    source
        A file name, binary file object or bytes-like stream.
    legacy
        True for pre-v13 frames (no class versions).
    index
        The stream's frame index (:func:`~km3flow.io.daq.frames.index_frames`), when the
        caller has it already (the pumps): the preambles are then not walked again.

    Returns
    -------
    EventBatch
        ``info`` (EventInfo template, one row per event), ``hits`` (Hits template: all
        snapshot hits with the ``triggered`` flag) with ``hits_offsets``, and
        ``triggered_hits`` with ``triggered_offsets``.

    Raises
    ------
    FormatError
        As the single-frame decoder would, naming the first bad frame's byte offset.
    """
    s = _Stream(source, frozenset((EVENT_TYPE,)), index)
    hdr = s.headers(legacy, [("trigger_counter", "<u8"), ("trigger_mask", "<u8"),
                             ("overlays", "<u4"), ("n_triggered", "<i4")])
    body = hdr.dtype.itemsize
    nt = hdr["n_triggered"].astype(np.int64)
    lengths = s.frames["length"]
    snap_pos = s.offsets + body + 18 * nt
    bad = np.flatnonzero((nt < 0) | (body + 18 * nt + 4 > lengths))
    if len(bad):
        s.fail(bad[0], "bad triggered-hit count", legacy)
    ns = _gather(s.raw, snap_pos, np.dtype("<i4")).astype(np.int64)
    bad = np.flatnonzero((ns < 0) | (body + 18 * nt + 4 + 10 * ns != lengths))
    if len(bad):
        s.fail(bad[0], "bad snapshot-hit count", legacy)
    trig_raw = _gather(s.raw, _record_starts(s.offsets + body, nt, 18), TRIGGERED_HIT_DTYPE)
    snap_raw = _gather(s.raw, _record_starts(snap_pos + 4, ns, 10), SNAPSHOT_HIT_DTYPE)
    hits_offsets, trig_offsets = _offsets(ns), _offsets(nt)

    info = SCHEMAS["EventInfo"].filled(len(hdr))
    common = _info_common(hdr)
    info["det_id"] = common["detector_id"]
    info["run_id"] = common["run"]
    info["frame_index"] = common["frame_index"]
    info["utc_seconds"] = common["utc_seconds"]
    info["utc_nanoseconds"] = common["nanoseconds"]
    for name in ("trigger_counter", "trigger_mask", "overlays"):
        info[name] = hdr[name]
    hits = np.empty(len(snap_raw), TEMPLATES["Hits"]["dtype"])
    for name in ("dom_id", "channel_id", "time", "tot"):
        hits[name] = snap_raw[name]
    hits["triggered"] = batch_triggered(snap_raw, trig_raw, hits_offsets, trig_offsets)
    trig = np.empty(len(trig_raw), TRIGGERED_HITS_DTYPE)
    for name in trig.dtype.names:
        trig[name] = trig_raw[name]
    return EventBatch(
        _make_table(info, "/event_info", "EventInfo"),
        _make_table(hits, "/hits", "Hits", True), hits_offsets,
        _make_table(trig, "/triggered_hits", "TriggeredHits", True), trig_offsets, hdr,
    )


def read_summaryslices(source: Source, legacy: bool = False, *,
                       index: np.ndarray | None = None) -> SummarysliceBatch:
    """Decode every JDAQSummaryslice of a stream at once (see :class:`SummarysliceBatch`;
    ``index`` as for :func:`read_events`)."""
    s = _Stream(source, frozenset((SUMMARYSLICE_TYPE,)), index)
    hdr = s.headers(legacy, [("n_frames", "<i4")])
    rec = SUMMARY_FRAME_LEGACY_DTYPE if legacy else SUMMARY_FRAME_DTYPE
    n = hdr["n_frames"].astype(np.int64)
    bad = np.flatnonzero((n < 0) | (hdr.dtype.itemsize + rec.itemsize * n != s.frames["length"]))
    if len(bad):
        s.fail(bad[0], "bad summary-frame count", legacy)
    raw = _gather(s.raw, _record_starts(s.offsets + hdr.dtype.itemsize, n, rec.itemsize), rec)
    _, frames = summary_tables({"frame_index": 0, "utc_seconds": 0, "nanoseconds": 0}, raw)
    return SummarysliceBatch(_slice_info(hdr, n, "SummarysliceInfo", "/summaryslice_info"),
                             frames, _offsets(n), hdr)


def _slice_info(hdr: np.ndarray, n_frames: np.ndarray, name: str, h5loc: str) -> Table:
    """The per-slice info table (SummarysliceInfo/TimesliceInfo) of all slice headers."""
    info = np.empty(len(hdr), TEMPLATES[name]["dtype"])
    common = _info_common(hdr)
    info["frame_index"] = common["frame_index"]
    info["slice_id"] = 0
    info["timestamp"] = common["utc_seconds"]
    info["nanoseconds"] = common["nanoseconds"]
    info["n_frames"] = n_frames
    return _make_table(info, h5loc, name)


def read_timeslices(source: Source, legacy: bool = False, *,
                    index: np.ndarray | None = None) -> TimesliceBatch:
    """Decode every timeslice (types 1001–1005) of a stream at once.

    The super frames of all slices are located together: candidates are the positions
    where the 24 bytes after a length field read ``(101, slice header)``; they are accepted
    when, slice by slice, they chain exactly from the first to the last byte. A slice that
    does not chain is handed to the single-frame decoder, which names the broken byte.
    ``index`` as for :func:`read_events`.
    """
    s = _Stream(source, TIMESLICE_TYPES, index)
    hdr = s.headers(legacy, [("n_frames", "<i4")])
    body = hdr.dtype.itemsize
    n = hdr["n_frames"].astype(np.int64)
    ends = s.offsets + s.frames["length"]
    starts = _superframes(s, hdr, n, body, ends, legacy)
    sf = _gather(s.raw, starts, SUPERFRAME_HEADER_DTYPE)
    nh = sf["n_hits"].astype(np.int64)
    hits_raw = _gather(s.raw, _record_starts(starts + 56, nh, 6), FRAME_HIT_DTYPE)
    frame_offsets = _offsets(n)
    hits_cum = _offsets(nh)
    hits_per_slice = hits_cum[frame_offsets[1:]] - hits_cum[frame_offsets[:-1]]
    _, finfo, hits = timeslice_tables({"frame_index": 0, "utc_seconds": 0, "nanoseconds": 0},
                                      sf, hits_raw)
    return TimesliceBatch(_slice_info(hdr, n, "TimesliceInfo", "/timeslice_info"), finfo,
                          frame_offsets, hits, _offsets(hits_per_slice.astype(np.int64)), hdr)


_HEADER_WORDS = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u4")])  # 20 header bytes


def _superframes(s: _Stream, hdr: np.ndarray, n: np.ndarray, body: int, ends: np.ndarray,
                 legacy: bool) -> np.ndarray:
    raw = s.raw
    first = s.offsets + body
    bad = np.flatnonzero((n < 0) | (first + 56 * n > ends))
    if len(bad):
        s.fail(bad[0], "bad super-frame count", legacy)
    cands = []
    for parity in (0, 1):
        u16 = np.ndarray(shape=((len(raw) - parity) // 2,), dtype="<u2", buffer=raw,
                         offset=parity)
        k = np.flatnonzero(u16[:-1] == SUPERFRAME_TYPE)
        k = k[u16[k + 1] == 0]
        cands.append(parity + 2 * k - 4)
    pos = np.sort(np.concatenate(cands))
    # keep candidates inside a slice body whose 20 header bytes repeat that slice's header
    slice_of = np.searchsorted(first, pos, side="right") - 1
    ok = slice_of >= 0
    pos, slice_of = pos[ok], slice_of[ok]
    ok = pos + 56 <= ends[slice_of]
    pos, slice_of = pos[ok], slice_of[ok]
    # (compared as integers: numpy compares V20 items byte string by byte string)
    sub, own = _gather(raw, pos + 8, _HEADER_WORDS), _gather(raw, first[slice_of] - 24,
                                                               _HEADER_WORDS)
    same = (sub["a"] == own["a"]) & (sub["b"] == own["b"]) & (sub["c"] == own["c"])
    pos, slice_of = pos[same], slice_of[same]
    counts = np.bincount(slice_of, minlength=len(n))
    lengths = _gather(raw, pos, np.dtype("<i4")).astype(np.int64)
    nxt = pos + lengths
    last = np.append(slice_of[1:] != slice_of[:-1], True) if len(pos) else np.empty(0, bool)
    chained = np.where(last, nxt == ends[slice_of], nxt == np.append(pos[1:], -1))
    firsts = np.append(True, slice_of[1:] != slice_of[:-1]) if len(pos) else np.empty(0, bool)
    chained &= ~firsts | (pos == first[slice_of])
    nh = _gather(raw, pos + 52, np.dtype("<i4")).astype(np.int64)
    chained &= lengths == 56 + 6 * nh
    broken = np.zeros(len(n), dtype=bool)
    broken[slice_of[~chained]] = True
    broken |= counts != n
    broken &= ~((n == 0) & (first == ends))
    if np.any(broken):
        # the single-frame decoder walks the first broken slice and names the bad byte;
        # if it succeeds, a stray candidate broke the fast path: walk every slice
        first_broken = int(np.flatnonzero(broken)[0])
        off, length = int(s.offsets[first_broken]), int(s.frames["length"][first_broken])
        parse_frame(raw[off:off + length], legacy, path=s.path, offset=off)
        return _superframes_slow(s, n, body, legacy)
    return pos


def _superframes_slow(s: _Stream, n: np.ndarray, body: int, legacy: bool) -> np.ndarray:
    """Walk every slice (used only when a candidate false positive broke the fast path)."""
    from .parse import DAQHeader, _superframe_starts_walk

    out = []
    for k in range(len(n)):
        off, length = int(s.offsets[k]), int(s.frames["length"][k])
        view = s.raw[off:off + length].data  # a memoryview of the frame's bytes
        hdr = DAQHeader(length=length, body=body - 4)
        if n[k]:
            out.append(off + _superframe_starts_walk(view, hdr, int(n[k]), body, s.path, off))
    return np.concatenate(out) if out else np.empty(0, np.int64)
