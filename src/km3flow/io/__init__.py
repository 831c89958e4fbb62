"""Pumps and sinks for the KM3NeT file formats and live streams.

Loaded lazily: ``km3flow.io.HDF5Sink`` imports PyTables only when first used, and the ROOT
readers import uproot only when first used.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, _SUBMODULES)
