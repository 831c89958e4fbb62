"""Benchmark: HDF5 writing and reading, km3flow vs bulk PyTables (the limit) vs KM3Pipe.

Every cycle holds a 50-row hits table (10 columns, split per column as KM3NeT hits are)
and a 1-row event table. Written (zlib 5 + shuffle + Fletcher32 everywhere):

  (a) bulk: one PyTables append per node of all rows (same layout), the limit;
  (b) km3flow: a Pipeline with a source module and HDF5Sink;
  (c) KM3Pipe: its Pipeline + HDF5Sink, run with /work/refvenv/bin/python if km3pipe is
      installed there (on fewer cycles by default: it is slow; rates are compared).

Read back: (a) bulk ``read()`` of every node, (b) iterating HDF5Pump, (c) KM3Pipe's
HDF5Pump over the km3flow-written file. Each phase runs in its own process, which also
reports its peak RSS (memory should follow the chunk size, not the file size).

    python benchmarks/hdf5_io.py --n 100000 --n-km3pipe 5000 [--ref-python PATH]

Small blobs (``--small 20000 80000 [--split]``): every blob holds ONE 50-row table (the same 10
columns, one compound HDF5 table, not split), written by a Pipeline + HDF5Sink against
one bulk PyTables append of all rows (with their group_id column) into a table of the
same layout; at each given number of blobs, to show the ratio stays flat with the file
size. Times there are CPU times of the writing process (user + system: the machine may be
shared), best of ``--reps``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HITS_DTYPE = np.dtype([
    ("channel_id", "u1"), ("dom_id", "<u4"), ("time", "<f8"), ("tot", "u1"), ("triggered", "?"),
    ("pos_x", "<f8"), ("pos_y", "<f8"), ("pos_z", "<f8"), ("t0", "<f8"), ("pmt_id", "<u4"),
])
EVENT_DTYPE = np.dtype([("det_id", "<i4"), ("run_id", "<u4"), ("frame_index", "<u4"),
                        ("trigger_counter", "<u8"), ("n_hits", "<u4"), ("energy", "<f8")])
HITS_PER_CYCLE = 50
POOL = 1000  # distinct cycles, reused cyclically so the source does not dominate memory
REFPY = "/work/refvenv/bin/python"
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def make_pool(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hits = np.zeros(POOL * HITS_PER_CYCLE, dtype=HITS_DTYPE)
    hits["channel_id"] = rng.integers(0, 31, len(hits))
    hits["dom_id"] = rng.integers(800000000, 800000100, len(hits))
    hits["time"] = np.sort(rng.random(len(hits)) * 1e7)
    hits["tot"] = rng.integers(0, 255, len(hits))
    hits["triggered"] = rng.random(len(hits)) < 0.2
    for c in ("pos_x", "pos_y", "pos_z"):
        hits[c] = rng.normal(0, 100, len(hits))
    hits["t0"] = rng.normal(0, 50, len(hits))
    hits["pmt_id"] = rng.integers(0, 100000, len(hits))
    events = np.zeros(POOL, dtype=EVENT_DTYPE)
    events["det_id"] = 49
    events["run_id"] = 8456
    events["frame_index"] = np.arange(POOL)
    events["trigger_counter"] = np.arange(POOL)
    events["n_hits"] = HITS_PER_CYCLE
    events["energy"] = rng.exponential(100, POOL)
    return hits, events


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- phases (each runs in its own process) ------------------------------------------------
def bulk_write(n: int, path: str) -> dict:
    import tables as tb

    hits_pool, ev_pool = make_pool()
    reps = -(-n // POOL)
    hits = np.tile(hits_pool, reps)[: n * HITS_PER_CYCLE]
    events = np.tile(ev_pool, reps)[:n]
    gid = np.arange(n, dtype=np.int64)
    filters = tb.Filters(complevel=5, complib="zlib", shuffle=True, fletcher32=True)
    t0 = time.perf_counter()
    with tb.open_file(path, "w", title="KM3NeT") as h5:
        group = h5.create_group("/", "hits", "Hits")
        hits_gid = np.repeat(gid, HITS_PER_CYCLE)
        for name in HITS_DTYPE.names + ("group_id",):
            col = hits_gid if name == "group_id" else hits[name]
            arr = h5.create_earray(group, name, tb.Atom.from_dtype(col.dtype), (0,),
                                   name.capitalize(), filters=filters, expectedrows=len(col))
            arr.append(col)
        idx = np.empty(n, dtype=[("index", "<i8"), ("n_items", "<i8")])
        idx["index"] = gid * HITS_PER_CYCLE
        idx["n_items"] = HITS_PER_CYCLE
        h5.create_table(group, "_indices", obj=idx, filters=filters, title="Indices")
        ev = np.empty(n, dtype=EVENT_DTYPE.descr + [("group_id", "<i8")])
        for name in EVENT_DTYPE.names:
            ev[name] = events[name]
        ev["group_id"] = gid
        h5.create_table("/", "event_info", obj=ev, filters=filters, title="EventInfo")
        gi = np.empty(n, dtype=[("blob_length", "<i8"), ("group_id", "<i8")])
        gi["blob_length"] = 2
        gi["group_id"] = gid
        h5.create_table("/", "group_info", obj=gi, filters=filters, title="Group Info")
    return {"seconds": time.perf_counter() - t0, "cycles": n, "maxrss_mb": maxrss_mb()}


def bulk_read(path: str) -> dict:
    import tables as tb

    t0 = time.perf_counter()
    n = 0
    with tb.open_file(path) as h5:
        for node in h5.walk_nodes("/", classname="Leaf"):
            data = node.read()
            if node._v_pathname == "/group_info":
                n = len(data)
    return {"seconds": time.perf_counter() - t0, "cycles": n, "maxrss_mb": maxrss_mb()}


def _kf_source_pipeline(n: int, path: str):
    sys.path.insert(0, SRC)
    from km3flow.core import Module, Pipeline
    from km3flow.dataclasses import Table
    from km3flow.io.hdf5 import HDF5Sink

    hits_pool, ev_pool = make_pool()
    hits_tab = Table(hits_pool, h5loc="/hits", split_h5=True, name="Hits")
    ev_tab = Table(ev_pool, h5loc="/event_info", name="EventInfo")

    class Source(Module):
        def configure(self):
            self.i = 0

        def process(self, blob):
            k = self.i % POOL
            blob["Hits"] = hits_tab[k * HITS_PER_CYCLE:(k + 1) * HITS_PER_CYCLE]
            blob["EventInfo"] = ev_tab[k:k + 1]
            self.i += 1
            return blob

    pipe = Pipeline()
    pipe.attach(Source)
    pipe.attach(HDF5Sink, filename=path)
    return pipe


def kf_write(n: int, path: str) -> dict:
    pipe = _kf_source_pipeline(n, path)
    t0 = time.perf_counter()
    pipe.drain(n)
    return {"seconds": time.perf_counter() - t0, "cycles": n, "maxrss_mb": maxrss_mb()}


def kf_read(path: str) -> dict:
    sys.path.insert(0, SRC)
    from km3flow.io.hdf5 import HDF5Pump

    t0 = time.perf_counter()
    n = 0
    rows = 0
    with HDF5Pump(filename=path) as pump:
        for blob in pump:
            rows += len(blob["Hits"]) + len(blob["EventInfo"])
            n += 1
    return {"seconds": time.perf_counter() - t0, "cycles": n, "rows": rows,
            "maxrss_mb": maxrss_mb()}


def kp_write(n: int, path: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import km3pipe as kp

    hits_pool, ev_pool = make_pool()
    hits_tab = kp.Table(hits_pool, h5loc="/hits", split_h5=True, name="Hits")
    ev_tab = kp.Table(ev_pool, h5loc="/event_info", name="EventInfo")

    class Source(kp.Module):
        def configure(self):
            self.i = 0

        def process(self, blob):
            k = self.i % POOL
            blob["Hits"] = hits_tab[k * HITS_PER_CYCLE:(k + 1) * HITS_PER_CYCLE]
            blob["EventInfo"] = ev_tab[k:k + 1]
            self.i += 1
            return blob

    pipe = kp.Pipeline()
    pipe.attach(Source)
    pipe.attach(kp.io.HDF5Sink, filename=path)
    t0 = time.perf_counter()
    pipe.drain(n)
    return {"seconds": time.perf_counter() - t0, "cycles": n, "maxrss_mb": maxrss_mb()}


def kp_read(path: str, n: int) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    from km3pipe.io.hdf5 import HDF5Pump

    pump = HDF5Pump(filename=path)
    n = min(n, pump._n_groups)
    t0 = time.perf_counter()
    rows = 0
    for i in range(n):
        blob = pump.get_blob(i)
        rows += len(blob["Hits"]) + len(blob["EventInfo"])
    seconds = time.perf_counter() - t0
    pump.finish()
    return {"seconds": seconds, "cycles": n, "rows": rows, "maxrss_mb": maxrss_mb()}


def _cpu() -> float:
    return time.process_time()


def bulk_write_small(n: int, path: str, split: int = 0) -> dict:
    import tables as tb

    hits_pool, _ = make_pool()
    reps = -(-n // POOL)
    hits = np.tile(hits_pool, reps)[: n * HITS_PER_CYCLE]
    filters = tb.Filters(complevel=5, complib="zlib", shuffle=True, fletcher32=True)
    t0 = _cpu()
    rows = np.empty(len(hits), dtype=HITS_DTYPE.descr + [("group_id", "<i8")])
    for name in HITS_DTYPE.names:
        rows[name] = hits[name]
    rows["group_id"] = np.repeat(np.arange(n, dtype=np.int64), HITS_PER_CYCLE)
    with tb.open_file(path, "w", title="KM3NeT") as h5:
        if split:  # one EArray per column (+ group_id) and the _indices table
            group = h5.create_group("/", "hits", "Hits")
            for name in rows.dtype.names:
                arr = h5.create_earray(group, name, tb.Atom.from_dtype(rows.dtype[name]),
                                       (0,), name, filters=filters, expectedrows=len(rows))
                arr.append(rows[name])
            idx = np.empty(n, dtype=[("index", "<i8"), ("n_items", "<i8")])
            idx["index"] = np.arange(n) * HITS_PER_CYCLE
            idx["n_items"] = HITS_PER_CYCLE
            h5.create_table(group, "_indices", obj=idx, filters=filters, title="Indices")
        else:
            tab = h5.create_table("/", "hits", description=rows.dtype, title="Hits",
                                  filters=filters, expectedrows=len(rows))
            tab.append(rows)
    return {"seconds": _cpu() - t0, "cycles": n, "maxrss_mb": maxrss_mb()}


def kf_write_small(n: int, path: str, split: int = 0) -> dict:
    sys.path.insert(0, SRC)
    from km3flow.core import Module, Pipeline
    from km3flow.dataclasses import Table
    from km3flow.io.hdf5 import HDF5Sink

    hits_pool, _ = make_pool()
    hits_tab = Table(hits_pool, h5loc="/hits", name="Hits", split_h5=bool(split))

    class Source(Module):
        def configure(self):
            self.i = 0

        def process(self, blob):
            k = self.i % POOL
            blob["Hits"] = hits_tab[k * HITS_PER_CYCLE:(k + 1) * HITS_PER_CYCLE]
            self.i += 1
            return blob

    pipe = Pipeline()
    pipe.attach(Source)
    pipe.attach(HDF5Sink, filename=path)
    t0 = _cpu()
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        pipe.drain(n)
    return {"seconds": _cpu() - t0, "cycles": n, "maxrss_mb": maxrss_mb()}


PHASES = {"bulk_write_small": bulk_write_small, "kf_write_small": kf_write_small,
          "bulk_write": bulk_write, "bulk_read": bulk_read, "kf_write": kf_write,
          "kf_read": kf_read, "kp_write": kp_write, "kp_read": kp_read}


# -- driver -------------------------------------------------------------------------------
def run_phase(python: str, phase: str, *args: object) -> dict | None:
    cmd = [python, os.path.abspath(__file__), "--phase", phase, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  {phase} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def km3pipe_available() -> bool:
    if not os.path.exists(REFPY):
        return False
    return subprocess.run([REFPY, "-c", "import km3pipe"], capture_output=True,
                          check=False).returncode == 0


def small_blobs(counts: list[int], reps: int, split: bool) -> None:
    layout = "split: one array per column" if split else "compound"
    print(f"small blobs: one {HITS_PER_CYCLE}-row table (10 columns, {layout}) per blob, "
          f"zlib 5 + shuffle + Fletcher32; CPU seconds, best of {reps} (interleaved)")
    print(f"{'blobs':>8} {'bulk s':>8} {'km3flow s':>10} {'sink/bulk (rows/s)':>19} "
          f"{'MiB':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            best = {"bulk_write_small": float("inf"), "kf_write_small": float("inf")}
            for _ in range(reps):
                for phase in best:
                    path = os.path.join(tmp, f"{phase}.h5")
                    res = run_phase(sys.executable, phase, n, path, int(split))
                    if res:
                        best[phase] = min(best[phase], res["seconds"])
            size = os.path.getsize(os.path.join(tmp, "kf_write_small.h5")) / 2**20
            b, k = best["bulk_write_small"], best["kf_write_small"]
            print(f"{n:>8} {b:>8.3f} {k:>10.3f} {b / k:>19.2f} {size:>6.1f}")


def main() -> None:
    global REFPY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cycles (default 1e5)")
    parser.add_argument("--n-km3pipe", type=int, default=5000,
                        help="cycles for KM3Pipe's sink and pump (default 5000)")
    parser.add_argument("--ref-python", default=REFPY,
                        help="python of a separate venv with km3pipe==11.0.0")
    parser.add_argument("--small", type=int, nargs="*", default=None,
                        help="only the small-blob write test, at these numbers of blobs")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (small blobs)")
    parser.add_argument("--split", action="store_true", help="small blobs: split tables")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    REFPY = args.ref_python
    if args.phase:
        fn = PHASES[args.phase]
        conv = [int(a) if a.isdigit() else a for a in args.args]
        print(json.dumps(fn(*conv)))
        return

    if args.small:
        small_blobs(args.small, args.reps, args.split)
        return
    rows_per_cycle = HITS_PER_CYCLE + 1
    with tempfile.TemporaryDirectory() as tmp:
        bulk_path, kf_path, kp_path = (os.path.join(tmp, f) for f in
                                       ("bulk.h5", "kf.h5", "kp.h5"))
        res = {
            "bulk_write": run_phase(sys.executable, "bulk_write", args.n, bulk_path),
            "kf_write": run_phase(sys.executable, "kf_write", args.n, kf_path),
            "bulk_read": run_phase(sys.executable, "bulk_read", kf_path),
            "kf_read": run_phase(sys.executable, "kf_read", kf_path),
        }
        sizes = {k: os.path.getsize(p) / 2**20 for k, p in
                 (("bulk", bulk_path), ("km3flow", kf_path)) if os.path.exists(p)}
        if km3pipe_available():
            res["kp_write"] = run_phase(REFPY, "kp_write", args.n_km3pipe, kp_path)
            res["kp_read"] = run_phase(REFPY, "kp_read", kf_path, args.n_km3pipe)
        else:
            print("KM3Pipe not installed in /work/refvenv: skipping its phases")
    rate = {k: v["cycles"] * rows_per_cycle / v["seconds"] for k, v in res.items() if v}
    print(f"{args.n} cycles x ({HITS_PER_CYCLE} hits rows, 10 columns, split + 1 event row);"
          f" file sizes MiB: " + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items()))
    print(f"{'phase':<11} {'cycles':>8} {'seconds':>9} {'rows/s':>12} {'peak RSS MB':>12}")
    for k, v in res.items():
        if v:
            print(f"{k:<11} {v['cycles']:>8} {v['seconds']:>9.3f} {rate[k]:>12.3e}"
                  f" {v['maxrss_mb']:>12.0f}")
    print("ratios (rows/s):")
    if "kf_write" in rate and "bulk_write" in rate:
        print(f"  km3flow sink / bulk PyTables append: {rate['kf_write'] / rate['bulk_write']:.2f}")
    if "kf_read" in rate and "bulk_read" in rate:
        print(f"  km3flow pump / bulk PyTables read:   {rate['kf_read'] / rate['bulk_read']:.2f}")
    if "kp_write" in rate and "kf_write" in rate:
        print(f"  km3flow sink / KM3Pipe sink:         {rate['kf_write'] / rate['kp_write']:.1f}")
    if "kp_read" in rate and "kf_read" in rate:
        print(f"  km3flow pump / KM3Pipe pump:         {rate['kf_read'] / rate['kp_read']:.1f}")


if __name__ == "__main__":
    main()
