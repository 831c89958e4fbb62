"""Online (Jpp ``KM3NETDAQ::*``) ROOT files: DAQ events, summary slices and timeslices.

uproot cannot interpret these classes by itself (custom streamers, memberwise-streamed
vectors), and km3io dropped its online reader. km3flow reads each branch's raw bytes with
uproot (``AsJagged(AsDtype("u1"))``: one flat byte array plus entry offsets per chunk) and
decodes them with numpy: ROOT's per-object byte counts and versions are checked, the packed
records are viewed with big-endian structured dtypes (except the hit ``time``, which Jpp
keeps in network order so that it is little-endian on disk), and the Tables are built by
the same functions as for the DAQ binary stream (:mod:`km3flow.io.daq.parse`).

Layouts handled (all seen in km3net-testdata ``online/*.root``):

- ``KM3NET_EVENT``: header (76 bytes), ``triggeredHits`` (24-byte records) and
  ``snapshotHits`` (10-byte records), each vector with a 10-byte ROOT prefix.
- ``KM3NET_SUMMARYSLICE``: header (44 bytes) and ``vector<JDAQSummaryFrame>`` (55 bytes).
- Timeslices, either split by JDataWriter (one leaf per super-frame member and the hits in
  ``.buffer``) or as one memberwise-streamed ``vector<JDAQSuperFrame>`` (JConvert, and the
  generic ``KM3NET_TIMESLICE`` tree).

uproot is imported lazily (``pip install km3flow[root]``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..._optional import import_optional
from ...core import Blob, Pump
from ...exceptions import FormatError, Km3flowError
from ..daq.format import TIMESLICE_STREAMS
from ...dataclasses.schema import FillNote
from ..daq.parse import DAQ_FILLS, event_tables, summary_tables, timeslice_tables
from ._file import open_root_file, wrap_read_error

_BC_FLAG = 0x40000000
_MEMBERWISE = 0x4000

EVENT_HEADER_DTYPE = np.dtype([
    ("bc0", ">u4"), ("v0", ">u2"), ("bc1", ">u4"), ("v1", ">u2"), ("bc2", ">u4"), ("v2", ">u2"),
    ("detector_id", ">i4"), ("run", ">i4"), ("frame_index", ">i4"),
    ("bc3", ">u4"), ("v3", ">u2"), ("utc_seconds", ">u4"), ("utc_16ns_cycles", ">u4"),
    ("bc4", ">u4"), ("v4", ">u2"), ("trigger_counter", ">u8"),
    ("bc5", ">u4"), ("v5", ">u2"), ("trigger_mask", ">u8"), ("overlays", ">u4"),
])
SLICE_HEADER_DTYPE = np.dtype(EVENT_HEADER_DTYPE.descr[:13])  # 44 bytes, up to the cycles
SNAPSHOT_HIT_DTYPE = np.dtype([
    ("dom_id", ">i4"), ("channel_id", "u1"), ("time", "<u4"), ("tot", "u1"),
])
TRIGGERED_HIT_DTYPE = np.dtype([
    ("dom_id", ">i4"), ("channel_id", "u1"), ("time", "<u4"), ("tot", "u1"),
    ("bc", ">u4"), ("v", ">u2"), ("trigger_mask", ">u8"),
])
SUMMARY_FRAME_DTYPE = np.dtype([
    ("dom_id", ">i4"), ("dq_status", ">u4"), ("hrv", ">u4"), ("fifo", ">u4"),
    ("status3", ">u4"), ("status4", ">u4"), ("rates", "u1", (31,)),
])
HIT_DTYPE = np.dtype([("channel_id", "u1"), ("time", "<u4"), ("tot", "u1")])
_SF_INFO_DTYPE = np.dtype([
    ("dom_id", ">i4"), ("dq_status", ">u4"), ("hrv", ">u4"), ("fifo", ">u4"),
    ("status3", ">u4"), ("status4", ">u4"), ("n_hits", ">i4"),
])
_UTC_EXT_DTYPE = np.dtype([("bc", ">u4"), ("v", ">u2"), ("s", ">u4"), ("c", ">u4")])

_EVENT = "KM3NET_EVENT"
_SUMMARY = "KM3NET_SUMMARYSLICE"
_SF_VECTOR = "vector<KM3NETDAQ::JDAQSuperFrame>"


def _raw(branch: Any, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat bytes and entry offsets of ``branch`` for entries ``start:stop``."""
    uproot = import_optional("uproot", extra="root")
    import_optional("awkward", extra="root")  # library="ak" below
    interp = uproot.interpretation.jagged.AsJagged(uproot.interpretation.numerical.AsDtype("u1"))
    arr = branch.array(interp, entry_start=start, entry_stop=stop, library="ak")
    layout = arr.layout
    offsets = np.asarray(layout.offsets, dtype=np.int64)
    content = np.asarray(layout.content.data if hasattr(layout.content, "data")
                         else layout.content, dtype=np.uint8)
    return content[offsets[0]:offsets[-1]], offsets - offsets[0]


def _guarded(method: Any) -> Any:
    """Turn uproot's errors on damaged files into a FormatError naming the file (the one
    path of all ROOT readers: :func:`km3flow.io.root._file.wrap_read_error`)."""
    import functools

    @functools.wraps(method)
    def wrapper(self: OnlineFile, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Km3flowError:
            raise
        except Exception as err:  # uproot raises many types on damaged files
            raise wrap_read_error(err, self.filename, "the online trees") from err
    return wrapper


class OnlineFile:
    """Decoded access to the DAQ trees of an online ROOT file, in chunks of entries.

    Parameters
    ----------
    filename
        The ROOT file.

    Each ``read_*`` method returns plain numpy arrays for an entry range, so a large file
    can be processed chunk by chunk; :class:`OnlinePump` builds blobs on top of it.
    """

    def __init__(self, filename: str | os.PathLike) -> None:
        self.filename = os.fspath(filename)
        self.path = os.path.basename(self.filename)  # how messages and fill notes name it
        self._file = open_root_file(self.filename)
        try:
            self.trees = {k.split(";")[0]: v for k, v in self._file.classnames().items()
                          if v == "TTree"}
        except Exception as err:  # a damaged directory
            self._file.close()
            raise wrap_read_error(err, self.filename, "the keys of the ROOT file") from err
        if not any(name.startswith("KM3NET_") for name in self.trees):
            self._file.close()
            raise FormatError("expected an online ROOT file with KM3NET_EVENT, "
                              "KM3NET_SUMMARYSLICE or KM3NET_TIMESLICE* trees, found "
                              f"{sorted(self.trees) or 'no trees'}", path=self.path)

    def close(self) -> None:
        """Close the ROOT file."""
        self._file.close()

    # -- entry counts ---------------------------------------------------------------------
    @_guarded
    def n_entries(self, tree: str) -> int:
        """Number of entries of ``tree`` (0 if the file has no such tree)."""
        return int(self._file[tree].num_entries) if tree in self.trees else 0

    @property
    @_guarded
    def timeslice_streams(self) -> dict[str, int]:
        """Non-empty timeslice trees: stream name ("L0", "L1", "L2", "SN", "" for the
        generic ``KM3NET_TIMESLICE``) → number of timeslices."""
        out = {}
        for stream in ("", "L0", "L1", "L2", "SN"):
            n = self.n_entries(_ts_tree(stream))
            if n:
                out[stream] = n
        return out

    # -- byte-level checks ----------------------------------------------------------------
    def _fail(self, message: str, branch: str, entry: int) -> FormatError:
        return FormatError(f"branch {branch!r}, entry {entry}: {message}", path=self.path)

    def _fixed(self, branch: str, tree: str, dtype: np.dtype, start: int, stop: int) -> np.ndarray:
        content, offsets = _raw(self._file[tree][branch], start, stop)
        sizes = np.diff(offsets)
        bad = np.flatnonzero(sizes != dtype.itemsize)
        if len(bad):
            raise self._fail(f"expected {dtype.itemsize} bytes, got {sizes[bad[0]]}",
                             branch, start + int(bad[0]))
        records = content.view(dtype)
        for name in dtype.names or ():
            if name.startswith("bc"):
                wrong = np.flatnonzero((records[name] & _BC_FLAG) == 0)
                if len(wrong):
                    raise self._fail("expected a ROOT byte count (bit 30 set) in the header",
                                     branch, start + int(wrong[0]))
        return records

    def _vector(self, branch: str, tree: str, dtype: np.dtype, start: int,
                stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Records and per-entry offsets of a ``std::vector`` of fixed-size objects."""
        content, offsets = _raw(self._file[tree][branch], start, stop)
        sizes = np.diff(offsets)
        if np.any(sizes < 10):
            k = int(np.flatnonzero(sizes < 10)[0])
            raise self._fail(f"expected at least 10 bytes (byte count, version, size), "
                             f"got {sizes[k]}", branch, start + k)
        head = content[offsets[:-1, None] + np.arange(10)]
        bc = head[:, 0:4].copy().view(">u4").ravel()
        count = head[:, 6:10].copy().view(">i4").ravel().astype(np.int64)
        bad = ((bc & _BC_FLAG) == 0) | ((bc & ~np.uint32(_BC_FLAG)) != sizes - 4) | (
            count < 0) | (10 + count * dtype.itemsize != sizes)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise self._fail(
                f"expected a vector of {dtype.itemsize}-byte records filling the entry "
                f"({sizes[k]} bytes), got byte count {bc[k]:#x} and size {count[k]}",
                branch, start + k)
        keep = np.ones(len(content), dtype=bool)
        keep[(offsets[:-1, None] + np.arange(10)).ravel()] = False
        records = content[keep].view(dtype)
        rec_offsets = np.concatenate([[0], np.cumsum(count)])
        return records, rec_offsets

    # -- events ---------------------------------------------------------------------------
    @_guarded
    def read_events(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Headers, snapshot and triggered hits of events ``start:stop``.

        Returns a dict with ``header`` (one record per event), ``snapshot`` and
        ``triggered`` (flat records) and ``snapshot_offsets``/``triggered_offsets``
        (event ``i`` owns ``records[offsets[i]:offsets[i+1]]``).
        """
        stop = self.n_entries(_EVENT) if stop is None else stop
        header = self._fixed(f"{_EVENT}/KM3NETDAQ::JDAQEventHeader", _EVENT,
                             EVENT_HEADER_DTYPE, start, stop)
        trig_branch = f"{_EVENT}/triggeredHits"
        snap, snap_off = self._vector(f"{_EVENT}/snapshotHits", _EVENT, SNAPSHOT_HIT_DTYPE,
                                      start, stop)
        trig, trig_off = self._vector(trig_branch, _EVENT, TRIGGERED_HIT_DTYPE, start, stop)
        wrong = np.flatnonzero((trig["bc"] != (_BC_FLAG | 10)) | (trig["v"] != 1))
        if len(wrong):
            entry = int(np.searchsorted(trig_off, wrong[0], side="right")) - 1
            raise self._fail("expected each triggered hit's trigger mask to carry byte count "
                             "10 and version 1", trig_branch, start + entry)
        return {"header": header, "snapshot": snap, "snapshot_offsets": snap_off,
                "triggered": trig, "triggered_offsets": trig_off}

    # -- summary slices -------------------------------------------------------------------
    @_guarded
    def read_summaryslices(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Headers and summary frames of summary slices ``start:stop`` (``frames`` flat,
        ``frame_offsets`` per slice)."""
        stop = self.n_entries(_SUMMARY) if stop is None else stop
        header = self._fixed(f"{_SUMMARY}/KM3NETDAQ::JDAQSummarysliceHeader", _SUMMARY,
                             SLICE_HEADER_DTYPE, start, stop)
        frames, offsets = self._vector(f"{_SUMMARY}/vector<KM3NETDAQ::JDAQSummaryFrame>",
                                       _SUMMARY, SUMMARY_FRAME_DTYPE, start, stop)
        return {"header": header, "frames": frames, "frame_offsets": offsets}

    # -- timeslices -----------------------------------------------------------------------
    @_guarded
    def read_timeslices(self, stream: str, start: int = 0,
                        stop: int | None = None) -> list[dict[str, Any]]:
        """Timeslices ``start:stop`` of a stream, each a dict with ``header`` (dict),
        ``frames`` (one record per super frame) and ``hits`` (all hits, frame order).

        The raw bytes of the range are read in one go per branch; the decoding then costs
        a few numpy calls per timeslice, none per super frame or hit.
        """
        tree_name = _ts_tree(stream)
        stop = self.n_entries(tree_name) if stop is None else stop
        tree = self._file[tree_name]
        top = tree.branches[0]
        if "KM3NETDAQ::JDAQTimeslice" in {b.name for b in top.branches}:
            base = f"{top.name}/KM3NETDAQ::JDAQTimeslice"  # JDataWriter / JConvert
        else:
            base = top.name  # the generic KM3NET_TIMESLICE tree
        keys = set(tree.keys())
        vec = f"{base}/{_SF_VECTOR}"
        headers = self._timeslice_headers(tree, base, keys, start, stop)
        if f"{vec}/{_SF_VECTOR}.buffer" in keys:
            bodies = self._split_superframes(tree, vec, start, stop)
        else:
            bodies = self._memberwise_superframes(tree, vec, start, stop)
        return [{"header": h, "frames": f, "hits": x} for h, (f, x) in zip(headers, bodies)]

    def _leaf(self, tree: Any, name: str, start: int, stop: int) -> np.ndarray:
        return tree[name].array(entry_start=start, entry_stop=stop, library="np")

    def _timeslice_headers(self, tree: Any, base: str, keys: set[str], start: int,
                           stop: int) -> list[dict[str, int]]:
        packed = f"{base}/KM3NETDAQ::JDAQTimesliceHeader"
        if packed in keys and not tree[packed].branches:
            rec = self._fixed(packed, tree.name, SLICE_HEADER_DTYPE, start, stop)
            return [_header(r, self.path, f"timeslice {start + i}")
                    for i, r in enumerate(rec)]
        chrono = f"{packed}/KM3NETDAQ::JDAQHeader/KM3NETDAQ::JDAQChronometer"
        det, run, frame = (self._leaf(tree, f"{chrono}/{k}", start, stop)
                           for k in ("detector_id", "run", "frame_index"))
        if f"{chrono}/timeslice_start" in keys:
            utc = self._fixed(f"{chrono}/timeslice_start", tree.name, _UTC_EXT_DTYPE,
                              start, stop)
            seconds, cycles = utc["s"], utc["c"]
        else:
            seconds, cycles = (self._leaf(tree, f"{chrono}/timeslice_start.{k}", start, stop)
                               for k in ("UTC_seconds", "UTC_16nanosecondcycles"))
        return [_header({"detector_id": d, "run": r, "frame_index": f, "utc_seconds": s,
                         "utc_16ns_cycles": c}, self.path, f"timeslice {start + i}")
                for i, (d, r, f, s, c) in enumerate(zip(det, run, frame, seconds, cycles))]

    def _split_superframes(self, tree: Any, vec: str, start: int,
                           stop: int) -> list[tuple[np.ndarray, np.ndarray]]:
        leaf = f"{vec}/{_SF_VECTOR}."
        columns = {"dom_id": "id", "dq_status": "daq", "hrv": "status", "fifo": "fifo",
                   "status3": "status_3", "status4": "status_4", "n_hits": "numberOfHits"}
        values = {name: self._leaf(tree, leaf + member, start, stop)
                  for name, member in columns.items()}
        content, offsets = _raw(tree[leaf + "buffer"], start, stop)
        out = []
        for i in range(stop - start):
            n = len(values["dom_id"][i])
            frames = np.empty(n, _SF_INFO_DTYPE)
            for name, member in columns.items():
                if len(values[name][i]) != n:
                    raise self._fail(f"expected {n} super frames, got {len(values[name][i])}",
                                     leaf + member, start + i)
                frames[name] = values[name][i]
            hits = self._hit_buffer(content[offsets[i]:offsets[i + 1]],
                                    int(frames["n_hits"].astype(np.int64).sum()),
                                    leaf + "buffer", start + i)
            out.append((frames, hits))
        return out

    def _hit_buffer(self, content: np.ndarray, n_hits: int, branch: str,
                    index: int) -> np.ndarray:
        if len(content) < 6:
            raise self._fail(f"expected a hit buffer of at least 6 bytes, got {len(content)}",
                             branch, index)
        bc = int.from_bytes(content[:4].tobytes(), "big")
        if not bc & _BC_FLAG or (bc & ~_BC_FLAG) != len(content) - 4 or \
                len(content) != 6 + 6 * n_hits:
            raise self._fail(f"expected {n_hits} hits of 6 bytes after a 6-byte prefix "
                             f"({6 + 6 * n_hits} bytes), got {len(content)} bytes",
                             branch, index)
        return content[6:].view(HIT_DTYPE)

    def _memberwise_superframes(self, tree: Any, vec: str, start: int,
                                stop: int) -> list[tuple[np.ndarray, np.ndarray]]:
        content, offsets = _raw(tree[vec], start, stop)
        return [self._memberwise_entry(content[offsets[i]:offsets[i + 1]], vec, start + i)
                for i in range(stop - start)]

    def _memberwise_entry(self, content: np.ndarray, vec: str,
                          index: int) -> tuple[np.ndarray, np.ndarray]:
        size = len(content)
        if size < 12:
            raise self._fail(f"expected at least 12 bytes, got {size}", vec, index)
        bc = int.from_bytes(content[0:4].tobytes(), "big")
        version = int.from_bytes(content[4:6].tobytes(), "big")
        n = int.from_bytes(content[8:12].tobytes(), "big", signed=True)
        if not bc & _BC_FLAG or (bc & ~_BC_FLAG) != size - 4 or not version & _MEMBERWISE:
            raise self._fail(f"expected a memberwise-streamed vector with byte count "
                             f"{size - 4}, got byte count {bc:#x}, version {version:#x}",
                             vec, index)
        # members in streamer order, each for all n elements: length, type, TObject
        # (version, fUniqueID, fBits), detector_id, run, frame_index, timeslice_start
        # (byte count, version, seconds, cycles), id, daq, status, fifo, status_3,
        # status_4, numberOfHits — 72 bytes per frame — then the hit buffer
        fixed = 12 + 72 * n
        if n < 0 or fixed > size:
            raise self._fail(f"expected a super-frame count between 0 and "
                             f"{(size - 12) // 72}, got {n}", vec, index)
        if n == 0:
            if size != 12:
                raise self._fail(f"expected an empty vector to end after 12 bytes, got {size}",
                                 vec, index)
            return np.empty(0, _SF_INFO_DTYPE), np.empty(0, HIT_DTYPE)

        def member(pos: int, dtype: str) -> np.ndarray:
            return content[pos:pos + 4 * n].view(dtype)

        length, ftype = member(12, ">i4"), member(12 + 4 * n, ">i4")
        pos = 12 + 8 * n + 10 * n + 12 * n + 14 * n
        frames = np.empty(n, _SF_INFO_DTYPE)
        for k, name in enumerate(("dom_id", "dq_status", "hrv", "fifo", "status3", "status4",
                                  "n_hits")):
            frames[name] = member(pos + 4 * n * k, _SF_INFO_DTYPE[name].str)
        n_hits = frames["n_hits"].astype(np.int64)
        if np.any(ftype != 101) or np.any(n_hits < 0) or np.any(length != 56 + 6 * n_hits):
            raise self._fail("expected super frames of data type 101 with length "
                             "56 + 6·numberOfHits", vec, index)
        hits = self._hit_buffer(content[fixed:], int(n_hits.sum()), vec, index)
        return frames, hits


def _ts_tree(stream: str) -> str:
    return f"KM3NET_TIMESLICE_{stream}" if stream else "KM3NET_TIMESLICE"


def _header(rec: Any, path: str | None = None, what: str = "header") -> dict[str, int]:
    """The slice/event header fields as km3flow uses them; checks their ranges."""
    seconds, cycles = int(rec["utc_seconds"]), int(rec["utc_16ns_cycles"])
    run, frame_index = int(rec["run"]), int(rec["frame_index"])
    if run < 0 or frame_index < 0 or cycles >= 62_500_000:
        raise FormatError(f"{what}: expected run >= 0, frame index >= 0 and fewer than "
                          f"62500000 16-ns cycles, got {run}, {frame_index}, {cycles}",
                          path=path)
    return {"detector_id": int(rec["detector_id"]), "run": run, "frame_index": frame_index,
            "utc_seconds": seconds & 0x7FFFFFFF, "white_rabbit": bool(seconds >> 31),
            "nanoseconds": cycles * 16}


class OnlinePump(Pump):
    """Read DAQ events, summary slices or timeslices from an online ROOT file as blobs.

    Parameters
    ----------
    filename : str
        The online ROOT file (e.g. km3net-testdata ``online/km3net_online.root``).
    kind : str, optional
        ``"events"``, ``"summaryslices"`` or ``"timeslices"``; by default the first of
        these the file has entries for (events if it has none at all).
    stream : str
        For timeslices: ``"L0"``, ``"L1"``, ``"L2"``, ``"SN"`` or ``""`` (the generic
        ``KM3NET_TIMESLICE`` tree); default: the first non-empty one of L1, L0, L2, SN, "".
    step_size : int
        Entries decoded per chunk (default 1000 events or summary slices, 10 timeslices);
        only one chunk is held in memory.

    Blobs carry the same keys as :class:`km3flow.io.daq.DAQReader`'s: ``EventInfo``,
    ``Hits`` (with ``triggered``), ``TriggeredHits``; ``SummarysliceInfo``,
    ``Summaryslice``; ``TimesliceInfo``, ``TimesliceFrameInfo``, ``TimesliceHits``.

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> pump = OnlinePump(filename=data_path("online/km3net_online.root"))
    >>> len(pump), len(pump[0]["Hits"]), len(pump[0]["TriggeredHits"])
    (3, 96, 18)
    """

    parallel_input = "filename"  # one file per parallel task; FilePump spreads many files

    def configure(self) -> None:
        self.filename = os.fspath(self.require("filename"))
        self.kind = self.get("kind")
        step = self.get("step_size")
        stream = self.get("stream")
        if self.kind not in (None, "events", "summaryslices", "timeslices"):
            raise ValueError(f"kind must be 'events', 'summaryslices' or 'timeslices', "
                             f"not {self.kind!r}")
        self.file = OnlineFile(self.filename)
        if self.kind is None:
            if self.file.n_entries(_EVENT):
                self.kind = "events"
            elif self.file.n_entries(_SUMMARY):
                self.kind = "summaryslices"
            else:
                self.kind = "timeslices" if self.file.timeslice_streams else "events"
        if self.kind == "timeslices":
            streams = self.file.timeslice_streams
            if stream is None:
                stream = next((s for s in ("L1", "L0", "L2", "SN", "") if s in streams), "L1")
            if stream not in TIMESLICE_STREAMS.values():
                raise ValueError(f"unknown timeslice stream {stream!r}")
            self.stream = stream
            self._n = self.file.n_entries(_ts_tree(stream))
            self.step_size = int(step or 10)  # timeslices are large
        else:
            self.step_size = int(step or 1000)
            self.stream = None
            self._n = self.file.n_entries(_EVENT if self.kind == "events" else _SUMMARY)
        self._chunk: tuple[int, Any] | None = None
        # logged with the first event decoded
        self._fill_note = FillNote(self.log, DAQ_FILLS, f"not in online events ({self.file.path})")

    def __len__(self) -> int:
        return self._n

    def _chunk_for(self, index: int) -> tuple[int, Any]:
        start = (index // self.step_size) * self.step_size
        if self._chunk is None or self._chunk[0] != start:
            stop = min(start + self.step_size, self._n)
            if self.kind == "timeslices":
                chunk: Any = self.file.read_timeslices(self.stream, start, stop)
            elif self.kind == "events":
                chunk = self.file.read_events(start, stop)
            else:
                chunk = self.file.read_summaryslices(start, stop)
            self._chunk = (start, chunk)
        return self._chunk

    def get_blob(self, index: int) -> Blob:
        blob = Blob()
        start, chunk = self._chunk_for(index)
        i = index - start
        if self.kind == "timeslices":
            ts = chunk[i]
            info, finfo, hits = timeslice_tables(ts["header"], ts["frames"], ts["hits"])
            blob["TimesliceInfo"] = info
            blob["TimesliceFrameInfo"] = finfo
            blob["TimesliceHits"] = hits
            blob["TimesliceStream"] = self.stream
            return blob
        hdr = chunk["header"][i]
        if self.kind == "events":
            so, to = chunk["snapshot_offsets"], chunk["triggered_offsets"]
            info, hits, trig = event_tables(
                _header(hdr, self.file.path, f"event {index}"), int(hdr["trigger_counter"]),
                int(hdr["trigger_mask"]),
                int(hdr["overlays"]), chunk["snapshot"][so[i]:so[i + 1]],
                chunk["triggered"][to[i]:to[i + 1]])
            blob["EventInfo"] = info
            blob["Hits"] = hits
            blob["TriggeredHits"] = trig
            self._fill_note()
        else:
            fo = chunk["frame_offsets"]
            info, frames = summary_tables(_header(hdr, self.file.path, f"summary slice {index}"),
                                          chunk["frames"][fo[i]:fo[i + 1]])
            blob["SummarysliceInfo"] = info
            blob["Summaryslice"] = frames
        return blob

    def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        stream = f" {self.stream}" if self.stream else ""
        return f"<OnlinePump {os.path.basename(self.filename)!r}: {self._n} {self.kind}{stream}>"
