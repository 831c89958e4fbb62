"""Decode single DAQ frames (events, summary slices, timeslices) from bytes into Tables.

Each ``parse_*`` function takes the bytes of one complete frame, preamble included — a
slice of a ``.dat`` file or the payload of a ControlHost message — and returns km3flow
Tables with KM3Pipe's HDF5 locations. Hit blocks are decoded with one ``np.frombuffer``
on a packed structured dtype; timeslices locate all their super frames with vectorised
numpy operations, so no Python code runs per hit or per DOM on the fast path.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ...core.blob import Blob
from ...dataclasses import Table
from ...dataclasses.schema import SCHEMAS, TEMPLATES
from ...exceptions import FormatError
from .format import (
    CLASS_VERSIONS, EVENT_TYPE, FRAME_HIT_DTYPE, FRAME_INFO_DTYPE, PREAMBLE_SIZE,
    RATE_TABLE, SNAPSHOT_HIT_DTYPE, SUMMARY_DTYPE, SUMMARY_FRAME_DTYPE,
    SUMMARY_FRAME_LEGACY_DTYPE, SUMMARYSLICE_TYPE, SUPERFRAME_HEADER_DTYPE,
    SUPERFRAME_TYPE, TIMESLICE_STREAMS, TIMESLICE_TYPES, TRIGGERED_HIT_DTYPE, TRIGGERED_HITS_DTYPE,
)

from .triggered import triggered_flags

_HEADER = struct.Struct("<iiiII")
_I32 = struct.Struct("<i")
_PREAMBLE = struct.Struct("<ii")
_EVENT_FIXED = struct.Struct("<QQIi")  # trigger counter, trigger mask, overlays, n_triggered

_HITS = TEMPLATES["Hits"]
_TSHITS = TEMPLATES["TimesliceHits"]
_EVENTINFO = TEMPLATES["EventInfo"]
_SUMINFO = TEMPLATES["SummarysliceInfo"]
_TSINFO = TEMPLATES["TimesliceInfo"]
#: The EventInfo columns a DAQ event header gives; the schema's other columns hold their
#: fill values (DAQ and online ROOT events alike).
DAQ_EVENTINFO_COLUMNS = ("det_id", "frame_index", "overlays", "trigger_counter", "trigger_mask",
                         "utc_nanoseconds", "utc_seconds", "run_id")
DAQ_FILLS = {"EventInfo": SCHEMAS["EventInfo"].missing(DAQ_EVENTINFO_COLUMNS)}
_SF_HEADER_SIZE = SUPERFRAME_HEADER_DTYPE.itemsize  # 56
_CYCLES_PER_SECOND = 62_500_000  # 16 ns ticks in a second


class DAQHeader(dict):
    """The common header of a top-level frame: a dict with attribute access.

    Keys: ``length``, ``data_type``, ``version`` (None for legacy frames),
    ``detector_id``, ``run``, ``frame_index``, ``utc_seconds`` (White-Rabbit bit masked
    off), ``white_rabbit``, ``utc_16ns_cycles``, ``nanoseconds`` (= cycles · 16) and
    ``body`` (offset of the frame body inside the frame).
    """

    # the keys, for type checkers (class annotations only: no class attributes)
    length: int
    data_type: int
    version: int | None
    detector_id: int
    run: int
    frame_index: int
    utc_seconds: int
    white_rabbit: bool
    utc_16ns_cycles: int
    nanoseconds: int
    body: int

    __getattr__ = dict.__getitem__


def _make_table(arr: np.ndarray, h5loc: str, name: str, split_h5: bool = False) -> Table:
    """Wrap ``arr`` as a Table with constant, known-valid metadata (no checks).

    ``Table(...)`` validates its input and the h5loc, which costs more than decoding a
    small event; the h5locs used here are constants.
    """
    return Table._wrap(arr, h5loc, name, split_h5)


def _table(arr: np.ndarray, tmpl: dict[str, Any], name: str) -> Table:
    return _make_table(arr, tmpl["h5loc"], name, tmpl["split_h5"])


def _view(buf: Any) -> memoryview:
    view = memoryview(buf)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def parse_header(
    buf: Any, legacy: bool = False, *, path: str | None = None, offset: int = 0,
    expected: frozenset[int] | None = None,
) -> DAQHeader:
    """Read the preamble, class version and header of the frame in ``buf``.

    Parameters
    ----------
    buf
        Bytes of one complete frame (preamble included).
    legacy
        True for streams written before Jpp v13 (no class version after the preamble).
    path, offset
        Name of the source and absolute offset of ``buf`` in it, used in error messages.
    expected
        Data-type codes accepted here (all top-level types if None).

    Raises
    ------
    FormatError
        If the frame is shorter than its header, its length field disagrees with the
        buffer size, its type is not expected, or the class version is not the one Jpp
        v13+ writes (with a hint when the frame looks like a legacy one).
    """
    view = _view(buf)
    size = len(view)
    body = PREAMBLE_SIZE + (0 if legacy else 2) + _HEADER.size
    if size < body:
        raise FormatError(f"truncated frame: {size} bytes, expected at least {body} "
                          "(preamble and header)", path=path, offset=offset)
    length, data_type = _PREAMBLE.unpack_from(view, 0)
    if expected is not None and data_type not in expected:
        raise FormatError(f"expected a frame of data type {sorted(expected)}, got {data_type}",
                          path=path, offset=offset + 4)
    if length != size:
        raise FormatError(f"frame length field says {length} bytes but the frame has {size}",
                          path=path, offset=offset)
    version = None
    if not legacy:
        version = int.from_bytes(view[8:10], "little")
        wanted = CLASS_VERSIONS.get(data_type)
        if wanted is not None and version != wanted:
            raise FormatError(
                f"expected class version {wanted} for data type {data_type} (Jpp v13+), got "
                f"{version}; if this is a pre-v13 stream pass legacy=True",
                path=path, offset=offset + 8)
    det_id, run, frame_index, seconds, cycles = _HEADER.unpack_from(view, body - _HEADER.size)
    if run < 0 or frame_index < 0:
        raise FormatError(f"expected a run number and frame index >= 0, got {run} and "
                          f"{frame_index}", path=path, offset=offset + body - 16)
    if cycles >= _CYCLES_PER_SECOND:
        raise FormatError(f"expected a UTC 16 ns cycle count below {_CYCLES_PER_SECOND} "
                          f"(one second), got {cycles}", path=path, offset=offset + body - 4)
    return DAQHeader(
        length=length, data_type=data_type, version=version, detector_id=det_id, run=run,
        frame_index=frame_index, utc_seconds=seconds & 0x7FFFFFFF,
        white_rabbit=bool(seconds >> 31), utc_16ns_cycles=cycles, nanoseconds=cycles * 16,
        body=body,
    )


def _need(size: int, end: int, what: str, path: str | None, offset: int, at: int) -> None:
    if end > size:
        raise FormatError(f"truncated frame: {what} needs bytes up to {end} of the frame, "
                          f"which has only {size}", path=path, offset=offset + at)


def parse_event(
    buf: Any, legacy: bool = False, *, path: str | None = None, offset: int = 0,
) -> tuple[Table, Table, Table]:
    """Decode a JDAQEvent frame (data type 10001, ControlHost tag IO_EVT).

    Returns
    -------
    event_info : Table
        One row with the ``EventInfo`` template (h5loc ``/event_info``): det_id, run_id,
        frame_index, trigger_counter, trigger_mask, overlays, utc_seconds,
        utc_nanoseconds (MC fields zero).
    hits : Table
        The snapshot hits with the ``Hits`` template (h5loc ``/hits``): dom_id,
        channel_id, time (ns since the time-slice start), tot and ``triggered``, which
        marks the snapshot hits that are also among the triggered hits.
    triggered_hits : Table
        The triggered hits (h5loc ``/triggered_hits``) with their ``trigger_mask``.

    Raises
    ------
    FormatError
        If the hit counts do not add up to the frame length (names the byte offset).
    """
    view = _view(buf)
    hdr = parse_header(view, legacy, path=path, offset=offset,
                       expected=frozenset((EVENT_TYPE,)))
    return decode_event(view, hdr, path=path, offset=offset)


def decode_event(view: memoryview, hdr: DAQHeader, *, path: str | None = None,
                 offset: int = 0) -> tuple[Table, Table, Table]:
    """:func:`parse_event` after :func:`parse_header` (the header is not read twice)."""
    size = hdr.length
    pos = hdr.body
    _need(size, pos + _EVENT_FIXED.size, "the event header", path, offset, pos)
    counter, mask, overlays, n_trig = _EVENT_FIXED.unpack_from(view, pos)
    pos += _EVENT_FIXED.size
    if n_trig < 0:
        raise FormatError(f"expected a triggered-hit count >= 0, got {n_trig}",
                          path=path, offset=offset + pos - 4)
    trig_end = pos + n_trig * TRIGGERED_HIT_DTYPE.itemsize
    _need(size, trig_end + 4, f"{n_trig} triggered hits", path, offset, pos)
    trig_raw = np.frombuffer(view, TRIGGERED_HIT_DTYPE, count=n_trig, offset=pos)
    (n_snap,) = _I32.unpack_from(view, trig_end)
    snap_start = trig_end + 4
    if n_snap < 0 or snap_start + n_snap * SNAPSHOT_HIT_DTYPE.itemsize != size:
        raise FormatError(
            f"expected the snapshot-hit count to fill the frame "
            f"({(size - snap_start) / SNAPSHOT_HIT_DTYPE.itemsize:g} hits of 10 bytes), "
            f"got {n_snap}", path=path, offset=offset + trig_end)
    snap_raw = np.frombuffer(view, SNAPSHOT_HIT_DTYPE, count=n_snap, offset=snap_start)

    return event_tables(hdr, counter, mask, overlays, snap_raw, trig_raw)


def event_tables(
    hdr: Any, trigger_counter: Any, trigger_mask: Any, overlays: Any,
    snapshot: np.ndarray, triggered: np.ndarray,
) -> tuple[Table, Table, Table]:
    """Build the EventInfo, Hits and TriggeredHits tables of one event.

    ``hdr`` needs ``detector_id``, ``run``, ``frame_index``, ``utc_seconds`` (masked) and
    ``nanoseconds``; ``snapshot``/``triggered`` are structured arrays with the fields
    dom_id, channel_id, time, tot (and trigger_mask), in any byte order (the DAQ stream
    and the ROOT online files share this function).
    """
    info = SCHEMAS["EventInfo"].filled(1)
    info["det_id"] = hdr["detector_id"]
    info["run_id"] = hdr["run"]
    info["frame_index"] = hdr["frame_index"]
    info["trigger_counter"] = trigger_counter
    info["trigger_mask"] = trigger_mask
    info["overlays"] = overlays
    info["utc_seconds"] = hdr["utc_seconds"]
    info["utc_nanoseconds"] = hdr["nanoseconds"]

    hits = np.empty(len(snapshot), _HITS["dtype"])
    for name in ("dom_id", "channel_id", "time", "tot"):
        hits[name] = snapshot[name]
    hits["triggered"] = triggered_flags(snapshot, triggered)
    trig = np.empty(len(triggered), TRIGGERED_HITS_DTYPE)
    for name in TRIGGERED_HITS_DTYPE.names or ():
        trig[name] = triggered[name]
    return (
        _table(info, _EVENTINFO, "EventInfo"),
        _table(hits, _HITS, "Hits"),
        _make_table(trig, "/triggered_hits", "TriggeredHits", True),
    )


def parse_summaryslice(
    buf: Any, legacy: bool = False, *, path: str | None = None, offset: int = 0,
) -> tuple[Table, Table]:
    """Decode a JDAQSummaryslice frame (data type 2001, ControlHost tag IO_SUM).

    Returns
    -------
    info : Table
        One row with the ``SummarysliceInfo`` template (h5loc ``/summaryslice_info``).
    frames : Table
        One row per DOM (h5loc ``/summaryslice``): ``dom_id``, the raw status words
        (``dq_status``, ``hrv``, ``fifo``, ``status3``, ``status4``), decoded
        ``n_udp_packets``, ``max_sequence_number``, ``has_udp_trailer`` (fifo bit 31),
        ``white_rabbit`` (hrv bit 31), ``rates`` (31 rates in Hz), ``raw_rates`` (the
        bytes) and ``dom_rate`` (their sum). Legacy frames carry a single status word,
        given as ``hrv``; their other words are 0.
        Per-channel HRV/FIFO flags: :func:`km3flow.io.daq.channel_flags`.
    """
    view = _view(buf)
    hdr = parse_header(view, legacy, path=path, offset=offset,
                       expected=frozenset((SUMMARYSLICE_TYPE,)))
    return decode_summaryslice(view, hdr, legacy, path=path, offset=offset)


def decode_summaryslice(view: memoryview, hdr: DAQHeader, legacy: bool = False, *,
                        path: str | None = None, offset: int = 0) -> tuple[Table, Table]:
    """:func:`parse_summaryslice` after :func:`parse_header`."""
    pos = hdr.body
    _need(hdr.length, pos + 4, "the frame count", path, offset, pos)
    (n,) = _I32.unpack_from(view, pos)
    pos += 4
    rec = SUMMARY_FRAME_LEGACY_DTYPE if legacy else SUMMARY_FRAME_DTYPE
    if n < 0 or pos + n * rec.itemsize != hdr.length:
        raise FormatError(
            f"expected the summary-frame count to fill the frame "
            f"({(hdr.length - pos) / rec.itemsize:g} frames of {rec.itemsize} bytes), got {n}",
            path=path, offset=offset + pos - 4)
    raw = np.frombuffer(view, rec, count=n, offset=pos)
    return summary_tables(hdr, raw)


def summary_tables(hdr: Any, raw: np.ndarray) -> tuple[Table, Table]:
    """Build the SummarysliceInfo and Summaryslice tables from raw summary frames.

    ``raw`` has the fields dom_id, rates (31 bytes) and either the five status words
    (dq_status, hrv, fifo, status3, status4) or, for legacy frames, one ``status`` word.
    """
    n = len(raw)
    out = np.empty(n, SUMMARY_DTYPE)  # every field is written below
    out["dom_id"] = raw["dom_id"]
    if "status" in (raw.dtype.names or ()):
        out["hrv"] = raw["status"]
        for name in ("dq_status", "fifo", "status3", "status4"):
            out[name] = 0
    else:
        for name in ("dq_status", "hrv", "fifo", "status3", "status4"):
            out[name] = raw[name]
    out["n_udp_packets"] = out["dq_status"] & 0x7FFF
    out["max_sequence_number"] = out["dq_status"] >> 16
    out["has_udp_trailer"] = (out["fifo"] >> 31).astype(bool)
    out["white_rabbit"] = (out["hrv"] >> 31).astype(bool)
    raw_rates = np.ascontiguousarray(raw["rates"])  # the LUT is 3x slower on a strided view
    out["raw_rates"] = raw_rates
    rates = RATE_TABLE[raw_rates]
    out["rates"] = rates
    out["dom_rate"] = rates.sum(axis=1)
    info = np.empty(1, _SUMINFO["dtype"])
    info["frame_index"] = hdr["frame_index"]
    info["slice_id"] = 0
    info["timestamp"] = hdr["utc_seconds"]
    info["nanoseconds"] = hdr["nanoseconds"]
    info["n_frames"] = n
    return (_table(info, _SUMINFO, "SummarysliceInfo"),
            _make_table(out, "/summaryslice", "Summaryslice"))


def _superframe_starts_fast(
    view: memoryview, hdr: DAQHeader, n: int, first: int,
) -> np.ndarray | None:
    """Offsets of the ``n`` super frames found without a Python step per frame, or None.

    Every super frame starts at an even offset (the body starts at an even offset and the
    frame sizes are 56 + 6·n_hits) and repeats the slice header after its preamble, so the
    candidates are the even positions whose 24 bytes after the length equal
    ``(101, detector_id, run, frame_index, utc)``. The result is accepted only if the
    candidates chain exactly (each start + its length = the next start, the last ending
    at the end of the slice); otherwise the caller walks the frames one by one.
    """
    size = hdr.length
    n_units = (size - first) // 2
    if n_units < 14:
        return None
    u16 = np.frombuffer(view, "<u2", count=n_units, offset=first)
    # data_type == 101 as i32 LE: units (101, 0) at position k = start/2 + 2
    cand = np.flatnonzero(u16[2:] == SUPERFRAME_TYPE)
    cand = cand[cand + 3 < n_units]
    cand = cand[u16[cand + 3] == 0]
    starts = first + 2 * cand
    starts = starts[starts + _SF_HEADER_SIZE <= size]
    if len(starts) < n:
        return None
    raw = np.frombuffer(view, "u1")
    # compare the repeated slice header (20 bytes after the data type) byte by byte
    ref = np.frombuffer(view, "u1", count=20, offset=hdr.body - 20)
    same = (raw[starts[:, None] + np.arange(8, 28)] == ref).all(axis=1)
    starts = starts[same]
    if len(starts) != n:
        return None
    lengths = raw[starts[:, None] + np.arange(4)].copy().view("<i4").ravel()
    ends = starts + lengths
    chained = n == 1 or np.array_equal(ends[:-1], starts[1:])
    if starts[0] != first or ends[-1] != size or not chained:
        return None
    return starts


def _superframe_starts_walk(view: memoryview, hdr: DAQHeader, n: int, first: int,
                            path: str | None, offset: int) -> np.ndarray:
    """Walk the super frames one by one; raise a precise FormatError where they break."""
    starts = np.empty(n, dtype=np.int64)
    pos = first
    size = hdr.length
    for k in range(n):
        _need(size, pos + _SF_HEADER_SIZE, f"super frame {k} of {n}", path, offset, pos)
        length, dtype = _PREAMBLE.unpack_from(view, pos)
        if dtype != SUPERFRAME_TYPE:
            raise FormatError(f"expected a super frame (data type 101) as frame {k} of {n} "
                              f"of the timeslice, got data type {dtype}",
                              path=path, offset=offset + pos + 4)
        (n_hits,) = _I32.unpack_from(view, pos + 52)
        if n_hits < 0 or length != _SF_HEADER_SIZE + 6 * n_hits:
            raise FormatError(f"super frame {k}: expected length 56 + 6·n_hits, got length "
                              f"{length} with n_hits {n_hits}", path=path, offset=offset + pos)
        _need(size, pos + length, f"super frame {k} of {n}", path, offset, pos)
        starts[k] = pos
        pos += length
    if pos != size:
        raise FormatError(f"expected the timeslice to end after its {n} super frames, "
                          f"{size - pos} bytes remain", path=path, offset=offset + pos)
    return starts


def parse_timeslice(
    buf: Any, legacy: bool = False, *, path: str | None = None, offset: int = 0,
) -> tuple[Table, Table, Table]:
    """Decode a JDAQTimeslice frame (data types 1001–1005: IO_TSL, L0, L1, L2, SN).

    Returns
    -------
    info : Table
        One row with the ``TimesliceInfo`` template (h5loc ``/timeslice_info``).
    frame_info : Table
        One row per super frame (DOM), h5loc ``/timeslice_frame_info``: dom_id, the
        status words, ``n_hits`` and the decoded UDP/White-Rabbit flags.
    hits : Table
        All hits with the ``TimesliceHits`` template (h5loc ``/timeslice_hits``):
        channel_id, dom_id, time (ns since the slice start, native ``u4``), tot.
    """
    view = _view(buf)
    hdr = parse_header(view, legacy, path=path, offset=offset, expected=TIMESLICE_TYPES)
    return decode_timeslice(view, hdr, path=path, offset=offset)


def decode_timeslice(view: memoryview, hdr: DAQHeader, *, path: str | None = None,
                     offset: int = 0) -> tuple[Table, Table, Table]:
    """:func:`parse_timeslice` after :func:`parse_header`."""
    first = hdr.body + 4
    _need(hdr.length, first, "the super-frame count", path, offset, hdr.body)
    (n,) = _I32.unpack_from(view, hdr.body)
    if n < 0 or first + n * _SF_HEADER_SIZE > hdr.length:
        raise FormatError(f"expected a super-frame count between 0 and "
                          f"{(hdr.length - first) // _SF_HEADER_SIZE}, got {n}",
                          path=path, offset=offset + hdr.body)
    if n == 0:
        if first != hdr.length:
            raise FormatError(f"expected an empty timeslice to end at its frame count, "
                              f"{hdr.length - first} bytes remain", path=path,
                              offset=offset + first)
        starts = np.empty(0, dtype=np.int64)
    else:
        fast = _superframe_starts_fast(view, hdr, n, first)
        starts = (fast if fast is not None
                  else _superframe_starts_walk(view, hdr, n, first, path, offset))
    raw = np.frombuffer(view, "u1")
    headers = np.ascontiguousarray(raw[starts[:, None] + np.arange(_SF_HEADER_SIZE)]).view(
        SUPERFRAME_HEADER_DTYPE).ravel()
    n_hits = headers["n_hits"].astype(np.int64)
    if n and (np.any(n_hits < 0) or np.any(headers["length"] != _SF_HEADER_SIZE + 6 * n_hits)):
        # the chain is consistent but a length disagrees with its hit count: the walker
        # names the offending super frame
        _superframe_starts_walk(view, hdr, n, first, path, offset)

    hit_raw = np.empty(0, FRAME_HIT_DTYPE)
    if n_hits.sum():
        # keep every byte of the body except the 56-byte super-frame headers
        body = raw[first:hdr.length]
        keep = np.ones(len(body), dtype=bool)
        keep[((starts - first)[:, None] + np.arange(_SF_HEADER_SIZE)).ravel()] = False
        hit_raw = body[keep].view(FRAME_HIT_DTYPE)
    return timeslice_tables(hdr, headers, hit_raw)


def timeslice_tables(
    hdr: Any, frames: np.ndarray, hit_raw: np.ndarray,
) -> tuple[Table, Table, Table]:
    """Build the TimesliceInfo, TimesliceFrameInfo and TimesliceHits tables.

    ``frames`` has one row per super frame with dom_id, dq_status, hrv, fifo, status3,
    status4 and n_hits; ``hit_raw`` holds all hits in frame order (channel_id, time, tot).
    """
    n = len(frames)
    n_hits = frames["n_hits"].astype(np.int64)
    finfo = np.empty(n, FRAME_INFO_DTYPE)
    for name in ("dom_id", "dq_status", "hrv", "fifo", "status3", "status4", "n_hits"):
        finfo[name] = frames[name]
    finfo["n_udp_packets"] = finfo["dq_status"] & 0x7FFF
    finfo["max_sequence_number"] = finfo["dq_status"] >> 16
    finfo["has_udp_trailer"] = (finfo["fifo"] >> 31).astype(bool)
    finfo["white_rabbit"] = (finfo["hrv"] >> 31).astype(bool)
    hits = np.empty(len(hit_raw), _TSHITS["dtype"])
    hits["channel_id"] = hit_raw["channel_id"]
    hits["time"] = hit_raw["time"]
    hits["tot"] = hit_raw["tot"]
    hits["dom_id"] = np.repeat(frames["dom_id"], n_hits)
    info = np.empty(1, _TSINFO["dtype"])
    info["frame_index"] = hdr["frame_index"]
    info["slice_id"] = 0
    info["timestamp"] = hdr["utc_seconds"]
    info["nanoseconds"] = hdr["nanoseconds"]
    info["n_frames"] = n
    return (
        _table(info, _TSINFO, "TimesliceInfo"),
        _make_table(finfo, "/timeslice_frame_info", "TimesliceFrameInfo"),
        _table(hits, _TSHITS, "TimesliceHits"),
    )


def parse_frame(buf: Any, legacy: bool = False, *, path: str | None = None,
                offset: int = 0) -> Blob:
    """Decode one frame of any known top-level type into a Blob.

    Keys: ``DAQHeader`` always; events add ``EventInfo``, ``Hits`` (snapshot hits with a
    ``triggered`` column) and ``TriggeredHits``; summary slices add ``SummarysliceInfo``
    and ``Summaryslice``; timeslices add ``TimesliceInfo``, ``TimesliceFrameInfo`` and
    ``TimesliceHits``.
    """
    view = _view(buf)
    header = parse_header(view, legacy, path=path, offset=offset)
    blob = Blob()
    blob["DAQHeader"] = header
    dtype = header.data_type
    if dtype == EVENT_TYPE:
        info, hits, trig = decode_event(view, header, path=path, offset=offset)
        blob["EventInfo"] = info
        blob["Hits"] = hits
        blob["TriggeredHits"] = trig
    elif dtype == SUMMARYSLICE_TYPE:
        info, frames = decode_summaryslice(view, header, legacy, path=path,
                                           offset=offset)
        blob["SummarysliceInfo"] = info
        blob["Summaryslice"] = frames
    elif dtype in TIMESLICE_TYPES:
        info, finfo, hits = decode_timeslice(view, header, path=path, offset=offset)
        blob["TimesliceInfo"] = info
        blob["TimesliceFrameInfo"] = finfo
        blob["TimesliceHits"] = hits
        blob["TimesliceStream"] = TIMESLICE_STREAMS[dtype]
    else:  # parse_header accepts only top-level types; this is a guard, not a path
        raise FormatError(f"no decoder for data type {dtype}", path=path, offset=offset + 4)
    return blob
