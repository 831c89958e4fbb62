"""Shared fixtures: paths into the km3net-testdata package."""

from __future__ import annotations

import pytest
from km3net_testdata import data_path as _data_path


def data_path(relative: str) -> str:
    """Path of a file in km3net-testdata, e.g. ``data_path("daq/IO_EVT.dat")``."""
    return _data_path(relative)


@pytest.fixture(scope="session")
def testdata():
    """A function mapping a km3net-testdata relative path to an absolute path."""
    return data_path


# Real files of every registered format (km3net-testdata paths), by format name. The
# registry-driven tests (tests/io/test_detect.py, tests/io/test_formats.py,
# tests/parallel/test_pumps_declare_inputs.py) run over every format and fail for one
# without samples here: adding a format means adding its files to this table. The first
# file of each is the one drained in the parallel test.
FORMAT_SAMPLES = {
    "daq": ["daq/IO_EVT.dat", "daq/IO_EVT_legacy.dat", "daq/IO_SUM.dat", "daq/IO_TSL1_1003.dat",
            "daq/IO_TSSN.dat"],
    "evt": ["evt/KM3Sim.evt", "evt/example_numuNC.evt", "mupage/mcv5.0.mupage_1G.5.evt"],
    "offline": ["offline/numucc.root", "offline/km3net_offline.root"],
    "online": ["online/km3net_online.root", "online/summaryslices.root"],
    "hdf5": ["hdf5/geamon.h5", "online/events_sample.h5"],
    "detx": ["detx/detx_v5.detx"],
    "datx": ["datx/KM3NeT_00000133_20221025.datx"],
    "monitoring": ["daq/IO_MONIT.dat"],
}


@pytest.fixture(scope="session")
def format_samples():
    """Format name → km3net-testdata paths of real files of that format."""
    return FORMAT_SAMPLES
