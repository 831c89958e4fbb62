"""Benchmark: hit calibration, km3flow's calibrate() vs a plain numpy fancy-index (the limit)
vs KM3Pipe's Calibration.

Hits are drawn at random from the PMTs of the real detector
``detx/KM3NeT_00000133_20221025.detx`` (399 DOMs, 11,718 PMTs) and calibrated:

  (a) limit: with the PMT row of every hit already known, gather pos_x..dir_z and t0 (seven
      fancy-indexes) and add t0 to the time — the bare memory traffic of calibration;
  (b) km3flow: ``calibrate(hits, detector)`` — the (dom_id, channel_id) lookup, the gathers,
      du/floor/pmt_id and a new Table with all input columns;
  (c) KM3Pipe 11: ``Calibration(filename=…).apply(hits, correct_slewing=False)`` (numba),
      run with /work/refvenv/bin/python in a subprocess (JIT warmed up before timing).

MC hits (by pmt_id) are measured the same way.

    PYTHONPATH=src python benchmarks/calibration.py --n 1000000 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

REFPY = "/work/refvenv/bin/python"
DETX = "detx/KM3NeT_00000133_20221025.detx"

KM3PIPE_SCRIPT = r"""
import json, sys, time, warnings, logging, io, contextlib
warnings.simplefilter("ignore"); logging.disable(logging.CRITICAL)
import numpy as np
import km3pipe as kp
from km3net_testdata import data_path
n, reps = int(sys.argv[1]), int(sys.argv[2])
with contextlib.redirect_stdout(io.StringIO()):
    cal = kp.calib.Calibration(filename=data_path(sys.argv[3]))
pmts = cal.detector.pmts
rng = np.random.default_rng(1)
rows = rng.integers(0, len(pmts), n)
hits = kp.Table({"dom_id": pmts.dom_id[rows].astype("<u4"),
                 "channel_id": pmts.channel_id[rows].astype("u1"),
                 "time": rng.random(n) * 1e8, "tot": rng.integers(0, 255, n).astype("u1"),
                 "triggered": rng.random(n) < 0.1}, h5loc="/hits")
mc = kp.Table({"pmt_id": pmts.pmt_id[rows].astype("<u4"), "time": rng.random(n) * 1e4,
               "a": rng.random(n), "origin": rng.integers(0, 10, n).astype("<u4")},
              h5loc="/mc_hits")
out = {}
for name, tab in (("hits", hits), ("mchits", mc)):
    cal.apply(tab[:100], correct_slewing=False)  # numba JIT
    times = []
    for _ in range(reps):
        t = time.perf_counter(); cal.apply(tab, correct_slewing=False)
        times.append(time.perf_counter() - t)
    out[name] = times
print(json.dumps(out))
"""


def _timeit(fn, reps: int) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="hits per calibration")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-km3pipe", action="store_true")
    args = parser.parse_args(argv)
    from km3net_testdata import data_path

    from km3flow.calib import calibrate
    from km3flow.dataclasses import Table
    from km3flow.io.detector import read_detector

    det = read_detector(data_path(DETX))
    pmts = np.asarray(det.pmts)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(pmts), args.n)
    hits = Table.from_template({
        "dom_id": pmts["dom_id"][rows], "channel_id": pmts["channel_id"][rows],
        "time": rng.random(args.n) * 1e8, "tot": rng.integers(0, 255, args.n),
        "triggered": rng.random(args.n) < 0.1}, "Hits")
    mc = Table.from_template({
        "pmt_id": pmts["pmt_id"][rows], "time": rng.random(args.n) * 1e4,
        "a": rng.random(args.n), "origin": rng.integers(0, 10, args.n)}, "McHits")
    geometry = [np.ascontiguousarray(pmts[c]) for c in
                ("pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "t0")]
    time_col = np.asarray(hits["time"])

    def limit() -> None:
        cols = [g[rows] for g in geometry]
        _ = time_col + cols[-1]

    calibrate(hits[:10], det)  # build the lookup tables once, as a pipeline would
    calibrate(mc[:10], det)
    results = {}
    lim, lim_min = _timeit(limit, args.reps)
    for name, tab in (("hits (dom_id, channel_id)", hits), ("MC hits (pmt_id)", mc)):
        t, t_min = _timeit(lambda tab=tab: calibrate(tab, det), args.reps)
        results[name] = (t, t_min)
        print(f"{name}: {args.n:,} hits")
        print(f"  limit (fancy-index)  {lim * 1e3:8.1f} ms (min {lim_min * 1e3:.1f})")
        print(f"  km3flow calibrate    {t * 1e3:8.1f} ms (min {t_min * 1e3:.1f}), "
              f"{args.n / t / 1e6:.1f} M hits/s: {t / lim:.1f}x the limit "
              f"(best-of {t_min / lim_min:.1f}x)")
    if not args.no_km3pipe and os.path.exists(REFPY):
        proc = subprocess.run([REFPY, "-c", KM3PIPE_SCRIPT, str(args.n), str(args.reps), DETX],
                              capture_output=True, text=True, timeout=3600, check=False)
        if proc.returncode != 0:
            print("KM3Pipe Calibration failed:", proc.stderr.strip().splitlines()[-1:])
        else:
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            for key, name in (("hits", "hits (dom_id, channel_id)"),
                              ("mchits", "MC hits (pmt_id)")):
                kp_t = statistics.median(res[key])
                t = results[name][0]
                print(f"KM3Pipe Calibration.apply, {name}: {kp_t * 1e3:.1f} ms, "
                      f"{args.n / kp_t / 1e6:.1f} M hits/s: {kp_t / lim:.1f}x the limit, "
                      f"{kp_t / t:.1f}x km3flow")
    else:
        print("KM3Pipe: not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
