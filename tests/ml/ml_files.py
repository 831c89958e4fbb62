"""Shared constants and file helpers of the ml tests (imported by tests and conftest)."""

from __future__ import annotations

from pathlib import Path

import tables

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


def read_xy(path):
    with tables.open_file(str(path)) as h5:
        return h5.root.x[:], h5.root.y[:]


def write_subset(path, x, y):
    with TrainingFileWriter(path) as w:
        w.append(images={"/x": x}, tables={"/y": y})
    return Path(path)
