"""Binning of hits into fixed-shape histograms ("images") for deep learning.

The heavy lifting is :func:`bin_hits`, which bins the hits of *many* events in one go: each
hit gets a flat bin number (event, bin_0, bin_1, …) from vectorised ``np.searchsorted`` and
all images come out of one ``np.bincount``. No per-hit Python runs.

A dimension is either continuous (``edges``, or ``range`` + ``bins``) or categorical
(``categories``: e.g. DOM ids or channel ids, each value its own bin). Hits outside the edges
or with an unknown category are dropped. The ``time`` dimension can be taken relative to a
per-event reference (first or mean time of the triggered hits, or the first hit).

:class:`ImageBinner` wraps it as a pipeline module: it reads the hits Table of a blob and
adds an :class:`~km3flow.dataclasses.NDArray` (shape ``(1, *image_shape)``, so an HDF5 sink
stacks one row per event) and a label Table made from the MC truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core import Blob, Module
from ..dataclasses import NDArray, Table
from ..exceptions import ConfigError, Km3flowError
from ..logger import get_logger

log = get_logger("binning")

TIME_REFERENCES = ("none", "first_triggered", "mean_triggered", "first_hit")
_DIMENSION_KEYS = {"column", "edges", "range", "bins", "categories", "detector"}


class BinningError(Km3flowError, ValueError):
    """Hits cannot be binned as configured (a column is missing, …)."""


@dataclass(frozen=True)
class Dimension:
    """One axis of an image: a hit column and its bin edges or categories.

    Parameters
    ----------
    column
        Name of the hit column (``time``, ``dom_id``, ``channel_id``, ``pos_x``, …).
    edges
        Monotonically increasing bin edges (continuous axis), ``len(edges) - 1`` bins.
    categories
        Sorted distinct values, one bin each (categorical axis), e.g. all DOM ids.
    """

    column: str
    edges: npt.NDArray[np.float64] | None = None
    categories: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        if (self.edges is None) == (self.categories is None):
            raise ConfigError(f"dimension '{self.column}': give exactly one of edges or categories")
        if self.edges is not None:
            edges = np.asarray(self.edges, dtype=np.float64)
            if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
                raise ConfigError(
                    f"dimension '{self.column}': edges must be >= 2 increasing values"
                )
            object.__setattr__(self, "edges", edges)
        else:
            cats = np.unique(np.asarray(self.categories, dtype=np.int64))
            if cats.size == 0:
                raise ConfigError(f"dimension '{self.column}': categories are empty")
            object.__setattr__(self, "categories", cats)

    @property
    def size(self) -> int:
        """Number of bins along this axis."""
        if self.edges is not None:
            return int(self.edges.size - 1)
        assert self.categories is not None  # an axis has edges or categories
        return int(self.categories.size)

    def bin_index(self, values: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Return (bin index, valid mask) of ``values`` along this axis."""
        values = np.asarray(values)
        if self.edges is not None:
            idx = np.searchsorted(self.edges, values, side="right") - 1
            # The last edge is inclusive, as in np.histogram.
            idx[values == self.edges[-1]] = self.edges.size - 2
            valid = (idx >= 0) & (idx < self.edges.size - 1)
            return idx, valid
        cats = self.categories
        assert cats is not None  # an axis has edges or categories
        idx = np.searchsorted(cats, values)
        idx_clipped = np.minimum(idx, cats.size - 1)
        valid = cats[idx_clipped] == values
        return idx_clipped, valid

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> Dimension:
        """Build a dimension from a TOML table.

        Accepted forms: ``{column, edges=[…]}``, ``{column, range=[lo, hi], bins=n}``,
        ``{column, categories=[…]}``, ``{column, detector="file.detx"}`` (see
        :func:`geometry_dimension`).
        """
        unknown = set(spec) - _DIMENSION_KEYS
        if unknown:
            raise ConfigError(f"dimension: unknown keys {sorted(unknown)}; allowed: "
                              f"{sorted(_DIMENSION_KEYS)}")
        if "column" not in spec:
            raise ConfigError("dimension: the key 'column' is missing")
        column = str(spec["column"])
        if "detector" in spec:
            return geometry_dimension(column, spec["detector"])
        if "edges" in spec:
            return cls(column, edges=np.asarray(spec["edges"], dtype=np.float64))
        if "range" in spec:
            lo, hi = spec["range"]
            bins = int(spec.get("bins", 10))
            return cls(column, edges=np.linspace(float(lo), float(hi), bins + 1))
        if "categories" in spec:
            return cls(column, categories=np.asarray(spec["categories"], dtype=np.int64))
        raise ConfigError(f"dimension '{column}': give edges, range+bins or categories")


_GEOMETRY_CATEGORIES = ("dom_id", "du", "floor", "pmt_id", "channel_id")
_GEOMETRY_AXES = ("pos_x", "pos_y", "pos_z")


def geometry_dimension(column: str, detector: Any) -> Dimension:
    """A dimension whose bins follow the detector: one bin per DOM position along an axis.

    For ``pos_x``/``pos_y``/``pos_z`` the edges lie halfway between neighbouring distinct
    DOM coordinates (rounded to 0.1 m), and half a gap beyond the outermost ones, so every
    DOM sits in the middle of its own bin; ``dom_id``, ``du``, ``floor``, ``pmt_id`` and
    ``channel_id`` get one category per value in the detector.

    Parameters
    ----------
    column
        The hit column (calibrated hits carry ``pos_x..z``, ``du``, ``floor``).
    detector
        A :class:`~km3flow.io.detector.Detector` or the path of a DETX/DATX file.
    """
    from ..io.detector import Detector, read_detector

    det = detector if isinstance(detector, Detector) else read_detector(detector)
    if column in _GEOMETRY_CATEGORIES:
        return Dimension(column, categories=np.unique(np.asarray(det.pmts[column])))
    if column not in _GEOMETRY_AXES:
        raise ConfigError(f"dimension '{column}': bins from the detector exist for "
                          f"{', '.join(_GEOMETRY_AXES + _GEOMETRY_CATEGORIES)}")
    optical = np.asarray(det.doms["n_pmts"]) > 0  # base modules see no light
    positions = np.asarray(det.dom_positions)[optical]
    coords = np.unique(np.round(positions[:, _GEOMETRY_AXES.index(column)], 1))
    if coords.size < 2:
        half = 1.0
        return Dimension(column, edges=np.array([coords[0] - half, coords[0] + half]))
    mids = (coords[1:] + coords[:-1]) / 2
    edges = np.concatenate([[coords[0] - (mids[0] - coords[0])], mids,
                            [coords[-1] + (coords[-1] - mids[-1])]])
    return Dimension(column, edges=edges)


def event_offsets(counts: npt.ArrayLike) -> np.ndarray:
    """Return the start offsets (length n+1) of events with ``counts`` hits each."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def time_reference(
    times: np.ndarray, triggered: np.ndarray | None, offsets: np.ndarray, mode: str
) -> np.ndarray:
    """Per-event reference time (length n_events) for relative hit times.

    Events without triggered hits fall back to their first hit; empty events get 0.
    """
    if mode not in TIME_REFERENCES:
        raise ConfigError(f"time_reference must be one of {TIME_REFERENCES}, got {mode!r}")
    n = offsets.size - 1
    if mode == "none":
        return np.zeros(n)
    counts = np.diff(offsets)
    event_of_hit = np.repeat(np.arange(n), counts)
    first = np.full(n, np.inf)
    if times.size:
        np.minimum.at(first, event_of_hit, times)
    if mode == "first_hit" or triggered is None:
        ref = first
    else:
        trig = np.asarray(triggered) != 0
        if mode == "first_triggered":
            ref = np.full(n, np.inf)
            np.minimum.at(ref, event_of_hit[trig], times[trig])
        else:
            total = np.bincount(event_of_hit[trig], weights=times[trig], minlength=n)
            number = np.bincount(event_of_hit[trig], minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                ref = total / number
            ref[number == 0] = np.inf
        ref = np.where(np.isfinite(ref), ref, first)
    return np.where(np.isfinite(ref), ref, 0.0)


def bin_hits(
    columns: Mapping[str, np.ndarray],
    offsets: npt.ArrayLike,
    dimensions: Sequence[Dimension],
    time_ref: str = "none",
    weights: str | None = None,
    dtype: npt.DTypeLike = np.float32,
) -> np.ndarray:
    """Bin the hits of many events into images of shape ``(n_events, *dims)``.

    Parameters
    ----------
    columns
        Hit columns (1-D arrays of equal length, all events concatenated), e.g. a Table.
    offsets
        Event boundaries: hits of event ``i`` are ``offsets[i]:offsets[i+1]``.
    dimensions
        The image axes.
    time_ref
        Reference for the ``time`` column (see :data:`TIME_REFERENCES`).
    weights
        Optional column to sum instead of counting hits (e.g. ``tot``).
    dtype
        dtype of the returned images.

    Returns
    -------
    numpy.ndarray
        ``(n_events, *[d.size for d in dimensions])`` histograms.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n_events = offsets.size - 1
    shape = tuple(d.size for d in dimensions)
    n_hits = int(offsets[-1] - offsets[0]) if n_events >= 0 else 0
    names = _column_names(columns)
    needed = {d.column for d in dimensions} | ({weights} if weights else set())
    missing = sorted(needed - set(names))
    if missing:
        raise BinningError(f"hits have no column(s) {missing}; present: {sorted(names)}")
    start = offsets[0]
    sel = slice(int(start), int(start) + n_hits)
    local = offsets - start
    event_of_hit = np.repeat(np.arange(n_events), np.diff(local))
    flat = event_of_hit.astype(np.int64)
    valid = np.ones(n_hits, dtype=bool)
    for dim in dimensions:
        values = np.asarray(columns[dim.column])[sel]
        if dim.column == "time" and time_ref != "none":
            triggered = np.asarray(columns["triggered"])[sel] if "triggered" in names else None
            values = values - time_reference(values, triggered, local, time_ref)[event_of_hit]
        idx, ok = dim.bin_index(values)
        valid &= ok
        flat = flat * dim.size + idx
    w = None if weights is None else np.asarray(columns[weights], dtype=np.float64)[sel][valid]
    size = n_events * int(np.prod(shape, dtype=np.int64))
    hist = np.bincount(flat[valid], weights=w, minlength=size)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        # small integer images (uint8 counts read 4x faster than float32) saturate
        top = np.iinfo(dtype).max
        if hist.size and hist.max() > top:
            n_sat = int(np.count_nonzero(hist > top))
            log.warning("%d bins exceed %d, the maximum of %s: saturated", n_sat, top, dtype)
            hist = np.minimum(hist, top)
    return hist.astype(dtype, copy=False).reshape((n_events,) + shape)


def _column_names(columns: Any) -> list[str]:
    names = getattr(getattr(columns, "dtype", None), "names", None)
    return list(names) if names else list(columns)


def primary_labels(
    tracks: np.ndarray, group_ids: np.ndarray, columns: Sequence[str] | None = None,
    row: int = 0,
) -> np.ndarray:
    """Pick the ``row``-th MC track of each group as that event's label.

    Parameters
    ----------
    tracks
        Structured array of MC tracks with a ``group_id`` column (sorted by group).
    group_ids
        The events (groups) to label, in order.
    columns
        Track columns to keep; all when None.

    Raises
    ------
    BinningError
        When an event has no MC track (names the group id).
    """
    names = tracks.dtype.names or ()
    if "group_id" not in names:
        raise BinningError("MC tracks have no group_id column")
    keep = [c for c in (columns or names) if c != "group_id"]
    missing = [c for c in keep if c not in names]
    if missing:
        raise BinningError(f"MC tracks have no column(s) {missing}; present: {list(names)}")
    gid = np.asarray(tracks["group_id"])
    starts = np.searchsorted(gid, group_ids, side="left")
    stops = np.searchsorted(gid, group_ids, side="right")
    lacking = np.flatnonzero(stops - starts <= row)
    if lacking.size:
        raise BinningError(f"event (group_id {int(group_ids[lacking[0]])}) has no MC track "
                           f"number {row}")
    picked = tracks[starts + row]
    out = np.empty(len(group_ids), dtype=[(c, tracks.dtype[c]) for c in keep])
    for c in keep:
        out[c] = picked[c]
    return out


class ImageBinner(Module):
    """Pipeline module: hits of a blob → an image NDArray plus a label Table.

    Parameters
    ----------
    dimensions
        List of dimension specs (dicts for :meth:`Dimension.from_config`) or Dimensions.
    hits_key
        Blob key of the hits Table (default ``Hits``; use ``CalibHits`` for positions).
    tracks_key
        Blob key of the MC tracks Table used for labels (default ``McTracks``); when the
        blob lacks it, no label Table is added.
    label_columns
        Track columns copied into the labels (default: all).
    track_row
        Which MC track of the event is the label (default 0, the primary).
    info_key, info_columns
        Blob key of the event info Table (``EventInfo``) and columns of it copied into the
        labels (e.g. ``["event_id", "run_id"]``; none by default).
    require_labels
        Raise a :class:`BinningError` when a blob has no MC tracks (default False: such
        blobs get an image but no label Table).
    time_reference
        One of :data:`TIME_REFERENCES` (default ``mean_triggered``).
    weights
        Optional hit column summed per bin instead of counting hits.
    image_h5loc, label_h5loc
        Where the sink stores images and labels (defaults ``/x`` and ``/y``).
    image_key, label_key
        Blob keys of the outputs (defaults ``Image`` and ``Labels``).
    dtype
        Image dtype (default uint8 for hit counts, saturating at 255; float32 with weights).
    """

    def configure(self) -> None:
        dims = self.require("dimensions")
        self.dimensions = [d if isinstance(d, Dimension) else Dimension.from_config(d)
                           for d in dims]
        self.hits_key = self.get("hits_key", default="Hits")
        self.tracks_key = self.get("tracks_key", default="McTracks")
        self.label_columns = self.get("label_columns", default=None)
        self.track_row = int(self.get("track_row", default=0))
        self.info_key = self.get("info_key", default="EventInfo")
        self.info_columns = list(self.get("info_columns", default=None) or [])
        self.require_labels = bool(self.get("require_labels", default=False))
        self.time_ref = self.get("time_reference", default="mean_triggered")
        if self.time_ref not in TIME_REFERENCES:
            raise ConfigError(f"time_reference must be one of {TIME_REFERENCES}, "
                              f"got {self.time_ref!r}")
        self.weights = self.get("weights", default=None)
        self.image_h5loc = self.get("image_h5loc", default="/x")
        self.label_h5loc = self.get("label_h5loc", default="/y")
        self.image_key = self.get("image_key", default="Image")
        self.label_key = self.get("label_key", default="Labels")
        self.dtype = np.dtype(self.get("dtype", default="float32" if self.weights else "uint8"))

    @property
    def shape(self) -> tuple[int, ...]:
        """The image shape (without the event axis)."""
        return tuple(d.size for d in self.dimensions)

    def process(self, blob: Blob) -> Blob:
        hits = blob[self.hits_key]
        image = bin_hits(hits, [0, len(hits)], self.dimensions, self.time_ref, self.weights,
                         self.dtype)
        blob[self.image_key] = NDArray(image, h5loc=self.image_h5loc, title="Image")
        if self.tracks_key in blob and len(blob[self.tracks_key]):
            tracks = np.asarray(blob[self.tracks_key])
            if "group_id" not in (tracks.dtype.names or ()):
                tracks = _with_group_id(tracks)
            gid = np.asarray([tracks["group_id"][0]])
            labels = primary_labels(tracks, gid, self.label_columns, self.track_row)
            if self.info_columns:
                labels = _join_info(labels, blob, self.info_key, self.info_columns)
            blob[self.label_key] = Table(labels, h5loc=self.label_h5loc, name="Labels")
        elif self.require_labels:
            raise BinningError(f"blob has no MC tracks under '{self.tracks_key}' for the "
                               f"labels; keys present: {', '.join(map(str, blob))}")
        return blob


def _join_info(labels: np.ndarray, blob: Blob, key: str, columns: list[str]) -> np.ndarray:
    if key not in blob:
        raise BinningError(f"blob has no '{key}' for the label columns {columns}")
    info = np.asarray(blob[key])
    missing = [c for c in columns if c not in (info.dtype.names or ())]
    if missing or len(info) == 0:
        raise BinningError(f"'{key}' has no column(s) {missing or columns}")
    dtype = labels.dtype.descr + [(c, info.dtype[c]) for c in columns]
    out = np.empty(len(labels), dtype=dtype)
    for c in labels.dtype.names or ():
        out[c] = labels[c]
    for c in columns:
        out[c] = info[c][0]
    return out


def _with_group_id(tracks: np.ndarray) -> np.ndarray:
    dt = tracks.dtype.descr + [("group_id", "<i8")]
    out = np.zeros(len(tracks), dtype=dt)
    for name in tracks.dtype.names or ():
        out[name] = tracks[name]
    return out
