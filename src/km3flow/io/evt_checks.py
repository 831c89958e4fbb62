"""Line checks of EVT files: the layout of each tag a file must keep, strict or lenient
handling of lines that break it, and sanity findings for what the format cannot forbid.

:class:`LineChecks` is held by :class:`~km3flow.io.evt.EvtPump` (one per file); it sees each
run of same-tag lines as the 2-D float array the pump parsed, so every check is a few
whole-array numpy passes, never per-value Python work. What is checked is described in
:mod:`km3flow.io.evt`.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from ..exceptions import FormatError

__all__ = ["TAG_SPECS", "LineChecks", "line_of"]


class _TagSpec(NamedTuple):
    """What a known tag's lines must hold: the numbers of values a file may use (one of
    them per file), the integer columns for each, and whether NaN/inf may occur."""

    widths: tuple[int, ...] | None  # None: any width, but the same on every line of a file
    ints: dict[int, tuple[int, ...]]  # width → integer columns (0-based)
    finite: bool = True


def _track(*widths: int) -> _TagSpec:
    # id, x, y, z, dx, dy, dz, E, t, type [, length or 0]; CORANT's 13/14 columns end with
    # particle id, is_charm, mother and grandmother ids (+ one more integer in v5)
    return _TagSpec(widths, {10: (0, 9), 11: (0, 9), 13: (0, 9, 10, 11, 12),
                             14: (0, 9, 10, 11, 12, 13)})


# The layouts of the tags km3flow interprets, as written by the producers in km3net-testdata
# (GENHEN/KM3, gSeaGen 4 and 7, KM3Sim, MUPAGE, CORANT 4/5). Which of the allowed widths a
# file uses ("by file version") is the most common one among its first lines of the tag.
TAG_SPECS: dict[str, _TagSpec] = {
    "neutrino": _TagSpec((14, 13), {14: (0, 11, 12, 13), 13: (0, 9, 10, 11, 12)}),
    "primarylepton": _track(10, 11),
    "track_in": _track(10, 11, 13, 14),
    "track_aux": _track(10, 11),
    "track_earthlepton": _track(10, 11),
    "track_primary": _track(10),
    "center_on_can": _track(10),
    "track_seamuon": _track(13, 14),
    "track_seaneutrino": _track(13, 14),
    "track_sealepton": _track(13, 14),
    "track_bundle": _TagSpec((8,), {8: (0,)}),
    "hit": _TagSpec((8, 9), {8: (0, 1, 4, 5, 6), 9: (0, 1, 4, 5, 6)}),
    "hit_raw": _TagSpec((4,), {4: (0, 1)}),
    "total_hits": _TagSpec((1,), {1: (0,)}),
    "eventtime": _TagSpec((2,), {2: (0, 1)}),
    # weight vectors: any float, NaN/inf included, is kept as written (nothing is altered)
    "weights": _TagSpec((3,), {}, finite=False),
    "w3list": _TagSpec((3,), {}, finite=False),
    "w2list": _TagSpec(None, {}, finite=False),
}
# CORANT's layouts of tags other producers write with 10/11 (track_in) or 14 (neutrino) values
_CORANT_WIDTHS = {"neutrino": (13,), "track_in": (13, 14)}
_LAYOUT_SAMPLE = 16  # lines of a tag looked at to find the file's layout …
_LAYOUT_AGREE = 3  # … unless this many first ones agree
_LAYOUT_WINDOW = 64 << 20  # bytes after the header searched for them
MAX_LISTED = 5  # line numbers / event indices named per kind in a lenient or sanity report
_UNCHECKED = object()  # the plan of a tag km3flow does not interpret
_all = np.logical_and.reduce
_SMALL = 5  # runs of up to this many lines are checked with Python floats
# what the sanity checks find (the kinds of LineChecks.odd)
ODD_HIT_IDS = "hit ids are not 1..n"
ODD_TRACK_IDS = "repeated track_in ids"
ODD_TOTAL_HITS = "total_hits differs from the number of hit lines"


def line_of(data: Any, offset: int) -> int:
    """1-based line number of the byte at ``offset``."""
    return bytes(data[:offset]).count(b"\n") + 1


class LineChecks:
    """The checks of one EVT file and their findings.

    Parameters
    ----------
    filename
        The file, for messages.
    data
        Its bytes (an mmap).
    header_end
        Byte offset of the first event.
    header
        The parsed header (tag → token lists); its ``physics``/``simul`` programs tell
        CORANT files (13/14-value ``neutrino``/``track_in``) from the others.
    strict
        Raise a FormatError for a bad line (True) or drop and count it (False).
    log
        Where :meth:`report` and :meth:`check_event_ids` warn.
    """

    def __init__(self, filename: str, data: Any, header_end: int,
                 header: dict[str, list[list[str]]], strict: bool,
                 log: logging.Logger) -> None:
        self.filename = filename
        self.data = data
        self.header_end = header_end
        self.strict = strict
        self.log = log
        programs = {v[0].lower() for k in ("physics", "simul") for v in header.get(k, [])
                    if v}
        self._producer = ("corant" if "corant" in programs else "other") if programs else None
        # tag → (width, byte offset of a run, line in it with that width) or None
        self._widths: dict[str, tuple[int, int, int] | None] = {}
        self._plans: dict[str, Any] = {}  # tag → what validate() checks
        # tag → kind → [count, first line numbers]
        self._dropped: dict[str, dict[str, list[Any]]] = defaultdict(
            lambda: defaultdict(lambda: [0, []]))
        self._n_dropped: dict[str, int] = defaultdict(int)
        self._odd: dict[str, set[int]] = defaultdict(set)  # finding → event indices
        self.dropped_here = False  # set by drop() while an event is parsed
        self._events_seen: set[int] = set()  # events counted already (random access rereads)
        self._reread = False

    def begin_event(self, index: int) -> None:
        """Called by the pump before it parses event ``index``: an event read again (random
        access) is checked again but not counted twice in the report."""
        self.dropped_here = False
        self._reread = index in self._events_seen
        self._events_seen.add(index)

    def begin_events(self, indices: list[int]) -> None:
        """:meth:`begin_event` for events a reader parsed at once and found clean (no line
        dropped)."""
        self.dropped_here = False
        self._events_seen.update(indices)

    def check_event_ids(self, starts: np.ndarray) -> None:
        """Log once when event ids (EventInfo.mc_id) repeat: a format cannot forbid it, but
        a copied event or a concatenation of two files is the usual cause."""
        data = self.data
        ids = []
        for s in starts.tolist():
            toks = data[s + len(b"start_event:"):data.find(b"\n", s)].split()
            ids.append(toks[0] if toks else b"")
        if len(set(ids)) == len(ids):  # (the usual case, without np.unique's sort)
            return
        values, first, counts = np.unique(np.array(ids), return_index=True,
                                          return_counts=True)
        if (counts > 1).any():
            rep = np.flatnonzero(counts > 1)
            n_extra = int((counts[rep] - 1).sum())
            examples = ", ".join(f"{values[k].decode('utf-8', 'replace')} ({counts[k]}x, "
                                 f"first in event {first[k]})" for k in rep[:MAX_LISTED])
            self.log.warning("%s: %d of %d events repeat an event id (mc_id) used earlier in "
                             "the file: %s", self.filename, n_extra, len(ids), examples)

    def sanity(self, tags: dict[str, Any], index: int) -> None:
        """Note events whose lines look deleted or repeated (reported by :meth:`report`):
        hit ids that are not 1..n, repeated track_in ids, a total_hits that is neither 0
        (not filled, as in KM3's output) nor the number of hit lines."""
        hits = tags.get("hit")
        if hits is None:
            hits = tags.get("hit_raw")
        n_hits = None
        if isinstance(hits, np.ndarray) and hits.shape[1]:
            n_hits = len(hits)
            if not np.array_equal(hits[:, 0], np.arange(1, n_hits + 1)):
                self._odd[ODD_HIT_IDS].add(index)
        tracks = tags.get("track_in")
        if isinstance(tracks, np.ndarray) and len(tracks) > 1 and tracks.shape[1]:
            ids = tracks[:, 0].tolist()
            if len(set(ids)) < len(ids):
                self._odd[ODD_TRACK_IDS].add(index)
        total = tags.get("total_hits")
        if isinstance(total, np.ndarray) and total.size:
            value = total.flat[0]
            if value != 0 and value != (n_hits or 0):
                self._odd[ODD_TOTAL_HITS].add(index)

    def odd(self, kind: str, indices: list[int]) -> None:
        """Note events found odd (one of the ``ODD_*`` kinds of :meth:`sanity`) by a
        reader that checks many events at once."""
        if indices:
            self._odd[kind].update(indices)

    def validate(self, tag: str, arr: np.ndarray, row_widths: np.ndarray | None,
                  offset: int, rows_at: np.ndarray | None = None) -> np.ndarray:
        """Check a run of ``tag`` lines (``arr``: one row per line, short rows NaN-padded,
        ``row_widths``: values per line, None when all have ``arr.shape[1]``; ``rows_at``:
        the line of each row within the run when lines were dropped already) against
        :data:`TAG_SPECS`: raise a FormatError for the first bad line (strict) or drop the
        bad lines and count them (lenient). Vectorised: a few whole-array numpy passes."""
        plan = self._plans.get(tag)
        if plan is None:
            plan = self._plans[tag] = self._plan(tag, arr, row_widths, offset, rows_at)
        if plan is _UNCHECKED:
            return arr
        want, ints, finite, int_list = plan
        # the common case, in as few numpy calls as possible (runs are often 1-20 lines)
        if row_widths is None and arr.shape[1] == want:
            if len(arr) <= _SMALL:  # a few Python float checks beat numpy's call overhead
                for row in arr.tolist():
                    if finite and not all(map(math.isfinite, row)):
                        break
                    if not all([row[c].is_integer() for c in int_list]):
                        break  # (is_integer is False for NaN and inf)
                else:
                    return arr
            elif not finite:
                if not len(ints):
                    return arr
            elif _all(np.isfinite(arr), axis=None):  # ufunc reduce: no Python wrapper
                if not len(ints):
                    return arr
                sub = arr[:, ints]
                if _all(sub == np.rint(sub), axis=None):
                    return arr
        return self._sort_out(tag, arr, row_widths, offset, rows_at)

    def chunk_plan(self, tag: str, first_lines: list[tuple[int, int]] | None = None,
                   ) -> tuple[int, np.ndarray, bool, list[int]] | None:
        """What :meth:`validate` checks for ``tag`` (width, integer columns, finite, the
        same as a list), for the chunk reader; None when the file's layout of the tag is
        not known yet (the per-event path then takes it from the first run it reads).
        ``tag`` must be one of :data:`TAG_SPECS`. ``first_lines``: (offset, number of
        values) of the tag's first lines in the file, when the caller has them (the first
        ``_LAYOUT_SAMPLE``, or all the file has), which spares :meth:`_layout` its search."""
        plan = self._plans.get(tag)
        if plan is None:
            plan = self._plan(tag, None, None, 0, None, first_lines)
            if plan is not None:
                self._plans[tag] = plan
        return plan

    def _plan(self, tag: str, arr: np.ndarray | None, row_widths: np.ndarray | None,
              offset: int, rows_at: np.ndarray | None,
              first_lines: list[tuple[int, int]] | None = None) -> Any:
        """What :meth:`validate` checks for ``tag`` in this file: (width, integer columns,
        finite, the same as a list), or ``_UNCHECKED`` for tags km3flow does not interpret.
        The width is the file's layout (:meth:`_layout`), or, when no line of the tag was
        found that way (a tag written ``hit :``, or first seen after 64 MiB), the most
        common allowed width of the run at hand (None without a run: ``arr`` None)."""
        spec = TAG_SPECS.get(tag)
        if spec is None:
            return _UNCHECKED
        allowed = self._allowed(tag, spec)
        known = self._layout(tag, allowed, first_lines)
        if known is None:
            if arr is None:
                return None
            widths = (np.full(len(arr), arr.shape[1]) if row_widths is None
                      else np.asarray(row_widths)).tolist()
            ok = [w for w in widths if (w > 0 if allowed is None else w in allowed)]
            if ok:
                width = min(set(ok), key=lambda w: (-ok.count(w), w))
                row = widths.index(width)
                known = (width, offset, row if rows_at is None else int(rows_at[row]))
        self._widths[tag] = known
        want = known[0] if known is not None else -1
        ints = spec.ints.get(want, ())
        return want, np.array(ints, dtype=np.intp), spec.finite, list(ints)

    def _sort_out(self, tag: str, arr: np.ndarray, row_widths: np.ndarray | None,
                  offset: int, rows_at: np.ndarray | None) -> np.ndarray:
        """The slow path of :meth:`validate`: find the bad rows and raise or drop them."""
        spec = TAG_SPECS[tag]
        n, width = arr.shape
        allowed = self._allowed(tag, spec)
        known = self._widths[tag]
        want = known[0] if known is not None else -1
        # rows of the wrong width; then, among the others, non-integers and non-finite values
        if row_widths is None:
            bad_width = np.full(n, width != want)
        else:
            bad_width = row_widths != want
        if bad_width.all():
            bad_int = bad_fin = np.zeros(n, bool)
        else:
            body = arr[:, :want] if width > want else arr
            ints = spec.ints.get(want, ())
            if ints:
                sub = body[:, ints]
                bad_int = ~(np.isfinite(sub) & (sub == np.round(sub))).all(axis=1) & ~bad_width
            else:
                bad_int = np.zeros(n, bool)
            if spec.finite:
                bad_fin = ~np.isfinite(body).all(axis=1) & ~bad_width & ~bad_int
            else:
                bad_fin = np.zeros(n, bool)
            if not (bad_width.any() or bad_int.any() or bad_fin.any()):
                return body
        bad = bad_width | bad_int | bad_fin
        first = line_of(self.data, offset)
        got = np.full(n, width) if row_widths is None else row_widths
        if self.strict:
            k = int(np.argmax(bad))
            line = first + k
            if bad_width[k]:
                if known is None:
                    what = (" or ".join(str(w) for w in allowed) + " values"
                            if allowed else "at least one value")
                else:
                    what = (f"{want} values (as line {line_of(self.data, known[1]) + known[2]}"
                            ", the file's layout)")
                msg = f"expected {what} in the '{tag}' line, got {int(got[k])}"
            else:
                row = arr[k, :want]
                if bad_int[k]:
                    col = next(c for c in spec.ints[want]
                               if not (np.isfinite(row[c]) and row[c] == round(row[c])))
                    msg = (f"expected an integer in column {col + 1} of the '{tag}' line, "
                           f"got {float(row[col])!r}")
                else:
                    col = int(np.argmax(~np.isfinite(row)))
                    msg = (f"expected a finite number in column {col + 1} of the '{tag}' "
                           f"line, got {float(row[col])!r}")
            raise FormatError(msg, path=self.filename, line=line)
        lines = first + (np.arange(n) if rows_at is None else rows_at)
        for kind, mask in (("wrong number of values", bad_width), ("not an integer", bad_int),
                           ("not finite", bad_fin)):
            if mask.any():
                self.drop(tag, kind, lines[mask].tolist())
        good = arr[~bad]
        return good[:, :want] if want >= 0 else good[:, :0]

    def _allowed(self, tag: str, spec: _TagSpec) -> tuple[int, ...] | None:
        """The widths ``tag`` may have in this file: CORANT's 13/14-value neutrino and
        track_in lines only in CORANT files (or files without a header)."""
        if spec.widths is None or tag not in _CORANT_WIDTHS or self._producer is None:
            return spec.widths
        corant = set(_CORANT_WIDTHS[tag])
        if self._producer == "corant":
            return tuple(w for w in spec.widths if w in corant)
        return tuple(w for w in spec.widths if w not in corant)

    def _layout(self, tag: str, allowed: tuple[int, ...] | None,
                first_lines: list[tuple[int, int]] | None = None,
                ) -> tuple[int, int, int] | None:
        """The number of values of ``tag`` in this file and where a line that has it is
        (byte offset of a run, line within it): the most common allowed width among the
        first lines of the tag in the file (up to 16, found with ``find`` unless given as
        ``first_lines``, or the first 3 when they agree; ties go to the smaller width), so
        that one bad line does not set the layout, whichever event is read first."""
        lines = self._first_lines(tag) if first_lines is None else iter(first_lines)
        seen: dict[int, tuple[int, int]] = {}  # width → (count, offset of its first line)
        for _, (at, w) in zip(range(_LAYOUT_SAMPLE), lines):
            if (allowed is None and w > 0) or (allowed is not None and w in allowed):
                count, first = seen.get(w, (0, at))
                seen[w] = (count + 1, first)
                if count + 1 == _LAYOUT_AGREE and len(seen) == 1:
                    break  # the first lines agree: the usual case, decided early
        if not seen:
            return None
        width = min(seen, key=lambda w: (-seen[w][0], w))
        return width, seen[width][1], 0

    def _first_lines(self, tag: str) -> Iterator[tuple[int, int]]:
        """(offset, number of values) of the lines of ``tag`` after the header (in the
        first ``_LAYOUT_WINDOW`` bytes), found with ``find``."""
        data = self.data
        key = b"\n" + tag.encode() + b":"
        pos = max(self.header_end - 1, 0)
        stop = min(len(data), pos + _LAYOUT_WINDOW)
        while True:
            i = data.find(key, pos, stop)
            if i < 0:
                return
            eol = data.find(b"\n", i + 1)
            eol = len(data) if eol < 0 else eol
            yield i + 1, len(data[i + len(key):eol].split())
            pos = eol

    def drop(self, tag: str, kind: str, lines: list[int]) -> None:
        """Record that ``lines`` of ``tag`` were dropped, and why (``kind``)."""
        self.dropped_here = True  # the event's sanity checks would only echo the drop
        if self._reread:
            return
        self._n_dropped[tag] += len(lines)
        entry = self._dropped[tag][kind]
        entry[0] += len(lines)
        entry[1].extend(lines[:max(MAX_LISTED - len(entry[1]), 0)])

    def report(self) -> None:
        """Log what lenient reading dropped and what the sanity checks found since the last
        report, as one warning each (EvtPump calls it when it is closed: once per file)."""
        if self._n_dropped:
            parts = []
            for tag, n in sorted(self._n_dropped.items()):
                kinds = "; ".join(f"{kind} (lines {', '.join(map(str, lines))}"
                                  f"{', …' if count > len(lines) else ''})"
                                  for kind, (count, lines) in self._dropped[tag].items())
                parts.append(f"{tag}: {n} ({kinds})")
            self.log.warning("%s: bad lines dropped (strict=False), %d in all: %s",
                             self.filename, sum(self._n_dropped.values()), "; ".join(parts))
            self._n_dropped.clear()
            self._dropped.clear()
        if self._odd:
            parts = [f"{kind} (events {', '.join(map(str, sorted(events)[:MAX_LISTED]))}"
                     f"{', …' if len(events) > MAX_LISTED else ''}; {len(events)} in all)"
                     for kind, events in sorted(self._odd.items())]
            self.log.warning("%s: suspicious events (a line deleted or repeated?): %s",
                             self.filename, "; ".join(parts))
            self._odd.clear()
