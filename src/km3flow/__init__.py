"""km3flow: pipelines, data access and deep-learning training for KM3NeT data.

Subpackages (loaded on first use, so ``import km3flow`` stays light):

- ``km3flow.core``: Pipeline, Module, Pump, Blob, timing, pipeline configuration
- ``km3flow.logger``: coloured logging with the ONCE and DEPRECATION levels, printers
- ``km3flow.dataclasses``: Table and NDArray, numpy containers with HDF5 metadata
- ``km3flow.io``: pumps and sinks for KM3NeT formats (HDF5, DAQ, EVT, ROOT, detector files)
- ``km3flow.calib``: detector calibration of hits
- ``km3flow.mc``: particle codes (GEANT3 → PDG, names), neutrino/muon flags
- ``km3flow.math``: directions (zenith, azimuth, angles, source directions)
- ``km3flow.reco``: best-track selection, reconstruction stages and fit info by name
- ``km3flow.controlhost``: the ControlHost protocol, client and dispatcher (live data)
- ``km3flow.modules``: commonly used pipeline modules
- ``km3flow.ml``: binning of hits and the training organiser (PyTorch)
- ``km3flow.parallel``: draining pipelines on many cores or a Dask cluster
- ``km3flow.monitor``: live DOM rates, triggers and events in the browser (``km3flow monitor``)
- ``km3flow.cli``: the ``km3flow`` command

Use it the KM3Pipe way::

    import km3flow as kp
    pipe = kp.Pipeline()
    pipe.attach(some_function)
    pipe.drain(3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"
version = __version__

_SUBMODULES = {
    "core",
    "logger",
    "dataclasses",
    "io",
    "calib",
    "mc",
    "math",
    "reco",
    "controlhost",
    "modules",
    "ml",
    "parallel",
    "monitor",
    "cli",
    "exceptions",
}

_ATTRIBUTES = {
    "Pipeline": "km3flow.core",
    "Module": "km3flow.core",
    "Pump": "km3flow.core",
    "Blob": "km3flow.core",
    "Parameter": "km3flow.core",
    "Table": "km3flow.dataclasses",
    "NDArray": "km3flow.dataclasses",
}

if TYPE_CHECKING:  # pragma: no cover
    from .core import Blob, Module, Parameter, Pipeline, Pump
    from .dataclasses import NDArray, Table

__all__ = ["__version__", "version", *sorted(_ATTRIBUTES), *sorted(_SUBMODULES)]


__getattr__, __dir__ = lazy_attributes(__name__, _ATTRIBUTES, _SUBMODULES)
