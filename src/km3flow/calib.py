"""Calibration of hits with a detector description: positions, directions and time offsets.

:func:`calibrate` is vectorised: PMT rows are looked up with ``searchsorted`` (DOM ids,
global PMT ids) and a dense ``(DOM row, channel)`` table, then every calibration column is
one fancy-index. :class:`Calibration` applies it in a pipeline to the ``Hits`` and
``McHits`` of each blob.

Rules (those of KM3Pipe's ``Calibration.apply``): data hits, keyed by
``(dom_id, channel_id)``, get ``time + t0``; MC hits, keyed by ``pmt_id``, keep their time
(simulated times need no offset) and gain ``dom_id`` and ``channel_id``. Both gain
``pos_x..z``, ``dir_x..z``, ``t0``, ``du`` and ``floor``. Time-slewing correction is not
applied.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .core import Blob, Module
from .dataclasses import Table
from .exceptions import Km3flowError

__all__ = ["Calibration", "CalibrationError", "calibrate"]

_GEOMETRY = ("pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "t0")


class CalibrationError(Km3flowError, KeyError):
    """Hits refer to PMTs the detector does not have, or lack the key columns."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _as_detector(detector: Any) -> Any:
    from .io.detector import Detector

    if isinstance(detector, Detector):
        return detector
    if isinstance(detector, (str, os.PathLike)):
        return Detector(detector)
    raise TypeError(f"detector must be a Detector or a path, not {type(detector).__name__}")


def calibrate(hits: Any, detector: Any, by: str | None = None,
              correct_time: bool | None = None, missing: str = "raise") -> Table:
    """Return the hits with PMT positions, directions and t0 added.

    Parameters
    ----------
    hits
        A Table or structured array with ``dom_id`` and ``channel_id`` (data hits) or
        ``pmt_id`` (MC hits) and usually ``time``.
    detector
        A :class:`~km3flow.io.detector.Detector` or the path of a DETX/DATX file.
    by
        ``"omkey"`` (``dom_id, channel_id``) or ``"pmt_id"``; by default ``omkey`` when the
        hits have both columns, else ``pmt_id``.
    correct_time
        Add ``t0`` to ``time``; by default True for ``omkey`` and False for ``pmt_id``.
    missing
        ``"raise"`` (a :class:`CalibrationError`) or ``"nan"`` (NaN geometry, ``du`` and
        ``floor`` 0) for hits on PMTs the detector does not have.

    Returns
    -------
    Table
        The input columns (``time`` as float64) plus ``pos_x..z, dir_x..z, t0, du, floor``
        and ``pmt_id`` (omkey) or ``dom_id, channel_id`` (pmt_id). Metadata (h5loc, name,
        split) are kept.
    """
    det = _as_detector(detector)
    arr = np.asarray(hits)
    names = arr.dtype.names or ()
    if by is None:
        by = "omkey" if ("dom_id" in names and "channel_id" in names) else "pmt_id"
    if by == "omkey":
        if "dom_id" not in names or "channel_id" not in names:
            raise CalibrationError(f"calibration by omkey needs dom_id and channel_id; "
                                   f"columns: {', '.join(names)}")
        idx = det.pmt_index(arr["dom_id"], arr["channel_id"])
        keys = ("dom_id", "channel_id")
    elif by == "pmt_id":
        if "pmt_id" not in names:
            raise CalibrationError(f"calibration by pmt_id needs a pmt_id column; "
                                   f"columns: {', '.join(names)}")
        idx = det.pmt_index_by_id(arr["pmt_id"])
        keys = ("pmt_id",)
    else:
        raise ValueError(f"by must be 'omkey' or 'pmt_id', not {by!r}")
    if correct_time is None:
        correct_time = by == "omkey"
    extra = ("pmt_id",) if by == "omkey" else ("dom_id", "channel_id")
    if "t0" in names:
        # Already calibrated (e.g. read from a file converted with --detector): undo it, so
        # that calibrating again, with the same or a newer detector, equals calibrating once.
        arr = _uncalibrated(arr, _GEOMETRY + ("du", "floor") + extra, correct_time)
        names = arr.dtype.names
    bad = idx < 0
    if bad.any():
        if missing == "raise":
            first = int(np.flatnonzero(bad)[0])
            key = ", ".join(f"{k}={arr[k][first]}" for k in keys)
            raise CalibrationError(
                f"{int(bad.sum())} of {len(arr)} hits are on PMTs not in detector "
                f"{det.det_id} (first: hit {first}, {key})")
        if missing != "nan":
            raise ValueError(f"missing must be 'raise' or 'nan', not {missing!r}")
    add = [n for n in _GEOMETRY + ("du", "floor") + extra if n not in names]
    records = _pmt_records(det, tuple(add))
    safe = np.where(bad, 0, idx) if bad.any() else idx
    # the output record = the input record's bytes followed by the PMT record's bytes:
    # two whole-record copies (void dtypes) instead of one strided copy per column
    if "time" in names and arr.dtype["time"] != np.float64:
        arr = _with_float_time(arr)
    arr = np.ascontiguousarray(arr)
    in_size, add_size = arr.dtype.itemsize, records.dtype.itemsize
    fields = {n: arr.dtype.fields[n][:2] for n in arr.dtype.names}
    for n in records.dtype.names:
        dt, off = records.dtype.fields[n][:2]
        fields[n] = (dt, in_size + off)
    out_dtype = np.dtype({"names": list(fields), "formats": [f[0] for f in fields.values()],
                          "offsets": [f[1] for f in fields.values()],
                          "itemsize": in_size + add_size})
    pair = np.empty(len(arr), [("a", f"V{in_size}"), ("b", f"V{add_size}")])
    pair["a"] = arr.view(f"V{in_size}")
    pair["b"] = records.view(f"V{add_size}")[safe]
    out = pair.view(out_dtype)
    if bad.any():
        for name in add:
            kind = records.dtype[name].kind
            out[name][bad] = np.nan if kind == "f" else (0 if kind == "u" else -1)
    if correct_time and "time" in names:
        out["time"] += out["t0"]
    return Table(out, h5loc=getattr(hits, "h5loc", "/hits"),
                 split_h5=getattr(hits, "split_h5", True),
                 name=getattr(hits, "name", "CalibHits"),
                 h5singleton=getattr(hits, "h5singleton", False))


def _uncalibrated(arr: np.ndarray, added: tuple[str, ...], correct_time: bool) -> np.ndarray:
    """The hits without the columns a calibration added, and with ``time - t0``."""
    keep = [n for n in arr.dtype.names if n not in added]
    out = np.empty(len(arr), dtype=[(n, arr.dtype[n]) for n in keep])
    for name in keep:
        out[name] = arr[name]
    if correct_time and "time" in keep:
        out["time"] = arr["time"] - arr["t0"]
    return out


_RECORD_TYPES = {"du": "u1", "floor": "u1", "pmt_id": "<i4", "dom_id": "<i4",
                 "channel_id": "<i4"}


def _pmt_records(det: Any, fields: tuple[str, ...]) -> np.ndarray:
    """Per PMT, a packed record of the calibration fields (cached on the detector)."""
    cache = det._lookup_cache.setdefault("calib_records", {})
    if fields not in cache:
        dtype = np.dtype([(n, _RECORD_TYPES.get(n, "<f8")) for n in fields])
        rec = np.empty(det.n_pmts, dtype)
        for n in fields:
            rec[n] = det.pmts[n]
        cache[fields] = rec
    return cache[fields]


def _with_float_time(arr: np.ndarray) -> np.ndarray:
    dtype = np.dtype([(n, "<f8" if n == "time" else arr.dtype[n]) for n in arr.dtype.names])
    out = np.empty(len(arr), dtype)
    for n in arr.dtype.names:
        out[n] = arr[n]
    return out


class Calibration(Module):
    """Pipeline module: calibrate the hits of each blob with a detector file.

    Parameters
    ----------
    detector
        A :class:`~km3flow.io.detector.Detector` or the path of a DETX/DATX file
        (``filename`` is accepted as in KM3Pipe).
    hits_key
        Blob key of the data hits, calibrated by ``(dom_id, channel_id)`` with ``time + t0``
        (default ``"Hits"``).
    mchits_key
        Blob key of the MC hits, calibrated by ``pmt_id`` without a time offset
        (default ``"McHits"``).
    missing
        ``"raise"`` or ``"nan"``, see :func:`calibrate`.

    Exposes the services ``get_detector`` and ``calibrate``.
    """

    def configure(self) -> None:
        det = self.get("detector", default=None)
        if det is None:
            det = self.require("filename")
        self.detector = _as_detector(det)
        self.hits_key = self.get("hits_key", default="Hits")
        self.mchits_key = self.get("mchits_key", default="McHits")
        self.missing = self.get("missing", default="raise")
        self.expose(lambda: self.detector, "get_detector")
        self.expose(self.calibrate, "calibrate")

    def calibrate(self, hits: Any, **kwargs: Any) -> Table:
        """Calibrate hits with this module's detector."""
        kwargs.setdefault("missing", self.missing)
        return calibrate(hits, self.detector, **kwargs)

    def process(self, blob: Blob) -> Blob:
        if self.hits_key in blob:
            blob[self.hits_key] = calibrate(blob[self.hits_key], self.detector, by="omkey",
                                            missing=self.missing)
        if self.mchits_key in blob:
            blob[self.mchits_key] = calibrate(blob[self.mchits_key], self.detector,
                                              by="pmt_id", missing=self.missing)
        return blob
