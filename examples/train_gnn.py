"""Bin the testdata muons into point clouds and train an EdgeConv graph network on them.

Run from the repository root::

    PYTHONPATH=src python examples/train_gnn.py [OUTPUT_FOLDER]

Steps:

1. The hits of the 500 MUPAGE events of ``hdf5/atmospheric_muons_sample.h5`` are
   calibrated with a 115-string ORCA detector from km3net-testdata (its DOM ids renumbered
   to the sample's ``100 * du + floor``), and their triggered hits (at most 64 per event,
   a seeded random subset) become point clouds: position, PMT direction, time relative to
   the mean triggered time, ToT — what ``km3flow bin`` does with ``kind = "points"``.
2. The events are split into a training (400) and a validation (100) file.
3. The :class:`~km3flow.ml.Organizer` trains :func:`~km3flow.ml.models.edgeconv_net`
   (k nearest neighbours in x, y, z, c·t) on the CPU: the muon direction (mse, with the
   68 % space-angle resolution) and log10 of its energy with a Gaussian likelihood (mean and
   sigma, with the pull). It writes ``summary.txt``, ``summary.pdf``/``summary.png``,
   per-batch logs and checkpoints; running the script again continues from the last
   checkpoint (give ``--epochs N`` to train further).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import tables
import torch
from km3net_testdata import data_path

from km3flow.io.detector import read_detector
from km3flow.ml import Organizer
from km3flow.ml.binjob import bin_files
from km3flow.ml.h5layout import TrainingFileWriter
from km3flow.ml.models import edgeconv_net

COLUMNS = ["pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "time", "tot"]

TRAIN_CONFIG = """
[training]
batch_size = 32
epochs = {epochs}
seed = 1
summaries_per_epoch = 2
validate_interval = 1
device = "cpu"
[optimizer]
name = "adam"
lr = 0.003
[schedule]
name = "exponential"
gamma = 0.9
[outputs.dir]
labels = ["dir_x", "dir_y", "dir_z"]
loss = "mse"
metrics = ["resolution"]
[outputs.energy]
labels = ["energy"]
transform = "log10"
loss = "gaussian_nll"
weight = 0.3
metrics = ["resolution", "pull"]
"""


def detector(folder: Path) -> Path:
    """The ORCA-115 detector with DOM ids ``100 * du + floor``, as the sample's hits have."""
    det = read_detector(
        data_path("detx/orca_115strings_av20min17mhorizontal_18OMs_alt9mvertical_v2.detx"))
    with det.edit():
        det.doms["dom_id"] = det.doms["du"] * 100 + det.doms["floor"]
        det.pmts["dom_id"] = det.pmts["du"] * 100 + det.pmts["floor"]
    path = folder / "orca115.detx"
    det.write(path)
    return path


def split_points(source: Path, target: Path, events: slice) -> None:
    """Copy some events of a point file into a new one."""
    with tables.open_file(str(source)) as h5:
        idx = h5.root.x_indices[events]
        first, last = int(idx["index"][0]), int(idx["index"][-1] + idx["n_items"][-1])
        points, labels = h5.root.x[first:last], h5.root.y[events]
    with TrainingFileWriter(target, complib="blosc:lz4") as writer:
        writer.append_points("/x", points, idx["n_items"], COLUMNS, tables={"/y": labels})


def prepare(folder: Path) -> None:
    """Bin the events and write train/validation files and the list file."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "list.toml").exists():
        return
    config = {
        "binning": {"kind": "points", "time_reference": "mean_triggered"},
        "points": {"columns": COLUMNS, "only_triggered": True, "max_hits": 64, "seed": 1,
                   "detector": str(detector(folder))},
        "labels": {"columns": ["dir_x", "dir_y", "dir_z", "energy"],
                   "event_info": ["event_id", "run_id"]},
    }
    binned = folder / "all_events.h5"
    info = bin_files(config, [data_path("hdf5/atmospheric_muons_sample.h5")], binned,
                     engine="chunked")
    print(f"wrote {info['hits']} hits of {info['events']} events as points "
          f"({', '.join(info['columns'])})")
    split_points(binned, folder / "train.h5", slice(0, 400))
    split_points(binned, folder / "validation.h5", slice(400, 500))
    (folder / "list.toml").write_text(
        '[input points]\ntrain_files = ["train.h5"]\nvalidation_files = ["validation.h5"]\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", help="folder (default: a new temporary one)")
    parser.add_argument("--epochs", type=int, default=4, help="train until this many epochs")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the network is small, and more "
                             "threads only contend on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="km3flow_"))
    prepare(folder)
    (folder / "config.toml").write_text(TRAIN_CONFIG.format(epochs=args.epochs))
    organizer = Organizer(folder / "training", folder / "list.toml", folder / "config.toml")
    train = organizer.input_set("train")
    sizes = {name: out.size for name, out in organizer.cfg.outputs.items()}
    model = edgeconv_net(train.sample_shapes, sizes, train.columns)
    start = time.perf_counter()
    organizer.train_and_validate(model)
    print((folder / "training" / "summary.txt").read_text())
    print(f"trained in {time.perf_counter() - start:.1f} s; summary plot: "
          f"{folder / 'training' / 'summary.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
