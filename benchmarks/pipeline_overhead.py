"""Pipeline overhead: µs per cycle of 5 trivial modules, km3flow vs a bare loop (and KM3Pipe).

Run: python benchmarks/pipeline_overhead.py --n 100000 --reps 3 [--ref-python /path/to/python]
     [--no-mem]

Times are CPU times of the process (``time.process_time``: everything here is
single-threaded, and on a shared machine wall time would count other jobs); the variants run
interleaved, one after the other in every repetition (the references in a subprocess each).

(a) the limit: a bare Python loop passing a fresh dict through the same 5 functions, and the
same loop with the two clock reads per cycle that the drain summary needs;
(b) km3flow Pipeline, timeit off; (c) timeit on; (d) KM3Pipe's and thepipe's Pipeline run by
--ref-python (a separate venv with km3pipe/thepipe installed), if given. Also measures the peak
memory growth of a long drain (timeit off), which must stay flat. KM3Pipe is run with its
``timeit`` off and on (``Pipeline(timeit=True)``, its per-module timing).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time


def _functions():
    def f1(blob):
        blob["a"] = 1
        return blob

    def f2(blob):
        blob["b"] = blob["a"] + 1
        return blob

    def f3(blob):
        return blob

    def f4(blob):
        blob["c"] = 3
        return blob

    def f5(blob):
        return blob

    return [f1, f2, f3, f4, f5]


def bare_loop(n: int) -> float:
    funcs = _functions()
    t0 = time.process_time()
    for _ in range(n):
        blob = {}
        for f in funcs:
            blob = f(blob)
    return (time.process_time() - t0) / n * 1e6


def bare_loop_with_clocks(n: int) -> float:
    """The bare loop plus what the summary needs: a wall and a CPU clock read per cycle."""
    funcs = _functions()
    wall, cpu = time.perf_counter, time.process_time
    tw: list[float] = []
    tc: list[float] = []
    tw_append, tc_append = tw.append, tc.append
    t0 = time.process_time()
    for _ in range(n):
        tw_append(wall())
        tc_append(cpu())
        blob = {}
        for f in funcs:
            blob = f(blob)
    return (time.process_time() - t0) / n * 1e6


def km3flow_pipeline(n: int, timeit: bool) -> float:
    import km3flow as kp

    pipe = kp.Pipeline(timeit=timeit)
    for f in _functions():
        pipe.attach(f)
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.process_time()
        pipe.drain(n)
        dt = time.process_time() - t0
    return dt / n * 1e6


REF_SCRIPT = textwrap.dedent("""
    import contextlib, io, json, sys, time
    n = int(sys.argv[1]); which = sys.argv[2]
    timeit = which.endswith("-timeit"); which = which.replace("-timeit", "")
    if which == "km3pipe":
        import km3pipe as kp
        Pipeline = kp.Pipeline
    else:
        import thepipe as tp
        Pipeline = tp.Pipeline
    def f1(blob): blob["a"] = 1; return blob
    def f2(blob): blob["b"] = blob["a"] + 1; return blob
    def f3(blob): return blob
    def f4(blob): blob["c"] = 3; return blob
    def f5(blob): return blob
    pipe = Pipeline(timeit=True) if timeit else Pipeline()
    for f in (f1, f2, f3, f4, f5):
        pipe.attach(f)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        t0 = time.process_time(); pipe.drain(n); dt = time.process_time() - t0
    print(json.dumps(dt / n * 1e6))
""")


def reference(python: str, which: str, n: int) -> float | None:
    proc = subprocess.run([python, "-c", REF_SCRIPT, str(n), which], capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        print(f"  {which}: failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


MEM_SCRIPT = textwrap.dedent("""
    import contextlib, io, sys, resource
    import km3flow as kp
    n = int(sys.argv[1])
    pipe = kp.Pipeline(timeit=sys.argv[2] == "1")
    for i in range(5):
        pipe.attach(lambda b: b, name=f"m{i}")
    with contextlib.redirect_stdout(io.StringIO()):
        pipe.drain(n)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
""")


def peak_mb(n: int, timeit: bool) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", MEM_SCRIPT, str(n), "1" if timeit else "0"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return float(out.strip())


def median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--ref-python", default=None,
                        help="python of a venv with km3pipe and thepipe installed")
    parser.add_argument("--mem-cycles", type=int, default=1_000_000)
    parser.add_argument("--no-mem", action="store_true", help="skip the memory runs")
    args = parser.parse_args()

    results: dict[str, list[float]] = {"bare loop": [], "bare + clocks": [], "km3flow": [],
                                       "km3flow timeit": []}
    refs = ("km3pipe", "km3pipe-timeit", "thepipe") if args.ref_python else ()
    for _ in range(args.reps):
        results["bare loop"].append(bare_loop(args.n))
        results["bare + clocks"].append(bare_loop_with_clocks(args.n))
        results["km3flow"].append(km3flow_pipeline(args.n, False))
        results["km3flow timeit"].append(km3flow_pipeline(args.n, True))
        for which in refs:
            v = reference(args.ref_python, which, args.n)
            if v is not None:
                results.setdefault(which, []).append(v)
    base = median(results["bare loop"])
    clocks = min(results["bare + clocks"])
    print(f"{args.n} cycles x 5 trivial modules, CPU µs/cycle, median and min of {args.reps} "
          "interleaved runs")
    print(f"{'':<16} {'median':>8} {'min':>8} {'× bare':>8} {'× bare+clocks (min)':>20}")
    for name, vals in results.items():
        m = median(vals)
        print(f"{name:<16} {m:>8.3f} {min(vals):>8.3f} {m / base:>8.2f} "
              f"{min(vals) / clocks:>20.2f}")
    if "km3pipe" in results:
        print(f"km3pipe / km3flow: {min(results['km3pipe']) / min(results['km3flow']):.2f}x "
              "(min)")
    if "km3pipe-timeit" in results:
        print("km3pipe timeit / km3flow timeit: "
              f"{min(results['km3pipe-timeit']) / min(results['km3flow timeit']):.2f}x (min)")
    if args.no_mem:
        return
    small, big = peak_mb(args.mem_cycles // 10, False), peak_mb(args.mem_cycles, False)
    print(f"peak memory, timeit off: {small:.1f} MB after {args.mem_cycles // 10} cycles, "
          f"{big:.1f} MB after {args.mem_cycles} cycles")
    small, big = peak_mb(args.mem_cycles // 10, True), peak_mb(args.mem_cycles, True)
    print(f"peak memory, timeit on:  {small:.1f} MB after {args.mem_cycles // 10} cycles, "
          f"{big:.1f} MB after {args.mem_cycles} cycles")


if __name__ == "__main__":
    main()
