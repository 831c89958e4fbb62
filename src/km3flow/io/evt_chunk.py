"""Chunk-level reading of EVT events: many small events parsed with a few numpy calls.

:class:`~km3flow.io.evt.EvtPump` iterates over a file in chunks of consecutive events
(:func:`chunks`); each chunk is parsed as a whole by :func:`read_chunk`:

1. the lines of the chunk and the tag of every line (``tag:`` before the first colon) are
   found with vectorised byte scans (newlines, colons, a 64-bit key of each tag);
2. the tags are blanked out in the chunk's own copy and ALL values of the chunk are
   converted by one ``np.loadtxt`` call reading them as one row (its C parser, ~30 ns a
   number); the number of values of each line is counted from the bytes;
3. each tag's rows are gathered into one 2-D array, checked against the file's layout with
   the rules of :class:`~km3flow.io.evt_checks.LineChecks` in a few whole-array passes,
   and the McTracks/McHits/McNeutrino/EventInfo Tables are built once per chunk;
4. each event's blob gets views of its rows (``arr[a:b]``, ``table[a:b]``): McTracks, the
   table users always read (and McHits when the chunk has hits), at once, cut by
   ``Table._split``; the tags' arrays and the other Tables when a user first reads one of
   them (:class:`~km3flow.core.blob.LazyBlob` blobs; the first read builds them for the
   whole chunk), or at once for every chunk after one whose entries were read.

Only well-formed events take this path. An event with anything a check or a corner case of
the per-event parser cares about (a line without a tag, text in a numeric tag, a row of the
wrong width, a non-integer id, an odd ``start_event`` line, …) is marked, and the pump reads
it with its per-event path (:meth:`EvtPump.get_blob <km3flow.io.evt.EvtPump.get_blob>`),
which produces the exact values, the error message (file, line, what was expected) or the
lenient-mode report. Tags km3flow does not interpret whose values are text or ragged are
parsed per event with the per-event code (they cannot fail). Both paths give the same
blobs; ``tests/io/test_evt_chunk.py`` compares them on every EVT file of km3net-testdata.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Blob
from ..core.blob import LazyBlob, Pending
from ..dataclasses import HEADER_KEY, Table
from ..mc import geant2pdg
from .evt import (
    _BULK_MIN_TOKENS,
    _HITS_KM3SIM,
    _HITS_RAW,
    _INFO,
    _NEUTRINO,
    _TAG_OK,
    _TRACKS,
    _WEIGHTS,
    NEUTRINO_DTYPE,
    NUMERIC_TAGS,
    _Layout,
    _stack,
)
from .evt_checks import (
    _LAYOUT_SAMPLE,
    ODD_HIT_IDS,
    ODD_TOTAL_HITS,
    ODD_TRACK_IDS,
    TAG_SPECS,
)

if TYPE_CHECKING:
    from .evt import EvtPump

__all__ = ["chunks", "read_chunk"]

CHUNK_BYTES = 1 << 20  # a chunk holds events up to about this many bytes …
CHUNK_EVENTS = 2000  # … and at most this many events
# bigger events go through the per-event path, whose big runs np.loadtxt parses (the
# chunk's events have no such run, so both paths convert their numbers alike)
BIG_EVENT = 8 * _BULK_MIN_TOKENS
_KEY = 24  # bytes of a tag compared (longer tags: per-event path)

# the bytes a line of plain decimal numbers may hold
_NUMERIC = np.zeros(256, bool)
_NUMERIC[list(b" \t\n\r\x0b\x0c0123456789+-.eE")] = True
_INTEGER = np.zeros(256, bool)  # … and a line of integers (whitespace is all spaces then)
_INTEGER[list(b" 0123456789+-")] = True
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], np.uint64)
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)  # the first k bytes
_PAD = _KEY + 8
_SLOT_BITS = 12  # a table of 4096 to number a chunk's tags (_number)


def chunks(starts: np.ndarray, ends: np.ndarray) -> Iterator[tuple[int, int, bool]]:
    """Split events into ``(first, stop, chunked)`` groups: runs of small events to read
    with :func:`read_chunk` (``chunked``), single big events to read one by one."""
    sizes = (ends - starts).tolist()
    n = len(sizes)
    i = 0
    while i < n:
        if sizes[i] > BIG_EVENT:
            yield i, i + 1, False
            i += 1
            continue
        j, total = i, 0
        while j < n and sizes[j] <= BIG_EVENT and total < CHUNK_BYTES and j - i < CHUNK_EVENTS:
            total += sizes[j]
            j += 1
        yield i, j, True
        i = j


class _Lines:
    """The lines of a chunk: start, end (the newline), first colon, tag length."""

    def __init__(self, text: bytearray) -> None:
        # (``text`` ends with spaces, so that 8-byte windows can be read at any line
        # start; the chunk's own copy: tags and odd lines are blanked in place)
        self.text = text
        buf = self.buf = np.frombuffer(text, np.uint8)
        scratch = self.scratch = np.empty(len(buf), bool)  # (one mask reused by the scans)
        nl = self.nl = np.flatnonzero(np.equal(buf, 10, out=scratch))
        ls = self.ls = np.empty_like(nl)
        ls[0] = 0
        ls[1:] = nl[:-1] + 1
        colons = np.flatnonzero(np.equal(buf, 58, out=scratch))
        k = np.searchsorted(colons, ls)
        if len(colons):
            cc = colons[np.minimum(k, len(colons) - 1)]
        else:
            cc = nl
        self.has = (k < len(colons)) & (cc < nl)
        self.cc = np.where(self.has, cc, ls - 1)
        self.tag_len = self.cc - ls
        # a line is "bad" when the per-event path must see it: not empty and no tag
        self.bad = ~self.has & (ls != nl)


def _number(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``np.unique(keys, return_index=True, return_inverse=True)[1:]`` for the few
    distinct, well-mixed 64-bit keys of a chunk's tags, numbered in a table of their top
    ``_SLOT_BITS`` bits (no sort: ~4x faster); None when two keys share a slot."""
    n = len(keys)
    slot = (keys >> np.uint64(64 - _SLOT_BITS)).astype(np.intp)
    table = np.full(1 << _SLOT_BITS, n, np.intp)
    table[slot[::-1]] = np.arange(n - 1, -1, -1)  # (the last write wins: the first)
    if not (keys[table[slot]] == keys).all():
        return None
    used = np.flatnonzero(table < n)
    ids = np.empty(1 << _SLOT_BITS, np.intp)
    ids[used] = np.arange(len(used))
    return table[used], ids[slot]


def _convert(work: bytearray, total: int) -> np.ndarray:
    """The ``total`` numbers in ``work`` (bytes, whitespace all spaces, no newline) as
    float64; ValueError when a token is not a number or the count differs. np.loadtxt's
    parser accepts a subset of what ``np.array(tokens, float64)`` does (not ``1_0``), with
    the same values."""
    if not total:
        return np.empty(0)
    # (one line of text given as a str: with bytes, np.loadtxt decodes its one long line
    # piece by piece, ~1.6x slower)
    values = np.loadtxt([work.decode("latin-1")], dtype=np.float64, comments=None,
                        ndmin=1)
    if len(values) != total:
        raise ValueError("a token is not what bytes.split() gives")
    return values


def _views(arr: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """``[arr[i:j] for i, j in zip(a, b)]``; iterating over a 3-D view when every piece
    is one row (most tags of an event are), which makes the views in C."""
    if len(a) and (b - a == 1).all():
        if a[-1] - a[0] == len(a) - 1:  # consecutive rows: no copy
            rows = arr[a[0]:a[-1] + 1]
        else:
            rows = arr[a]
        return list(rows.reshape(len(a), 1, arr.shape[1]))
    return [arr[i:j] for i, j in zip(a.tolist(), b.tolist())]


def _event_views(arr: Any, off: np.ndarray, events: np.ndarray, views: Any) -> dict[int, Any]:
    """Event → its rows ``arr[off[e]:off[e + 1]]``, for the events in the mask ``events``."""
    n = len(events)
    if len(arr) == n and off[n] == n and events.all() and (off[:-1] == np.arange(n)).all():
        # one row for every event (most tags): the views made in C by iterating
        return dict(enumerate(arr.reshape((n, 1) + arr.shape[1:])))
    at = np.flatnonzero(events)
    return dict(zip(at.tolist(), views(arr, off[at], off[at + 1])))


def _split(tab: Table, offsets: np.ndarray) -> list[Table]:
    """``[tab[a:b] for a, b in pairwise(offsets)]`` with the table's metadata, cut by
    :meth:`Table._split` (no ``__array_finalize__`` per view)."""
    return Table._split(tab, offsets.tolist(), tab.h5loc, tab.name, tab.split_h5,
                        tab.h5singleton)


class _Deferred:
    """The values of a chunk's blob entries, built per entry for all events of the chunk
    when first needed: the tags' arrays, McTracks, McHits, McNeutrino, EventInfo (see
    :class:`~km3flow.core.blob.LazyBlob`). ``view(source)`` is indexable by event."""

    __slots__ = ("_pump", "_arrays", "_runs", "_tracks", "_hits", "_neutrino", "_info",
                 "_good", "_views")

    def __init__(self, pump: EvtPump, arrays: dict[int, Any], runs: dict[int, Any],
                 tracks: Any, hits: Any, neutrino: Any, info: tuple[Any, ...],
                 good: np.ndarray) -> None:
        self._pump = pump
        self._arrays = arrays
        self._runs = runs
        self._tracks = tracks
        self._hits = hits
        self._neutrino = neutrino
        self._info = info
        self._good = good
        self._views: dict[Any, Any] = {}

    def view(self, source: Any) -> Any:
        got = self._views.get(source)
        if got is not None:
            return got
        if source == "McTracks":
            got = _split(*self._tracks)
        elif source == "McHits":  # per event the 'hit' table, else 'hit_raw', else empty
            got = [None] * len(self._good)
            for tab, off, has in self._hits:
                cut = _split(tab, off)
                for e in np.flatnonzero(has).tolist():
                    got[e] = cut[e]
        elif source == "McNeutrino":
            got = _split(*self._neutrino)
        elif source == "EventInfo":
            got = _split(_event_info(*self._info), np.arange(len(self._good) + 1))
        elif source in self._runs:
            got = self._runs[source]
        else:  # a tag's array: the rows of the good events that have rows
            arr, off = self._arrays[source]
            got = _event_views(arr, off, (np.diff(off) > 0) & self._good, _views)
        self._views[source] = got
        return got


class _Group:
    """The builder of the pending entries ``(key, source)`` of a group of blobs with the
    same keys: ``group(event)`` gives that event's ``(key, value)`` pairs (and tells the
    pump that its users read more than McTracks: later chunks are built at once)."""

    __slots__ = ("_deferred", "_entries", "_keys", "_views")

    def __init__(self, deferred: _Deferred, entries: list[tuple[str, Any]]) -> None:
        self._deferred = deferred
        self._entries = entries
        self._views: list[Any] | None = None

    def __call__(self, event: int) -> Any:
        views = self._views
        if views is None:  # (the first blob of the group read: every entry's views)
            deferred = self._deferred
            deferred._pump._entries_read = True
            self._keys = [key for key, _ in self._entries]
            views = self._views = [deferred.view(src) for _, src in self._entries]
        return zip(self._keys, [got[event] for got in views])


def read_chunk(pump: EvtPump, first: int, stop: int) -> list[Blob | None]:
    """The blobs of events ``first`` … ``stop - 1`` of ``pump``, or None for each event
    that the per-event path must read (see the module docstring)."""
    if pump._file is None or pump._file.closed:
        raise ValueError(f"I/O operation on a closed EvtPump ({pump.filename})")
    n_ev = stop - first
    s0 = int(pump._starts[first])
    n = int(pump._ends[stop - 1]) - s0
    text = bytearray(b" ") * (n + 1 + _PAD)
    with memoryview(pump._data) as data:
        text[:n] = data[s0:s0 + n]
    if text[n - 1] != 10:
        text[n] = 10
    try:
        return _Chunk(pump, first, n_ev, s0, text).blobs()
    except _Fallback:
        return [None] * n_ev


class _Fallback(Exception):
    """The whole chunk goes through the per-event path."""


class _Chunk:
    """One chunk of events being parsed (see the module docstring for the steps)."""

    def __init__(self, pump: EvtPump, first: int, n_ev: int, s0: int,
                 text: bytearray) -> None:
        self.pump = pump
        self.first = first
        self.n_ev = n_ev
        self.s0 = s0
        self.lines = _Lines(text)
        self.ev_bad = np.zeros(n_ev, bool)

    # -- tags ----------------------------------------------------------------------------
    def _tags(self) -> None:
        """Tag id of every line (``self.inv``), tag names, line → event."""
        ln = self.lines
        ls, tag_len = ln.ls, ln.tag_len
        too_long = tag_len > _KEY
        if too_long.any():
            ln.bad |= too_long & ln.has
        # the tag's bytes as three 8-byte words (unaligned windows of the text), masked
        # to the tag's length, and a hash of them to tell the tags apart
        windows = np.ndarray((len(ln.buf) - 7,), "<u8", ln.text, 0, (1,))
        words = []
        h = tag_len.astype(np.uint64)
        for k in range(_KEY // 8):
            word = windows[ls + 8 * k] & _MASKS[np.clip(tag_len - 8 * k, 0, 8)]
            words.append(word)
            h += word * _MIX[k]
        numbered = _number(h)
        if numbered is None:
            _, first, inv = np.unique(h, return_index=True, return_inverse=True)
        else:
            first, inv = numbered
        same = tag_len == tag_len[first][inv]
        for word in words:
            same &= word == word[first][inv]
        if not same.all():
            raise _Fallback  # two tags with the same 64-bit key: never seen, but be exact
        text = ln.text
        names = []
        ok = np.zeros(len(first), bool)
        for u, line in enumerate(first.tolist()):
            if not ln.has[line]:
                names.append("")
                continue
            raw = bytes(text[int(ls[line]):int(ln.cc[line])])
            names.append(raw.decode("ascii", "replace"))
            ok[u] = _TAG_OK.fullmatch(raw) is not None
        ln.bad |= ~ok[inv] & ln.has
        self.names = names
        self.inv = inv
        try:
            self.start_id = names.index("start_event")
        except ValueError:
            raise _Fallback from None
        self.end_id = names.index("end_event") if "end_event" in names else -1
        is_start = inv == self.start_id
        if int(is_start.sum()) != self.n_ev or not is_start[0]:
            raise _Fallback
        self.ev = np.cumsum(is_start) - 1
        self.start_lines = np.flatnonzero(is_start)

    # -- values --------------------------------------------------------------------------
    def _values(self) -> None:
        """All values of the chunk as one float array; per line: count and first value."""
        ln = self.lines
        work = ln.buf  # (blanked in place)
        # blank each tag and its colon
        sel = ln.has & ~ln.bad
        lengths = ln.tag_len[sel] + 1
        if len(lengths):
            ends = np.cumsum(lengths)
            work[np.repeat(ln.ls[sel] - (ends - lengths), lengths) + np.arange(ends[-1])] = 32
        # bytes.split()'s other whitespace (\t\n\v\f\r) as spaces: np.loadtxt then reads
        # all values of the chunk as one row, ~2x faster than np.array(text.split())
        work[ln.nl] = 32
        text = ln.text
        if any(c in text for c in (b"\t", b"\r", b"\x0b", b"\x0c")):
            work[work - 9 < 5] = 32
        self.text_line = np.zeros(len(ln.ls), bool)
        self.short_lines = bool((ln.nl - ln.ls).max() < 511)
        self._blank(work, ln.bad)
        for attempt in range(3):
            ws = np.equal(work, 32, out=ln.scratch)
            starts = np.empty(len(work), bool)
            starts[0] = not ws[0]
            np.greater(ws[:-1], ws[1:], out=starts[1:])  # a token starts after whitespace
            del ws
            if self.short_lines:  # < 256 tokens a line: sum in uint8, without a cast copy
                counts = np.add.reduceat(starts.view(np.uint8), ln.ls).astype(np.intp)
            else:
                counts = np.add.reduceat(starts, ln.ls, dtype=np.intp)
            del starts
            total = int(counts.sum())
            try:
                values = _convert(ln.text, total)
                break
            except ValueError:
                pass
            # a token that is not a number (as the per-event path converts them): take out
            # the lines with bytes numbers do not hold (text, nan, …), then each line a
            # token of which does not convert
            if attempt == 0:
                odd = np.flatnonzero(~_NUMERIC[work])
                self.text_line[np.searchsorted(ln.nl, odd)] = True
            elif attempt == 1:
                for line in np.flatnonzero(~self.text_line & ~ln.bad).tolist():
                    try:
                        np.array(work[ln.ls[line]:ln.nl[line]].tobytes().split(), np.float64)
                    except ValueError:
                        self.text_line[line] = True
            else:
                raise _Fallback
            self._blank(work, self.text_line)
        self.values = values
        self.all_finite = bool(np.isfinite(values).all())
        self.any_text = bool(self.text_line.any())
        self.work = work
        self.counts = counts
        self.first_value = np.cumsum(counts) - counts

    def _blank(self, work: np.ndarray, lines: np.ndarray) -> None:
        ln = self.lines
        for line in np.flatnonzero(lines).tolist():
            work[int(ln.ls[line]):int(ln.nl[line])] = 32

    # -- the tags' arrays -----------------------------------------------------------------
    def _arrays(self) -> tuple[dict[int, Any], dict[int, dict[int, Any]]]:
        """Each tag's rows for the events: ``arrays[u] = (arr, offsets)``, the rows of
        event ``e`` being ``arr[offsets[e]:offsets[e + 1]]``, or ``runs[u] = {event:
        value}`` for raw tags with text or ragged rows, parsed per event. Events with a
        line the checks reject are marked for the per-event path."""
        ln = self.lines
        ev, inv, counts = self.ev, self.inv, self.counts
        names = self.names
        n_tags, n_ev = len(names), self.n_ev
        ev_bad = self.ev_bad
        usable = ~ln.bad
        if self.any_text:
            usable &= ~self.text_line
        runs: dict[int, dict[int, Any]] = {}
        # the width each tag's lines must have (-1: no array)
        want = np.full(n_tags, -1, np.intp)
        first_line = np.full(n_tags, -1, np.intp)
        first_line[inv[::-1]] = np.arange(len(inv))[::-1]  # (the last write wins)
        plans: dict[int, Any] = {}
        for u, name in enumerate(names):
            if u == self.start_id or u == self.end_id or not name or first_line[u] < 0:
                continue
            if self.any_text:
                text_lines = np.flatnonzero(self.text_line & (inv == u))
                if len(text_lines):
                    if name not in NUMERIC_TAGS:
                        runs[u] = self._runs_of(u, np.flatnonzero((inv == u) & ~ln.bad))
                        continue
                    ev_bad[ev[text_lines]] = True
            if name in TAG_SPECS:
                plan = self.pump.checks.chunk_plan(name, self._first_lines(u))
                if plan is None:  # no layout known yet: the per-event path finds it
                    ev_bad[ev[inv == u]] = True
                    continue
                plans[u] = plan
                want[u] = plan[0]
            else:
                lines = np.flatnonzero((inv == u) & usable) if not usable[first_line[u]] \
                    else first_line[u:u + 1]
                if len(lines):
                    want[u] = counts[lines[0]]
        # lines of another width: the checks reject them, raw tags are ragged
        take = usable & (want[inv] >= 0)
        wrong = take & (counts != want[inv])
        if wrong.any():
            for u in np.unique(inv[wrong]).tolist():
                if u in plans:
                    ev_bad[ev[wrong & (inv == u)]] = True
                else:  # ragged raw tag: NaN-padded per event, as the per-event path does
                    runs[u] = self._runs_of(u, np.flatnonzero((inv == u) & ~ln.bad))
                    want[u] = -1
            take &= ~wrong & (want[inv] >= 0)
        # all values of the array tags, grouped by tag, in one gather
        lines = np.flatnonzero(take)
        tag_ids = inv[lines]
        if n_tags <= 1 << 15:  # (as int16, a stable argsort is a radix sort)
            tag_ids = tag_ids.astype(np.int16)
        lines = lines[np.argsort(tag_ids, kind="stable")]
        tag_of = inv[lines]
        n_rows = np.bincount(tag_of, minlength=n_tags)
        row_bounds = np.zeros(n_tags + 1, np.intp)
        np.cumsum(n_rows, out=row_bounds[1:])
        lengths = counts[lines]
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        gathered = self.values[np.repeat(self.first_value[lines] - (ends - lengths), lengths)
                               + np.arange(total)]
        value_bounds = np.zeros(n_tags + 1, np.intp)
        np.cumsum(n_rows * np.maximum(want, 0), out=value_bounds[1:])
        # each tag's rows per event
        per_event = np.bincount(tag_of * n_ev + ev[lines], minlength=n_tags * n_ev)
        offsets = np.zeros((n_tags, n_ev + 1), np.intp)
        np.cumsum(per_event.reshape(n_tags, n_ev), axis=1, out=offsets[:, 1:])
        arrays: dict[int, Any] = {}
        for u in np.flatnonzero(n_rows).tolist():
            arr = gathered[value_bounds[u]:value_bounds[u + 1]].reshape(int(n_rows[u]),
                                                                        int(want[u]))
            plan = plans.get(u)
            if plan is not None:
                arr, off = self._check(u, arr, lines[row_bounds[u]:row_bounds[u + 1]], plan,
                                       offsets[u])
                arrays[u] = (arr, off)
            else:
                arrays[u] = (arr, offsets[u])
        return arrays, runs

    def _first_lines(self, u: int) -> list[tuple[int, int]] | None:
        """(offset, number of values) of the first lines of tag ``u`` in the file (the
        first ``_LAYOUT_SAMPLE``, or all the file has) when this chunk has them, for the
        file's layout of the tag (LineChecks._layout); else None."""
        if self.first:
            return None
        lines = np.flatnonzero(self.inv == u)[:_LAYOUT_SAMPLE]
        if len(lines) < _LAYOUT_SAMPLE and self.first + self.n_ev < len(self.pump):
            return None  # (later events may have more)
        ln = self.lines
        if ln.bad[lines].any() or (self.any_text and self.text_line[lines].any()):
            return None  # (their values were blanked: not counted)
        return list(zip((ln.ls[lines] + self.s0).tolist(), self.counts[lines].tolist()))

    def _check(self, u: int, arr: np.ndarray, lines: np.ndarray, plan: Any,
               offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LineChecks.validate's checks of a tag's rows (of the layout's width already):
        finite values unless allowed, integers in the integer columns; events with a bad
        row go to the per-event path (their rows are left out)."""
        _, ints, finite, _ = plan
        ok = True
        if finite and not self.all_finite:
            ok = bool(np.isfinite(arr).all())
        if ok and len(ints):
            sub = arr[:, ints]
            ok = bool((sub == np.rint(sub)).all()) and (
                self.all_finite or bool(np.isfinite(sub).all()))
        if ok:
            return arr, offsets
        bad = np.zeros(len(arr), bool)
        if finite:
            bad |= ~np.isfinite(arr).all(axis=1)
        if len(ints):
            sub = arr[:, ints]
            bad |= ~(np.isfinite(sub) & (sub == np.rint(sub))).all(axis=1)
        self.ev_bad[self.ev[lines[bad]]] = True
        offsets = np.zeros(self.n_ev + 1, np.intp)
        np.cumsum(np.bincount(self.ev[lines[~bad]], minlength=self.n_ev), out=offsets[1:])
        return arr[~bad], offsets

    def _runs_of(self, u: int, lines: np.ndarray) -> dict[int, Any]:
        """Tag ``u`` parsed per event and per run of adjacent lines by the per-event code
        (only for tags km3flow does not interpret: it cannot fail or drop lines)."""
        ln = self.lines
        pump = self.pump
        name = self.names[u]
        out: dict[int, Any] = {}
        ev = self.ev[lines].tolist()
        lines_l = lines.tolist()
        k = 0
        while k < len(lines_l):
            j = k + 1
            while j < len(lines_l) and lines_l[j] == lines_l[j - 1] + 1 and ev[j] == ev[k]:
                j += 1
            a, b = int(ln.ls[lines_l[k]]), int(ln.nl[lines_l[j - 1]]) + 1
            block = bytes(pump._data[self.s0 + a:self.s0 + b])  # (the text is blanked)
            if not block.endswith(b"\n"):
                block += b"\n"  # (the last line of a file without a final newline)
            values = pump._parse_run(name, block, j - k, self.s0 + a)
            e = ev[k]
            out[e] = _stack(out[e], values) if e in out else values
            k = j
        return out

    # -- the blobs ---------------------------------------------------------------------------
    def _start_values(self) -> list[tuple[int, int]]:
        """``start_event``'s two integers per event (as ``int(token)`` gives them); the
        events with another number of values or a value not written as an integer go to
        the per-event path."""
        ln = self.lines
        lines = self.start_lines
        two = self.counts[lines] == 2
        if self.any_text:
            two &= ~self.text_line[lines]
        at = self.first_value[lines[two]]
        ids, n_sub = self.values[at], self.values[at + 1]
        # written as integers: only digits and signs between the colon and the newline
        # (np.loadtxt took them, so int() does too, and |value| < 2**53 is exact)
        lengths = ln.nl[lines[two]] - ln.cc[lines[two]]
        ends = np.cumsum(lengths)
        pos = np.repeat(ln.cc[lines[two]] - (ends - lengths), lengths) + np.arange(
            ends[-1] if len(ends) else 0)
        seg = _INTEGER[self.work[pos]]
        ok = np.ones(int(two.sum()), bool)
        if not seg.all():
            ok &= np.logical_and.reduceat(seg, ends - lengths) if len(seg) else ok
        ok &= (np.abs(ids) < 2**53) & (np.abs(n_sub) < 2**53)
        good = np.flatnonzero(two)[ok]
        self.ev_bad[np.flatnonzero(~two)] = True
        self.ev_bad[np.flatnonzero(two)[~ok]] = True
        out: list[Any] = [()] * self.n_ev
        for e, a, b in zip(good.tolist(), ids[ok].astype(np.int64).tolist(),
                           n_sub[ok].astype(np.int64).tolist()):
            out[e] = (a, b)
        return out

    def blobs(self) -> list[Blob | None]:
        self._tags()
        self._values()
        pump = self.pump
        ln = self.lines
        n_ev = self.n_ev
        ev_bad = self.ev_bad
        if ln.bad.any():
            ev_bad[self.ev[ln.bad]] = True
        start_values = self._start_values()
        arrays, runs = self._arrays()
        n_tags = len(self.names)
        usable = ~ln.bad
        tables = self._tables(arrays, start_values)
        if tables is None:
            raise _Fallback
        tracks, hits, neutrino, info, notes = tables
        good_mask = ~ev_bad
        # the columns short lines lack, noted in the order the per-event path would
        pump._fill_note()
        firsts = []
        for has, prio, layout, width in notes:
            has = has & good_mask
            if has.any():
                firsts.append((int(np.argmax(has)), prio, layout, width))
        for _, _, layout, width in sorted(firsts, key=lambda n: (n[0], n[1])):
            pump._note(layout, width)
        # each event's tags in order of their first line (in the assignment of first_at,
        # the last write wins: the first line), and events grouped by that order
        body = np.flatnonzero((self.inv != self.start_id) & (self.inv != self.end_id)
                              & ln.has & usable)
        n_lines = len(ln.ls)
        first_at = np.full((n_ev, n_tags), n_lines, np.intp)  # (event, tag) → first line
        first_at.reshape(-1)[(self.ev[body] * n_tags + self.inv[body])[::-1]] = body[::-1]
        order = np.argsort(first_at, axis=1, kind="stable")
        seq = np.where(np.take_along_axis(first_at, order, 1) < n_lines, order, -1)
        groups: dict[tuple[int, ...], list[int]] = {}
        seq_l = seq.tolist()
        for e in np.flatnonzero(good_mask).tolist():
            groups.setdefault(tuple(seq_l[e]), []).append(e)
        blobs: list[Blob | None] = [None] * n_ev
        names = self.names
        # McTracks, the table users always read (and McHits when the chunk has hits), is
        # there at once: a view per event cut by Table._split. The tags' arrays and the
        # other Tables are built for the whole chunk when a blob's user first reads one of
        # them (LazyBlob), or at once when that happened in an earlier chunk (as the DAQ
        # pump does): a user who reads everything pays the detour for one chunk only.
        later = _Deferred(pump, arrays, runs, tracks, hits, neutrino, info, good_mask)
        everything = pump._entries_read
        eager = {"McTracks"} if len(hits) == 1 else {"McTracks", "McHits"}
        new: type[Blob] = Blob if everything else LazyBlob
        has_nu = neutrino[0] is not None
        nu_u = names.index("neutrino") if "neutrino" in names else -2
        header = pump.header if pump.header else None
        for signature, events in groups.items():
            tags = [u for u in signature if u >= 0]
            entries: list[tuple[str, Any]] = [(names[u], u) for u in tags]
            entries += [("McTracks", "McTracks"), ("McHits", "McHits")]
            if has_nu and nu_u in signature:
                entries.append(("McNeutrino", "McNeutrino"))
            entries.append(("EventInfo", "EventInfo"))
            keys = ["start_event", *(key for key, _ in entries)]
            columns: list[Any] = [[start_values[e] for e in events]]
            pending = [(key, src) for key, src in entries
                       if not everything and src not in eager]
            if pending:
                markers = list(map(Pending, zip(repeat(_Group(later, pending)), events)))
            for _, src in entries:
                if everything or src in eager:
                    got = later.view(src)
                    columns.append([got[e] for e in events])
                else:
                    columns.append(markers)
            if header is not None:
                keys.append(HEADER_KEY)
                columns.append(repeat(header))
            for e, values in zip(events, zip(*columns)):
                blobs[e] = new(zip(keys, values))
        pump.checks.begin_events((np.flatnonzero(good_mask) + self.first).tolist())
        self._sanity(arrays, good_mask)
        return blobs

    def _sanity(self, arrays: dict[int, Any], good: np.ndarray) -> None:
        """LineChecks.sanity for all good events at once."""
        ids = {name: u for u, name in enumerate(self.names)}
        n_ev = self.n_ev
        first = self.first
        checks = self.pump.checks
        none = (np.empty((0, 0)), np.zeros(n_ev + 1, np.intp))

        def rows(tag: str) -> tuple[np.ndarray, np.ndarray]:
            u = ids.get(tag)
            return arrays.get(u, none) if u is not None else none

        def row_events(off: np.ndarray) -> np.ndarray:
            return np.repeat(np.arange(n_ev), np.diff(off))

        n_hits = np.zeros(n_ev, np.intp)
        has_hit = np.zeros(n_ev, bool)
        for tag in ("hit", "hit_raw"):
            arr, off = rows(tag)
            counts = np.diff(off)
            use = (counts > 0) & ~has_hit  # 'hit' lines win over 'hit_raw'
            has_hit |= counts > 0
            if not use.any() or not arr.shape[1]:
                continue
            n_hits[use] = counts[use]
            row_ev = row_events(off)
            wrong = arr[:, 0] != np.arange(len(arr)) - off[row_ev] + 1
            odd = np.zeros(n_ev, bool)
            odd[row_ev[wrong]] = True
            checks.odd(ODD_HIT_IDS, (np.flatnonzero(odd & use & good) + first).tolist())
        arr, off = rows("track_in")
        if len(arr) > 1 and arr.shape[1]:
            row_ev = row_events(off)
            track_ids = arr[:, 0]
            lo = track_ids.min()
            span = track_ids.max() - lo + 1
            odd = np.zeros(n_ev, bool)
            if span * n_ev < 2**52:  # (the ids are integers: one exact sort key)
                key = np.sort(row_ev * span + (track_ids - lo))
                odd[(key[1:][key[1:] == key[:-1]] // span).astype(np.intp)] = True
            else:
                order = np.lexsort((track_ids, row_ev))
                ev_s, id_s = row_ev[order], track_ids[order]
                odd[ev_s[1:][(ev_s[1:] == ev_s[:-1]) & (id_s[1:] == id_s[:-1])]] = True
            checks.odd(ODD_TRACK_IDS, (np.flatnonzero(odd & good) + first).tolist())
        arr, off = rows("total_hits")
        counts = np.diff(off)
        if arr.size:
            has = (counts > 0) & good
            value = np.zeros(n_ev)
            value[has] = arr[off[:-1][has], 0]
            odd = has & (value != 0) & (value != n_hits)
            checks.odd(ODD_TOTAL_HITS, (np.flatnonzero(odd) + first).tolist())

    def _tables(self, arrays: dict[int, Any], start_values: list[Any]) -> Any:
        """The chunk's McTracks, McHits (by the event's tags), McNeutrino and EventInfo,
        as (table, offsets), and what to note about short lines: (events, order, layout,
        width). None when a value is out of range somewhere (the per-event path names it)."""
        pump = self.pump
        n_ev = self.n_ev
        ids = {name: u for u, name in enumerate(self.names)}
        zero = np.zeros(n_ev + 1, np.intp)
        no_events = np.zeros(n_ev, bool)
        notes: list[tuple[np.ndarray, int, _Layout, int]] = []

        def rows(tag: str) -> tuple[np.ndarray, np.ndarray] | None:
            u = ids.get(tag)
            return arrays.get(u) if u is not None else None

        try:
            track_in = rows("track_in")
            if track_in is not None:
                tab = _TRACKS(track_in[0])
                if pump.convert_geant:
                    tab["type"] = geant2pdg(tab["type"])
                tracks = (tab, track_in[1])
                notes.append((np.diff(track_in[1]) > 0, 0, _TRACKS, track_in[0].shape[1]))
            else:
                tracks = (_TRACKS.empty(), zero)
            hit_tables = {}
            has_any_hits = no_events
            for layout, tag, prio in ((_HITS_KM3SIM, "hit", 1), (_HITS_RAW, "hit_raw", 2)):
                found = rows(tag)
                if found is None:
                    continue
                has = (np.diff(found[1]) > 0) & ~has_any_hits  # 'hit' lines win, as per event
                if not has.any():
                    continue
                has_any_hits = has_any_hits | has
                hit_tables[ids[tag]] = (layout(found[0]), found[1], has)
                notes.append((has, prio, layout, found[0].shape[1]))
            # per event the 'hit' table, else the 'hit_raw' one, else an empty one
            hits = list(hit_tables.values())
            hits.append((_HITS_RAW.empty(), zero, ~has_any_hits))

            neutrino: tuple[Any, np.ndarray] = (None, zero)
            nu = rows("neutrino")
            if nu is not None and nu[0].shape[1] >= len(NEUTRINO_DTYPE.names or ()):
                neutrino = (_NEUTRINO(nu[0]), nu[1])
            # EventInfo: what can fail is checked now (the file's values on one row, the
            # event ids), the table is made when it is read (_event_info)
            base = _INFO.filled(1)
            for column, value in pump._generation.items():
                base[column] = value
            base["run_id"] = pump.run_id
            mc_id = np.array([v[0] if v else 0 for v in start_values], np.int64)
            out_of_range = (mc_id < -2**31) | (mc_id >= 2**31)
            if out_of_range.any():
                self.ev_bad[out_of_range] = True
                mc_id[out_of_range] = 0
            weights = rows("weights")
            has_w = no_events
            if weights is not None:
                has_w = np.diff(weights[1]) > 0
                notes.append((has_w, 3, _WEIGHTS, weights[0].shape[1]))
            notes.append((~has_w, 3, _WEIGHTS, 0))
        except (ValueError, OverflowError):
            return None
        info = (base, mc_id, weights, has_w)
        return tracks, hits, neutrino, info, notes


def _event_info(base: np.ndarray, mc_id: np.ndarray, weights: Any,
                has_w: np.ndarray) -> Table:
    """The EventInfo Table of a chunk (one row per event) from what :meth:`_Chunk._tables`
    checked: the file's row, the event ids and the weights rows."""
    info = base.repeat(len(mc_id))
    info["mc_id"] = mc_id
    if weights is not None:
        w_arr, w_off = weights
        if w_arr.shape[1]:
            at = w_off[:-1][has_w]
            for k in range(min(3, w_arr.shape[1])):
                info[f"weight_w{k + 1}"][has_w] = w_arr[at, k]
    return Table._wrap(info, _INFO.h5loc, "EventInfo", _INFO.split_h5)
