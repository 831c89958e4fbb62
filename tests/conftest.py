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
