"""The ``usr`` data of offline files (aanet ``AAObject::usr``/``usr_names``) as named columns.

aanet lets any program attach named doubles to an event, a track or an MC track: a vector of
values ``usr`` and, in the same order, their names ``usr_names`` (e.g. ``CoC`` and
``ClassficationScore`` of an event, ``bx``/``by``/``ichan`` of a gSeaGen neutrino). Which names
an object has is up to the program that wrote it, so the values cannot be columns of the
fixed-schema EventInfo/Tracks/McTracks tables; they go into tables of their own, one column
(``<f8``) per name and one row per object, in the row order of the table they belong to:

- ``EventUsr`` at ``/event_usr``: one row per event (rows of ``/event_info``);
- ``TracksUsr`` at ``/reco/tracks_usr``: one row per track (rows of ``/reco/tracks``);
- ``McTracksUsr`` at ``/mc_tracks_usr``: one row per MC track (rows of ``/mc_tracks``).

The columns of a file are fixed by the first chunk of events that has any named value (in
the order the names first appear; an object lacking a name holds NaN), so every blob and
every row of one HDF5 table has the same columns. The i-th name of an object names its
i-th value; values without a name (some files have ``usr`` but no ``usr_names``), empty
names and, after the first chunk, names not seen in it are not stored (logged once). A name
that occurs twice in one object keeps its first value, as km3io's ``usr()`` does.

The names are read only for chunks whose ``usr`` values are not all empty: decoding
``std::vector<std::string>`` per track is slow in uproot, and most files have no track usr.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...dataclasses import Table
from ...dataclasses.schema import USR_LOCATIONS
from ...exceptions import FormatError
from ._tables import _flat, _nested

log = logging.getLogger(__name__)

#: blob key → (aanet collection or None for the event, h5loc, the table whose rows they follow)
USR_TABLES: dict[str, tuple[str | None, str, str]] = {
    "EventUsr": (None, USR_LOCATIONS[0], "EventInfo"),
    "TracksUsr": ("trks", USR_LOCATIONS[1], "Tracks"),
    "McTracksUsr": ("mc_trks", USR_LOCATIONS[2], "McTracks"),
}


def usr_leaf(collection: str | None, member: str) -> str:
    """Branch path of ``usr``/``usr_names`` of the event (``None``) or of a collection."""
    if collection is None:
        return f"Evt/AAObject/{member}"
    return f"Evt/{collection}/{collection}.{member}"


def _packed(array: Any, levels: int, path: str, name: str) -> tuple[np.ndarray, Any]:
    """Descend ``levels`` list levels: (offsets of the last level's items, their content)."""
    import awkward as ak

    layout = ak.to_packed(array).layout
    offsets = np.zeros(1, dtype=np.int64)
    for _ in range(levels):
        try:
            offsets = np.asarray(layout.offsets.data, dtype=np.int64)
            layout = layout.content
        except AttributeError as err:
            raise FormatError(f"expected branch '{name}' to be nested {levels} deep, found "
                              f"{type(layout).__name__}", path=path) from err
    return offsets, layout


def _fixed_width(chars: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Strings given as concatenated bytes + offsets → a fixed-width ``S`` array."""
    lengths = np.diff(offsets)
    width = max(int(lengths.max()) if len(lengths) else 0, 1)
    buffer = np.zeros((len(lengths), width), dtype=np.uint8)
    buffer[np.arange(width) < lengths[:, None]] = chars[offsets[0]:offsets[-1]]
    return buffer.view(f"S{width}").ravel()


@dataclass
class UsrReader:
    """Turns the usr branches of each chunk into tables with the file's fixed columns."""

    path: str
    key: str
    columns: list[str] | None = None  # fixed by the first chunk with named values
    _noted: set[str] = field(default_factory=set)

    @property
    def collection(self) -> str | None:
        """The branch collection holding the usr data (``None`` for the event's own)."""
        return USR_TABLES[self.key][0]

    @property
    def values_leaf(self) -> str:
        """The leaf of the usr values."""
        return usr_leaf(self.collection, "usr")

    @property
    def names_leaf(self) -> str:
        """The leaf of the usr names."""
        return usr_leaf(self.collection, "usr_names")

    def _once(self, what: str, message: str, *args: Any) -> None:
        if what not in self._noted:
            self._noted.add(what)
            log.info(message, *args)

    def build(self, values: Any, read_names: Any, n_items: int) -> Table | None:
        """The usr Table of one chunk, or None while no named value has been seen.

        ``values`` is the chunk's awkward ``usr`` array; ``read_names()`` reads its
        ``usr_names`` (called only when there are values); ``n_items`` the rows of the
        table the usr rows follow (events or tracks of the chunk).
        """
        levels = 1 if self.collection is None else 2
        # the layouts as uproot gives them (no packing copy: most track usr are empty)
        split = _flat if levels == 1 else _nested
        flat, voff = split(values.layout, self.path, self.values_leaf)
        flat = np.asarray(flat, dtype=np.float64)
        if len(voff) - 1 != n_items:
            raise FormatError(f"branch '{self.values_leaf}' has {len(voff) - 1} entries, "
                              f"expected {n_items}", path=self.path)
        if len(flat) == 0:
            return self._table(None, n_items)
        names = read_names()
        if names is None:  # no usr_names branch in this file
            self._once("unnamed", "%s: %d %s values have no usr_names: not stored",
                       self.path, len(flat), self.values_leaf)
            return self._table(None, n_items)
        noff, ncontent = _packed(names, levels, self.path, self.names_leaf)
        if len(noff) != len(voff):
            raise FormatError(f"branch '{self.names_leaf}' has {len(noff) - 1} entries, "
                              f"'{self.values_leaf}' {len(voff) - 1}", path=self.path)
        try:
            soff = np.asarray(ncontent.offsets.data, dtype=np.int64)
            chars = np.asarray(ncontent.content.data, dtype=np.uint8)
        except AttributeError as err:
            raise FormatError(f"expected strings in '{self.names_leaf}', found "
                              f"{type(ncontent).__name__}", path=self.path) from err
        strings = _fixed_width(chars, soff)
        item = np.repeat(np.arange(n_items), np.diff(noff))
        k = np.arange(len(strings)) - noff[item]  # position of the name within its object
        paired = k < np.diff(voff)[item]
        if not paired.all() or (np.diff(voff) > np.diff(noff)).any():
            self._once("unpaired", "%s: %s and %s differ in length for some objects; "
                       "values without a name are not stored", self.path, self.values_leaf,
                       self.names_leaf)
        unique, first, codes = np.unique(strings, return_index=True, return_inverse=True)
        found = [u.decode("utf-8", "replace") for u in unique[np.argsort(first)]]
        order = np.argsort(np.argsort(first))  # code → rank of first appearance
        codes = order[codes.ravel()]
        if self.columns is None:
            named = [n for n in found if n]
            if not named:
                return None
            self.columns = named
        index = {name: i for i, name in enumerate(self.columns)}
        lookup = np.array([index.get(name, -1) for name in found], dtype=np.int64)
        dropped = [n for n in found if n and n not in index and n not in self._noted]
        if dropped:
            self._noted.update(dropped)
            log.warning("%s: %s names %s are not in the columns %s fixed by the first "
                        "chunk: not stored", self.path, self.names_leaf, dropped, self.columns)
        column = lookup[codes] if len(codes) else np.zeros(0, dtype=np.int64)
        keep = paired & (column >= 0)
        item, column = item[keep], column[keep]
        value = flat[voff[item] + k[keep]]
        width = len(self.columns)
        # the first of repeated names in an object wins (np.unique: first occurrence)
        _, first_of = np.unique(item * width + column, return_index=True)
        dense = np.full((n_items, width), np.nan)
        dense[item[first_of], column[first_of]] = value[first_of]
        return self._table(dense, n_items)

    def _table(self, dense: np.ndarray | None, n_items: int) -> Table | None:
        if self.columns is None:
            return None
        if dense is None:
            dense = np.full((n_items, len(self.columns)), np.nan)
        dtype = np.dtype([(name, "<f8") for name in self.columns])
        out = np.ascontiguousarray(dense).view(dtype).reshape(n_items)
        return Table(out, h5loc=USR_TABLES[self.key][1], split_h5=False, name=self.key)
