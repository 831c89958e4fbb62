"""What the monitor shows, kept up to date from live data; no sockets, no threads of its own.

:class:`MonitorState` takes the decoded tables of IO_SUM summary slices, IO_EVT events and MSG
lines (as :class:`~km3flow.controlhost.pump.CHPump` puts them in its blobs) and keeps

- per DOM: the summed and the 31 PMT rates of its latest summary slice, and its status flags
  (high-rate veto, FIFO almost full, UDP packet loss);
- per second, for the last hour: the DOM rates, the event rate, hits per event and the
  count of events per trigger bit;
- the latest event (hits with DU, floor, z and whether they were triggered), the last MSG lines,
  the connection state and the time of the last message.

Ingest is vectorised per summary slice (DOM ids looked up with ``searchsorted``), so a full
ARCA slice of 4,140 DOMs costs a few numpy calls. :meth:`MonitorState.api_state` gives the
``/api/state`` JSON and :meth:`MonitorState.page_update` what the page draws. All methods
take the state's lock, so the pipeline thread and the web server may call them concurrently.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ..exceptions import Km3flowError

#: Names of the KM3NeT trigger bits (Jpp's JTriggerBits, as in km3io); others are "bit N".
TRIGGER_BITS = {1: "3DShower", 2: "MXShower", 3: "3DMuon_old", 4: "3DMuon", 5: "NB"}
#: DOMs per DU on the page when no detector file gives DU and floor.
FLOORS_WITHOUT_DETECTOR = 18
_PMT_BITS = np.uint32(0x7FFFFFFF)  # bits 0-30: one per PMT channel; bit 31 is a status bit


def _json_floats(values: npt.ArrayLike, decimals: int = 2) -> list[float | None]:
    """Rounded floats for JSON, NaN (a DOM missing from the detector file) as None."""
    return [None if v != v else v for v in np.round(np.asarray(values, float), decimals).tolist()]


class MonitorInputError(Km3flowError, ValueError):
    """A table handed to the monitor lacks the columns it needs."""


def _need(table: Any, columns: tuple[str, ...], what: str) -> None:
    names = getattr(getattr(table, "dtype", None), "names", None) or ()
    missing = [c for c in columns if c not in names]
    if missing:
        raise MonitorInputError(f"{what}: missing column{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(missing)}; expected {', '.join(columns)} "
                                f"(the tables of km3flow.io.daq.parse_frame)")


def dom_flags(table: npt.NDArray[Any]) -> dict[str, npt.NDArray[np.bool_]]:
    """Status flags of each row of a Summaryslice table.

    ``hrv``: a PMT's high-rate veto is on (bits 0-30 of the ``hrv`` word); ``fifo``: a PMT's
    FIFO is almost full (bits 0-30 of ``fifo``); ``udp_loss``: fewer UDP packets arrived than
    the highest sequence number says were sent, or the trailer packet is missing (Jpp's
    ``hasUDPTrailer`` and ``getUDPNumberOfReceivedPackets``).
    """
    hrv = np.asarray(table["hrv"]).astype(np.uint32, copy=False)
    fifo = np.asarray(table["fifo"]).astype(np.uint32, copy=False)
    n_udp = np.asarray(table["n_udp_packets"]).astype(np.int64)
    max_seq = np.asarray(table["max_sequence_number"]).astype(np.int64)
    return {"hrv": (hrv & _PMT_BITS) != 0, "fifo": (fifo & _PMT_BITS) != 0,
            "udp_loss": ~np.asarray(table["has_udp_trailer"], dtype=bool)
            | (n_udp < max_seq + 1)}


class MonitorState:
    """The monitor's view of the detector: DOM rates, triggers, latest event, messages.

    Parameters
    ----------
    detector
        A :class:`~km3flow.io.detector.Detector` giving each DOM's DU, floor and position;
        without one DOMs are placed by sorted DOM id, 18 per DU, and the page says so.
    history_seconds
        Length of the 1 s history kept in memory (default one hour).
    max_messages
        MSG lines kept.
    clock
        Wall-clock time in seconds (``time.time``); tests may pass their own.
    """

    def __init__(self, detector: Any = None, history_seconds: int = 3600,
                 max_messages: int = 50, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.detector = detector
        self.clock = clock
        self.history_seconds = int(history_seconds)
        self.started = clock()
        self.ids = np.zeros(0, np.uint32)           # sorted DOM ids seen
        self.rate = np.zeros(0)                      # summed PMT rate (Hz), latest slice
        self.pmt_rates = np.zeros((0, 31))
        self.flags = {k: np.zeros(0, bool) for k in ("hrv", "fifo", "udp_loss")}
        self.last_seen = np.zeros(0)
        self._geometry: dict[str, np.ndarray] | None = None
        self.summaryslices = 0
        self.dom_records = 0
        self.events = 0
        self.messages: deque[dict[str, Any]] = deque(maxlen=max_messages)
        self.connected = False
        self.connection_note = "not connected yet"
        self.last_data: float | None = None
        self.latest_event: dict[str, Any] | None = None
        # per-second history: (time, event count, hits, per-bit counts, DOM rates)
        self.history: deque[dict[str, Any]] = deque(maxlen=self.history_seconds)
        self.dom_history: deque[tuple[float, np.ndarray, np.ndarray]] = deque(
            maxlen=self.history_seconds)
        self._second = int(self.started)
        self._bin = self._new_bin()
        self.on_second: list[Callable[[dict[str, Any], np.ndarray, np.ndarray], None]] = []

    # -- ingest ----------------------------------------------------------------------------
    def _index(self, dom_ids: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
        """Row of each DOM id, adding DOMs not seen before (kept sorted)."""
        ids = dom_ids.astype(np.uint32, copy=False)
        idx = np.searchsorted(self.ids, ids)
        found = idx < len(self.ids)
        found[found] = self.ids[idx[found]] == ids[found]
        if not found.all():
            new = np.unique(ids[~found])
            merged = np.union1d(self.ids, new).astype(np.uint32)
            where = np.searchsorted(merged, self.ids)

            def grow(old: np.ndarray, fill: Any = 0) -> np.ndarray:
                out = np.full((len(merged),) + old.shape[1:], fill, dtype=old.dtype)
                out[where] = old
                return out

            self.rate = grow(self.rate)
            self.pmt_rates = grow(self.pmt_rates)
            self.last_seen = grow(self.last_seen)
            self.flags = {k: grow(v, False) for k, v in self.flags.items()}
            self.ids = merged
            self._geometry = None
            idx = np.searchsorted(self.ids, ids)
        return idx

    def add_summaryslice(self, table: npt.NDArray[Any], now: float | None = None) -> None:
        """Take the rows of one Summaryslice table (``dom_id``, ``rates``, status words)."""
        _need(table, ("dom_id", "rates", "hrv", "fifo", "n_udp_packets",
                      "max_sequence_number", "has_udp_trailer"), "Summaryslice")
        now = self.clock() if now is None else now
        with self.lock:
            self._roll(now)
            idx = self._index(np.asarray(table["dom_id"]))
            rates = np.asarray(table["rates"], dtype=np.float64)
            self.pmt_rates[idx] = rates
            self.rate[idx] = rates.sum(axis=1)
            for name, values in dom_flags(table).items():
                self.flags[name][idx] = values
            self.last_seen[idx] = now
            self.summaryslices += 1
            self.dom_records += len(idx)
            self.last_data = now

    def add_event(self, info: npt.NDArray[Any], hits: npt.NDArray[Any],
                  triggered_hits: npt.NDArray[Any], now: float | None = None) -> None:
        """Take one event: its EventInfo row, snapshot Hits and TriggeredHits."""
        _need(info, ("trigger_mask", "trigger_counter", "frame_index", "run_id"), "EventInfo")
        _need(hits, ("dom_id", "channel_id", "time", "tot", "triggered"), "Hits")
        _need(triggered_hits, ("dom_id", "channel_id", "time"), "TriggeredHits")
        now = self.clock() if now is None else now
        row = info[0]
        mask = int(row["trigger_mask"])
        with self.lock:
            self._roll(now)
            self.events += 1
            self.last_data = now
            b = self._bin
            b["events"] += 1
            b["hits"] += len(hits)
            b["triggered_hits"] += len(triggered_hits)
            bit = 0
            while mask >> bit:
                if (mask >> bit) & 1:
                    b["bits"][bit] = b["bits"].get(bit, 0) + 1
                bit += 1
            self.latest_event = {
                "received": now, "run": int(row["run_id"]),
                "frame_index": int(row["frame_index"]),
                "trigger_counter": int(row["trigger_counter"]),
                "trigger_mask": int(row["trigger_mask"]),
                "n_hits": int(len(hits)), "n_triggered_hits": int(len(triggered_hits)),
                "hits": hits, "triggered": np.asarray(hits["triggered"], dtype=bool),
            }

    def add_message(self, text: str, tag: str = "MSG", now: float | None = None) -> None:
        """Keep one MSG line (the last ``max_messages`` are kept)."""
        now = self.clock() if now is None else now
        with self.lock:
            self.last_data = now
            for line in text.splitlines() or [""]:
                self.messages.append({"time": now, "tag": tag, "text": line[:500]})

    def set_connected(self, connected: bool, note: str = "") -> None:
        """Record the connection state to the dispatcher."""
        with self.lock:
            self.connected = bool(connected)
            self.connection_note = note

    def tick(self, now: float | None = None) -> None:
        """Close the per-second bins up to ``now`` (also when no data comes)."""
        with self.lock:
            self._roll(self.clock() if now is None else now)

    # -- history ---------------------------------------------------------------------------
    @staticmethod
    def _new_bin() -> dict[str, Any]:
        return {"events": 0, "hits": 0, "triggered_hits": 0, "bits": {}}

    def _roll(self, now: float) -> None:
        second = int(now)
        if second <= self._second:
            return
        closed, self._bin = self._bin, self._new_bin()
        # at most one hour of empty seconds after a long pause
        for s in range(max(self._second, second - self.history_seconds), second):
            row = {"time": float(s), **(closed if s == self._second else self._new_bin())}
            row["event_rate_hz"] = float(row["events"])
            self.history.append(row)
            rates = self.rate.astype(np.float32)
            self.dom_history.append((float(s), self.ids, rates))
            for callback in self.on_second:
                callback(row, self.ids, rates)
        self._second = second

    def restore(self, trigger_rows: list[dict[str, Any]],
                dom_rows: list[tuple[float, np.ndarray, np.ndarray]]) -> None:
        """Put history read back from a file in front of what is in memory."""
        with self.lock:
            horizon = self.clock() - self.history_seconds
            old = [r for r in trigger_rows if r["time"] >= horizon]
            self.history = deque(old + list(self.history), maxlen=self.history_seconds)
            oldd = [r for r in dom_rows if r[0] >= horizon]
            self.dom_history = deque(oldd + list(self.dom_history),
                                     maxlen=self.history_seconds)

    # -- geometry --------------------------------------------------------------------------
    def geometry(self) -> dict[str, np.ndarray]:
        """DU, floor, ``known`` and (with a detector) x, y, z of each DOM row."""
        if self._geometry is None or len(self._geometry["du"]) != len(self.ids):
            self._geometry = self._place(self.ids, sorted_rows=True)
        return self._geometry

    def _place(self, dom_ids: np.ndarray, sorted_rows: bool = False) -> dict[str, np.ndarray]:
        ids = np.asarray(dom_ids).astype(np.int64)
        n = len(ids)
        if self.detector is None:
            if sorted_rows:
                order = np.arange(n)
            else:  # rows of DOMs seen in summary slices; others after them
                known_ids = self.ids.astype(np.int64)
                pos = np.searchsorted(known_ids, ids)
                ok = pos < len(known_ids)
                ok[ok] = known_ids[pos[ok]] == ids[ok]
                extra = np.unique(ids[~ok])
                order = np.where(ok, pos, len(known_ids) + np.searchsorted(extra, ids))
            return {"du": order // FLOORS_WITHOUT_DETECTOR + 1,
                    "floor": order % FLOORS_WITHOUT_DETECTOR + 1, "known": np.ones(n, bool)}
        doms = self.detector.doms
        det_ids = np.asarray(doms["dom_id"]).astype(np.int64)
        order = np.argsort(det_ids, kind="stable")
        pos = np.minimum(np.searchsorted(det_ids[order], ids), len(det_ids) - 1)
        known = det_ids[order][pos] == ids
        rows = order[pos]
        geo = {"du": np.where(known, np.asarray(doms["du"])[rows], 0),
               "floor": np.where(known, np.asarray(doms["floor"])[rows], 0), "known": known}
        positions = self._dom_positions()
        for k, axis in enumerate(("x", "y", "z")):
            geo[axis] = np.where(known, positions[rows, k], np.nan)
        return geo

    def _dom_positions(self) -> np.ndarray:
        # DETX before v4 has no DOM positions: the Detector computes them from the PMTs
        if getattr(self, "_positions", None) is None:
            self._positions = np.asarray(self.detector.dom_positions, dtype=float)
        return self._positions

    # -- views -----------------------------------------------------------------------------
    def _data_age(self, now: float) -> float | None:
        return None if self.last_data is None else round(now - self.last_data, 3)

    def _event_rate(self) -> float:
        recent = list(self.history)[-10:]
        return sum(r["events"] for r in recent) / len(recent) if recent else 0.0

    def api_state(self, with_doms: bool = True) -> dict[str, Any]:
        """The ``/api/state`` document: DOMs with rates, DU, floor and flags, and counters.

        ``with_doms=False`` leaves the per-DOM mapping out (cheap polling of the counters).
        """
        now = self.clock()
        with self.lock:
            self._roll(now)
            geo = self.geometry()
            doms = {}
            for i, dom_id in enumerate(self.ids.tolist() if with_doms else ()):
                doms[str(dom_id)] = {
                    "rate_hz": float(self.rate[i]), "du": int(geo["du"][i]),
                    "floor": int(geo["floor"][i]),
                    "flags": {k: bool(v[i]) for k, v in self.flags.items()},
                    "age_s": round(now - float(self.last_seen[i]), 3)}
            return {"doms": doms, "n_doms": len(self.ids), "summaryslices": self.summaryslices,
                    "dom_records": self.dom_records, "events": self.events,
                    "event_rate_hz": self._event_rate(), "connected": self.connected,
                    "connection": self.connection_note, "data_age_s": self._data_age(now),
                    "geometry": "detector" if self.detector is not None else "dom ids sorted",
                    "latest_event": self._event_summary(),
                    "messages": list(self.messages)[-10:]}

    def _event_summary(self) -> dict[str, Any] | None:
        if self.latest_event is None:
            return None
        return {k: v for k, v in self.latest_event.items() if k not in ("hits", "triggered")}

    def dom(self, dom_id: int) -> dict[str, Any] | None:
        """One DOM: its 31 PMT rates, flags, per-PMT status bits and rate history."""
        with self.lock:
            i = int(np.searchsorted(self.ids, dom_id))
            if i >= len(self.ids) or int(self.ids[i]) != dom_id:
                return None
            geo = self.geometry()
            times, rates = [], []
            for t, ids, r in self.dom_history:
                j = int(np.searchsorted(ids, dom_id))
                if j < len(ids) and int(ids[j]) == dom_id:
                    times.append(t)
                    rates.append(float(r[j]))
            return {"dom_id": dom_id, "du": int(geo["du"][i]), "floor": int(geo["floor"][i]),
                    "rate_hz": float(self.rate[i]),
                    "pmt_rates_hz": [float(x) for x in self.pmt_rates[i]],
                    "flags": {k: bool(v[i]) for k, v in self.flags.items()},
                    "history": {"time": times, "rate_hz": rates}}

    def page_update(self, history_points: int = 600) -> dict[str, Any]:
        """What the page draws: heatmap grid, trigger history, latest event, messages."""
        now = self.clock()
        with self.lock:
            self._roll(now)
            geo = self.geometry()
            known = geo["known"]
            dus = np.unique(geo["du"][known]).tolist()
            floors = list(range(1, int(geo["floor"][known].max()) + 1)) if known.any() else []
            grid: list[list[float | None]] = [[None] * len(dus) for _ in floors]
            ids_grid: list[list[int | None]] = [[None] * len(dus) for _ in floors]
            du_col = {du: k for k, du in enumerate(dus)}
            flagged: dict[str, list[list[int]]] = {k: [] for k in self.flags}
            rate_mhz = self.rate / 1e6
            for i in np.flatnonzero(known).tolist():
                f, c = int(geo["floor"][i]) - 1, du_col[int(geo["du"][i])]
                if f < 0:
                    continue
                grid[f][c] = round(float(rate_mhz[i]), 5)
                ids_grid[f][c] = int(self.ids[i])
                for k, v in self.flags.items():
                    if v[i]:
                        flagged[k].append([int(geo["du"][i]), f + 1])
            hist = list(self.history)[-history_points:]
            bits = sorted({b for r in hist for b in r["bits"]})
            totals = [r for r in list(self.dom_history)[-history_points:]]
            update = {
                "time": now, "connected": self.connected, "connection": self.connection_note,
                "data_age_s": self._data_age(now), "summaryslices": self.summaryslices,
                "events": self.events, "event_rate_hz": self._event_rate(),
                "n_doms": int(len(self.ids)),
                "geometry": "detector" if self.detector is not None else "dom ids sorted",
                "heatmap": {"dus": dus, "floors": floors, "rate_mhz": grid, "dom_ids": ids_grid,
                            "flags": flagged},
                "triggers": {
                    "time": [r["time"] for r in hist],
                    "event_rate_hz": [r["event_rate_hz"] for r in hist],
                    "hits_per_event": [r["hits"] / r["events"] if r["events"] else None
                                       for r in hist],
                    "bits": {f"{TRIGGER_BITS.get(b, 'bit')} ({b})":
                             [r["bits"].get(b, 0) for r in hist] for b in bits}},
                "total_rate": {"time": [t for t, _, _ in totals],
                               "rate_mhz": [float(r.sum()) / 1e6 for _, _, r in totals]},
                "event": self._event_view(),
                "messages": list(self.messages),
            }
            return update

    def _event_view(self) -> dict[str, Any] | None:
        ev = self.latest_event
        if ev is None:
            return None
        hits = ev["hits"]
        view = self._event_summary()
        assert view is not None
        geo = self._place(np.asarray(hits["dom_id"]))
        du, floor = geo["du"], geo["floor"]
        z = geo["z"] if "z" in geo else floor.astype(float)
        t = np.asarray(hits["time"], dtype=float)
        view.update({"time": np.round(t - t.min() if len(t) else t, 1).tolist(),
                     "du": np.asarray(du).tolist(), "floor": np.asarray(floor).tolist(),
                     "z": _json_floats(z),
                     "tot": np.asarray(hits["tot"]).tolist(),
                     "triggered": ev["triggered"].tolist(),
                     "z_is": "z (m)" if self.detector is not None else "floor"})
        if self.detector is not None:
            positions = self._dom_positions()
            view["doms3d"] = {a: _json_floats(positions[:, k]) for k, a in enumerate("xyz")}
            view["hits3d"] = {a: _json_floats(geo[a]) for a in "xyz"}
        return view
