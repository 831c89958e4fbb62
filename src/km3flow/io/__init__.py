"""Pumps and sinks for the KM3NeT file formats and live streams.

Loaded lazily: ``km3flow.io.HDF5Sink`` imports PyTables only when first used, and the ROOT
readers import uproot only when first used. The pump of every format of the registry
(:mod:`km3flow.io.formats`: ``HDF5Pump``, ``DAQPump``, ``EvtPump``, ``OfflinePump``,
``OnlinePump``, …) is exported from there; the names below are the other exports.
"""

from __future__ import annotations

from typing import Any

from .._lazy import lazy_attributes

_LAZY = {
    # HDF5 (KM3Pipe layout)
    "HDF5Sink": "km3flow.io.hdf5",
    "HDF5Header": "km3flow.io.hdf5",
    # DAQ binary streams
    "DAQReader": "km3flow.io.daq",
    "TimeslicePump": "km3flow.io.daq",
    "SummarysliceReader": "km3flow.io.daq",
    # ROOT (the readers of the registered formats come from km3flow.io.formats)
    "AanetPump": "km3flow.io.root",
    # detector files
    "Detector": "km3flow.io.detector",
    "read_detector": "km3flow.io.detector",
    # ControlHost (live data)
    "CHPump": "km3flow.controlhost.pump",
    "CHSink": "km3flow.controlhost.pump",
    # any format, many files
    "FilePump": "km3flow.io.files",
    "open_pump": "km3flow.io.detect",
    "detect_format": "km3flow.io.detect",
    # format errors
    "FormatError": "km3flow.exceptions",
}

# Submodules as attributes; "online" is the old place of km3flow.io.root.online.
_SUBMODULES = {name: f"km3flow.io.{name}" for name in
               ("hdf5", "daq", "evt", "root", "detector", "detect", "files", "formats")}
_SUBMODULES["online"] = "km3flow.io.root.online"


def _pumps() -> dict[str, str]:
    from .formats import builtin_pumps

    return builtin_pumps()


_getattr, _dir = lazy_attributes(__name__, _LAZY, _SUBMODULES,
                                 fallback=lambda name: _pumps().get(name))


def __getattr__(name: str) -> Any:
    if name == "__all__":  # computed: the pumps come from the format registry
        return sorted(set(_LAZY) | set(_pumps())) + sorted(_SUBMODULES)
    return _getattr(name)


def __dir__() -> list[str]:
    return sorted(set(_dir()) | set(_pumps()))
