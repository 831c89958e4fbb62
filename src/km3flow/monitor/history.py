"""The monitor's history file: per-second DOM and trigger rates written through HDF5Sink.

``km3flow monitor --history FILE.h5`` keeps two tables in KM3Pipe's HDF5 layout:

``/monitor/trigger_rates``
    one row per second: ``time`` (UNIX s), ``events``, ``hits``, ``triggered_hits``,
    ``event_rate_hz`` and ``bit_counts`` (events per trigger bit 0-63);
``/monitor/dom_rates``
    one row per DOM and second: ``time``, ``dom_id``, ``rate_hz``.

HDF5Sink writes a temporary file and moves it into place when it finishes, so the writer
finishes a sink every ``checkpoint_s`` seconds (and at shutdown) and starts the next one with
the rows of the file so far: what is at ``FILE.h5`` is always a complete file, and a monitor
killed without warning loses at most the last checkpoint interval. Trigger rows older than
``keep_s`` (one day) and DOM rows older than ``dom_keep_s`` (one hour) are not carried
over, which bounds the file and the rewrite. The monitor writes in a thread of its own, so
the ingest never waits for the disk.
:func:`read_history` reads the file back; the monitor puts its last hour into the plots.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

import numpy as np

from ..core import Blob
from ..dataclasses import Table
from ..exceptions import FormatError

TRIGGER_DTYPE = np.dtype([("time", "<f8"), ("events", "<u4"), ("hits", "<u8"),
                          ("triggered_hits", "<u8"), ("event_rate_hz", "<f8"),
                          ("bit_counts", "<u4", (64,))])
DOM_DTYPE = np.dtype([("time", "<f8"), ("dom_id", "<u4"), ("rate_hz", "<f4")])
log = logging.getLogger(__name__)
TRIGGER_H5LOC = "/monitor/trigger_rates"
DOM_H5LOC = "/monitor/dom_rates"


def read_history(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the trigger and DOM rate rows of a monitor history file.

    Returns
    -------
    (trigger_rows, dom_rows)
        Structured arrays of :data:`TRIGGER_DTYPE` and :data:`DOM_DTYPE` (empty when the
        file has no such table).

    Raises
    ------
    FormatError
        The file is not HDF5 or a table has other columns than expected.
    """
    import tables as tb

    path = os.fspath(path)
    try:
        h5 = tb.open_file(path, "r")
    except (OSError, tb.HDF5ExtError) as err:
        raise FormatError(f"{path}: cannot read the monitor history: {err}") from err
    out = []
    with h5:
        for where, dtype in ((TRIGGER_H5LOC, TRIGGER_DTYPE), (DOM_H5LOC, DOM_DTYPE)):
            if where not in h5:
                out.append(np.zeros(0, dtype))
                continue
            data = h5.get_node(where).read()
            missing = [n for n in (dtype.names or ()) if n not in (data.dtype.names or ())]
            if missing:
                raise FormatError(f"{path}: {where}: missing columns {', '.join(missing)}; "
                                  f"expected {', '.join(dtype.names or ())}")
            rows = np.zeros(len(data), dtype)
            for name in dtype.names or ():
                rows[name] = data[name]
            out.append(rows)
    return out[0], out[1]


def trigger_row(row: dict[str, Any]) -> np.ndarray:
    """One :data:`TRIGGER_DTYPE` row from a per-second bin of
    :class:`~km3flow.monitor.state.MonitorState`."""
    out = np.zeros(1, TRIGGER_DTYPE)
    out["time"] = row["time"]
    out["events"] = row["events"]
    out["hits"] = row["hits"]
    out["triggered_hits"] = row["triggered_hits"]
    out["event_rate_hz"] = row["event_rate_hz"]
    for bit, n in row["bits"].items():
        if 0 <= bit < 64:
            out["bit_counts"][0, bit] = n
    return out


def rows_to_bins(rows: np.ndarray) -> list[dict[str, Any]]:
    """Per-second bins of :class:`~km3flow.monitor.state.MonitorState` from
    :data:`TRIGGER_DTYPE` rows."""
    bins = []
    for r in rows:
        counts = r["bit_counts"]
        bins.append({"time": float(r["time"]), "events": int(r["events"]),
                     "hits": int(r["hits"]), "triggered_hits": int(r["triggered_hits"]),
                     "event_rate_hz": float(r["event_rate_hz"]),
                     "bits": {int(b): int(counts[b]) for b in np.flatnonzero(counts)}})
    return bins


def rows_to_dom_history(rows: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """``(time, sorted dom ids, rates)`` per second from :data:`DOM_DTYPE` rows."""
    if not len(rows):
        return []
    rows = rows[np.lexsort((rows["dom_id"], rows["time"]))]
    cuts = np.flatnonzero(np.diff(rows["time"])) + 1
    return [(float(part["time"][0]), part["dom_id"].copy(), part["rate_hz"].copy())
            for part in np.split(rows, cuts)]


class HistoryWriter:
    """Append per-second rows to a history file through HDF5Sink, with checkpoints.

    Parameters
    ----------
    path
        The history file; its recent rows are carried over.
    checkpoint_s
        Seconds between checkpoints (the file at ``path`` is replaced by a complete one).
    keep_s
        Trigger rows older than this are dropped at a checkpoint (default one day).
    dom_keep_s
        DOM rows older than this are dropped at a checkpoint (default one hour: what the
        plots show; a day of a full ARCA detector would be 357 million rows).
    threaded
        Write in a thread of its own (the monitor: the ingest never waits for the disk);
        :meth:`write` then only queues the row. ``False`` writes at once (tests).
    """

    def __init__(self, path: str | os.PathLike, checkpoint_s: float = 60.0,
                 keep_s: float = 86400.0, dom_keep_s: float = 3600.0,
                 threaded: bool = False) -> None:
        self.path = os.fspath(path)
        self.checkpoint_s = float(checkpoint_s)
        self.keep_s = float(keep_s)
        self.dom_keep_s = float(dom_keep_s)
        self.rows_written = 0
        self.rows_dropped = 0
        self.checkpoints = 0
        self.error: BaseException | None = None
        self.sink: Any = None
        self._open()
        self._queue: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            # an hour of seconds may wait for a slow disk; beyond that rows are dropped
            self._queue = queue.Queue(maxsize=3600)
            self._thread = threading.Thread(target=self._run, name="monitor-history",
                                            daemon=True)
            self._thread.start()

    def _open(self) -> None:
        from ..io.hdf5 import HDF5Sink

        old_trig, old_dom = (read_history(self.path) if os.path.exists(self.path)
                             else (np.zeros(0, TRIGGER_DTYPE), np.zeros(0, DOM_DTYPE)))
        now = time.time()
        old_trig = old_trig[old_trig["time"] >= now - self.keep_s]
        old_dom = old_dom[old_dom["time"] >= now - self.dom_keep_s]
        self.sink = HDF5Sink(filename=self.path, complevel=1)
        if len(old_trig) or len(old_dom):
            # one blob carrying all old rows: the tables keep their row order
            self.sink.process(Blob({"MonitorTriggerRates": Table(old_trig, h5loc=TRIGGER_H5LOC),
                                    "MonitorDomRates": Table(old_dom, h5loc=DOM_H5LOC)}))
        self.opened = time.monotonic()

    def write(self, row: dict[str, Any], dom_ids: np.ndarray, rates: np.ndarray) -> None:
        """Add one second: the trigger bin and the DOM rates at its end."""
        if self._queue is None:
            self._write(row, dom_ids, rates)
            return
        try:
            self._queue.put_nowait((row, dom_ids, rates))
        except queue.Full:
            self.rows_dropped += 1

    def _write(self, row: dict[str, Any], dom_ids: np.ndarray, rates: np.ndarray) -> None:
        doms = np.zeros(len(dom_ids), DOM_DTYPE)
        doms["time"] = row["time"]
        doms["dom_id"] = dom_ids
        doms["rate_hz"] = rates
        self.sink.process(Blob({"MonitorTriggerRates": Table(trigger_row(row),
                                                             h5loc=TRIGGER_H5LOC),
                                "MonitorDomRates": Table(doms, h5loc=DOM_H5LOC)}))
        self.rows_written += 1
        if time.monotonic() - self.opened >= self.checkpoint_s:
            self.checkpoint()

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._write(*item)
            except Exception as err:  # noqa: BLE001 - the monitor goes on without history
                self.error = err
                log.error("history file %s: %s; no more history is written", self.path, err)
                return

    def checkpoint(self) -> None:
        """Move a complete file to ``path`` now and go on writing."""
        self.sink.finish()
        self.checkpoints += 1
        self._open()

    def close(self) -> None:
        """Write the rows still queued and the last ones; move the file into place."""
        if self._thread is not None and self._queue is not None:
            if self._thread.is_alive():
                self._queue.put(None)
                self._thread.join()
            self._thread = None
        if self.sink is not None:
            self.sink.finish()
            self.sink = None
