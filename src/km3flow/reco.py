"""Reconstructed tracks: best-track selection, reconstruction stages and fit info by name.

The selection is km3io's (``km3io.tools.best_track`` and ``best_jmuon`` …): among the
tracks whose ``rec_stages`` pass a criterion, keep those with the most stages and take the
one with the highest likelihood (the first of equals).  km3flow works on the Tracks Table
of :class:`~km3flow.io.root.OfflinePump` (``rec_stage_0…``, ``n_rec_stages``,
``likelihood``, one column per fit parameter): for one event, or for many at once when the
table has a ``group_id`` column (a whole file, e.g. ``/reco/tracks`` of an HDF5 file).  The
answer has one row per event, with the input's columns; an event without such a track gets
a row of NaN (see :func:`best_track`).

The constants of the KM3NeT data format are here by name, as in km3io::

    from km3flow.reco import reconstruction as krec, fitparameters as kfit
    krec.JMUONGANDALF, kfit.JGANDALF_CHI2    # 3, 2

Examples
--------
>>> from km3net_testdata import data_path
>>> from km3flow.io.root import OfflinePump
>>> with OfflinePump(filename=data_path("offline/km3net_offline.root")) as pump:
...     tracks = pump[0]["Tracks"]
>>> best = best_jmuon(tracks)
>>> len(best), rec_stage_names(best)[0]
(1, ('JMUONPREFIT', 'JMUONGANDALF', 'JMUONSTART', 'JMUONENERGY'))
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .core import Blob, Module
from .dataclasses import Table
from .exceptions import BlobKeyError, Km3flowError
from .io.root.definitions import FITINF_INDEX, RECONSTRUCTION

__all__ = [
    "BestTracks",
    "TrackSelectionError",
    "best_aashower",
    "best_dusjshower",
    "best_jmuon",
    "best_jshower",
    "best_track",
    "fitinf",
    "fitparameters",
    "rec_stage_names",
    "rec_stages",
    "reconstruction",
]

_STAGE_COLUMN = re.compile(r"rec_stage_(\d+)")


class TrackSelectionError(Km3flowError, ValueError):
    """Tracks cannot be selected as asked: missing columns or an invalid criterion."""


class _Names(Mapping[str, int]):
    """Read-only named integer constants: ``names.JMUONGANDALF`` or ``names["JMUONGANDALF"]``."""

    def __init__(self, title: str, values: Mapping[str, int]) -> None:
        self._title = title
        self._values = dict(values)

    def __getattr__(self, name: str) -> int:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"{self.__dict__.get('_title', 'names')} has no constant "
                                 f"{name!r}") from None

    def __getitem__(self, name: str) -> int:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __dir__(self) -> list[str]:
        return sorted(self._values)

    def __repr__(self) -> str:
        return f"<{self._title}: {len(self)} constants>"


#: Reconstruction types and stages of the KM3NeT data format (km3io's
#: ``definitions.reconstruction``): ``reconstruction.JMUONPREFIT == 1``.
reconstruction = _Names("reconstruction", RECONSTRUCTION)
#: Positions in ``Trk::fitinf`` (km3io's ``definitions.fitparameters``):
#: ``fitparameters.JENERGY_ENERGY == 4``; the Tracks columns are the lower-case names.
fitparameters = _Names("fitparameters", FITINF_INDEX)

# Stage number → name; the *_RECONSTRUCTION_TYPE and *_UNKNOWN entries share their numbers
# with stages (AANET_RECONSTRUCTION_TYPE = JSHOWERPREFIT = 101) and are no stages.
_STAGE_NAMES = {value: name for name, value in RECONSTRUCTION.items()
                if not name.endswith(("_RECONSTRUCTION_TYPE", "_UNKNOWN"))}

_KINDS = {  # kind → (first stage, last stage) of km3io's best_<kind>
    "jmuon": (RECONSTRUCTION["JMUONBEGIN"], RECONSTRUCTION["JMUONEND"]),
    "jshower": (RECONSTRUCTION["JSHOWERBEGIN"], RECONSTRUCTION["JSHOWEREND"]),
    "aashower": (RECONSTRUCTION["AASHOWERBEGIN"], RECONSTRUCTION["AASHOWEREND"]),
    "dusjshower": (RECONSTRUCTION["DUSJSHOWERBEGIN"], RECONSTRUCTION["DUSJSHOWEREND"]),
}


def _names_of(tracks: Any) -> tuple[str, ...]:
    names = getattr(getattr(tracks, "dtype", None), "names", None)
    if names is None:
        raise TrackSelectionError(f"expected a Tracks table (a structured array), got "
                                  f"{type(tracks).__name__}")
    return names


def _stage_view(tracks: Any) -> np.ndarray:
    """The ``rec_stage_*`` columns as one ``(n, width)`` array, a view where they are adjacent.

    Reading the stages as one strided block touches each (wide) track record once instead
    of once per column.
    """
    names = _names_of(tracks)
    columns = sorted((int(m.group(1)), name) for name in names
                     if (m := _STAGE_COLUMN.fullmatch(name)))
    if not columns or [i for i, _ in columns] != list(range(len(columns))):
        raise TrackSelectionError(
            f"expected the columns rec_stage_0, rec_stage_1, ... of a Tracks table; "
            f"found {', '.join(name for _, name in columns) or 'none'} among {', '.join(names)}")
    data = np.asarray(tracks)
    all_fields = data.dtype.fields
    assert all_fields is not None  # a structured array: its columns were found above
    fields = [all_fields[name] for _, name in columns]
    fmt, offset = fields[0][0], fields[0][1]
    if data.ndim == 1 and fmt.kind in "iu" and all(
            f[0] == fmt and f[1] == offset + i * fmt.itemsize for i, f in enumerate(fields)):
        first = data[columns[0][1]]  # a strided view of rec_stage_0; the others follow it
        return np.lib.stride_tricks.as_strided(
            first, shape=(len(first), len(columns)), strides=(first.strides[0], fmt.itemsize),
            writeable=False)
    return np.column_stack([np.asarray(data[name]) for _, name in columns])


def rec_stages(tracks: Any) -> npt.NDArray[np.int64]:
    """Return the reconstruction stages of each track as an ``(n, width)`` array.

    Parameters
    ----------
    tracks : Table
        Tracks with the columns ``rec_stage_0``, ``rec_stage_1`` …

    Returns
    -------
    numpy.ndarray of int64
        One row per track, padded with -1 after its ``n_rec_stages`` stages.

    Raises
    ------
    TrackSelectionError
        When the table has no ``rec_stage_*`` columns.
    """
    return _stage_view(tracks).astype(np.int64)


def _n_stages(tracks: Any, stages: np.ndarray) -> np.ndarray:
    """Number of stages of each track; checks that the table holds them all."""
    if "n_rec_stages" in _names_of(tracks):
        n = np.asarray(tracks["n_rec_stages"], dtype=np.int64)
    else:  # the stages are padded with -1 (RECSTAGE_UNKNOWN)
        n = (stages != -1).sum(axis=1)
    too_many = np.flatnonzero(n > stages.shape[1])
    if len(too_many):
        row = too_many[0]
        raise TrackSelectionError(
            f"track row {row} has {n[row]} reconstruction stages but the table holds only "
            f"{stages.shape[1]} (rec_stage_0..{stages.shape[1] - 1}); cannot select on them")
    return n


def rec_stage_names(tracks: Any) -> list[tuple[str, ...]]:
    """Return the names of the reconstruction stages of each track.

    Parameters
    ----------
    tracks : Table
        Tracks with ``rec_stage_*`` (and ``n_rec_stages``) columns.

    Returns
    -------
    list of tuple of str
        Per track, the names of its stages in order (``"JMUONPREFIT"`` …), the number
        itself as a string where the format names none.
    """
    stages = _stage_view(tracks)
    n = _n_stages(tracks, stages)
    return [tuple(_STAGE_NAMES.get(int(s), str(int(s))) for s in row[:k])
            for row, k in zip(stages, n)]


def fitinf(tracks: Any, parameter: str | int) -> npt.NDArray[np.float64]:
    """Return one fit parameter of each track, by name or by its index in ``Trk::fitinf``.

    Parameters
    ----------
    tracks : Table
        Tracks with the fit-info columns of :class:`~km3flow.io.root.OfflinePump`.
    parameter : str or int
        A name of :data:`fitparameters` in any case (``"JGANDALF_CHI2"``) or its index
        (2), as km3io's ``tools.fitinf(index, tracks)``.

    Returns
    -------
    numpy.ndarray
        The column; NaN where a track lacks the value.

    Raises
    ------
    TrackSelectionError
        For an unknown parameter, or a table without that column.
    """
    if isinstance(parameter, (int, np.integer)):
        found = [name for name, index in FITINF_INDEX.items() if index == int(parameter)]
        if not found:
            raise TrackSelectionError(f"no fit parameter has the index {parameter}; "
                                      f"indices are 0..{max(FITINF_INDEX.values())}")
        name = found[0]
    else:
        name = str(parameter).upper()
        if name not in FITINF_INDEX:
            raise TrackSelectionError(f"unknown fit parameter {parameter!r}; known: "
                                      f"{', '.join(FITINF_INDEX)}")
    column = name.lower()
    names = _names_of(tracks)
    if column not in names:
        raise TrackSelectionError(f"the tracks have no column {column!r} (fit parameter "
                                  f"{name}); columns: {', '.join(names)}")
    return np.asarray(tracks[column])


# -- selection ---------------------------------------------------------------------------
def _criterion(stages: np.ndarray, n: np.ndarray, seq: Any, start: int | None,
               end: int | None, minmax: tuple[int, int] | None) -> np.ndarray:
    """Boolean mask of the tracks whose stages pass the one given criterion."""
    given = sum(x is not None for x in (seq, minmax)) + (start is not None or end is not None)
    if given != 1:
        raise TrackSelectionError("give exactly one of stages=, start=/end= or minmax=")
    width = stages.shape[1]
    has = n > 0
    if minmax is not None:
        lo, hi = minmax
        used = np.arange(width) < n[:, None]
        return has & np.all(((stages >= lo) & (stages <= hi)) | ~used, axis=1)
    if seq is not None:
        if isinstance(seq, (set, frozenset)):  # all of these, in any order
            used = np.arange(width) < n[:, None]
            out = np.ones(len(n), dtype=bool)
            for stage in seq:
                out &= np.any((stages == int(stage)) & used, axis=1)
            return out
        if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
            raise TrackSelectionError(f"stages must be a list (this sequence) or a set (all "
                                      f"of these), got {type(seq).__name__}")
        wanted = np.asarray([int(s) for s in seq], dtype=np.int64)
        if len(wanted) > width:
            return np.zeros(len(n), dtype=bool)
        return (n == len(wanted)) & np.all(stages[:, :len(wanted)] == wanted, axis=1)
    out = has.copy()
    if start is not None:
        out &= stages[:, 0] == start
    if end is not None:
        out &= stages[np.arange(len(n)), np.maximum(n - 1, 0)] == end
    return out


def _likelihood(tracks: Any) -> np.ndarray:
    names = _names_of(tracks)
    for column in ("likelihood", "lik"):
        if column in names:
            return np.asarray(tracks[column], dtype=np.float64)
    raise TrackSelectionError(f"the tracks have no likelihood column ('likelihood' or "
                              f"'lik'); columns: {', '.join(names)}")


def _fill_row(dtype: np.dtype) -> np.ndarray:
    """The row of an event without a selected track: NaN, -1 (unknown) or 0 (counts)."""
    row = np.zeros(1, dtype=dtype)
    for name in dtype.names or ():
        kind = dtype[name].kind
        if kind in "fc":
            row[name] = np.nan
        elif kind == "i" and not name.startswith("n_"):
            row[name] = -1  # rec_type, rec_stage_*, mother_id: the format's "unknown"
    return row


def _select(mask: np.ndarray, groups: np.ndarray, wanted: np.ndarray, n: np.ndarray,
            lik: np.ndarray) -> np.ndarray:
    """For each id in ``wanted`` (sorted), the row to take (-1 for none).

    km3io keeps, per event, the passing tracks with the most stages and takes awkward's
    ``argmax`` of their likelihoods: the first of equals, NaN skipped, except that a NaN in
    the first place is never beaten (awkward compares ``x > best``).
    """
    candidates = np.flatnonzero(mask)  # in row order: the order of tracks in an event
    g = groups[candidates]
    _, inverse = np.unique(g, return_inverse=True)
    most = np.full(inverse.max() + 1 if len(inverse) else 0, -1, dtype=np.int64)
    np.maximum.at(most, inverse, n[candidates])
    keep = n[candidates] == most[inverse]
    candidates, g, inverse = candidates[keep], g[keep], inverse[keep]
    key = -lik[candidates]
    nan = np.isnan(key)
    key[nan] = np.inf
    _, first_of_event = np.unique(inverse, return_index=True)
    key[first_of_event[nan[first_of_event]]] = -np.inf
    order = np.lexsort((candidates, key, g))
    g_sorted = g[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = g_sorted[1:] != g_sorted[:-1]
    best_rows, best_groups = candidates[order][first], g_sorted[first]
    out = np.full(len(wanted), -1, dtype=np.int64)
    if len(best_groups):
        pos = np.minimum(np.searchsorted(best_groups, wanted), len(best_groups) - 1)
        hit = best_groups[pos] == wanted
        out[hit] = best_rows[pos[hit]]
    return out


def _best(tracks: Any, seq: Any, start: int | None, end: int | None,
          minmax: tuple[int, int] | None, rec_type: int | None, group_ids: Any,
          h5loc: str, name: str, one_event: bool = False) -> Table:
    names = _names_of(tracks)
    view = _stage_view(tracks)
    n = _n_stages(tracks, view)
    # only the columns some track uses, copied once into a compact array
    width = min(view.shape[1], max(1, int(n.max()) if len(n) else 1))
    stages = np.ascontiguousarray(view[:, :width])
    mask = _criterion(stages, n, seq, start, end, minmax)
    if rec_type is not None:
        if "rec_type" not in names:
            raise TrackSelectionError(f"rec_type={rec_type} given but the tracks have no "
                                      f"rec_type column; columns: {', '.join(names)}")
        mask &= np.asarray(tracks["rec_type"]) == rec_type
    lik = _likelihood(tracks)
    grouped = "group_id" in names and not one_event
    if grouped:
        groups = np.asarray(tracks["group_id"], dtype=np.int64)
        wanted = (np.unique(groups) if group_ids is None
                  else np.atleast_1d(np.asarray(group_ids, dtype=np.int64)))
    else:
        if group_ids is not None:
            raise TrackSelectionError("group_ids= needs a group_id column in the tracks (a "
                                      "table of many events); this table has none")
        groups = np.zeros(len(tracks), dtype=np.int64)
        wanted = np.zeros(1, dtype=np.int64)
    rows = _select(mask, groups, np.sort(wanted), n, lik)
    rows = rows[np.argsort(np.argsort(wanted, kind="stable"), kind="stable")]
    data = np.asarray(tracks)
    out = np.repeat(_fill_row(data.dtype), len(wanted))
    found = rows >= 0
    out[found] = data[rows[found]]
    if grouped:
        out["group_id"] = wanted
    elif one_event and "group_id" in names and len(tracks):
        out["group_id"] = tracks["group_id"][0]
    return Table(out, h5loc=h5loc, name=name)


def best_track(tracks: Any, stages: Sequence[int] | set[int] | None = None,
               start: int | None = None, end: int | None = None,
               minmax: tuple[int, int] | None = None, rec_type: int | None = None,
               group_ids: npt.ArrayLike | None = None, h5loc: str = "/reco/best_track",
               name: str = "BestTrack") -> Table:
    """Select the best track of each event, as km3io's ``tools.best_track``.

    Among the tracks that pass the criterion (exactly one of ``stages``, ``start``/``end``
    or ``minmax``), those with the most reconstruction stages are kept, and of these the one
    with the highest likelihood is taken (the first one on a tie).

    Parameters
    ----------
    tracks : Table
        Tracks of one event, or of many with a ``group_id`` column (e.g. a whole file),
        with ``rec_stage_*``, ``n_rec_stages`` and ``likelihood`` columns; other columns
        are carried along.
    stages : list or set of int, optional
        A list (or tuple): the exact stages in this order; a set: all of them, in any
        order, others allowed.
    start, end : int, optional
        The first and/or the last stage (km3io's ``startend=(start, end)``).
    minmax : (int, int), optional
        Every stage within this inclusive range (km3io's ``minmax``; this is how
        :func:`best_jmuon` and the others select).
    rec_type : int, optional
        Only tracks of this ``rec_type`` (e.g. ``reconstruction.JPP_RECONSTRUCTION_TYPE``);
        km3io has no such filter.
    group_ids : array_like of int, optional
        The events to answer for, in this order, for a table with ``group_id`` (e.g.
        ``EventInfo.group_id``, so that events without any track get their row too). By
        default the group ids present in ``tracks``, sorted.
    h5loc, name : str
        Metadata of the returned Table.

    Returns
    -------
    Table
        One row per event with the columns of ``tracks``; ``group_id`` is that of the
        event.  An event without a matching track gets NaN in the float columns,
        ``n_rec_stages`` (and other ``n_*`` counts) 0, the other signed integers -1 (the
        format's "unknown": ``rec_type``, ``rec_stage_*``, ``mother_id``) and unsigned
        ones 0.  Where km3io answers None, this row has ``n_rec_stages == 0``.

    Raises
    ------
    TrackSelectionError
        When not exactly one criterion is given, or columns are missing, or a track has
        more stages than the table's ``rec_stage_*`` columns hold.

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> from km3flow.io.root import OfflinePump
    >>> with OfflinePump(filename=data_path("offline/km3net_offline.root")) as pump:
    ...     tracks = pump[0]["Tracks"]
    >>> float(best_track(tracks, stages=[1, 3, 5, 4]).likelihood[0])
    294.6407542676734
    >>> int(best_track(tracks, stages=[1, 2]).n_rec_stages[0])  # no such track: a NaN row
    0
    """
    return _best(tracks, stages, start, end, minmax, rec_type, group_ids, h5loc, name)


def _best_kind(kind: str, tracks: Any, group_ids: Any) -> Table:
    return _best(tracks, None, None, None, _KINDS[kind], None, group_ids,
                 f"/reco/best_{kind}", f"Best{kind.capitalize()}")


def best_jmuon(tracks: Any, group_ids: npt.ArrayLike | None = None) -> Table:
    """Select the best JMuon track of each event (stages within JMUONBEGIN..JMUONEND).

    Equal to km3io's ``tools.best_jmuon``; see :func:`best_track` for ``tracks``,
    ``group_ids`` and the answer (h5loc ``/reco/best_jmuon``).
    """
    return _best_kind("jmuon", tracks, group_ids)


def best_jshower(tracks: Any, group_ids: npt.ArrayLike | None = None) -> Table:
    """Select the best JShower track of each event (stages within JSHOWERBEGIN..JSHOWEREND).

    Equal to km3io's ``tools.best_jshower``; see :func:`best_track`.
    """
    return _best_kind("jshower", tracks, group_ids)


def best_aashower(tracks: Any, group_ids: npt.ArrayLike | None = None) -> Table:
    """Select the best aashower track of each event (stages within AASHOWERBEGIN..AASHOWEREND).

    Equal to km3io's ``tools.best_aashower``; see :func:`best_track`.
    """
    return _best_kind("aashower", tracks, group_ids)


def best_dusjshower(tracks: Any, group_ids: npt.ArrayLike | None = None) -> Table:
    """Select the best Dusj shower of each event (stages within DUSJSHOWERBEGIN..DUSJSHOWEREND).

    Equal to km3io's ``tools.best_dusjshower``; see :func:`best_track`.
    """
    return _best_kind("dusjshower", tracks, group_ids)


class BestTracks(Module):
    """Add the best track of each kind of an event's Tracks to the blob.

    For each kind, ``blob["Best<Kind>"]`` (``BestJmuon``, ``BestJshower``, ``BestAashower``,
    ``BestDusjshower``) is a one-row Table at ``/reco/best_<kind>``: the track
    :func:`best_jmuon` … selects, or the NaN row of :func:`best_track` when the event has
    none, so an HDF5 file gets one row per event.

    Parameters
    ----------
    kinds : sequence of str
        Any of ``jmuon``, ``jshower``, ``aashower``, ``dusjshower`` (all by default).
    key : str
        The blob key of the tracks (``Tracks``).
    """

    def configure(self) -> None:
        kinds = self.get("kinds", default=tuple(_KINDS))
        self.kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        unknown = sorted(set(self.kinds) - set(_KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; choose from {list(_KINDS)}")
        self.key = str(self.get("key", default="Tracks"))

    def process(self, blob: Blob) -> Blob:
        if self.key not in blob:
            raise BlobKeyError(f"no key '{self.key}' in blob for BestTracks; present: "
                               f"{', '.join(map(str, blob)) or 'none'}")
        tracks = blob[self.key]
        for kind in self.kinds:
            blob[f"Best{kind.capitalize()}"] = _best(
                tracks, None, None, None, _KINDS[kind], None, None, f"/reco/best_{kind}",
                f"Best{kind.capitalize()}", one_event=True)
        return blob
