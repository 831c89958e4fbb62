"""Parallel pipelines: speed-up of drain(workers=N) and drain(executor=dask) vs serial.

Run: PYTHONPATH=src python benchmarks/parallel.py --files 8 --rounds 1000 --reps 2

The job is a conversion HDF5Pump → Burn → HDF5Sink over ``--files`` copies of
km3net-testdata's online/events_sample.h5 (10 events, 1078 hits each): Burn is a CPU-bound
module (``rounds`` histograms of all hit-time differences of an event), so the ideal
speed-up is the number of cores used. Measured in one run, on one machine:

(a) serial ``drain()``;
(b) ``drain(workers=1)`` and (c) ``drain(workers=2)``: local process pool, pool start-up
    included in the time;
(d) ``drain(executor=client)`` on a 2-process Dask LocalCluster that is already running
    (its start-up time is printed apart);
(e) the limit on this machine at this moment: the same computation over the same hits
    without km3flow, a plain loop vs a bare 2-process ProcessPoolExecutor (forkserver,
    workers with km3flow's malloc settings);
    the machine is shared, so km3flow's speed-up is also given relative to this one;
(f) the throughput of merging HDF5 parts in the parent (merge_hdf5 over 4 copies of
    atmospheric_muons_sample.h5, 500 events and 2.2 M hits each);
(g) the per-task overhead of each executor, from 16 tasks that do almost nothing
    (reading /event_info of the same file, no module, no output):
    (wall × workers − Σ task wall) / tasks.

Every parallel output is checked against the serial file (all nodes' data equal).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import tables

from km3flow.core import Blob, Module, Pipeline
from km3flow.io.hdf5 import HDF5Pump, HDF5Sink
from km3flow.io.hdf5.merge import merge_hdf5
from km3flow.parallel.worker import tune_malloc


class Burn(Module):
    """CPU-bound stand-in for a reconstruction: histograms of hit-time differences."""

    def configure(self) -> None:
        self.rounds = int(self.get("rounds", default=1000))

    def process(self, blob: Blob) -> Blob:
        blob["burn"] = _burn(np.asarray(blob["Hits"].time, dtype=float), self.rounds)
        return blob


def _burn(t: np.ndarray, rounds: int) -> int:
    acc = 0
    for k in range(rounds):
        counts, _ = np.histogram(np.subtract.outer(t, t + k), bins=200)
        acc += int(counts.max())
    return acc


def _bare_file(path: str, rounds: int) -> int:
    """The benchmark's work on one file without km3flow: read hit times, burn."""
    with tables.open_file(path) as f:
        idx = f.get_node("/hits/_indices").read()
        times = f.get_node("/hits/time").read().astype(float)
    return sum(_burn(times[i:i + n], rounds) for i, n in zip(idx["index"], idx["n_items"]))


def _bare(files: list[str], rounds: int, workers: int) -> float:
    t0 = time.perf_counter()
    if workers == 0:
        for f in files:
            _bare_file(f, rounds)
    else:
        ctx = multiprocessing.get_context("forkserver")
        # Same allocator settings as km3flow's workers, so that the limit is comparable.
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=tune_malloc) as ex:
            list(ex.map(_bare_file, files, [rounds] * len(files)))
    return time.perf_counter() - t0


def _convert(files: list[str], out: str, rounds: int, **drain) -> tuple[float, Pipeline]:
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filenames=files)
    pipe.attach(Burn, rounds=rounds)
    pipe.attach(HDF5Sink, filename=out)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        pipe.drain(**drain)
    return time.perf_counter() - t0, pipe


def _empty_tasks(files: list[str], **drain) -> tuple[float, Pipeline]:
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filenames=files, h5locs=["/event_info"])
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        pipe.drain(**drain)
    return time.perf_counter() - t0, pipe


def _same(a: str, b: str) -> bool:
    with tables.open_file(a) as fa, tables.open_file(b) as fb:
        for node in fa.walk_nodes("/", classname="Leaf"):
            if "/_i_" in node._v_pathname or node._v_pathname == "/km3flow_provenance":
                continue
            if node.read().tobytes() != fb.get_node(node._v_pathname).read().tobytes():
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster
    from km3net_testdata import data_path

    tmp = tempfile.mkdtemp(prefix="km3flow-bench-parallel-")
    try:
        src = data_path("online/events_sample.h5")
        files = []
        for i in range(args.files):  # real copies, as on a farm: one file per run
            files.append(os.path.join(tmp, f"run{i:03d}.h5"))
            shutil.copy(src, files[-1])
        results: dict[str, list[float]] = {}
        overhead: dict[str, float] = {}
        merge_rates: list[tuple[float, float]] = []
        serial_out = os.path.join(tmp, "serial.h5")

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
        dask_start = time.perf_counter() - t0
        try:
            runs = {
                "serial": {},
                "pool, 1 worker": {"workers": 1},
                "pool, 2 workers": {"workers": 2},
                "dask, 2 workers": {"executor": client},
            }
            for _ in range(args.reps):
                results.setdefault("bare loop", []).append(_bare(files, args.rounds, 0))
                results.setdefault("bare pool, 2 procs", []).append(
                    _bare(files, args.rounds, 2))
                for label, drain in runs.items():
                    out = serial_out if label == "serial" else os.path.join(tmp, "par.h5")
                    cpu0 = time.process_time()
                    wall, pipe = _convert(files, out, args.rounds, **drain)
                    if label == "serial":
                        cpu = time.process_time() - cpu0
                        print(f"# serial: wall {wall:.2f} s, CPU {cpu:.2f} s", file=sys.stderr)
                    results.setdefault(label, []).append(wall)
                    if label != "serial":
                        if not _same(serial_out, out):
                            raise SystemExit(f"{label}: output differs from the serial run")
                        summary = pipe.parallel_summary
                        busy = sum(t.wall for t in summary.tasks)
                        cpu = sum(t.cpu for t in summary.tasks)
                        first = min(t.started for t in summary.tasks) - (time.time() - wall)
                        print(f"# {label}: wall {wall:.2f} s, Σ task wall {busy:.2f} s, "
                              f"Σ task CPU {cpu:.2f} s, first task started after {first:.2f} s, "
                              f"merge {summary.merge_wall:.2f} s", file=sys.stderr)
                        overhead[f"{label} (CPU-bound run)"] = summary.overhead_per_task
                        merge_rates.append((os.path.getsize(out) / 1e6, summary.merge_wall))
            empty = files[:1] * 16
            for label, drain in list(runs.items())[1:]:
                wall, pipe = _empty_tasks(empty, **drain)
                overhead[f"{label} (16 empty tasks)"] = pipe.parallel_summary.overhead_per_task
                overhead[f"{label} (16 empty tasks, wall per task)"] = wall / 16
        finally:
            client.close()
            cluster.close()

        merge_in = [data_path("hdf5/atmospheric_muons_sample.h5")] * 4
        merged = os.path.join(tmp, "merged.h5")
        t0 = time.perf_counter()
        merge_hdf5(merge_in, merged)
        merge_sec = time.perf_counter() - t0
        merge_mb = os.path.getsize(merged) / 1e6
        with tables.open_file(merged) as f:
            merge_hits = f.get_node("/hits/time").nrows
        serial = statistics.median(results["serial"])
        bare = statistics.median(results["bare loop"]) / statistics.median(
            results["bare pool, 2 procs"])
        print(f"{args.files} files × 10 events, Burn rounds={args.rounds}, "
              f"{os.cpu_count()} CPUs, reps={args.reps}; median wall per configuration")
        for label, walls in results.items():
            w = statistics.median(walls)
            print(f"  {label:<18} {w:7.2f} s   speed-up vs serial {serial / w:5.2f}x   "
                  f"(min {min(walls):.2f}, max {max(walls):.2f})")
        for label in ("pool, 2 workers", "dask, 2 workers"):
            speedup = serial / statistics.median(results[label])
            print(f"  {label}: speed-up {speedup:.2f}x = {speedup / bare:.2f} of the bare "
                  f"2-process speed-up ({bare:.2f}x) measured in this run")
        print(f"  Dask LocalCluster start-up (not in the times above): {dask_start:.2f} s")
        print("per-task overhead, (wall × workers − Σ task wall) / tasks:")
        for label, value in overhead.items():
            print(f"  {label:<48} {value * 1000:8.1f} ms")
        mb, sec = max(merge_rates, key=lambda r: r[0] / r[1])
        print(f"merging the parts in the parent: {mb:.2f} MB in {sec:.3f} s "
              f"({mb / sec:.1f} MB/s of compressed output, best run)")
        print(f"merge_hdf5 of 4 × atmospheric_muons_sample.h5: {merge_mb:.1f} MB, "
              f"{merge_hits / 1e6:.1f} M hits in {merge_sec:.2f} s = {merge_mb / merge_sec:.1f} "
              f"MB/s compressed, {merge_hits / merge_sec / 1e6:.2f} M hits/s")
        print(f"outputs identical to the serial run: yes ({sys.argv[0]})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
