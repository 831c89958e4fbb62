"""Pumps and sinks for the KM3NeT file formats and live streams.

Loaded lazily: ``km3flow.io.HDF5Sink`` imports PyTables only when first used, and the ROOT
readers import uproot only when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    # HDF5 (KM3Pipe layout)
    "HDF5Sink": "km3flow.io.hdf5",
    "HDF5Pump": "km3flow.io.hdf5",
    "HDF5Header": "km3flow.io.hdf5",
    # DAQ binary streams
    "DAQPump": "km3flow.io.daq",
    "DAQReader": "km3flow.io.daq",
    "TimeslicePump": "km3flow.io.daq",
    "SummarysliceReader": "km3flow.io.daq",
    # EVT ascii
    "EvtPump": "km3flow.io.evt",
    # ROOT
    "OfflinePump": "km3flow.io.root",
    "AanetPump": "km3flow.io.root",
    "OnlinePump": "km3flow.io.online",
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

_SUBMODULES = {"hdf5", "daq", "evt", "root", "online", "detector", "detect", "files"}

__all__ = sorted(_LAZY) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"km3flow.io.{name}")
    else:
        raise AttributeError(f"module 'km3flow.io' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
