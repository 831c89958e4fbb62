"""Check the CUDA path of the training organiser: a tiny training on the GPU.

Run from the repository root (on a machine with a GPU; falls back to the CPU)::

    PYTHONPATH=src python examples/gpu_check.py [--events 4000] [--epochs 3]

Bins the km3net-testdata MUPAGE events (repeated to ``--events``), trains
:class:`~km3flow.ml.models.SmallCNN` with ``device = "cuda"`` through the
:class:`~km3flow.ml.Organizer` and prints the device, the training samples/s (from the
per-batch timing of the last epoch) and the final losses. Exit code 0 when the losses are
finite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tables
import torch
from km3net_testdata import data_path

from km3flow.ml import Organizer
from km3flow.ml.binjob import bin_files
from km3flow.ml.h5layout import TrainingFileWriter
from km3flow.ml.models import small_cnn

CONFIG = """
[training]
batch_size = {batch}
epochs = {epochs}
seed = 1
device = "{device}"
summaries_per_epoch = 1
plot = false
[optimizer]
lr = 0.003
[outputs.dir]
labels = ["dir_x", "dir_y", "dir_z"]
loss = "mse"
metrics = ["mae"]
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(f"torch {torch.__version__}, device {device} ({name})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bin_files({"binning": {}, "labels": {"columns": ["dir_x", "dir_y", "dir_z"]},
                   "dimensions": [{"column": "dom_id", "categories": "auto"},
                                  {"column": "time", "range": [-500.0, 1500.0], "bins": 20}]},
                  [data_path("hdf5/atmospheric_muons_sample.h5")], folder / "base.h5")
        with tables.open_file(str(folder / "base.h5")) as h5:
            x, y = h5.root.x[:], h5.root.y[:]
        reps = -(-args.events // len(x))
        with TrainingFileWriter(folder / "train.h5", complib="blosc:lz4") as w:
            w.append(images={"/x": np.concatenate([x] * reps)[:args.events]},
                     tables={"/y": np.concatenate([y] * reps)[:args.events]})
        with TrainingFileWriter(folder / "val.h5", complib="blosc:lz4") as w:
            w.append(images={"/x": x[:200]}, tables={"/y": y[:200]})
        (folder / "list.toml").write_text(
            "[input xy]\ntrain_files = ['train.h5']\nvalidation_files = ['val.h5']\n")
        (folder / "config.toml").write_text(CONFIG.format(
            batch=args.batch_size, epochs=args.epochs, device=device))
        org = Organizer(folder / "out", folder / "list.toml", folder / "config.toml")
        org.progress = False
        model = small_cnn({"xy": x.shape[1:]}, {"dir": 3})
        org.train_and_validate(model, epochs=1)  # warm-up (CUDA context, kernels)
        t0 = time.perf_counter()
        org.train_and_validate(model)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        n = args.events * (args.epochs - 1)
        summary = org.get_summary_data()
        last = summary[-1]
        print(f"image shape {x.shape[1:]}, {args.events} events/epoch, "
              f"parameters on {next(model.parameters()).device}")
        print(f"{n / dt:.0f} samples/s over {args.epochs - 1} epochs "
              f"(incl. validation and checkpoints)")
        print(f"final train_loss {last['train_loss']:.4g}, val_loss {last['val_loss']:.4g}")
        ok = np.isfinite(summary["train_loss"]).all() and np.isfinite(last["val_loss"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
