"""Point clouds for graph networks: the hits of each event as rows of chosen columns.

A point file stores, like OrcaSong's ``FileGraph``, one float32 row per hit at ``/x``
(shape ``(total hits, n_columns)``) with KM3Pipe's index table ``/x_indices`` (``index``,
``n_items`` per event: the hits of event ``i`` are rows ``index[i]:index[i]+n_items[i]``)
and the same label table ``/y`` as images. The column names are stored as ``/x``
attributes ``hit_info_0``, ``hit_info_1``, … (OrcaSong's names) and in the array title
(``Points: pos_x,pos_y,…``), so files written by a plain pipeline are readable too.

:func:`select_points` picks the hits and columns of *many* events in one vectorised call:
times relative to a per-event reference, an optional time window, only triggered hits and a
maximum number of hits per event. The max-hits cut keeps a random subset (in hit order)
chosen by a hash of (seed, event group id, hit number), so the same hits survive whatever
the chunking or the number of worker processes. :class:`PointCloudMaker` is the pipeline
module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core import Blob, Module, Parameter
from ..dataclasses import NDArray, Table
from ..exceptions import ConfigError
from .binning import TIME_REFERENCES, BinningError, _column_names, time_reference

DEFAULT_COLUMNS = ("pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "time", "tot",
                   "triggered")
TITLE_PREFIX = "Points: "

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    # a well-mixed 64-bit hash; uint64 array arithmetic wraps around as intended
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return x ^ (x >> np.uint64(31))


def select_points(
    columns: Mapping[str, np.ndarray] | np.ndarray,
    offsets: npt.ArrayLike,
    hit_columns: Sequence[str],
    time_ref: str = "mean_triggered",
    time_window: Sequence[float] | None = None,
    only_triggered: bool = False,
    max_hits: int | None = None,
    seed: int = 0,
    event_ids: npt.ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Select the hits of many events and return their points and per-event counts.

    Parameters
    ----------
    columns
        Hit columns (1-D arrays of equal length, all events concatenated), e.g. a Table.
    offsets
        Event boundaries: hits of event ``i`` are ``offsets[i]:offsets[i+1]``.
    hit_columns
        Columns written per hit, in this order.
    time_ref
        Reference subtracted from ``time`` (see :data:`~km3flow.ml.binning.TIME_REFERENCES`),
        computed from all hits of the event before any cut.
    time_window
        ``[lo, hi]``: keep hits whose (relative) time is inside, both ends included.
    only_triggered
        Keep triggered hits only.
    max_hits
        Keep at most this many hits per event, a random subset in hit order.
    seed, event_ids
        The random subset depends only on ``seed``, the event id (by default the hits'
        ``group_id`` column, else the event number) and the hit number in the event.

    Returns
    -------
    points, counts
        ``(n_kept, len(hit_columns))`` float32 rows and the kept hits per event.

    Examples
    --------
    >>> import numpy as np
    >>> hits = {"time": np.array([10., 20., 30., 5., 8.]), "tot": np.array([1, 2, 3, 4, 5]),
    ...         "triggered": np.array([1, 0, 1, 0, 1])}
    >>> pts, counts = select_points(hits, [0, 3, 5], ["time", "tot"], "first_triggered",
    ...                             only_triggered=True)
    >>> pts.tolist(), counts.tolist()
    ([[0.0, 1.0], [20.0, 3.0], [0.0, 5.0]], [2, 1])
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n_events = offsets.size - 1
    names = _column_names(columns)
    needed = set(hit_columns) | ({"triggered"} if only_triggered else set())
    needed |= {"time"} if (time_window is not None) else set()
    missing = sorted(needed - set(names))
    if missing:
        raise BinningError(f"hits have no column(s) {missing}; present: {sorted(names)}")
    if time_ref not in TIME_REFERENCES:
        raise ConfigError(f"time_reference must be one of {TIME_REFERENCES}, got {time_ref!r}")
    start = int(offsets[0])
    n_hits = int(offsets[-1]) - start
    sel = slice(start, start + n_hits)
    local = offsets - start
    counts = np.diff(local)
    event_of_hit = np.repeat(np.arange(n_events), counts)
    time = None
    if "time" in names and ("time" in hit_columns or time_window is not None):
        time = np.asarray(columns["time"], dtype=np.float64)[sel]
        if time_ref != "none":
            trig = np.asarray(columns["triggered"])[sel] if "triggered" in names else None
            time = time - time_reference(time, trig, local, time_ref)[event_of_hit]
    keep = np.ones(n_hits, dtype=bool)
    if only_triggered:
        keep &= np.asarray(columns["triggered"])[sel] != 0
    if time_window is not None:
        lo, hi = (float(v) for v in time_window)
        assert time is not None  # read: "time" is a needed column with a window
        keep &= (time >= lo) & (time <= hi)
    if max_hits is not None:
        kept_counts = np.bincount(event_of_hit[keep], minlength=n_events)
        if np.any(kept_counts > max_hits):
            if event_ids is None:
                event_ids = (np.asarray(columns["group_id"])[sel][local[:-1].clip(0, max(
                    n_hits - 1, 0))] if "group_id" in names and n_hits else np.arange(n_events))
            ids = np.asarray(event_ids, dtype=np.int64).astype(np.uint64)
            hit_no = (np.arange(n_hits) - np.repeat(local[:-1], counts)).astype(np.uint64)
            key = _splitmix64(_splitmix64(ids[event_of_hit] ^ _splitmix64(
                np.full(n_hits, seed, dtype=np.uint64))) + hit_no)
            cand = np.flatnonzero(keep)
            # rank the kept hits of each event by their random key
            order = cand[np.lexsort((key[cand], event_of_hit[cand]))]
            first = np.searchsorted(event_of_hit[order], np.arange(n_events))
            rank = np.arange(order.size) - first[event_of_hit[order]]
            keep[order[rank >= max_hits]] = False
    points = np.empty((int(keep.sum()), len(hit_columns)), dtype=np.float32)
    for i, c in enumerate(hit_columns):
        values = time if c == "time" else np.asarray(columns[c])[sel]
        assert values is not None  # time is read whenever it is a hit column
        points[:, i] = values[keep]
    return points, np.bincount(event_of_hit[keep], minlength=n_events).astype(np.int64)


def points_title(hit_columns: Sequence[str]) -> str:
    """The ``/x`` title naming the columns (``Points: pos_x,pos_y,…``)."""
    return TITLE_PREFIX + ",".join(hit_columns)


def point_columns(node: Any) -> list[str] | None:
    """Column names of a point array node (attributes ``hit_info_i`` or the title)."""
    attrs = node._v_attrs
    n = int(node.shape[-1]) if len(node.shape) == 2 else 0
    names = [attrs[f"hit_info_{i}"] for i in range(n) if f"hit_info_{i}" in attrs]
    if n and len(names) == n:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in names]
    title = str(getattr(node, "title", "") or "")
    if title.startswith(TITLE_PREFIX):
        cols = title[len(TITLE_PREFIX):].split(",")
        if len(cols) == n:
            return cols
    return None


def _positive(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def _window(value: Sequence[float] | None) -> tuple[float, float] | None:
    if value is None:
        return None
    lo, hi = (float(v) for v in value)
    if not lo < hi:
        raise ValueError(f"needs lo < hi, got [{lo}, {hi}]")
    return lo, hi


class PointCloudMaker(Module):
    """Pipeline module: hits of a blob → a point-cloud NDArray (one row per hit) + labels.

    The NDArray has shape ``(n_hits, len(columns))`` and is stored by an HDF5 sink as
    ``/x`` with ``/x_indices`` (the layout of OrcaSong's graph files). Labels are those of
    :class:`~km3flow.ml.binning.ImageBinner`.
    """

    columns = Parameter((list, tuple), default=DEFAULT_COLUMNS, help="hit columns per point")
    hits_key = Parameter(str, default="Hits", help="blob key of the hits (CalibHits for pos)")
    time_reference = Parameter(str, default="mean_triggered", choices=TIME_REFERENCES,
                               help="reference subtracted from the hit times")
    time_window = Parameter((list, tuple), default=None, check=_window,
                            help="[lo, hi] ns (after the reference): keep hits inside")
    only_triggered = Parameter(bool, default=False, help="keep only triggered hits")
    max_hits = Parameter(int, default=None, check=_positive,
                         help="at most this many hits per event (a seeded random subset)")
    seed = Parameter(int, default=0, help="seed of the max_hits selection")
    detector = Parameter(None, default=None,
                         help="Detector or DETX/DATX path: calibrate the hits first (pos/dir)")
    tracks_key = Parameter(str, default="McTracks", help="blob key of the MC tracks (labels)")
    label_columns = Parameter(list, default=None, help="track columns of the labels")
    track_row = Parameter(int, default=0, help="which MC track of the event is the label")
    info_key = Parameter(str, default="EventInfo", help="blob key of the event info")
    info_columns = Parameter(list, default=None, help="event info columns of the labels")
    require_labels = Parameter(bool, default=False, help="error on blobs without MC tracks")
    points_h5loc = Parameter(str, default="/x", help="where the sink stores the points")
    label_h5loc = Parameter(str, default="/y", help="where the sink stores the labels")
    points_key = Parameter(str, default="Points", help="blob key of the points")
    label_key = Parameter(str, default="Labels", help="blob key of the labels")

    def configure(self) -> None:
        self.columns = list(self.columns)
        if self.detector is not None:
            from ..calib import _as_detector

            self.detector = _as_detector(self.detector)
        self._events = 0

    def process(self, blob: Blob) -> Blob:
        from .binning import _join_info, _with_group_id, primary_labels

        hits = blob[self.hits_key]
        if self.detector is not None:
            from ..calib import calibrate

            hits = calibrate(hits, self.detector)
        names = _column_names(hits)
        ids = None if "group_id" in names and len(hits) else np.array([self._events])
        self._events += 1
        points, _ = select_points(hits, [0, len(hits)], self.columns, self.time_reference,
                                  self.time_window, self.only_triggered, self.max_hits,
                                  self.seed, ids)
        blob[self.points_key] = NDArray(points, h5loc=self.points_h5loc,
                                        title=points_title(self.columns))
        if self.tracks_key in blob and len(blob[self.tracks_key]):
            tracks = np.asarray(blob[self.tracks_key])
            if "group_id" not in (tracks.dtype.names or ()):
                tracks = _with_group_id(tracks)
            gid = np.asarray([tracks["group_id"][0]])
            labels = primary_labels(tracks, gid, self.label_columns, self.track_row)
            if self.info_columns:
                labels = _join_info(labels, blob, self.info_key, list(self.info_columns))
            blob[self.label_key] = Table(labels, h5loc=self.label_h5loc, name="Labels")
        elif self.require_labels:
            raise BinningError(f"blob has no MC tracks under '{self.tracks_key}' for the "
                               f"labels; keys present: {', '.join(map(str, blob))}")
        return blob
