"""OfflinePump: the events of an offline (aanet ``Evt``) ROOT file as blobs of Tables, read
lazily in chunks."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from ...core import Blob, Pump
from ...core.config import Parameter
from ...dataclasses import HEADER_KEY, Header
from ...dataclasses.schema import FillNote
from ...exceptions import FormatError, Km3flowError
from ._file import get_tree, open_root_file, wrap_read_error
from ._tables import (
    CALIB_HITS,
    COLLECTIONS,
    EVENT_INFO,
    EVT,
    Chunk,
    build_collection,
    build_event_info,
    filled_columns,
    leaf,
    needed_leaves,
)
from .header import parse_header, read_raw_header
from .usr import USR_TABLES, UsrReader

_EXTRA_TRACK_LEAVES = ("rec_stages", "fitinf")


def read_header(path: str | os.PathLike) -> Header | None:
    """Return the MC header of an offline file, or None if it has none (or only the old
    ``Header`` object, which km3io cannot read either).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> read_header(data_path("offline/numucc.root")).can
    can(zmin=0, zmax=1027, r=888.4)
    """
    rfile = open_root_file(path)
    try:
        raw = read_raw_header(rfile)
    finally:
        rfile.close()
    return None if raw is None else parse_header(raw)


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _known_collections(value: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(value) - set(COLLECTIONS))
    if unknown:
        raise ValueError(f"unknown collections {unknown}; choose from {list(COLLECTIONS)}")
    return tuple(value)


class OfflinePump(Pump):
    """Read the events of an offline ROOT file (aanet ``Evt`` in TTree ``E``).

    Each blob holds ``EventInfo`` (/event_info), ``Hits`` (/hits: dom_id, channel_id, time,
    tot, triggered, and pos/dir when the hits are calibrated), ``McHits`` (/mc_hits),
    ``Tracks`` (/reco/tracks: the reconstructed tracks with rec_type, the rec_stages as
    ``rec_stage_0…7`` padded with -1, and the fit info as one column per Jpp fit parameter,
    NaN where absent), ``McTracks`` (/mc_tracks) — all with the columns and dtypes of
    :mod:`km3flow.dataclasses.schema`; what the file lacks holds the schema's fill (logged
    once: INFO for what aanet files never have, WARNING for branches missing from this
    file) — and, if the file has one, ``Header`` (a :class:`~km3flow.dataclasses.Header`,
    written to /raw_header by the HDF5 sink; also ``pump.header`` and the service
    ``offline_header``). EventInfo's ``n_events_gen``, ``n_files_gen`` and ``livetime_sec``,
    which the event tree lacks, come from the header where it has them
    (:meth:`Header.generation <km3flow.dataclasses.Header.generation>`).

    Named ``usr`` values of the event, its tracks and MC tracks come as ``EventUsr``
    (/event_usr, one row per event), ``TracksUsr`` (/reco/tracks_usr, one row per track of
    ``Tracks``) and ``McTracksUsr`` (/mc_tracks_usr), one ``<f8`` column per name, NaN where
    an object lacks the name (see :mod:`km3flow.io.root.usr`); they appear from the first
    chunk that has a named value on.

    Events are read in chunks of ``step_size``: every branch of a chunk is converted to flat
    NumPy columns once and the blobs are views into them; ``pump[i]`` loads the chunk
    containing ``i``.

    Parameters
    ----------
    filename : str
        The offline ROOT file.
    step_size : int
        Events per chunk (default 500).  Memory per chunk is roughly 600 bytes per track
        and 150 per hit, tables and uproot arrays together: recent reconstructed files
        carry ~1000 tracks per event, so 500 events take ~300 MB.
    calibrated : bool or None
        Add the hits' pos/dir columns; by default they are added when the hits of the
        first (up to 100) events have non-zero directions.
    collections : sequence of str
        Which of ``Hits``, ``McHits``, ``Tracks``, ``McTracks`` to read (all by default);
        the others' branches are not read at all.  ``EventInfo`` is always there.
    usr : bool
        Read the named ``usr`` values of events, tracks and MC tracks (default True).

    Raises
    ------
    FormatError
        When the file is not ROOT, truncated, has no ``E`` tree with ``Evt`` branches, or a
        chunk cannot be read.
    """

    parallel_input = "filename"  # one file per parallel task; FilePump spreads many files
    filename = Parameter((str, os.PathLike), check=os.fspath, help="the offline ROOT file")
    step_size = Parameter(int, default=500, check=_at_least_one, help="events per chunk")
    calibrated = Parameter(bool, default=None,
                           help="add the hits' pos/dir (default: when the file has them)")
    collections = Parameter((list, tuple), default=None, check=_known_collections,
                            help="which of Hits, McHits, Tracks, McTracks to read (all)")
    usr = Parameter(bool, default=True,
                    help="read the named usr values of events, tracks, MC tracks")

    def configure(self) -> None:
        calibrated = self.calibrated
        self.collections = tuple(COLLECTIONS) if self.collections is None else self.collections
        self._file = open_root_file(self.filename)
        try:
            self._tree = get_tree(self._file, "E", self.filename, "aanet events")
            self._keys = set(self._tree.keys(recursive=True, full_paths=True))
            if leaf(None, "id") not in self._keys:
                raise FormatError(
                    f"expected the TTree 'E' to hold aanet '{EVT}' branches (e.g. "
                    f"'{leaf(None, 'id')}'), found: {', '.join(sorted(self._keys)[:5]) or 'none'}",
                    path=self.filename,
                )
            self._n = int(self._tree.num_entries)
            raw = read_raw_header(self._file)
        except BaseException:
            self._file.close()
            raise
        self.header: Header | None = None if raw is None else parse_header(raw)
        # the EventInfo columns the event tree lacks and the header gives
        self._generation = {} if self.header is None else self.header.generation()
        if self.header is not None:
            self.expose(self.header, "offline_header")
        self._chunk: Chunk | None = None
        self.calibrated = self._is_calibrated() if calibrated is None else bool(calibrated)
        self._specs = {key: COLLECTIONS[key][1] for key in self.collections}
        if self.calibrated and "Hits" in self._specs:
            self._specs["Hits"] = CALIB_HITS
        self._usr = {
            key: UsrReader(self.filename, key) for key, (_, _, follow) in USR_TABLES.items()
            if self.usr and (follow == "EventInfo" or follow in self._specs)}
        self._usr = {k: r for k, r in self._usr.items() if r.values_leaf in self._keys}
        self._leaves = self._wanted_leaves()
        always, absent = filled_columns(self._specs, set(self.missing_branches))
        if self._generation:
            always["EventInfo"] = [c for c in always.get("EventInfo", [])
                                   if c not in self._generation]
        name = os.path.basename(self.filename)
        # logged when the first chunk is read
        self._fill_notes = (
            FillNote(self.log, always, f"not in offline files ({name})"),
            FillNote(self.log, absent, f"their branches are missing from {name}",
                     level=logging.WARNING))
        self.log.debug("%s: %d events, %d branches per chunk", self.filename, self._n,
                       len(self._leaves))

    # -- reading ---------------------------------------------------------------------------
    def _wanted_leaves(self) -> list[str]:
        wanted = needed_leaves(EVENT_INFO, None) + [leaf(None, "w")]
        for key, spec in self._specs.items():
            wanted += needed_leaves(spec, COLLECTIONS[key][0])
        if "Tracks" in self._specs:
            wanted += [leaf("trks", m) for m in _EXTRA_TRACK_LEAVES]
        present_usr = [reader.values_leaf for reader in self._usr.values()]
        present = [name for name in dict.fromkeys(wanted) if name in self._keys]
        self.missing_branches = sorted(set(wanted) - set(present))
        return present + present_usr

    def _is_calibrated(self) -> bool:
        name = leaf("hits", "dir.z")
        if name not in self._keys or self._n == 0:
            return False
        stop = min(self._n, self.step_size, 100)  # a peek: the first basket or so
        try:
            values = self._tree[name].array(entry_start=0, entry_stop=stop, library="ak")
            flat = np.asarray(values.layout.content.data)
        except Km3flowError:
            raise
        except Exception as err:
            raise wrap_read_error(err, self.filename, f"'{name}' of events 0..{stop}") from err
        return bool(np.any(flat != 0))

    def read_chunk(self, start: int, stop: int, extra: tuple = ()) -> Chunk:
        """Read events ``start..stop`` into flat Tables and per-event offsets.

        ``extra`` fields (``(name, dtype)`` pairs) are appended to the records of EventInfo
        and the collections, uninitialised (``read_offline`` fills its group_id there).
        """
        start, stop = max(0, int(start)), min(self._n, int(stop))
        try:
            arrays = self._tree.arrays(self._leaves, entry_start=start, entry_stop=stop,
                                       how=dict, library="ak")
        except Km3flowError:
            raise
        except Exception as err:
            raise wrap_read_error(err, self.filename, f"events {start}..{stop}") from err
        n = stop - start
        for note in self._fill_notes:
            note()
        try:
            chunk = Chunk(start, stop, build_event_info(arrays, n, self.filename, extra))
            for column, value in self._generation.items():
                chunk.event_info[column] = value
            for key in self._specs:
                table, offsets = build_collection(arrays, key, self._specs[key], n,
                                                  self.filename, extra)
                chunk.tables[key] = table
                chunk.offsets[key] = offsets
            for key, reader in self._usr.items():
                follow = USR_TABLES[key][2]
                n_items = n if follow == "EventInfo" else len(chunk.tables[follow])
                usr_table = reader.build(arrays[reader.values_leaf],
                                         lambda r=reader: self._read_names(r, start, stop),
                                         n_items)
                if usr_table is not None:
                    chunk.tables[key] = usr_table
                    chunk.offsets[key] = (np.arange(n + 1) if follow == "EventInfo"
                                          else chunk.offsets[follow])
        except Km3flowError:
            raise
        except (ValueError, IndexError, TypeError) as err:  # inconsistent (corrupt) branches
            raise wrap_read_error(err, self.filename, f"events {start}..{stop}") from err
        return chunk

    def _read_names(self, reader: UsrReader, start: int, stop: int) -> Any:
        name = reader.names_leaf
        if name not in self._keys:
            return None
        try:
            return self._tree[name].array(entry_start=start, entry_stop=stop, library="ak")
        except Km3flowError:
            raise
        except Exception as err:
            raise wrap_read_error(err, self.filename, f"'{name}' of events {start}..{stop}"
                                  ) from err

    def _chunk_for(self, index: int) -> Chunk:
        chunk = self._chunk
        if chunk is None or not chunk.start <= index < chunk.stop:
            start = (index // self.step_size) * self.step_size
            chunk = self._chunk = self.read_chunk(start, start + self.step_size)
        return chunk

    # -- Pump interface --------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def get_blob(self, index: int) -> Blob:
        chunk = self._chunk_for(index)
        i = index - chunk.start
        # ndarray.__getitem__ skips recarray's Python-level indexing; the result is still a
        # Table view with its metadata (set in __array_finalize__).
        take = np.ndarray.__getitem__
        blob = Blob()
        blob["EventInfo"] = take(chunk.event_info, slice(i, i + 1))
        for key, table in chunk.tables.items():
            offsets = chunk.offsets[key]
            blob[key] = take(table, slice(offsets[i], offsets[i + 1]))
        if self.header is not None:
            blob[HEADER_KEY] = self.header
        return blob

    def close(self) -> None:
        self._chunk = None
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()


#: The talk's name for the offline pump (``kp.io.AanetPump(filename=…)``).
AanetPump = OfflinePump
