"""EvtPump: the EVT ascii format of KM3NeT/ANTARES Monte Carlo (gSeaGen, GENHEN, MUPAGE, CORANT,
KM3Sim/KM3) as Tables, one blob per event, with random access.

Format: a header (``start_run:`` … ``end_event:``) of ``tag: values`` lines, then events
``start_event: id n`` … ``end_event:``. Repeated tags inside an event form a table.

Opening a file indexes the event boundaries once (a memchr loop over a memory map, no line
splitting), so ``len(pump)`` and ``pump[i]`` work. Parsing an event finds the runs of lines
with the same tag with a few C-level scans and parses each run's numbers in bulk with
numpy (``np.loadtxt``'s C parser for big runs), never token by token in Python. Iterating
reads small events a chunk at a time (:mod:`km3flow.io.evt_chunk`: all numbers of a chunk
in one numpy call, Tables built once per chunk), with the same blobs as ``pump[i]``.

Each blob holds:

- ``start_event``: ``(event_id, n_sub)``;
- every tag of the event under its own name, as a 2-D float64 array (one row per line;
  rows shorter than the longest are padded with NaN) or, for tags with non-numeric values
  (e.g. ``target: O16 14.89``), a list of token lists;
- ``McTracks`` (h5loc ``/mc_tracks``, template McTracks) from the ``track_in`` lines:
  id, position, direction, energy, time, ``type`` as a PDG code (converted with
  :func:`km3flow.mc.geant2pdg` from the GEANT3 code every EVT writer puts in ``track_in``
  lines: GENHEN/KM3, KM3Sim, MUPAGE, gSeaGen, propa; codes GEANT3 lacks, like KM3's 99,
  become 0; ``convert_geant=False`` keeps the codes as written, and the raw ``track_in``
  array of the blob keeps them in column 9 either way) and ``length`` from an 11th column
  when there is one (the muon track length KM3 writes), else NaN; ``status`` and
  ``mother_id`` are not in EVT files and hold -1;
- ``McHits`` (h5loc ``/mc_hits``, template McHits) from ``hit`` (KM3Sim/KM3 ``hit: id
  pmt_id npe t type origin …``) or ``hit_raw`` (``id pmt_id npe t``, origin -1);
- ``McNeutrino`` (h5loc ``/mc_neutrino``) from the 14-column ``neutrino`` line(s) of
  GENHEN/gSeaGen/KM3 (id, position, direction, energy, time, Bjorken x and y, scattering
  type, PDG id, interaction type);
- ``EventInfo`` (h5loc ``/event_info``): ``mc_id`` = event id, ``run_id`` = the header's
  ``start_run``, ``weight_w1..w3`` from ``weights``; the other columns hold the schema's
  fill values (:mod:`km3flow.dataclasses.schema`; logged once per file);
- ``Header``, when the file has a header: a :class:`~km3flow.dataclasses.Header` (values as
  km3io reports them for the aanet file made from the EVT file; repeated tags as
  ``simul``, ``simul_1`` …), written once to ``/raw_header`` by the HDF5 sink. Its
  generation values fill EventInfo's ``n_events_gen``, ``n_files_gen`` and
  ``livetime_sec`` (:meth:`Header.generation <km3flow.dataclasses.Header.generation>`).
  KM3Pipe's EvtPump gave ``raw_header`` (tag → token lists) instead: that is
  ``pump.header_lines``.

Checks (nothing is altered in silence; :mod:`km3flow.io.evt_checks`). Every line of a tag
km3flow interprets (``TAG_SPECS``: tracks, ``neutrino``, ``primarylepton``, ``hit``,
``hit_raw``, ``total_hits``, ``eventtime``, weight vectors) must have the number of values
of the file's layout for that tag: one of the widths producers write (``track_in``: 10 for
KM3Sim/MUPAGE, 11 for KM3 or gSeaGen v7, 13/14 for CORANT), the same on every line of a
file. The layout is
the most common width among the first 16 lines of the tag in the file, so it does not depend
on which event is read first. Integer columns (ids, PDG/GEANT codes, PMT ids, interaction
types) must hold integers, and values must be finite except in ``weights``/``w2list``/
``w3list``, which keep NaN/inf as written. ``start_event`` needs two integers. A violation is
a :class:`~km3flow.exceptions.FormatError` naming file, line and tag. Tags km3flow does not
interpret (``target``, ``vertex``, ``corsika_evno``, …) are kept raw with any number of
values (shorter rows NaN-padded, text as token lists); ``track_fit`` must be numeric.
Header lines are program-specific and kept as text, unchecked.

With ``strict=False`` a bad line is dropped (the rest of the event is kept; a bad
``start_event`` line is kept), and ONE warning per file is logged when the iteration ends or
the pump is closed: lines dropped per tag, with the kind of problem and the first line
numbers.
Dropping, rather than filling in NaN, keeps integer columns honest (they have no NaN).

Sanity warnings, for what the format cannot forbid, are logged once per file: repeated event
ids (``mc_id``) when the file is opened; when it is closed, events whose hit ids are not
1..n, whose ``track_in`` ids repeat, or whose ``total_hits`` is neither 0 nor the number of
hit lines (a line deleted or duplicated).
"""

from __future__ import annotations

import io
import mmap
import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Blob, Pump
from ..core.config import Parameter
from ..dataclasses import HEADER_KEY, Header, Table
from ..dataclasses.schema import SCHEMAS, FillNote, fill_for, log_fills
from ..exceptions import FormatError
from ..mc import geant2pdg
from .evt_checks import LineChecks
from .evt_checks import line_of as _line_of

__all__ = ["NEUTRINO_DTYPE", "EvtPump", "read_evt_header"]

_START = b"start_event:"
_END = b"end_event:"

# tags whose values must be numbers; others may hold free text
NUMERIC_TAGS = frozenset({
    "neutrino", "primarylepton", "track_in", "track_aux", "track_earthlepton",
    "track_bundle", "track_primary", "center_on_can", "track_seamuon", "track_seaneutrino",
    "track_sealepton", "track_fit", "hit", "hit_raw", "total_hits", "weights", "w2list",
    "w3list", "eventtime",
})

NEUTRINO_DTYPE = np.dtype([
    ("id", "<i4"), ("pos_x", "<f8"), ("pos_y", "<f8"), ("pos_z", "<f8"),
    ("dir_x", "<f8"), ("dir_y", "<f8"), ("dir_z", "<f8"), ("energy", "<f8"), ("time", "<f8"),
    ("bjorken_x", "<f8"), ("bjorken_y", "<f8"), ("scattering_type", "<i4"),
    ("pdg_id", "<i4"), ("interaction_type", "<i4"),
])

_BULK_MIN_TOKENS = 4000  # below this, np.array on split tokens beats np.loadtxt's setup


def _parse_header_lines(text: bytes) -> dict[str, list[list[str]]]:
    header: dict[str, list[list[str]]] = {}
    for raw in text.split(b"\n"):
        line = raw.decode("utf-8", errors="replace").strip()
        if not line or ":" not in line:
            continue
        tag, _, value = line.partition(":")
        tag = tag.strip()
        if tag == "end_event":
            break
        header.setdefault(tag, []).append(value.split())
    return header


def read_evt_header(path: str | os.PathLike) -> Header:
    """Read only the header of an EVT file (an empty Header for a file without one).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> read_evt_header(data_path("evt/example_numuNC.evt")).spectrum
    spectrum(alpha=-1.4)
    """
    with EvtPump(filename=path) as pump:
        return pump.header


class EvtPump(Pump):
    """Pump over an EVT ascii file, one blob per event; ``len()`` and ``pump[i]`` work.

    Parameters
    ----------
    filename
        The ``.evt`` file.
    strict
        True (default): a malformed line (wrong number of values, a non-integer in an
        integer column, NaN/inf where not allowed, text in a numeric tag) raises a
        FormatError. False: such lines are dropped and reported in one warning per file
        at the end of the iteration or when the pump is closed (see the module docstring).
    convert_geant
        True (default): ``McTracks.type`` holds PDG codes, converted from the GEANT3 codes
        of the ``track_in`` lines (0 for codes GEANT3 lacks); False: the codes as written.

    Attributes
    ----------
    header
        The header, a :class:`~km3flow.dataclasses.Header` (empty for a file without one).
    header_lines
        Dict tag → list of token lists, the header as written (old GENHEN headers hold
        numbers like ``0.100E+09-0.100E+01``, which stay text in ``header``).

    Raises
    ------
    FormatError
        For files that are not EVT or are truncated/corrupt, or (strict) a malformed line,
        naming the file, the line, the tag and what was expected.
    """

    parallel_input = "filename"  # one file per parallel task; FilePump spreads many files
    filename = Parameter((str, os.PathLike), check=os.fspath, help="the .evt file")
    strict = Parameter(bool, default=True,
                       help="a malformed line is an error; False drops it and warns once per file")
    convert_geant = Parameter(bool, default=True,
                              help="McTracks.type as PDG codes (track_in lines hold GEANT3 "
                                   "codes); False keeps the codes as written")

    def configure(self) -> None:
        self._file = open(self.filename, "rb")  # noqa: SIM115 (held open, closed by close())
        try:
            size = os.fstat(self._file.fileno()).st_size
            self._data: Any = (mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
                               if size else b"")
            self._index()
        except BaseException:
            self.close()
            raise
        self.header_lines = _parse_header_lines(bytes(self._data[:self._header_end]))
        self.header = Header.from_evt(self.header_lines)
        self._generation = self.header.generation()
        self.checks = LineChecks(self.filename, self._data, self._header_end,
                                 self.header_lines, self.strict, self.log)
        self.checks.check_event_ids(self._starts)
        run = self.header_lines.get("start_run", [[]])
        try:
            self.run_id = int(run[0][0]) if run and run[0] else 0
        except ValueError:
            self.run_id = -1
        if not 0 <= self.run_id < 2**63:
            self.log.warning("start_run %r is not a run number; run_id set to 0", run[0])
            self.run_id = 0
        # columns EVT files never have; those some files or events lack are noted on sight
        self._noted: set[tuple[int, int]] = set()
        # set when a user reads a lazily built entry of a chunk's blobs: the later chunks
        # are then built at once (io/evt_chunk.py)
        self._entries_read = False
        fills = dict(_EVT_FILLS)
        fills["EventInfo"] = [c for c in fills["EventInfo"] if c not in self._generation]
        self._fill_note = FillNote(self.log, fills,
                                   f"not in EVT files ({os.path.basename(self.filename)})")

    # -- indexing ----------------------------------------------------------------------------
    def _err(self, msg: str, offset: int) -> FormatError:
        return FormatError(msg, path=self.filename, line=_line_of(self._data, offset))

    def _find_line(self, token: bytes, pos: int) -> int:
        """Offset of the next line starting with ``token`` at or after ``pos`` (-1: none)."""
        data = self._data
        while True:
            i = data.find(token, pos)
            if i <= 0 or data[i - 1:i] == b"\n":
                return i
            pos = i + 1

    def _check_gap(self, pos: int, end: int) -> None:
        """Only blank lines may be between events."""
        gap = self._data[pos:end]
        if gap.strip():
            raise self._err("expected 'start_event:' (only blank lines may follow "
                            "'end_event:')", pos + len(gap) - len(gap.lstrip()))

    def _not_closed(self, k: int, s: int) -> FormatError:
        e = self._find_line(_END, s)
        return self._err(f"event {k} is not closed: expected 'end_event:' before "
                         f"{'the next start_event' if e >= 0 else 'the end'}", s)

    def _index(self) -> None:
        data = self._data
        n = len(data)
        first = 0
        while first < n and data[first:first + 1] in (b" ", b"\t", b"\r", b"\n"):
            first += 1
        if first >= n:
            raise FormatError("empty file, expected 'start_run:' or 'start_event:'",
                              path=self.filename, line=1)
        if data[first:first + 10] == b"start_run:":
            end = self._find_line(_END, first)
            nxt = self._find_line(_START, first)
            if end < 0 or (0 <= nxt < end):
                raise self._err("header not closed: expected 'end_event:' before the first "
                                "'start_event:'", nxt if nxt >= 0 else n)
            self._header_end = data.find(b"\n", end) + 1 or n
        elif data[first:first + len(_START)] == _START:
            self._header_end = first
        else:
            raise self._err("expected 'start_run:' or 'start_event:'", first)
        starts: list[int] = []
        ends: list[int] = []
        pos = self._header_end  # end of the last event (or of the header)
        s = -1  # start of the open event
        # One scan for the lines starting with 'start_event:' or 'end_event:', by their 'v':
        # a one-byte find is a memchr (~20x faster than finding '_event:' in a memory map),
        # and numbers hold no 'v'.
        find = data.find
        v = find(b"v", pos)
        while v >= 0:
            i = v - 2
            # (one byte first: most 'v's are not 2 after a '_', and data[k] is cheaper
            # than a slice)
            if data[i] != 95 or data[i:i + 7] != b"_event:":
                v = find(b"v", v + 1)
                continue
            v = find(b"v", v + 1)
            if data[i - 5:i] == b"start" and (i == 5 or data[i - 6:i - 5] == b"\n"):
                if s >= 0:  # a second start_event before the end_event
                    raise self._not_closed(len(starts), s)
                s = i - 5
                if s != pos:
                    self._check_gap(pos, s)
            elif s >= 0 and data[i - 3:i] == b"end" and (i == 3 or data[i - 4:i - 3] == b"\n"):
                eol = find(b"\n", i)
                pos = n if eol < 0 else eol + 1
                starts.append(s)
                ends.append(pos)
                s = -1
        if s >= 0:
            raise self._not_closed(len(starts), s)
        self._check_gap(pos, n)
        self._starts = np.array(starts, dtype=np.int64)
        self._ends = np.array(ends, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._starts)

    # -- parsing -----------------------------------------------------------------------------
    def raw_event(self, index: int) -> bytes:
        """The bytes of event ``index`` (``start_event:`` to ``end_event:``)."""
        if self._file is None or self._file.closed:
            raise ValueError(f"I/O operation on a closed EvtPump ({self.filename})")
        return bytes(self._data[int(self._starts[index]):int(self._ends[index])])

    def parse_tags(self, index: int) -> dict[str, Any]:
        """Event ``index`` as a dict tag → 2-D float array (or token lists for text values),
        plus ``start_event`` → ``(event_id, n_sub)``."""
        base = int(self._starts[index])
        chunk = self.raw_event(index)
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        tags: dict[str, Any] = {}
        self.checks.begin_event(index)
        state = 0  # 0: expect start_event, 1: body, 2: after end_event
        for kind, a, b, n_lines in _runs(chunk):
            if kind is None:
                continue
            if kind is False or state == 2:
                line = chunk[a:b].split(b"\n")[0][:60].decode("utf-8", "replace")
                what = "only blank lines after 'end_event:'" if state == 2 else \
                    "a line 'tag: values'"
                raise self._err(f"expected {what}, got {line!r}", base + a)
            tag = kind
            block = chunk[a:b]
            if tag == "start_event":
                if state != 0 or n_lines != 1:
                    raise self._err("expected one 'start_event:' per event", base + a)
                toks = block.split(b":", 1)[1].split()
                try:
                    tags["start_event"] = tuple(int(t) for t in toks)
                except ValueError:
                    tags["start_event"] = None
                if not tags["start_event"] or (len(toks) != 2 and self.strict):
                    raise self._err("expected 'start_event: <event id> <n>' with two integers"
                                    f", got {len(toks)} values" if tags["start_event"] else
                                    "expected 'start_event: <event id> <n>' with integers",
                                    base + a)
                if len(toks) != 2:  # lenient: the event is kept, the line is reported
                    self.checks.drop("start_event", "wrong number of values (kept)",
                                     [_line_of(self._data, base + a)])
                state = 1
                continue
            if state == 0:
                raise self._err("expected 'start_event:'", base + a)
            if tag == "end_event":
                state = 2
                continue
            values = self._parse_run(tag, block, n_lines, base + a)
            if tag in tags:  # the same tag again after other tags: append rows
                values = _stack(tags[tag], values)
            tags[tag] = values
        if state != 2:
            raise self._err("expected 'end_event:'", base + len(chunk) - 1)
        if not self.checks.dropped_here:  # else the sanity findings only echo the drop
            self.checks.sanity(tags, index)
        return tags

    def _parse_run(self, tag: str, block: bytes, n_lines: int, offset: int) -> Any:
        colon = block.index(b":")
        prefix = block[:colon + 1]
        if len(block) > 8 * _BULK_MIN_TOKENS:
            arr = _bulk(block, prefix, n_lines)
            if arr is not None:  # every row has the same number of values
                return self.checks.validate(tag, arr, None, offset)
        if n_lines == 1:
            body = block[colon + 1:]
            rows = [body.split()]
        else:
            if block.count(prefix) == n_lines and prefix.strip() == prefix:
                body = block.replace(prefix, b" ")
            else:
                body = b"\n".join(ln.split(b":", 1)[1] for ln in block.split(b"\n")[:-1])
            rows = [ln.split() for ln in body.split(b"\n")]
            if len(rows) > n_lines:  # the block's final newline gives one empty piece
                rows = rows[:n_lines]
        widths = {len(r) for r in rows}
        try:
            if len(widths) == 1:
                # a flat token list converts several times faster than a nested one
                flat = rows[0] if n_lines == 1 else body.split()
                arr = np.array(flat, dtype=np.float64).reshape(n_lines, -1)
                row_widths = None
            else:
                arr = np.full((n_lines, max(widths)), np.nan)
                for k, r in enumerate(rows):
                    arr[k, :len(r)] = np.array(r, dtype=np.float64)
                row_widths = np.array([len(r) for r in rows])
        except ValueError:
            if tag not in NUMERIC_TAGS:
                return [[t.decode("utf-8", "replace") for t in r] for r in rows]
        else:
            return self.checks.validate(tag, arr, row_widths, offset)
        # a numeric tag with a token that is not a number: name its line, or drop the line
        keep: list[np.ndarray] = []
        kept_widths: list[int] = []
        kept_at: list[int] = []
        first_line = None
        for k, r in enumerate(rows):
            try:
                keep.append(np.array(r, dtype=np.float64))
                kept_widths.append(len(r))
                kept_at.append(k)
            except ValueError:
                if self.strict:
                    raise self._err(f"expected numbers in the '{tag}' line, got "
                                    f"{b' '.join(r)[:60].decode('utf-8', 'replace')!r}",
                                    offset + _nth_line_offset(block, k)) from None
                if first_line is None:
                    first_line = _line_of(self._data, offset)
                self.checks.drop(tag, "not a number", [first_line + k])
        out = np.full((len(keep), max(kept_widths, default=0)), np.nan)
        for k, vals in enumerate(keep):
            out[k, :len(vals)] = vals
        return self.checks.validate(tag, out, np.array(kept_widths, dtype=int), offset,
                                    np.array(kept_at, dtype=int))

    def get_blob(self, index: int) -> Blob:
        tags = self.parse_tags(index)
        self._fill_note()
        blob = Blob()
        blob.update(tags)
        try:
            track_in = tags.get("track_in")
            if isinstance(track_in, np.ndarray):
                tracks = _TRACKS(track_in)
                if self.convert_geant:
                    tracks["type"] = geant2pdg(tracks["type"])
                blob["McTracks"] = tracks
                self._note(_TRACKS, track_in.shape[1])
            else:
                blob["McTracks"] = _TRACKS.empty()
            hits = tags.get("hit")
            layout = _HITS_KM3SIM
            if hits is None:
                hits, layout = tags.get("hit_raw"), _HITS_RAW
            if isinstance(hits, np.ndarray):
                blob["McHits"] = layout(hits)
                self._note(layout, hits.shape[1])
            else:
                blob["McHits"] = layout.empty()
            nu = tags.get("neutrino")
            if isinstance(nu, np.ndarray) and nu.shape[1] >= len(NEUTRINO_DTYPE.names or ()):
                # (CORANT's 'neutrino' lines have another, 13-column layout: raw only)
                blob["McNeutrino"] = _NEUTRINO(nu)
            weights = tags.get("weights")
            blob["EventInfo"] = _event_info(tags["start_event"][0], self.run_id, weights,
                                            self._generation)
            self._note(_WEIGHTS, weights.shape[1] if isinstance(weights, np.ndarray) else 0)
        except (ValueError, OverflowError) as err:
            raise self._err(f"in event {index}: {err}", int(self._starts[index])) from None
        if self.header:
            blob[HEADER_KEY] = self.header
        return blob

    def _note(self, layout: _Layout, width: int) -> None:
        """Log (once per file and column) the columns this event's lines are too short for."""
        key = (id(layout), width)
        if key in self._noted:
            return
        self._noted.add(key)
        columns = layout.absent(width)
        seen = {c for k in self._noted if k[0] == id(layout) and k != key
                for c in layout.absent(k[1])}
        name = layout.meta["name"]
        new = [c for c in columns if c not in seen and c not in _EVT_FILLS.get(name, ())]
        if new:
            log_fills(self.log, {name: new},
                      f"the lines of some events in {os.path.basename(self.filename)} are "
                      f"shorter (e.g. {layout.tag}: {width} values)")

    def blob_generator(self) -> Iterator[Blob]:
        """Yield the events in order; at the end, report what was dropped or looked odd
        (also done by :meth:`close`, for reading that stops early).

        Small events are parsed a chunk at a time (:mod:`km3flow.io.evt_chunk`), big ones
        and any event the chunk reader leaves out one by one (:meth:`get_blob`); the blobs
        are the same either way."""
        for first, stop, chunked in _evt_chunk.chunks(self._starts, self._ends):
            if not chunked:
                yield self.get_blob(first)
                continue
            for index, blob in enumerate(_evt_chunk.read_chunk(self, first, stop),
                                          first):
                yield blob if blob is not None else self.get_blob(index)
        self.checks.report()

    def close(self) -> None:
        checks = getattr(self, "checks", None)
        if checks is not None:
            checks.report()
        data = getattr(self, "_data", None)
        if isinstance(data, mmap.mmap):
            data.close()
        self._data = b""
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()


def _bulk(block: bytes, prefix: bytes, n_lines: int) -> np.ndarray | None:
    """Parse a big run of same-tag lines with numpy's C parser; None if it does not fit."""
    first = block[:block.index(b"\n")]
    ncols = len(first.split()) - 1
    try:
        if (ncols > 0 and first[len(prefix):len(prefix) + 1] in (b" ", b"\t")
                and b"\t" not in block and block.count(b" ") == n_lines * ncols):
            # single spaces everywhere: the tag is column 0 and every row has ncols values
            arr = _bulk_ints(block, first.split()[1:], n_lines)
            if arr is None:
                arr = np.loadtxt(io.BytesIO(block), dtype=np.float64, ndmin=2,
                                 comments=None, usecols=range(1, ncols + 1))
        else:
            arr = np.loadtxt(io.BytesIO(block.replace(prefix, b" ")), dtype=np.float64,
                             ndmin=2, comments=None)
    except (ValueError, TypeError, UnicodeError):
        return None
    return arr if arr.shape[0] == n_lines else None


_INT_TOKEN = re.compile(rb"[+-]?[0-9]+")


def _bulk_ints(block: bytes, first: list[bytes], n_lines: int) -> np.ndarray | None:
    """:func:`_bulk` with the columns written as integers in the first line read as int64
    (np.loadtxt parses integers ~1.5x faster than floats; ids, PMT ids and npe of hit
    lines are integers), then as float64: the same values as parsing them as floats,
    also beyond 2**53 (both round the exact integer to the nearest float), except -0,
    which is checked for. None when the columns are not all integers after all."""
    ints = [k for k, tok in enumerate(first) if _INT_TOKEN.fullmatch(tok)]
    if not ints:
        return None
    dtype = np.dtype([(f"c{k}", "<i8" if k in ints else "<f8") for k in range(len(first))])
    try:
        rec = np.loadtxt(io.BytesIO(block), dtype=dtype, ndmin=1, comments=None,
                         usecols=range(1, len(first) + 1))
    except (ValueError, TypeError, UnicodeError, OverflowError):
        return None
    if len(rec) != n_lines:
        return None
    if any(not rec[f"c{k}"].all() for k in ints) and b"-0" in block:
        return None  # a '-0' would lose its sign
    arr = np.empty((n_lines, len(first)))
    for k in range(len(first)):
        arr[:, k] = rec[f"c{k}"]
    return arr


_TAG_OK = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def _runs(chunk: bytes) -> list[tuple[Any, int, int, int]]:
    """Split an event into runs of consecutive lines with the same tag.

    Returns ``(tag, start, end, n_lines)`` per run: ``tag`` is a str, ``None`` for blank
    lines or ``False`` for a line that is not ``tag: values``. ``chunk`` ends with a newline.
    A run is found with a few C-level scans (``rfind``/``count`` of ``"\\ntag:"``), whatever
    its number of lines; only a tag that comes back after other tags is walked line by line.
    """
    out: list[tuple[Any, int, int, int]] = []
    n = len(chunk)
    p = 0
    while p < n:
        eol = chunk.index(b"\n", p)
        c = chunk.find(b":", p, eol)
        if c < 0:
            out.append((None if not chunk[p:eol].strip() else False, p, eol + 1, 1))
            p = eol + 1
            continue
        raw = chunk[p:c]
        tag = raw.rstrip(b" \t")
        if _TAG_OK.fullmatch(tag) is None:
            out.append((False, p, eol + 1, 1))
            p = eol + 1
            continue
        key = b"\n" + raw + b":"
        q = chunk.rfind(key, eol) if chunk.startswith(key, eol) else -1
        if q < 0:
            end, n_lines = eol + 1, 1
        else:
            end = chunk.index(b"\n", q + 1) + 1
            n_lines = chunk.count(b"\n", p, end)
            if chunk.count(key, p, end) + 1 != n_lines:  # interrupted: walk the lines
                end, n_lines = eol + 1, 1
                while chunk.startswith(key, end - 1) and end < n:
                    end = chunk.index(b"\n", end) + 1
                    n_lines += 1
        out.append((tag.decode(), p, end, n_lines))
        p = end
    return out


def _nth_line_offset(block: bytes, k: int) -> int:
    pos = 0
    for _ in range(k):
        pos = block.index(b"\n", pos) + 1
    return pos


def _stack(a: Any, b: Any) -> Any:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        w = max(a.shape[1], b.shape[1])
        pad = [np.pad(x, ((0, 0), (0, w - x.shape[1])), constant_values=np.nan)
               for x in (a, b)]
        return np.vstack(pad)
    as_list = [[str(v) for v in row] for row in a] if isinstance(a, np.ndarray) else a
    return as_list + ([[str(v) for v in row] for row in b] if isinstance(b, np.ndarray) else b)


class _Layout:
    """How a Table is filled from the columns of a tag's 2-D float array.

    ``columns`` maps field name → column index of the array (fields not named stay 0). The
    chosen columns are gathered with one fancy index into a float matrix, integer fields are
    range-checked in one vectorised step, and the matrix, viewed as a record of float64
    fields, is cast to the target dtype in one ``astype`` (no per-field Python work).
    """

    def __init__(self, dtype: np.dtype, columns: dict[str, int], meta: dict[str, Any],
                 tag: str = ""):
        self.dtype = np.dtype(dtype)
        self.tag = tag
        names = list(self.dtype.names or ())
        # a column index per field; fields not filled from the file hold the schema's fill
        self.src = np.array([columns.get(n, -1) for n in names], dtype=np.intp)
        self.fill = np.array([fill_for(self.dtype[n]) for n in names], dtype=np.float64)
        ints = [k for k, n in enumerate(names) if self.dtype[n].kind in "iu"]
        self.int_pos = np.array(ints, dtype=np.intp)
        self.int_names = [names[k] for k in ints]
        self.lo = np.array([np.iinfo(self.dtype[names[k]]).min for k in ints], np.float64)
        self.hi = np.array([np.iinfo(self.dtype[names[k]]).max for k in ints], np.float64)
        self.meta = meta
        self.names = names
        self._ok: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}

    def empty(self) -> Table:
        return Table(np.zeros(0, self.dtype), **self.meta)

    def absent(self, width: int) -> list[str]:
        """The fields lines of ``width`` values do not give (they hold their fill)."""
        return [n for n, k in zip(self.dtype.names or (), self.src) if k < 0 or k >= width]

    def __call__(self, arr: np.ndarray) -> Table:
        n, width = arr.shape
        plan = self._ok.get(width)
        if plan is None:
            ok = (self.src >= 0) & (self.src < width)
            plan = self._ok[width] = (np.where(ok, self.src, 0), ~ok, bool(ok.all()))
        take, missing, complete = plan
        sub = arr.take(take, axis=1)  # (one C gather; a 2-D fancy assignment is ~5x slower)
        if not complete:
            sub[:, missing] = self.fill[missing]
        nan = np.isnan(sub)
        if nan.any():  # rows padded because they were shorter (float fills stay NaN)
            sub[nan] = np.broadcast_to(self.fill, sub.shape)[nan]
        if len(self.int_pos):
            ints = sub[:, self.int_pos]
            good = (ints >= self.lo) & (ints <= self.hi)
            if not good.all():
                row, col = np.argwhere(~good)[0]
                raise ValueError(f"expected {self.int_names[col]} in {self.lo[col]:.0f}.."
                                 f"{self.hi[col]:.0f}, got {ints[row, col]} (row {row})")
        out = np.empty(n, self.dtype)
        for k, name in enumerate(self.names):  # (per field: faster than a record astype)
            out[name] = sub[:, k]
        return Table(out, **self.meta)


def _template_layout(template: str, columns: dict[str, int], tag: str) -> _Layout:
    tmpl = _TEMPLATES[template]
    return _Layout(tmpl["dtype"], columns, {
        "h5loc": tmpl["h5loc"], "split_h5": tmpl["split_h5"], "name": template,
        "h5singleton": tmpl["h5singleton"]}, tag)


_INFO = SCHEMAS["EventInfo"]
# the EventInfo columns an EVT event gives (weights only with a 'weights' line)
_EVT_INFO_COLUMNS = ("mc_id", "run_id", "weight_w1", "weight_w2", "weight_w3")
_EVT_FILLS = {"EventInfo": _INFO.missing(_EVT_INFO_COLUMNS),
              "McTracks": ["status", "mother_id"]}


def _event_info(mc_id: int, run_id: int, weights: Any, generation: dict[str, int]) -> Table:
    out = _INFO.filled(1)
    for column, value in generation.items():  # from the header
        out[column] = value
    if not -2**31 <= mc_id < 2**31:
        raise ValueError(f"expected an event id in int32 range, got {mc_id}")
    out["mc_id"] = mc_id
    out["run_id"] = run_id
    if isinstance(weights, np.ndarray) and weights.size:
        for k in range(min(3, weights.shape[1])):
            out[f"weight_w{k + 1}"] = weights[0, k]
    return Table._wrap(out, _INFO.h5loc, "EventInfo", _INFO.split_h5)


from ..dataclasses.templates import TEMPLATES as _TEMPLATES  # noqa: E402 (next to its use)

_TRACKS = _template_layout("McTracks", {
    "id": 0, "pos_x": 1, "pos_y": 2, "pos_z": 3, "dir_x": 4, "dir_y": 5, "dir_z": 6,
    "energy": 7, "time": 8, "type": 9, "length": 10}, "track_in")
_HITS_KM3SIM = _template_layout("McHits", {"pmt_id": 1, "a": 2, "time": 3, "origin": 5}, "hit")
_HITS_RAW = _template_layout("McHits", {"pmt_id": 1, "a": 2, "time": 3}, "hit_raw")
_NEUTRINO = _Layout(NEUTRINO_DTYPE, {n: k for k, n in enumerate(NEUTRINO_DTYPE.names or ())},
                    {"h5loc": "/mc_neutrino", "name": "McNeutrino"}, "neutrino")
# only to note weights lines that are missing or short
_WEIGHTS = _Layout(np.dtype([(f"weight_w{k}", "<f8") for k in (1, 2, 3)]),
                   {f"weight_w{k}": k - 1 for k in (1, 2, 3)}, {"name": "EventInfo"}, "weights")

from . import evt_chunk as _evt_chunk  # noqa: E402 (it uses the layouts above)
