"""Fixtures of the ml tests: training files binned from real km3net-testdata events.

The source is ``hdf5/atmospheric_muons_sample.h5`` (500 MUPAGE events written by KM3Pipe:
split /hits with _indices, /mc_tracks, /event_info). Images are channel_id (31 PMTs) × 20
time bins; labels are the first MC track's direction and energy plus event_id/run_id.
"""

from __future__ import annotations

import shutil

import pytest
from ml_files import BIN_CONFIG, SOURCE, TRAIN_CONFIG, read_xy, write_subset

from km3flow.ml.binjob import bin_files


@pytest.fixture(scope="session")
def binned(tmp_path_factory, testdata):
    """All 500 events binned into one training file (session-wide, read-only)."""
    out = tmp_path_factory.mktemp("binned") / "muons.h5"
    bin_files(BIN_CONFIG, [testdata(SOURCE)], out)
    return out


@pytest.fixture(scope="session")
def small_files(binned, tmp_path_factory):
    """Train (160 events) and validation (48 events) files cut from the binned file."""
    folder = tmp_path_factory.mktemp("small")
    x, y = read_xy(binned)
    train = write_subset(folder / "train.h5", x[:160], y[:160])
    val = write_subset(folder / "val.h5", x[400:448], y[400:448])
    return train, val


@pytest.fixture
def workdir(small_files, tmp_path):
    """A folder with train.h5, val.h5, list.toml and config.toml."""
    for f in small_files:
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "list.toml").write_text(
        '[input xy]\ntrain_files = ["train.h5"]\nvalidation_files = ["val.h5"]\n')
    (tmp_path / "config.toml").write_text(TRAIN_CONFIG.format(plot="false"))
    return tmp_path


@pytest.fixture(scope="session")
def orca_detector(tmp_path_factory):
    """The ORCA-115 detector with the sample's DOM ids (see points_files.py)."""
    from points_files import write_detector

    return write_detector(tmp_path_factory.mktemp("det") / "orca115.detx")


@pytest.fixture(scope="session")
def points_file(orca_detector, tmp_path_factory, testdata):
    """All 500 events as point clouds (triggered hits, at most 48), session-wide."""
    from points_files import points_config

    out = tmp_path_factory.mktemp("points") / "points.h5"
    bin_files(points_config(orca_detector), [testdata(SOURCE)], out, engine="chunked")
    return out


@pytest.fixture
def points_workdir(points_file, tmp_path):
    """train.h5 (160 events) and val.h5 (48 events) point files with a list file."""
    from points_files import write_points_subset

    write_points_subset(points_file, tmp_path / "train.h5", slice(0, 160))
    write_points_subset(points_file, tmp_path / "val.h5", slice(400, 448))
    (tmp_path / "list.toml").write_text(
        '[input points]\ntrain_files = ["train.h5"]\nvalidation_files = ["val.h5"]\n')
    return tmp_path
