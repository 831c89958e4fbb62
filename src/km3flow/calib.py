"""Calibration of hits with a detector description: positions, directions and time offsets.

:func:`calibrate` is vectorised: PMT rows are looked up with ``searchsorted`` (DOM ids,
global PMT ids) and a dense ``(DOM row, channel)`` table, then every calibration column is
one fancy-index. :class:`Calibration` applies it in a pipeline to the ``Hits`` and
``McHits`` of each blob.

Rules (those of KM3Pipe's ``Calibration.apply``): data hits, keyed by
``(dom_id, channel_id)``, get ``time + t0``; MC hits, keyed by ``pmt_id``, keep their time
(simulated times need no offset) and gain ``dom_id`` and ``channel_id``. Both gain
``pos_x..z``, ``dir_x..z``, ``t0``, ``du`` and ``floor``. Data hits also get the
time-slewing correction, ``time - slew(tot)`` (:func:`slew`, KM3Pipe's default variant 3),
unless ``correct_slewing=False``; MC hits never do.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .core import Blob, Module
from .core.config import Parameter
from .dataclasses import Table
from .exceptions import Km3flowError

__all__ = ["Calibration", "CalibrationError", "calibrate", "slew"]

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
              correct_time: bool | None = None, missing: str = "raise",
              correct_slewing: bool = True, slewing_variant: int = 3) -> Table:
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
    correct_slewing
        Subtract the time slewing ``slew(tot, slewing_variant)`` from the ``time`` of data
        hits (``omkey``), as KM3Pipe's ``Calibration.apply`` does by default. Never applied
        to MC hits (``pmt_id``), nor again to hits that are already calibrated (they have a
        ``t0`` column): recalibrating replaces ``t0`` and keeps the slewing state of the
        first calibration.
    slewing_variant
        1, 2 (parametrised) or 3 (tabulated, the default), see :func:`slew`.

    Returns
    -------
    Table
        The input columns (``time`` as float64) plus ``pos_x..z, dir_x..z, t0, du, floor``
        and ``pmt_id`` (omkey) or ``dom_id, channel_id`` (pmt_id). Metadata (h5loc, name,
        split) are kept.

    Raises
    ------
    CalibrationError
        Hits on PMTs the detector lacks (``missing="raise"``), missing key columns, or data
        hits with ``time`` but no ``tot`` to correct the slewing with.
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
        keys: tuple[str, ...] = ("dom_id", "channel_id")
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
    # slewing depends on the hit (its ToT), not the PMT: applied on the first calibration
    # only, so that recalibrating with another detector does not subtract it twice
    slewing = correct_slewing and by == "omkey" and "time" in names and "t0" not in names
    if slewing and "tot" not in names:
        raise CalibrationError("time-slewing correction needs a tot column (or pass "
                               f"correct_slewing=False); columns: {', '.join(names)}")
    if "t0" in names:
        # Already calibrated (e.g. read from a file converted with --detector): undo it, so
        # that calibrating again, with the same or a newer detector, equals calibrating once.
        arr = _uncalibrated(arr, _GEOMETRY + ("du", "floor") + extra, correct_time)
        names = arr.dtype.names or ()
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
    in_fields, add_fields = arr.dtype.fields, records.dtype.fields
    assert in_fields is not None and add_fields is not None  # both structured
    fields = {n: in_fields[n][:2] for n in arr.dtype.names or ()}
    for n in records.dtype.names or ():
        dt, off = add_fields[n][:2]
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
    if slewing:
        out["time"] -= slew(out["tot"], variant=slewing_variant)
    return Table(out, h5loc=getattr(hits, "h5loc", "/hits"),
                 split_h5=getattr(hits, "split_h5", True),
                 name=getattr(hits, "name", "CalibHits"),
                 h5singleton=getattr(hits, "h5singleton", False))


def _uncalibrated(arr: np.ndarray, added: tuple[str, ...], correct_time: bool) -> np.ndarray:
    """The hits without the columns a calibration added, and with ``time - t0``."""
    keep = [n for n in arr.dtype.names or () if n not in added]
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
    dtype = np.dtype([(n, "<f8" if n == "time" else arr.dtype[n]) for n in arr.dtype.names or ()])
    out = np.empty(len(arr), dtype)
    for n in arr.dtype.names or ():
        out[n] = arr[n]
    return out


def slew(tot: Any, variant: int = 3) -> Any:
    """Return the time slewing of a PMT pulse with time-over-threshold ``tot``, in ns.

    The slewing is subtracted from the hit time (``time - slew(tot)``), as KM3Pipe's
    ``km3pipe.calib.slew`` and ``Calibration.apply`` do.

    Parameters
    ----------
    tot
        ToT value(s) in ns: an int or an integer array (0-255 for variant 3).
    variant
        1: the first parametrisation ``p0 exp(p1 sqrt(tot) + p2 tot) + p3``;
        2: Jannik's improved parameters of the same form;
        3: the lookup table from lab measurements (the default; -9.04 ns from ToT 201 on).

    Returns
    -------
    float or numpy.ndarray
        The slewing, float64, of the shape of ``tot``.

    Raises
    ------
    ValueError
        An unknown variant, or a ToT outside 0-255 (or not an integer) for variant 3.

    Examples
    --------
    >>> slew(0), slew(23), slew(255)
    (8.01, 0.6, -9.04)
    >>> slew(np.array([0, 23]), variant=1).round(4)
    array([5.806 , 0.0247])
    """
    if variant in _SLEW_PARAMETERS:
        p0, p1, p2, p3 = _SLEW_PARAMETERS[variant]
        t = np.asarray(tot, dtype=np.float64)
        out = p0 * np.exp(p1 * np.sqrt(t) + p2 * t) + p3
        return float(out) if out.ndim == 0 else out
    if variant != 3:
        raise ValueError(f"unknown time-slewing variant {variant!r}; use 1, 2 or 3")
    t = np.asarray(tot)
    if t.dtype.kind not in "ui":
        raise ValueError(f"the tabulated slewing (variant 3) needs integer ToTs, not {t.dtype}")
    if t.size and (t.min() < 0 or t.max() > 255):
        bad = t[(t < 0) | (t > 255)].flat[0]
        raise ValueError(f"ToT {bad} outside the slewing table's 0-255")
    out = _SLEW_TABLE[t]
    return float(out) if out.ndim == 0 else out


#: Parameters (p0, p1, p2, p3) of the parametrised variants, from KM3Pipe 11 (calib.py).
_SLEW_PARAMETERS = {
    1: (7.70824, 0.00879447, -0.0621101, -1.90226),
    2: (13.6488662517, -0.128744123166, -0.0174837749244, -4.47119633965),
}

#: Time slewing in ns per ToT 0..255 from lab measurements (KM3Pipe 11's ``_SLEWS``):
#: 201 measured values, then -9.04 up to ToT 255.
_SLEW_TABLE = np.concatenate([np.array([
    8.01, 7.52, 7.05, 6.59, 6.15, 5.74, 5.33, 4.95, 4.58, 4.22, 3.89, 3.56, 3.25, 2.95, 2.66,
    2.39, 2.12, 1.87, 1.63, 1.4, 1.19, 0.98, 0.78, 0.6, 0.41, 0.24, 0.07, -0.1, -0.27, -0.43,
    -0.59, -0.75, -0.91, -1.08, -1.24, -1.41, -1.56, -1.71, -1.85, -1.98, -2.11, -2.23, -2.35,
    -2.47, -2.58, -2.69, -2.79, -2.89, -2.99, -3.09, -3.19, -3.28, -3.37, -3.46, -3.55, -3.64,
    -3.72, -3.8, -3.88, -3.96, -4.04, -4.12, -4.2, -4.27, -4.35, -4.42, -4.49, -4.56, -4.63,
    -4.7, -4.77, -4.84, -4.9, -4.97, -5.03, -5.1, -5.16, -5.22, -5.28, -5.34, -5.4, -5.46,
    -5.52, -5.58, -5.63, -5.69, -5.74, -5.8, -5.85, -5.91, -5.96, -6.01, -6.06, -6.11, -6.16,
    -6.21, -6.26, -6.31, -6.36, -6.41, -6.45, -6.5, -6.55, -6.59, -6.64, -6.68, -6.72, -6.77,
    -6.81, -6.85, -6.89, -6.93, -6.98, -7.02, -7.06, -7.09, -7.13, -7.17, -7.21, -7.25, -7.28,
    -7.32, -7.36, -7.39, -7.43, -7.46, -7.5, -7.53, -7.57, -7.6, -7.63, -7.66, -7.7, -7.73,
    -7.76, -7.79, -7.82, -7.85, -7.88, -7.91, -7.94, -7.97, -7.99, -8.02, -8.05, -8.07, -8.1,
    -8.13, -8.15, -8.18, -8.2, -8.23, -8.25, -8.28, -8.3, -8.32, -8.34, -8.37, -8.39, -8.41,
    -8.43, -8.45, -8.47, -8.49, -8.51, -8.53, -8.55, -8.57, -8.59, -8.61, -8.62, -8.64, -8.66,
    -8.67, -8.69, -8.7, -8.72, -8.74, -8.75, -8.76, -8.78, -8.79, -8.81, -8.82, -8.83, -8.84,
    -8.86, -8.87, -8.88, -8.89, -8.9, -8.92, -8.93, -8.94, -8.95, -8.96, -8.97, -8.98, -9.0,
    -9.01, -9.02,
]), np.full(55, -9.04)])


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
    correct_slewing
        Correct the time slewing of the data hits (default True, as KM3Pipe; never applied
        to MC hits), see :func:`calibrate`.
    slewing_variant
        1, 2 or 3 (default), see :func:`slew`.

    Exposes the services ``get_detector`` and ``calibrate``.
    """

    detector = Parameter(None, default=None,
                         help="a Detector, or the path of a DETX/DATX file")
    filename = Parameter((str, os.PathLike), default=None, check=os.fspath,
                         help="the detector file (KM3Pipe's name for 'detector')")
    hits_key = Parameter(str, default="Hits", help="blob key of the data hits")
    mchits_key = Parameter(str, default="McHits", help="blob key of the MC hits")
    missing = Parameter(str, default="raise", choices=("raise", "nan"),
                        help="hits on PMTs the detector lacks: an error, or NaN positions")
    correct_slewing = Parameter(bool, default=True,
                                help="correct the time slewing of data hits (never MC hits)")
    slewing_variant = Parameter(int, default=3, choices=(1, 2, 3),
                                help="KM3Pipe's slewing variant")

    def configure(self) -> None:
        det = self.detector if self.detector is not None else self.filename
        if det is None:
            raise self.parameter_error("detector", "give a detector (or its file as 'filename')")
        self.detector = _as_detector(det)
        self.expose(lambda: self.detector, "get_detector")
        self.expose(self.calibrate, "calibrate")

    def calibrate(self, hits: Any, **kwargs: Any) -> Table:
        """Calibrate hits with this module's detector."""
        kwargs.setdefault("missing", self.missing)
        kwargs.setdefault("correct_slewing", self.correct_slewing)
        kwargs.setdefault("slewing_variant", self.slewing_variant)
        return calibrate(hits, self.detector, **kwargs)

    def process(self, blob: Blob) -> Blob:
        if self.hits_key in blob:
            blob[self.hits_key] = calibrate(blob[self.hits_key], self.detector, by="omkey",
                                            missing=self.missing,
                                            correct_slewing=self.correct_slewing,
                                            slewing_variant=self.slewing_variant)
        if self.mchits_key in blob:
            blob[self.mchits_key] = calibrate(blob[self.mchits_key], self.detector,
                                              by="pmt_id", missing=self.missing)
        return blob
