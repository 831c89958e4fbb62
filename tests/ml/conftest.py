"""Fixtures of the ml tests: training files binned from real km3net-testdata events.

The source is ``hdf5/atmospheric_muons_sample.h5`` (500 MUPAGE events written by KM3Pipe:
split /hits with _indices, /mc_tracks, /event_info). Images are channel_id (31 PMTs) × 20
time bins; labels are the first MC track's direction and energy plus event_id/run_id.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tables

from km3flow.ml.binjob import bin_files
from km3flow.ml.h5layout import TrainingFileWriter

SOURCE = "hdf5/atmospheric_muons_sample.h5"

BIN_CONFIG = {
    "binning": {"time_reference": "mean_triggered"},
    "dimensions": [
        {"column": "channel_id", "categories": "auto"},
        {"column": "time", "range": [-500.0, 1500.0], "bins": 20},
    ],
    "labels": {"columns": ["dir_x", "dir_y", "dir_z", "energy"],
               "event_info": ["event_id", "run_id"]},
}

TRAIN_CONFIG = """
[training]
batch_size = 16
epochs = 2
seed = 7
summaries_per_epoch = 2
validate_interval = 1
block_batches = 2
plot = {plot}
[optimizer]
name = "adam"
lr = 0.003
[schedule]
name = "exponential"
gamma = 0.5
[outputs.dir]
labels = ["dir_x", "dir_y", "dir_z"]
loss = "mse"
metrics = ["mae"]
"""


@pytest.fixture(scope="session")
def binned(tmp_path_factory, testdata):
    """All 500 events binned into one training file (session-wide, read-only)."""
    out = tmp_path_factory.mktemp("binned") / "muons.h5"
    bin_files(BIN_CONFIG, [testdata(SOURCE)], out)
    return out


def read_xy(path):
    with tables.open_file(str(path)) as h5:
        return h5.root.x[:], h5.root.y[:]


def write_subset(path, x, y):
    with TrainingFileWriter(path) as w:
        w.append(images={"/x": x}, tables={"/y": y})
    return Path(path)


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


def image_shape(path):
    with tables.open_file(str(path)) as h5:
        return tuple(h5.root.x.shape[1:])


def all_finite(a):
    return bool(np.all(np.isfinite(a)))
