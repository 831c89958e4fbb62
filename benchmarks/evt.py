"""Benchmark: EVT ascii reading, km3flow's EvtPump vs reading the lines (the limit) vs KM3Pipe.

For each file, every event is read into a blob (all tags parsed, McTracks/McHits/EventInfo
Tables built):

  (a) limit: iterate over the lines of the file (``for line in f``; binary and text mode);
  (b) km3flow: ``EvtPump(filename=…)``, index + ``for blob in pump``; and the same reading
      every entry of every blob (``blob[key]`` for all keys: small events' blobs build
      most entries when first read, see ``io/evt_chunk.py``);
  (c) KM3Pipe 11: ``km3pipe.io.evt.EvtPump`` draining every event, with its default
      ``parsers="auto"`` and with ``parsers=[]`` (raw tag tuples only), and with
      ``parsers="auto"`` reading every entry of every blob, run with the Python given by
      ``--ref-python`` (a separate venv with km3pipe 11) in a subprocess.

All times are CPU times of the reading process (``time.process_time``; the machine is
shared, so wall time would count other jobs), best of ``--reps``.

    PYTHONPATH=src python benchmarks/evt.py --reps 5 [--ref-python /path/to/venv/bin/python]
    [--files gseagen/gseagen_v7.0.0_numuCC_diffuse.evt]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

FILES = ["evt/example_numuCC.evt", "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt"]

KM3PIPE_SCRIPT = r"""
import json, sys, time, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
import io, contextlib
from km3pipe.io.evt import EvtPump
from km3net_testdata import data_path
path, reps, parsers = data_path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
read_all = parsers == "all"
times = []
for _ in range(reps):
    with contextlib.redirect_stdout(io.StringIO()):
        t = time.process_time()
        p = EvtPump(filename=path, parsers=[] if parsers == "raw" else "auto")
        n = 0
        while True:
            try:
                blob = p.process()
            except StopIteration:
                break
            if read_all:
                for key in blob:
                    blob[key]
            n += 1
        times.append(time.process_time() - t)
        p.finish()
print(json.dumps({"times": times, "n": n}))
"""


def _median_min(fn, reps: int) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times), min(times)


def lines_binary(path: str) -> None:
    with open(path, "rb") as f:
        for _ in f:
            pass


def lines_text(path: str) -> None:
    with open(path) as f:
        for _ in f:
            pass


def km3flow_read(path: str, read_all: bool = False) -> int:
    from km3flow.io.evt import EvtPump

    n = 0
    with EvtPump(filename=path) as pump:
        for blob in pump:
            if read_all:
                for key in blob:
                    blob[key]
            n += 1
    return n


def km3pipe_read(refpy: str, name: str, reps: int, parsers: str) -> dict | None:
    if not refpy or not os.path.exists(refpy):
        return None
    proc = subprocess.run([refpy, "-c", KM3PIPE_SCRIPT, name, str(reps), parsers],
                          capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        print(f"  KM3Pipe failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--km3pipe-reps", type=int, default=1)
    parser.add_argument("--no-km3pipe", action="store_true")
    parser.add_argument("--ref-python", default=None,
                        help="Python of a separate venv with km3pipe==11.0.0")
    parser.add_argument("--files", nargs="*", default=FILES)
    args = parser.parse_args(argv)
    from km3net_testdata import data_path

    for name in args.files:
        path = data_path(name)
        n_events = km3flow_read(path)
        size = os.path.getsize(path)
        lb, lb_min = _median_min(lambda path=path: lines_binary(path), args.reps)
        lt, lt_min = _median_min(lambda path=path: lines_text(path), args.reps)
        kf, kf_min = _median_min(lambda path=path: km3flow_read(path), args.reps)
        ka, ka_min = _median_min(lambda path=path: km3flow_read(path, True), args.reps)
        print(f"{name}: {n_events} events, {size / 1e6:.1f} MB")
        print(f"  lines (binary)   {lb * 1e3:8.1f} ms (min {lb_min * 1e3:.1f})")
        print(f"  lines (text)     {lt * 1e3:8.1f} ms (min {lt_min * 1e3:.1f})")
        print(f"  km3flow EvtPump  {kf * 1e3:8.2f} ms (min {kf_min * 1e3:.2f}), "
              f"{n_events / kf:,.0f} events/s")
        print(f"  km3flow / lines: {kf / lb:.1f}x (binary), {kf / lt:.1f}x (text); "
              f"best-of: {kf_min / lb_min:.1f}x, {kf_min / lt_min:.1f}x")
        print(f"  km3flow EvtPump, every entry read {ka * 1e3:8.2f} ms (min {ka_min * 1e3:.2f})")
        if args.no_km3pipe:
            continue
        for parsers in ("auto", "raw", "all"):
            res = km3pipe_read(args.ref_python, name, args.km3pipe_reps, parsers)
            if res is None:
                print(f"  KM3Pipe EvtPump ({parsers}): not available")
                continue
            kp_t = min(res["times"])
            ours = ka_min if parsers == "all" else kf_min
            what = "km3flow reading every entry" if parsers == "all" else "km3flow"
            print(f"  KM3Pipe EvtPump ({parsers:4s}) {kp_t * 1e3:8.2f} ms, "
                  f"{res['n'] / kp_t:,.0f} events/s: {kp_t / lb_min:.0f}x the limit (binary), "
                  f"{kp_t / ours:.2f}x {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
