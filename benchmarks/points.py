"""Point-cloud input and graph-network speed: batches from file vs memory, EdgeConv forward.

The point clouds are the triggered hits (at most ``--max-hits`` per event) of the 500 MUPAGE
events of km3net-testdata (``hdf5/atmospheric_muons_sample.h5``) calibrated with the
115-string ORCA detector (DOM ids renumbered to the sample's), 8 columns per hit, repeated
to ``--events`` events. Every variant yields shuffled, zero-padded batches of torch tensors
(points, mask, labels), as the organiser's training loop consumes them:

- ``memory``: the limit — all rows and the index in RAM, and one
  :func:`~km3flow.ml.dataset.pad_points` per batch for exactly the events of the file
  reader's batches (collected beforehand)
- ``file <complib>``: :class:`~km3flow.ml.dataset.BatchReader` on a point file (shuffled
  blocks, one contiguous read per block)

Then the forward pass of :func:`~km3flow.ml.models.edgeconv_net` (kNN with k = 16 and two
EdgeConv blocks) on such batches, in evaluation mode, per event. The best (minimum) time of
``--reps`` repetitions is reported: the machine is shared, and the minimum is the least
disturbed run.

Usage::

    python benchmarks/points.py --events 20000 --batch-size 64 --reps 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from km3net_testdata import data_path

from km3flow.io.detector import read_detector
from km3flow.ml.binjob import bin_files
from km3flow.ml.dataset import BatchReader, InputSet, pad_points
from km3flow.ml.h5layout import TrainingFileWriter

COLUMNS = ["pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "time", "tot"]
DETX = "detx/orca_115strings_av20min17mhorizontal_18OMs_alt9mvertical_v2.detx"


def make_files(folder: Path, n_events: int, max_hits: int) -> dict:
    det = read_detector(data_path(DETX))
    with det.edit():
        det.doms["dom_id"] = det.doms["du"] * 100 + det.doms["floor"]
        det.pmts["dom_id"] = det.pmts["du"] * 100 + det.pmts["floor"]
    config = {"binning": {"kind": "points"},
              "points": {"columns": COLUMNS, "only_triggered": True, "max_hits": max_hits,
                         "detector": det},
              "labels": {"columns": ["dir_x", "dir_y", "dir_z", "energy"]}}
    base = folder / "base.h5"
    bin_files(config, [data_path("hdf5/atmospheric_muons_sample.h5")], base, engine="chunked")
    import tables

    with tables.open_file(str(base)) as h5:
        x, idx, y = h5.root.x[:], h5.root.x_indices[:], h5.root.y[:]
    reps = -(-n_events // len(idx))
    counts = np.concatenate([idx["n_items"]] * reps)[:n_events]
    rows = np.concatenate([x] * reps)[:int(counts.sum())]
    labels = np.concatenate([y] * reps)[:n_events]
    files = {}
    # checksums on compressed files (cheap there), none on the uncompressed one
    for complib, level, fletcher32 in (("blosc:lz4", 5, True), ("none", 0, False)):
        path = folder / f"points_{complib.replace(':', '_')}.h5"
        with TrainingFileWriter(path, complib=complib, complevel=level,
                                fletcher32=fletcher32) as w:
            w.append_points("/x", rows, counts, COLUMNS, tables={"/y": labels})
        files[complib] = path
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return {"files": files, "memory": (rows, starts, counts, labels)}


def tensors(torch, x, mask, y):
    return (torch.from_numpy(x), torch.from_numpy(mask),
            torch.from_numpy(np.stack([y["dir_x"], y["dir_y"], y["dir_z"]], axis=1)))


def batch_rows(path, batch_size, epoch):
    """The events of every batch the file reader gives in ``epoch``."""
    reader = BatchReader(InputSet({"p": [path]}), batch_size, shuffle=True, block_batches=8,
                         seed=1)
    reader.set_epoch(epoch)
    return [b.rows for b in reader]


def run_memory(torch, data, batches):
    rows, starts, counts, labels = data
    n = 0
    for sel in batches:
        x, mask = pad_points(rows, starts[sel], counts[sel])
        tensors(torch, x, mask, labels[sel])
        n += 1
    return n


def run_file(torch, path, batch_size, epoch):
    reader = BatchReader(InputSet({"p": [path]}), batch_size, shuffle=True, block_batches=8,
                         seed=1)
    reader.set_epoch(epoch)
    n = 0
    for batch in reader:
        tensors(torch, batch.x["p"], batch.mask["p"], batch.y)
        n += 1
    return n


def best(fn, reps):
    """(items per second, best wall time, best CPU time) over ``reps`` runs."""
    times, cpu, n = [], [], 0
    for r in range(reps):
        t, c = time.perf_counter(), time.process_time()
        n = fn(r)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return n / min(times), min(times), min(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-hits", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (forward)")
    args = parser.parse_args(argv)
    import torch

    from km3flow.ml.models import edgeconv_net

    with tempfile.TemporaryDirectory() as tmp:
        made = make_files(Path(tmp), args.events, args.max_hits)
        hits = int(made["memory"][2].sum())
        print(f"{args.events} events, {hits} hits ({hits / args.events:.1f} per event, at most "
              f"{args.max_hits}), batch size {args.batch_size}, best of {args.reps}")
        rows = {r: batch_rows(made["files"]["none"], args.batch_size, r)
                for r in range(args.reps)}
        n_batches = len(rows[0])
        mem, _, mem_cpu = best(lambda r: run_memory(torch, made["memory"], rows[r]), args.reps)
        print(f"memory              {mem:9.1f} batches/s wall, {n_batches / mem_cpu:9.1f} CPU")
        for complib, path in made["files"].items():
            rate, _, cpu = best(lambda r: run_file(torch, path, args.batch_size, r), args.reps)
            size = path.stat().st_size / 2**20
            print(f"file {complib:<10} {rate:9.1f} batches/s wall, {n_batches / cpu:9.1f} CPU;"
                  f" ratio to memory {rate / mem:.2f} wall, {mem_cpu / cpu:.2f} CPU"
                  f"  ({size:.1f} MiB)")
        torch.set_num_threads(args.threads)
        model = edgeconv_net({"p": (8,)}, {"dir": 3}, {"p": COLUMNS}).eval()
        reader = BatchReader(InputSet({"p": [made["files"]["none"]]}), args.batch_size)
        batches = [(torch.from_numpy(b.x["p"]), torch.from_numpy(b.mask["p"]))
                   for _, b in zip(range(10), reader)]
        reader.close()
        n_events = sum(len(x) for x, _ in batches)

        def forward(_):
            with torch.no_grad():
                for x, mask in batches:
                    model({"points": x, "mask": mask})
            return n_events

        rate, _, cpu = best(forward, args.reps)
        print(f"edgeconv_net forward (kNN k=16, 2 EdgeConv blocks, {args.threads} thread(s)): "
              f"{1e6 / rate:.0f} us per event wall, {1e6 * cpu / n_events:.0f} us CPU "
              f"({rate:.0f} events/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
