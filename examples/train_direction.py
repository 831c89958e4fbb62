"""Bin the MC events of km3net-testdata and train a tiny CNN on the muon direction.

Run from the repository root::

    PYTHONPATH=src python examples/train_direction.py [OUTPUT_FOLDER]

Steps:

1. ``bin_files`` turns the hits of the 500 MUPAGE events in
   ``hdf5/atmospheric_muons_sample.h5`` (KM3Pipe layout) into PMT-channel × time images
   with the first MC track's direction as labels (what ``km3flow bin`` does),
2. the events are split into a training and a validation file,
3. the :class:`~km3flow.ml.Organizer` trains :class:`~km3flow.ml.models.SmallCNN` for a few
   epochs on the CPU and writes ``summary.txt``, ``summary.pdf``/``summary.png``, per-batch
   logs and checkpoints; running the script again continues from the last checkpoint,
4. predictions for the validation file are written next to its labels.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import tables
from km3net_testdata import data_path

from km3flow.ml import Organizer
from km3flow.ml.binjob import bin_files
from km3flow.ml.h5layout import TrainingFileWriter
from km3flow.ml.models import small_cnn

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
batch_size = 32
epochs = 6
seed = 1
summaries_per_epoch = 2
validate_interval = 1
device = "cpu"
[optimizer]
name = "adam"
lr = 0.003
[schedule]
name = "exponential"
gamma = 0.8
[outputs.dir]
labels = ["dir_x", "dir_y", "dir_z"]
loss = "mse"
metrics = ["mae"]
"""


def prepare(folder: Path) -> None:
    """Bin the events and write train/validation files, list and config."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "list.toml").exists():
        return
    binned = folder / "all_events.h5"
    info = bin_files(BIN_CONFIG, [data_path("hdf5/atmospheric_muons_sample.h5")], binned)
    print(f"binned {info['events']} events into images of shape {info['shape']}")
    with tables.open_file(str(binned)) as h5:
        x, y = h5.root.x[:], h5.root.y[:]
    for name, rows in (("train", slice(0, 400)), ("validation", slice(400, None))):
        with TrainingFileWriter(folder / f"{name}.h5", complib="blosc:lz4") as writer:
            writer.append(images={"/x": x[rows]}, tables={"/y": y[rows]})
    (folder / "list.toml").write_text(
        '[input xy]\ntrain_files = ["train.h5"]\nvalidation_files = ["validation.h5"]\n')
    (folder / "config.toml").write_text(TRAIN_CONFIG)


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="km3flow_"))
    prepare(folder)
    organizer = Organizer(folder / "training", folder / "list.toml", folder / "config.toml")
    model = small_cnn(organizer.input_set("train").sample_shapes, {"dir": 3})
    organizer.train_and_validate(model)
    print((folder / "training" / "summary.txt").read_text())
    for path in organizer.predict():
        print(f"predictions: {path}")
    print(f"summary plot: {folder / 'training' / 'summary.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
