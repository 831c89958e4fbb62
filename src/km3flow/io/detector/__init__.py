"""KM3NeT detector descriptions: DETX text (versions 1 to 5) and DATX binary, read and written.

A :class:`Detector` holds the DOMs and PMTs as Tables (positions, directions, t0s, status),
the header values (det_id, version, validity, UTM reference) and fast vectorised lookups by
``(dom_id, channel_id)``, by ``pmt_id`` and by ``(du, floor)``. ``to_detx()`` and
``write()`` write the detector back; a file read and written unchanged is reproduced byte for
byte, with two documented exceptions: irregular blank lines (blank lines that do not follow
every DOM block, e.g. ``detx_v3_whitespace.detx``) are dropped, and tabs between fields
become spaces. DATX files are reproduced byte for byte.

Examples
--------
>>> from km3net_testdata import data_path
>>> det = read_detector(data_path("detx/detx_v5.detx"))
>>> det.det_id, det.version, det.n_doms, det.n_pmts
(49, 5, 114, 3348)
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from ...dataclasses import Table
from ...exceptions import FormatError
from ._datx import parse_datx, write_datx
from ._detx import MAX_VERSION, DetxData, parse_detx, write_detx
from ._frozen import DetectorReadOnlyError, freeze

__all__ = ["DOM_DTYPE", "MAX_VERSION", "PMT_DTYPE", "Detector", "DetectorReadOnlyError",
           "FormatError", "UTMReference", "read_detector"]

UTMReference = namedtuple("UTMReference", "label ellipsoid zone easting northing z")

PMT_DTYPE = np.dtype([
    ("pmt_id", "<i4"), ("dom_id", "<i4"), ("du", "<i4"), ("floor", "<i4"),
    ("channel_id", "<i4"),
    ("pos_x", "<f8"), ("pos_y", "<f8"), ("pos_z", "<f8"),
    ("dir_x", "<f8"), ("dir_y", "<f8"), ("dir_z", "<f8"),
    ("t0", "<f8"), ("status", "<i4"),
])
DOM_DTYPE = np.dtype([
    ("dom_id", "<i4"), ("du", "<i4"), ("floor", "<i4"),
    ("pos_x", "<f8"), ("pos_y", "<f8"), ("pos_z", "<f8"),
    ("qa", "<f8"), ("qb", "<f8"), ("qc", "<f8"), ("qd", "<f8"),
    ("t0", "<f8"), ("status", "<i4"), ("n_pmts", "<i4"),
])


def read_detector(path: str | os.PathLike) -> Detector:
    """Read a DETX or DATX file and return its :class:`Detector`.

    The format is chosen by the extension (``.datx`` is binary) and, failing that, by
    the first bytes (DATX files start with a ``####`` comment record).

    Raises
    ------
    FormatError
        If the file is not a valid detector file (naming the line or byte offset).
    """
    return Detector(path)


class Detector:
    """A KM3NeT detector: DOMs and PMTs with positions, directions, t0s and status.

    Parameters
    ----------
    filename
        A ``.detx`` or ``.datx`` file.

    Attributes
    ----------
    det_id, version
        Detector id and file format version (1 to 5).
    valid_from, valid_until
        Validity interval (UNIX seconds; NaN for version 1).
    utm
        :class:`UTMReference` of the detector frame, ``None`` for version 1.
    doms
        Table of the DOMs in file order (``dom_id, du, floor, pos_x..z, qa..qd, t0,
        status, n_pmts``); positions, quaternions and t0 are NaN before version 4.
    pmts
        Table of the PMTs in file order (``pmt_id, dom_id, du, floor, channel_id,
        pos_x..z, dir_x..z, t0, status``); ``channel_id`` is the position in the DOM block.
    comments
        The comment lines of the file, without the leading ``#``.

    Notes
    -----
    ``doms`` and ``pmts`` are read-only: calibration and the lookups cache values taken
    from them, so a write raises :class:`DetectorReadOnlyError` instead of being ignored
    by later calls. Change values inside :meth:`edit`.
    """

    def __init__(self, filename: str | os.PathLike | None = None) -> None:
        self.filename = None if filename is None else os.fspath(filename)
        self.det_id = 0
        self.version = 5
        self._version_token = ""
        self.valid_from = float("nan")
        self.valid_until = float("nan")
        self.utm: UTMReference | None = None
        self.comments: list[str] = []
        self._detx_source: DetxData | None = None
        self._lookup_cache: dict[str, Any] = {}
        self._doms = freeze(Table(np.empty(0, DOM_DTYPE), h5loc="/doms", name="DOMs"))
        self._pmts = freeze(Table(np.empty(0, PMT_DTYPE), h5loc="/pmts", name="PMTs"))
        self._file_floors = np.empty(0, np.int64)
        self._derived_floors = np.empty(0, np.int64)
        if self.filename is not None:
            with open(self.filename, "rb") as f:
                data = f.read()
            self._load(data, self.filename)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_string(cls, text: str, name: str = "<string>") -> Detector:
        """Build a detector from DETX text."""
        det = cls()
        det._load_detx(text.encode("utf-8"), name)
        return det

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>", datx: bool | None = None
                   ) -> Detector:
        """Build a detector from the bytes of a DETX or DATX file."""
        det = cls()
        det._load(data, name, datx=datx)
        return det

    def _load(self, data: bytes, name: str, datx: bool | None = None) -> None:
        if datx is None:
            datx = name.lower().endswith(".datx") or data[:4] == b"####"
        if datx:
            self._load_datx(data, name)
        else:
            self._load_detx(data, name)

    def _load_detx(self, data: bytes, name: str) -> None:
        src = parse_detx(data, name)
        self._detx_source = src
        self.det_id, self.version = src.det_id, src.version
        self._version_token = src.version_token
        self.valid_from, self.valid_until = src.valid_from, src.valid_until
        self.utm = None if src.utm is None else UTMReference(*src.utm)
        self.comments = [s.strip()[1:].strip() for s in src.preamble if s.strip().startswith("#")]
        arr = src.pmts
        assert arr is not None  # parse_detx always fills it
        n_pmts = np.asarray(src.doms["n_pmts"])
        self._set_tables(src.doms, {
            "pmt_id": arr[:, 0], "pos_x": arr[:, 1], "pos_y": arr[:, 2], "pos_z": arr[:, 3],
            "dir_x": arr[:, 4], "dir_y": arr[:, 5], "dir_z": arr[:, 6], "t0": arr[:, 7],
            "status": arr[:, 8] if arr.shape[1] > 8 else 0,
        }, n_pmts)

    def _load_datx(self, data: bytes, name: str) -> None:
        d = parse_datx(data, name)
        self.det_id, self.version = d["det_id"], d["version"]
        self._version_token = d["version_token"]
        self.valid_from, self.valid_until = d["valid_from"], d["valid_until"]
        self.utm = UTMReference(*d["utm"])
        self.comments = list(d["comments"])
        doms, pmts = d["doms"], d["pmts"]
        self._set_tables({n: doms[n] for n in doms.dtype.names or ()},
                         {n: pmts[n] for n in pmts.dtype.names or ()}, doms["n_pmts"])

    def _set_tables(self, doms: dict[str, Any], pmts: dict[str, Any], n_pmts: Any) -> None:
        n_pmts = np.asarray(n_pmts, dtype=np.int64)
        file_floors = np.asarray(doms["floor"], dtype=np.int64)
        self._file_floors = file_floors
        dom_tab = np.empty(len(file_floors), DOM_DTYPE)
        for name in DOM_DTYPE.names or ():
            dom_tab[name] = doms[name]
        dom_tab["floor"] = _fix_floors(np.asarray(doms["du"]), file_floors)
        self._derived_floors = dom_tab["floor"].copy()
        n = int(n_pmts.sum())
        pmt_tab = np.empty(n, PMT_DTYPE)
        for name in ("pmt_id", "pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "t0",
                     "status"):
            pmt_tab[name] = pmts[name]
        dom_of_pmt = np.repeat(np.arange(len(n_pmts)), n_pmts)
        pmt_tab["dom_id"] = dom_tab["dom_id"][dom_of_pmt]
        pmt_tab["du"] = dom_tab["du"][dom_of_pmt]
        pmt_tab["floor"] = dom_tab["floor"][dom_of_pmt]
        starts = np.concatenate([[0], np.cumsum(n_pmts)[:-1]]) if len(n_pmts) else n_pmts
        pmt_tab["channel_id"] = np.arange(n) - np.repeat(starts, n_pmts)
        self._doms = freeze(Table(dom_tab, h5loc="/doms", name="DOMs"))
        self._pmts = freeze(Table(pmt_tab, h5loc="/pmts", name="PMTs"))
        self._lookup_cache = {}

    # -- the tables ------------------------------------------------------------------------
    @property
    def doms(self) -> Table:
        """The DOMs (read-only outside :meth:`edit`)."""
        return self._doms

    @doms.setter
    def doms(self, value: Any) -> None:
        raise DetectorReadOnlyError(
            "Detector.doms cannot be replaced; change its values inside 'with det.edit(): "
            "...'")

    @property
    def pmts(self) -> Table:
        """The PMTs (read-only outside :meth:`edit`)."""
        return self._pmts

    @pmts.setter
    def pmts(self, value: Any) -> None:
        raise DetectorReadOnlyError(
            "Detector.pmts cannot be replaced; change its values inside 'with det.edit(): "
            "...'")

    @contextmanager
    def edit(self) -> Iterator[Detector]:
        """Change PMT or DOM values in place; the caches are rebuilt when the block ends.

        Inside the block ``det.pmts`` and ``det.doms`` are writable working copies; when it
        ends (also by an exception) they become the detector's read-only tables again and
        the lookup and calibration caches are dropped, so the next
        :func:`~km3flow.calib.calibrate` uses the new values. Columns derived from the DOMs
        (``dom_id, du, floor`` of the PMTs) are not updated for you.

        Examples
        --------
        >>> from km3net_testdata import data_path
        >>> det = read_detector(data_path("detx/detx_v5.detx"))
        >>> with det.edit():
        ...     det.pmts["t0"] += 10.0
        >>> det.pmts["t0"][:1] += 1.0  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        km3flow.io.detector.DetectorReadOnlyError: cannot write into Detector.pmts: ...
        """
        if self._pmts.flags.writeable:  # nested in another edit(): that one finishes
            yield self
            return
        self._doms = Table._wrap(np.array(self._doms), "/doms", self._doms.name)
        self._pmts = Table._wrap(np.array(self._pmts), "/pmts", self._pmts.name)
        try:
            yield self
        finally:
            self._doms = freeze(self._doms)
            self._pmts = freeze(self._pmts)
            self._lookup_cache = {}

    # -- summary ----------------------------------------------------------------------------
    @property
    def n_doms(self) -> int:
        """Number of DOMs (base modules included)."""
        return len(self.doms)

    @property
    def n_pmts(self) -> int:
        """Number of PMTs."""
        return len(self.pmts)

    @property
    def dom_ids(self) -> npt.NDArray[np.int32]:
        """DOM ids in file order."""
        return np.asarray(self.doms["dom_id"])

    @property
    def dus(self) -> npt.NDArray[np.int32]:
        """The detection unit numbers, sorted."""
        return np.unique(np.asarray(self.doms["du"]))

    @property
    def n_dus(self) -> int:
        """Number of detection units."""
        return len(self.dus)

    def floors(self, du: int | None = None) -> npt.NDArray[np.int32]:
        """The floor numbers (of one DU, or of all), sorted."""
        floors = np.asarray(self.doms["floor"])
        if du is not None:
            floors = floors[np.asarray(self.doms["du"]) == du]
        return np.unique(floors)

    def summary(self) -> dict[str, Any]:
        """A dict of the detector's key numbers (what ``km3flow detx`` prints)."""
        n_pmts = np.asarray(self.doms["n_pmts"])
        return {
            "det_id": int(self.det_id), "version": int(self.version),
            "n_dus": self.n_dus, "n_floors": len(self.floors()),
            "n_doms": self.n_doms, "n_optical_doms": int(np.count_nonzero(n_pmts)),
            "n_base_modules": int(np.count_nonzero(n_pmts == 0)), "n_pmts": self.n_pmts,
            "valid_from": float(self.valid_from), "valid_until": float(self.valid_until),
            "utm": None if self.utm is None else " ".join(str(v) for v in self.utm),
        }

    def __repr__(self) -> str:
        return (f"<Detector det_id={self.det_id} v{self.version}: {self.n_dus} DUs, "
                f"{self.n_doms} DOMs, {self.n_pmts} PMTs>")

    # -- lookups ----------------------------------------------------------------------------
    def _dom_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        if "dom" not in self._lookup_cache:
            ids = self.dom_ids.astype(np.int64)
            order = np.argsort(ids, kind="stable")
            self._lookup_cache["dom"] = (ids[order], order)
        return self._lookup_cache["dom"]

    def dom_index(self, dom_ids: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Row indices into :attr:`doms` of the given DOM ids (-1 where unknown)."""
        ids = np.asarray(dom_ids, dtype=np.int64)
        sorted_ids, order = self._dom_lookup()
        if not len(sorted_ids):
            return np.full(ids.shape, -1, np.intp)
        pos = np.searchsorted(sorted_ids, ids)
        pos = np.minimum(pos, len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == ids, order[pos], -1)

    def _omkey_table(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        """A direct-address table for ``(dom_id, channel_id)``: PMT row at
        ``table[(dom_id % P) * n_ch + channel_id]`` (-1: none), with ``P`` the smallest
        modulus that keeps the DOM ids apart (found once per detector; 0 if none is found,
        then :meth:`dom_index` does a ``searchsorted``)."""
        if "omkey" not in self._lookup_cache:
            ids = self.dom_ids.astype(np.int64)
            n = len(ids)
            n_ch = max(int(np.asarray(self.doms["n_pmts"]).max(initial=0)), 1)
            modulus = 0
            if n and len(np.unique(ids)) == n and (ids >= 0).all():
                for cand in range(n, 64 * n + 64):
                    if len(np.unique(ids % cand)) == n:
                        modulus = cand
                        break
            table = np.full(max(modulus, 1) * n_ch, -1, np.int64)
            if modulus:
                rows = np.repeat(np.arange(n), np.asarray(self.doms["n_pmts"]))
                slot = (ids[rows] % modulus) * n_ch + np.asarray(self.pmts["channel_id"])
                table[slot] = np.arange(self.n_pmts)
            pmt_dom = np.ascontiguousarray(self.pmts["dom_id"], dtype=np.int64)
            self._lookup_cache["omkey"] = (modulus, n_ch, table, pmt_dom)
        return self._lookup_cache["omkey"]

    def _channel_table(self) -> np.ndarray:
        if "channel" not in self._lookup_cache:
            n_ch = int(np.asarray(self.doms["n_pmts"]).max(initial=0))
            table = np.full((self.n_doms, max(n_ch, 1)), -1, np.intp)
            rows = np.repeat(np.arange(self.n_doms), np.asarray(self.doms["n_pmts"]))
            table[rows, np.asarray(self.pmts["channel_id"])] = np.arange(self.n_pmts)
            self._lookup_cache["channel"] = table
        return self._lookup_cache["channel"]

    def reset_caches(self) -> None:
        """Forget the lookup and calibration tables (:meth:`edit` does it for you)."""
        self._lookup_cache = {}

    def pmt_index(self, dom_ids: npt.ArrayLike, channel_ids: npt.ArrayLike
                  ) -> npt.NDArray[np.intp]:
        """Row indices into :attr:`pmts` for ``(dom_id, channel_id)`` pairs (-1 where unknown)."""
        dom_ids = np.asarray(dom_ids)
        ch = np.asarray(channel_ids)
        modulus, n_ch, table, pmt_dom = self._omkey_table()
        if modulus and dom_ids.dtype.kind in "iu" and ch.dtype.kind in "iu":
            if dom_ids.dtype.kind == "u" and dom_ids.dtype.itemsize <= 4:
                rem = (dom_ids % np.uint32(modulus)).astype(np.int64)  # cheap 32-bit modulo
                ok = ch < n_ch if ch.dtype.kind == "u" else (ch >= 0) & (ch < n_ch)
            else:
                key = dom_ids.astype(np.int64)
                rem = key % modulus
                ok = (ch >= 0) & (ch < n_ch) & (key >= 0)
            rem *= n_ch
            rem += ch
            if ok.all():
                idx = table[rem]
            else:
                idx = np.where(ok, table[np.where(ok, rem, 0)], -1)
            # slots of unknown DOM ids may hold another DOM's PMT: check the DOM id
            wrong = pmt_dom[idx] != dom_ids  # idx == -1 reads the last PMT, also rejected
            wrong |= idx < 0
            if wrong.any():
                idx[wrong] = -1
            return idx
        dom_rows = self.dom_index(dom_ids)
        ch = ch.astype(np.int64)
        table2 = self._channel_table()
        ok = (dom_rows >= 0) & (ch >= 0) & (ch < table2.shape[1])
        return np.where(ok, table2[np.where(ok, dom_rows, 0), np.where(ok, ch, 0)], -1)

    def pmt_index_by_id(self, pmt_ids: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Row indices into :attr:`pmts` of global PMT ids (-1 where unknown)."""
        if "pmt_id" not in self._lookup_cache:
            ids = np.asarray(self.pmts["pmt_id"], dtype=np.int64)
            dense = None
            if len(ids) and ids.min() >= 0 and ids.max() < max(16 * len(ids), 1 << 16):
                # compact ids (the usual case): one direct-address table
                dense = np.full(int(ids.max()) + 1, -1, np.int64)
                dense[ids[::-1]] = np.arange(len(ids))[::-1]  # first row wins on duplicates
            order = np.argsort(ids, kind="stable")
            self._lookup_cache["pmt_id"] = (ids[order], order, dense)
        sorted_ids, order, dense = self._lookup_cache["pmt_id"]
        ids = np.asarray(pmt_ids)
        if dense is not None and ids.dtype.kind in "iu":
            ok = (ids >= 0) & (ids < len(dense))
            if ok.all():
                return dense[ids]
            return np.where(ok, dense[np.where(ok, ids, 0)], -1)
        ids = ids.astype(np.int64)
        if not len(sorted_ids):
            return np.full(ids.shape, -1, np.intp)
        pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == ids, order[pos], -1)

    def get_pmt(self, dom_id: int, channel_id: int) -> Any:
        """The PMT row of ``(dom_id, channel_id)``; ``KeyError`` if there is none."""
        idx = int(self.pmt_index([dom_id], [channel_id])[0])
        if idx < 0:
            raise KeyError(f"no PMT with dom_id={dom_id}, channel_id={channel_id}")
        return self.pmts[idx]

    def get_dom(self, dom_id: int) -> Any:
        """The DOM row of ``dom_id``; ``KeyError`` if there is none."""
        idx = int(self.dom_index([dom_id])[0])
        if idx < 0:
            raise KeyError(f"no DOM with dom_id={dom_id}")
        return self.doms[idx]

    def dom_at(self, du: int, floor: int) -> int:
        """The DOM id at ``(du, floor)``; ``KeyError`` if there is none."""
        mask = (np.asarray(self.doms["du"]) == du) & (np.asarray(self.doms["floor"]) == floor)
        hits = np.flatnonzero(mask)
        if not hits.size:
            raise KeyError(f"no DOM at du={du}, floor={floor}")
        return int(self.doms["dom_id"][hits[0]])

    def pmts_of_dom(self, dom_id: int) -> Table:
        """The PMTs of one DOM, in channel order."""
        return self.pmts[np.asarray(self.pmts["dom_id"]) == dom_id]

    @property
    def dom_positions(self) -> npt.NDArray[np.float64]:
        """DOM centres (n_doms, 3): the file's from version 4 on, else the point closest to
        all PMT axes of the DOM (NaN for DOMs without PMTs)."""
        pos = np.column_stack([np.asarray(self.doms[c], dtype=float)
                               for c in ("pos_x", "pos_y", "pos_z")])
        missing = np.isnan(pos).any(axis=1)
        if missing.any():
            pos[missing] = _axes_intersection(self)[missing]
        return pos

    @property
    def com(self) -> npt.NDArray[np.float64]:
        """Centre of mass: the mean PMT position."""
        return np.asarray(self.pmts.pos).mean(axis=0)

    # -- writing ----------------------------------------------------------------------------
    def _floors_for_writing(self) -> np.ndarray:
        """Floors as the file had them (-1 where KM3Pipe-style counting replaced -1), unless
        they were changed since reading."""
        floors = np.asarray(self.doms["floor"], dtype=np.int64)
        if len(floors) != len(self._file_floors):
            return floors
        unchanged = floors == self._derived_floors
        return np.where(unchanged, self._file_floors, floors)

    def to_detx(self, version: int | None = None) -> str:
        """The DETX text of this detector (in ``version``, by default the detector's own).

        A detector read from a DETX file keeps that file's layout (field widths, number
        formats, comments, blank lines after DOM blocks).
        """
        return write_detx(self, version)

    def to_datx(self) -> bytes:
        """The DATX bytes of this detector."""
        return write_datx(self)

    def write(self, path: str | os.PathLike, version: int | None = None) -> None:
        """Write the detector to ``path`` (DATX if it ends in ``.datx``, else DETX).

        The file is written under a temporary name and renamed when complete.
        """
        path = os.fspath(path)
        if path.lower().endswith(".datx"):
            payload = self.to_datx()
        else:
            payload = self.to_detx(version).encode("utf-8")
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(payload)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def _fix_floors(du: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Replace floor -1 (a Jpp conversion bug in old files) by the DOM's rank on its DU,
    as KM3Pipe does."""
    floors = floors.copy()
    bad = floors == -1
    if bad.any():
        du = np.asarray(du)
        new_du = np.concatenate([[True], du[1:] != du[:-1]]) if len(du) else du
        run_start = np.maximum.accumulate(np.where(new_du, np.arange(len(du)), 0))
        rank = np.arange(len(du)) - run_start + 1
        floors[bad] = rank[bad]
    return floors


def _axes_intersection(det: Detector) -> np.ndarray:
    """Per DOM, the least-squares point closest to all PMT axes (vectorised)."""
    p = np.asarray(det.pmts.pos, dtype=float)
    d = np.asarray(det.pmts.dir, dtype=float)
    norm = np.linalg.norm(d, axis=1, keepdims=True)
    d = np.divide(d, norm, out=np.zeros_like(d), where=norm > 0)
    proj = np.eye(3)[None] - d[:, :, None] * d[:, None, :]
    n_pmts = np.asarray(det.doms["n_pmts"])
    out = np.full((det.n_doms, 3), np.nan)
    has = n_pmts > 0
    if not has.any():
        return out
    starts = np.concatenate([[0], np.cumsum(n_pmts)[:-1]])[has]
    a = np.add.reduceat(proj, starts, axis=0)
    b = np.add.reduceat(np.einsum("nij,nj->ni", proj, p), starts, axis=0)
    sol = np.full((len(starts), 3), np.nan)
    ok = np.abs(np.linalg.det(a)) > 1e-12
    if ok.any():
        sol[ok] = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
    out[has] = sol
    return out

