"""The one schema of every KM3NeT table km3flow's readers produce: columns, dtypes, units, fills.

Every reader (DAQ binary, EVT ascii, offline and online ROOT, and HDF5 written by KM3Pipe when
read for conversion) gives these tables with exactly these columns and dtypes, so tables of
any mix of formats can be written to one HDF5 file. A value a format lacks is filled:

- floats: ``NaN`` (:data:`FILL_FLOAT`);
- signed integers: ``-1`` (:data:`FILL_INT`) — ids, counts and codes are never negative;
- unsigned integers: their maximum value (:data:`FILL_U4` = 2**32-1, :data:`FILL_U8` =
  2**64-1, ``255`` for ``u1``). These columns stay unsigned because the source formats
  (Jpp DAQ headers, aanet ``Evt``) store them unsigned and existing km3flow/KM3Pipe files
  use these types; 0 could not be a fill since it is a real value (frame index 0, trigger
  counter 0, trigger mask 0), while the maximum is never reached by real data;
- booleans: ``False``.

Which columns a reader fills is logged once per file (see :func:`log_fills`) and listed in
``docs/schema.md``, which also maps KM3Pipe's older column names onto these
(:data:`KM3PIPE_NAMES`).

Examples
--------
>>> SCHEMAS["EventInfo"].fill("mc_t"), SCHEMAS["EventInfo"].fill("event_id")
(nan, -1)
>>> int(SCHEMAS["EventInfo"].fill("utc_seconds")) == 2**64 - 1
True
>>> SCHEMAS["Hits"].dtype.names
('channel_id', 'dom_id', 'time', 'tot', 'triggered')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FILL_FLOAT = float("nan")
FILL_INT = -1
FILL_U1 = 2**8 - 1
FILL_U4 = 2**32 - 1
FILL_U8 = 2**64 - 1


def fill_for(dtype: Any) -> Any:
    """The fill value of a column of ``dtype`` (see the module docstring)."""
    dt = np.dtype(dtype).base
    if dt.kind == "f":
        return FILL_FLOAT
    if dt.kind == "i":
        return FILL_INT
    if dt.kind == "u":
        return int(np.iinfo(dt).max)
    if dt.kind == "b":
        return False
    raise ValueError(f"no fill defined for dtype {dt}")


@dataclass(frozen=True)
class Column:
    """One column: name, dtype, unit and meaning; ``shape`` for fixed-size vector cells."""

    name: str
    dtype: str
    unit: str = ""
    doc: str = ""
    shape: tuple[int, ...] = ()

    @property
    def fill(self) -> Any:
        """The value a reader writes where a format lacks this column."""
        return fill_for(self.dtype)


@dataclass(frozen=True)
class TableSchema:
    """The columns of a table and where it goes in an HDF5 file."""

    name: str
    h5loc: str
    split_h5: bool
    columns: tuple[Column, ...]
    doc: str = ""
    h5singleton: bool = False
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def dtype(self) -> np.dtype:
        """The table's structured dtype, in column order."""
        dt = self._cache.get("dtype")
        if dt is None:
            dt = self._cache["dtype"] = np.dtype(
                [(c.name, c.dtype, c.shape) if c.shape else (c.name, c.dtype)
                 for c in self.columns])
        return dt

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return self.dtype.names or ()

    def column(self, name: str) -> Column:
        """The column called ``name``; ``KeyError`` naming the columns if there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}; columns: {', '.join(self.names)}")

    def fill(self, name: str) -> Any:
        """The fill value of column ``name``."""
        return self.column(name).fill

    @property
    def fill_row(self) -> np.ndarray:
        """A read-only one-row array holding every column's fill value."""
        row = self._cache.get("fill_row")
        if row is None:
            row = np.empty(1, self.dtype)
            for col in self.columns:
                row[col.name] = col.fill
            row.flags.writeable = False
            self._cache["fill_row"] = row
        return row

    def filled(self, n: int) -> np.ndarray:
        """``n`` rows of this table's dtype, every column holding its fill value."""
        raw = self._cache.get("fill_bytes")
        if raw is None:
            raw = self._cache["fill_bytes"] = self.fill_row.tobytes()
        # repeating the row's bytes is a memcpy; copying or broadcasting a structured row
        # goes field by field (10x slower for a single row, more for many)
        return np.frombuffer(bytearray(raw * n), self.dtype)

    def missing(self, provided: Any) -> list[str]:
        """The columns of this table not in ``provided`` (the ones a reader fills)."""
        have = set(provided)
        return [n for n in self.names if n not in have]

    def is_fill(self, values: np.ndarray, name: str) -> np.ndarray:
        """Boolean mask: where column ``name``'s ``values`` hold the fill value."""
        fill = self.fill(name)
        values = np.asarray(values)
        if isinstance(fill, float) and np.isnan(fill):
            return np.isnan(values)
        return values == np.asarray(fill).astype(values.dtype)

    @property
    def template(self) -> dict[str, Any]:
        """This schema as a :data:`TEMPLATES` entry (dtype, h5loc, split_h5, h5singleton)."""
        return {"dtype": self.dtype, "h5loc": self.h5loc, "split_h5": self.split_h5,
                "h5singleton": self.h5singleton}


def _c(name: str, dtype: str, unit: str = "", doc: str = "", shape: tuple = ()) -> Column:
    return Column(name, dtype, unit, doc, shape)


_POS = (_c("pos_x", "<f8", "m", "position x"), _c("pos_y", "<f8", "m", "position y"),
        _c("pos_z", "<f8", "m", "position z"))
_DIR = (_c("dir_x", "<f8", "", "direction x (unit vector)"),
        _c("dir_y", "<f8", "", "direction y"), _c("dir_z", "<f8", "", "direction z"))

# Positions in Trk::fitinf used by the Jpp reconstructions (JFitParameters, km3net-dataformat
# v3.6.2).  Indices 0..25 are all defined, so the Tracks table carries exactly these 26
# fit-info columns (lower-cased), NaN where a track has fewer values.
FITINF_INDEX: dict[str, int] = {
    "JGANDALF_BETA0_RAD": 0, "JGANDALF_BETA1_RAD": 1, "JGANDALF_CHI2": 2,
    "JGANDALF_NUMBER_OF_HITS": 3, "JENERGY_ENERGY": 4, "JENERGY_CHI2": 5,
    "JGANDALF_LAMBDA": 6, "JGANDALF_NUMBER_OF_ITERATIONS": 7, "JSTART_NPE_MIP": 8,
    "JSTART_NPE_MIP_TOTAL": 9, "JSTART_LENGTH_METRES": 10, "JVETO_NPE": 11,
    "JVETO_NUMBER_OF_HITS": 12, "JENERGY_MUON_RANGE_METRES": 13,
    "JENERGY_NOISE_LIKELIHOOD": 14, "JENERGY_NDF": 15, "JENERGY_NUMBER_OF_HITS": 16,
    "JCOPY_Z_M": 17, "JPP_COVERAGE_ORIENTATION": 18, "JPP_COVERAGE_POSITION": 19,
    "JENERGY_MINIMAL_ENERGY": 20, "JENERGY_MAXIMAL_ENERGY": 21, "JSTART_NPE_MIP_MISSED": 22,
    "JMUONFEATURES_NUMBER_OF_DOMS": 23, "JMUONFEATURES_NUMBER_OF_LINES": 24,
    "JMUONFEATURES_NUMBER_OF_HITS": 25,
}
FITINF_COLUMNS: tuple[str, ...] = tuple(
    name.lower() for name, _ in sorted(FITINF_INDEX.items(), key=lambda item: item[1]))
#: rec_stage_0 … rec_stage_7: the first stages of Trk::rec_stages, -1 padded.
MAX_REC_STAGES = 8

_HITS = (
    _c("channel_id", "u1", "", "PMT channel of the DOM (0-30)"),
    _c("dom_id", "<u4", "", "DOM (module) id"),
    _c("time", "<f8", "ns", "hit time: TDC time in the timeslice; calibrated (+t0, -slewing) in "
       "CalibHits and calibrated offline files"),
    _c("tot", "u1", "ns", "time over threshold"),
    _c("triggered", "?", "", "the hit is one of the event's triggered hits"),
)
_MC_HITS = (
    _c("a", "<f4", "npe", "amplitude (number of photo-electrons)"),
    _c("origin", "<i4", "", "id of the MC track that made the hit"),
    _c("pmt_id", "<i4", "", "global PMT id"),
    _c("time", "<f8", "ns", "MC hit time"),
)
_TRACK = (
    *_DIR,
    _c("energy", "<f8", "GeV", "energy"),
    _c("id", "<u4", "", "track id within the event"),
    _c("length", "<f8", "m", "track length"),
)
_TRACK_POS = (
    *_POS,
    _c("time", "<f8", "ns", "time at the position"),
    _c("type", "<i4", "", "PDG particle code (EVT files' GEANT3 codes converted; "
       "EvtPump(convert_geant=False) keeps them)"),
)
_SLICE_INFO = (
    _c("frame_index", "<u4", "", "index of the timeslice (frame) in the run"),
    _c("slice_id", "<u4", "", "always 0 (KM3Pipe's column)"),
    _c("timestamp", "<u4", "s", "UTC seconds of the slice start"),
    _c("nanoseconds", "<u4", "ns", "nanoseconds of the slice start (16 ns steps)"),
    _c("n_frames", "<u4", "", "number of DOM frames in the slice"),
)
_DQ = (
    _c("dom_id", "<u4", "", "DOM id"),
    _c("dq_status", "<u4", "", "raw DAQ status word (UDP packets, sequence number)"),
    _c("hrv", "<u4", "", "raw high-rate-veto word (bit 31: White Rabbit)"),
    _c("fifo", "<u4", "", "raw FIFO-almost-full word (bit 31: UDP trailer)"),
    _c("status3", "<u4", "", "raw status word 3"),
    _c("status4", "<u4", "", "raw status word 4"),
)
_DQ_DECODED = (
    _c("n_udp_packets", "<u4", "", "UDP packets received (dq_status & 0x7fff)"),
    _c("max_sequence_number", "<u4", "", "highest UDP sequence number (dq_status >> 16)"),
    _c("has_udp_trailer", "?", "", "fifo bit 31"),
    _c("white_rabbit", "?", "", "hrv bit 31"),
)

_EVENT_INFO = (
    _c("det_id", "<i4", "", "detector id"),
    _c("frame_index", "<u4", "", "index of the timeslice the event was triggered in"),
    _c("livetime_sec", "<u8", "s", "livetime of the MC production (KM3Pipe 4.x column; "
       "from the MC header)"),
    _c("mc_id", "<i4", "", "MC event id (EVT start_event id, aanet Evt::mc_id)"),
    _c("mc_t", "<f8", "ns", "MC event time (aanet Evt::mc_t)"),
    _c("n_events_gen", "<u8", "", "generated events (KM3Pipe 4.x column; from the MC header)"),
    _c("n_files_gen", "<u8", "", "generated files (KM3Pipe 4.x column; from the MC header)"),
    _c("overlays", "<u4", "", "number of overlapping triggers merged into the event"),
    _c("trigger_counter", "<u8", "", "trigger counter of the run"),
    _c("trigger_mask", "<u8", "", "bit mask of the triggers that fired"),
    _c("utc_nanoseconds", "<u8", "ns", "nanoseconds of the frame start (16 ns steps)"),
    _c("utc_seconds", "<u8", "s", "UTC seconds of the frame start"),
    _c("weight_w1", "<f8", "", "w[0]: generation volume/weight 1"),
    _c("weight_w2", "<f8", "", "w[1]: generation weight w2"),
    _c("weight_w3", "<f8", "", "w[2]: flux weight w3"),
    _c("weight_w4", "<f8", "", "w[3]"),
    _c("run_id", "<u8", "", "run number"),
    _c("event_id", "<i4", "", "event number in the file (aanet Evt::id)"),
    _c("mc_run_id", "<i4", "", "MC run number (aanet Evt::mc_run_id)"),
)

_TRACKS = (
    *_TRACK,
    _c("likelihood", "<f8", "", "fit quality (aanet Trk::lik)"),
    *_TRACK_POS,
    _c("rec_type", "<i4", "", "reconstruction program (aanet Trk::rec_type, e.g. 4000 Jpp)"),
    _c("status", "<i4", "", "aanet Trk::status"),
    _c("mother_id", "<i4", "", "id of the parent track (aanet Trk::mother_id)"),
    _c("n_rec_stages", "<i4", "", "number of reconstruction stages (all, not only the 8 kept)"),
    *(_c(f"rec_stage_{i}", "<i4", "", f"reconstruction stage {i} (definitions.RECONSTRUCTION)")
      for i in range(MAX_REC_STAGES)),
    _c("n_fitinf", "<i4", "", "number of fit-info values the track has"),
    *(_c(name, "<f8", "", f"Trk::fitinf[{i}]") for i, name in enumerate(FITINF_COLUMNS)),
)

SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (
    TableSchema("EventInfo", "/event_info", False, _EVENT_INFO,
                "one row per event: ids, trigger, UTC time, MC weights"),
    TableSchema("Hits", "/hits", True, _HITS, "the event's (snapshot) hits"),
    TableSchema("CalibHits", "/hits", True, (*_HITS, *_POS, *_DIR,
                _c("t0", "<f8", "ns", "time offset of the PMT (added to time)")),
                "calibrated hits: Hits plus PMT position, direction and t0"),
    TableSchema("McHits", "/mc_hits", True, _MC_HITS, "MC (photon) hits"),
    TableSchema("CalibMcHits", "/mc_hits", True, (*_MC_HITS, *_POS, *_DIR),
                "MC hits with PMT position and direction"),
    TableSchema("TriggeredHits", "/triggered_hits", True,
                (*_HITS[:4], _c("trigger_mask", "<u8", "", "triggers the hit took part in")),
                "the event's triggered hits (DAQ and online files)"),
    TableSchema("McTracks", "/mc_tracks", False, (
        *_TRACK, *_TRACK_POS,
        _c("status", "<i4", "", "aanet Trk::status (final state, primary …)"),
        _c("mother_id", "<i4", "", "id of the parent track (-1: undefined)")),
        "MC truth particles"),
    TableSchema("Tracks", "/reco/tracks", False, _TRACKS,
                "reconstructed tracks with rec_stages and every Jpp fit-info value"),
    TableSchema("SummarysliceInfo", "/summaryslice_info", False, _SLICE_INFO,
                "one row per summary slice"),
    TableSchema("Summaryslice", "/summaryslice", False, (
        *_DQ, *_DQ_DECODED,
        _c("dom_rate", "<f8", "Hz", "sum of the 31 PMT rates"),
        _c("rates", "<f8", "Hz", "rate of each PMT", (31,)),
        _c("raw_rates", "u1", "", "log-compressed rate bytes", (31,))),
        "one row per DOM of a summary slice"),
    TableSchema("TimesliceInfo", "/timeslice_info", False, _SLICE_INFO,
                "one row per timeslice"),
    TableSchema("TimesliceFrameInfo", "/timeslice_frame_info", False, (
        *_DQ, _c("n_hits", "<u4", "", "hits in the frame"), *_DQ_DECODED),
        "one row per DOM (super frame) of a timeslice"),
    TableSchema("TimesliceHits", "/timeslice_hits", True, (
        _c("channel_id", "u1", "", "PMT channel"), _c("dom_id", "<u4", "", "DOM id"),
        _c("time", "<u4", "ns", "TDC time since the slice start"),
        _c("tot", "u1", "ns", "time over threshold")),
        "all hits of a timeslice"),
)}

#: KM3Pipe's (older) column names → the schema's, per table, applied when HDF5 files are
#: conformed for conversion (``HDF5Pump(conform=True)``). Used only where the file lacks the
#: schema's own name.
#: Locations of the offline ``usr`` tables (:mod:`km3flow.io.root.usr`): one float column per
#: usr name, so their columns vary from file to file. Writers join them by name: a column a
#: later table lacks is NaN there, a name the first table did not have is dropped (logged).
USR_LOCATIONS: tuple[str, ...] = ("/event_usr", "/reco/tracks_usr", "/mc_tracks_usr")

KM3PIPE_NAMES: dict[str, dict[str, str]] = {
    "EventInfo": {"timestamp": "utc_seconds", "nanoseconds": "utc_nanoseconds",
                  "mc_time": "mc_t"},
    "McTracks": {"pdgid": "type"},
    "Tracks": {"E": "energy", "t": "time", "lik": "likelihood",
               **{name: name.lower() for name in FITINF_INDEX}},
}

#: h5loc → the schema names that may live there (the calibrated one first).
SCHEMA_AT: dict[str, tuple[str, ...]] = {}
for _s in SCHEMAS.values():
    SCHEMA_AT.setdefault(_s.h5loc, ())
    SCHEMA_AT[_s.h5loc] = ((_s.name,) + SCHEMA_AT[_s.h5loc] if _s.name.startswith("Calib")
                           else SCHEMA_AT[_s.h5loc] + (_s.name,))

#: The schemas in the layout of :data:`km3flow.dataclasses.TEMPLATES`.
TEMPLATES: dict[str, dict[str, Any]] = {name: s.template for name, s in SCHEMAS.items()}


def _fill_text(fill: Any) -> str:
    if isinstance(fill, float) and np.isnan(fill):
        return "NaN"
    if fill is False:
        return "False"
    if isinstance(fill, int) and fill > 2**16:
        return "max"
    return str(fill)


def describe_fills(fills: dict[str, list[str]]) -> str:
    """Name filled columns grouped by table and fill value.

    >>> describe_fills({"EventInfo": ["mc_t", "event_id", "mc_run_id"]})
    'EventInfo.{event_id, mc_run_id} = -1, EventInfo.mc_t = NaN'
    """
    parts = []
    for table, columns in fills.items():
        schema = SCHEMAS[table]
        groups: dict[str, list[str]] = {}
        for c in columns:
            groups.setdefault(_fill_text(schema.fill(c)), []).append(c)
        for text in sorted(groups, key=lambda t: (t == "NaN", t == "max", t)):
            cols = groups[text]
            names = cols[0] if len(cols) == 1 else "{" + ", ".join(cols) + "}"
            parts.append(f"{table}.{names} = {text}")
    return ", ".join(parts)


def log_fills(log: logging.Logger, fills: dict[str, list[str]], why: str,
              level: int = logging.INFO) -> None:
    """Log once which columns a reader fills and why (``why`` names the file/format).

    Format-inherent fills (every file of a format lacks them) are logged at INFO; fills
    because one file lacks what its format normally has (missing offline branches, HDF5
    columns) at WARNING.
    """
    fills = {t: c for t, c in fills.items() if c}
    if fills and log.isEnabledFor(level):  # (describing them costs ~20 µs a file)
        log.log(level, "filled %s: %s (fill values: docs/schema.md)", describe_fills(fills), why)


class FillNote:
    """A reader's fills, logged with :func:`log_fills` the first time it is called.

    Readers create it when they open a file and call it when they build their first
    tables, so that opening a file only to count its events (as ``FilePump`` does for
    ``len()``) logs nothing.
    """

    __slots__ = ("log", "fills", "why", "level")

    def __init__(self, log: logging.Logger, fills: dict[str, list[str]], why: str,
                 level: int = logging.INFO) -> None:
        self.fills: dict[str, list[str]] | None  # None once logged
        self.log, self.fills, self.why, self.level = log, fills, why, level

    def __call__(self) -> None:
        if self.fills is not None:
            fills, self.fills = self.fills, None
            log_fills(self.log, fills, self.why, self.level)
