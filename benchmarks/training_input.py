"""Training input speed: km3flow's batch reader vs the same arrays served from memory.

The images are binned from the real MUPAGE events of km3net-testdata
(``hdf5/atmospheric_muons_sample.h5``, 500 events, repeated to ``--events``) as
DOM (2070 DOM ids) × time (``--time-bins``) histograms, written as KM3Pipe-layout training
files with several compressions. Every variant produces shuffled batches of torch tensors
(float32 images + a labels tensor, converted from the stored dtype), as the organiser's
training loop consumes them:

- ``memory``: the limit — all arrays in RAM, a random permutation, fancy indexing per batch
- ``km3flow <complib>``: :class:`km3flow.ml.dataset.BatchReader` on the file (shuffled
  blocks, one contiguous read per block), single process and with DataLoader workers

Usage::

    python benchmarks/training_input.py --events 2000 --batch-size 64 --reps 3 --dtype uint8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from km3net_testdata import data_path

from km3flow.ml.binjob import bin_files
from km3flow.ml.dataset import BatchReader, InputSet
from km3flow.ml.h5layout import TrainingFileWriter

VARIANTS = (("zlib", 5, True), ("blosc:lz4", 5, True), ("none", 0, False))


def make_files(folder: Path, n_events: int, time_bins: int, dtype: str) -> dict[str, Path]:
    config = {
        "binning": {"time_reference": "mean_triggered", "dtype": dtype},
        "dimensions": [{"column": "dom_id", "categories": "auto"},
                       {"column": "time", "range": [-500.0, 1500.0], "bins": time_bins}],
        "labels": {"columns": ["dir_x", "dir_y", "dir_z", "energy"]},
    }
    base = folder / "base.h5"
    bin_files(config, [data_path("hdf5/atmospheric_muons_sample.h5")], base)
    import tables

    with tables.open_file(str(base)) as h5:
        x, y = h5.root.x[:], h5.root.y[:]
    reps = -(-n_events // len(x))
    x = np.concatenate([x] * reps)[:n_events]
    y = np.concatenate([y] * reps)[:n_events]
    files = {}
    for complib, level, fletcher32 in VARIANTS:
        path = folder / f"train_{complib.replace(':', '_')}.h5"
        with TrainingFileWriter(path, complib=complib, complevel=level,
                                fletcher32=fletcher32) as w:
            for s in range(0, n_events, 500):
                w.append(images={"/x": x[s:s + 500]}, tables={"/y": y[s:s + 500]})
        files[complib] = path
    files["_arrays"] = (x, y)  # type: ignore[assignment]
    return files


def to_tensors(torch, x, y):
    tx = torch.as_tensor(x, dtype=torch.float32)
    ty = torch.as_tensor(np.stack([y["dir_x"], y["dir_y"], y["dir_z"]], axis=1))
    return tx, ty


def run_memory(torch, x, y, batch_size, epoch):
    rng = np.random.default_rng(epoch)
    perm = rng.permutation(len(x))
    n = 0
    for s in range(0, len(x), batch_size):
        idx = perm[s:s + batch_size]
        tx, _ = to_tensors(torch, x[idx], y[idx])
        n += len(tx)
    return n


def run_reader(torch, path, batch_size, epoch, workers):
    from km3flow.ml.torchdata import make_loader

    reader = BatchReader(InputSet({"xy": [path]}), batch_size, shuffle=True, block_batches=8,
                         seed=1)
    reader.set_epoch(epoch)
    n = 0
    for batch in make_loader(reader, workers):
        tx, _ = to_tensors(torch, batch.x["xy"], batch.y)
        n += len(tx)
    return n


def timed(fn, reps):
    times, n = [], 0
    for r in range(reps):
        t0 = time.perf_counter()
        n = fn(r)
        times.append(time.perf_counter() - t0)
    return n, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--time-bins", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dtype", default="uint8", help="image dtype in the files")
    args = parser.parse_args(argv)
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), args.events, args.time_bins, args.dtype)
        x, y = files.pop("_arrays")
        print(f"{args.events} events, images {x.shape[1:]} {x.dtype} "
              f"({x[0].nbytes / 1024:.0f} KiB each), batch size {args.batch_size}, "
              f"{os.cpu_count()} CPUs, torch {torch.__version__}")
        for name, path in files.items():
            print(f"  {name:10s} file: {path.stat().st_size / 2**20:7.1f} MiB")
        n, t_mem = timed(lambda r: run_memory(torch, x, y, args.batch_size, r), args.reps)
        limit = n / statistics.median(t_mem)
        print(f"{'variant':28s} {'samples/s (median)':>20s} {'min..max':>20s} {'ratio':>7s}")
        print(f"{'memory (limit)':28s} {limit:20.0f} "
              f"{n / max(t_mem):9.0f}..{n / min(t_mem):<9.0f} {1.0:7.2f}")
        for complib, path in files.items():
            for workers in (0, args.workers):
                def read(r, p=path, w=workers):
                    return run_reader(torch, p, args.batch_size, r, w)

                n, ts = timed(read, args.reps)
                rate = n / statistics.median(ts)
                label = f"km3flow {complib}, {workers} workers"
                print(f"{label:28s} {rate:20.0f} {n / max(ts):9.0f}..{n / min(ts):<9.0f} "
                      f"{rate / limit:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
