"""Benchmark: offline ROOT events/s of OfflinePump and read_offline vs raw uproot and km3io.

The limit reads exactly the branches the pump reads (event info, hits, tracks with
rec_stages/fitinf) with ``TTree.arrays(..., library="ak")`` in the same chunks; the pump adds
the conversion to flat Tables and per-event blobs.  km3io (in the reference venv, run as a
subprocess) iterates events with ``OfflineReader(step_size=…)`` and reads the same hit and
track fields as NumPy arrays, as KM3Pipe's OfflinePump does.  Also times ``numpyfi`` of the
hits against reading the same leaves with uproot, and ``read_offline`` (whole-file Tables
with group_id) against raw uproot of the same branches: for Hits+Tracks as the pump, and
for all collections (incl. MC hits/tracks and the usr names the reader decodes).

Usage::

    PYTHONPATH=src python benchmarks/offline.py --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

DEFAULT_FILE = ("offline/mcv5.11r2.gsg_muonCChigherE-CC_50-5000GeV.km3_AAv1.jterbr00004695."
                "jchain.aanet.498.root")
# the reference venvs with km3io 1.2.6 (never a km3flow dependency); the first that exists
KM3IO_PYTHONS = ("/work/refvenv/bin/python", "/tmp/refvenv/bin/python")

KM3IO_CODE = r"""
import json, sys, time, numpy as np, km3io
path, step, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hit_fields = ["dom_id", "channel_id", "t", "tot", "trig"]
trk_fields = ["pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "t", "E", "len", "lik",
              "id", "rec_type", "rec_stages", "fitinf"]
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    n = 0
    for event in km3io.OfflineReader(path, step_size=step):
        for f in hit_fields:
            np.asarray(getattr(event.hits, f))
        for f in trk_fields:
            getattr(event.trks, f)
        n += 1
    times.append(time.perf_counter() - t0)
print(json.dumps({"n": n, "times": times, "version": km3io.__version__}))
"""


def _time(func, reps):
    func()  # warm-up: file cache, imports
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return times


def random_access(args) -> int:
    """1-event random access: ``pump[i]`` against ``tree.arrays`` of entry i (open files)."""
    import logging
    import random

    import uproot
    from km3net_testdata import data_path

    from km3flow.io.root import OfflinePump

    logging.disable(logging.WARNING)
    path = args.file or DEFAULT_FILE
    if not os.path.exists(path):
        path = data_path(path)
    with OfflinePump(filename=path, collections=["Hits", "Tracks"]) as probe:
        leaves, n = list(probe._leaves), len(probe)
    idx = random.Random(1).sample(range(n), min(args.random, n))

    def pump(step):
        with OfflinePump(filename=path, collections=["Hits", "Tracks"], step_size=step) as p:
            t0 = time.process_time()
            for i in idx:
                blob = p[i]
                blob["Hits"], blob["Tracks"]
            return (time.process_time() - t0) / len(idx)

    def raw():
        tree = uproot.open(path)["E"]
        t0 = time.process_time()
        for i in idx:
            tree.arrays(leaves, entry_start=i, entry_stop=i + 1, how=dict, library="ak")
        return (time.process_time() - t0) / len(idx)

    best = {"uproot": float("inf"), "pump step 1": float("inf"), "pump default": float("inf")}
    for _ in range(args.reps):  # interleaved
        best["uproot"] = min(best["uproot"], raw())
        best["pump step 1"] = min(best["pump step 1"], pump(1))
        best["pump default"] = min(best["pump default"], pump(args.step_size))
    print(f"{os.path.basename(path)}: {len(idx)} random events, CPU ms per event, "
          f"best of {args.reps}")
    for k, v in best.items():
        print(f"  {k:<13} {v * 1e3:8.2f} ms  {v / best['uproot']:.2f}x uproot")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=None,
                        help="offline ROOT file, or a km3net-testdata path (default: "
                             "the mcv5.11r2 sample, 307 events)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--step-size", type=int, default=2000)
    parser.add_argument("--no-km3io", action="store_true")
    parser.add_argument("--random", type=int, default=0, metavar="K",
                        help="only random access: K distinct events by pump[i] (step_size 1 "
                             "and the default) vs uproot's arrays() of that one entry; CPU "
                             "time per event, best of --reps")
    parser.add_argument("--ref-python", "--km3io-python", dest="ref_python", default=None,
                        help="python of a separate venv with km3io (default: the first of "
                             f"{', '.join(KM3IO_PYTHONS)} that exists)")
    args = parser.parse_args(argv)
    if args.random:
        return random_access(args)

    import uproot
    from km3net_testdata import data_path

    from km3flow.io.root import OfflinePump, numpyfi, read_offline

    path = args.file or DEFAULT_FILE
    if not os.path.exists(path):  # a km3net-testdata path such as "offline/numucc.root"
        path = data_path(path)
    step = args.step_size
    with OfflinePump(filename=path, collections=["Hits", "Tracks"]) as probe:
        leaves = list(probe._leaves)
        n_events = len(probe)
        n_hits = sum(len(b["Hits"]) for b in probe)
        n_trks = sum(len(b["Tracks"]) for b in probe)

    import awkward as ak

    with OfflinePump(filename=path) as probe_all:
        # every branch read_offline reads with all collections, plus the usr names it reads
        # (only where the usr values are not all empty)
        tree = probe_all._tree
        leaves_all = list(probe_all._leaves) + [
            r.names_leaf for r in probe_all._usr.values() if r.names_leaf in probe_all._keys
            and ak.count(tree[r.values_leaf].array(library="ak"), axis=None) > 0]

    def raw_uproot_all():
        tree = uproot.open(path)["E"]
        for start in range(0, n_events, step):
            tree.arrays(leaves_all, entry_start=start, entry_stop=start + step, how=dict,
                        library="ak")

    def km3flow_read_offline():
        read_offline(path, step_size=step, collections=["Hits", "Tracks"])

    def km3flow_read_offline_all():
        read_offline(path, step_size=step)

    def raw_uproot():
        tree = uproot.open(path)["E"]
        for start in range(0, n_events, step):
            tree.arrays(leaves, entry_start=start, entry_stop=start + step, how=dict,
                        library="ak")

    def raw_uproot_head():
        rfile = uproot.open(path)
        if "Head" in rfile:
            rfile["Head"]
        tree = rfile["E"]
        for start in range(0, n_events, step):
            tree.arrays(leaves, entry_start=start, entry_stop=start + step, how=dict,
                        library="ak")

    def km3flow_pump():
        with OfflinePump(filename=path, step_size=step, collections=["Hits", "Tracks"]) as p:
            for blob in p:
                blob["Hits"], blob["Tracks"]

    hit_leaves = [k for k in uproot.open(path)["E"].keys(recursive=True, full_paths=True)
                  if k.startswith("Evt/hits/hits.") and k.count("/") == 2
                  and not k.endswith(("usr", "usr_names", "usr_data", "fUniqueID", "fBits"))]

    def raw_hits():
        uproot.open(path)["E"].arrays(hit_leaves, how=dict, library="ak")

    def km3flow_numpyfi():
        numpyfi(path, "Evt/hits")

    # the same on one open tree whose streamer info has been read already and with uproot's
    # array cache off: what remains is the record assembly (one copy per member)
    open_tree = uproot.open(path, array_cache=None)["E"]
    open_tree.file.streamers  # noqa: B018 - read once, as any later numpyfi call would

    def raw_hits_open():
        open_tree.arrays(hit_leaves, how=dict, library="ak")

    def numpyfi_open():
        numpyfi(open_tree, "Evt/hits")

    results = {}
    # interleave the candidates rep by rep so that drifts in machine load hit all alike
    order = [("uproot", raw_uproot), ("uproot+Head", raw_uproot_head),
             ("km3flow", km3flow_pump), ("read_offline", km3flow_read_offline),
             ("uproot_all", raw_uproot_all), ("read_offline_all", km3flow_read_offline_all),
             ("uproot_hits_leaves", raw_hits), ("numpyfi_hits", km3flow_numpyfi),
             ("uproot_hits_open", raw_hits_open), ("numpyfi_open", numpyfi_open)]
    for _name, func in order:
        func()
    for name, _ in order:
        results[name] = []
    for _ in range(args.reps):
        for name, func in order:
            t0 = time.perf_counter()
            func()
            results[name].append(time.perf_counter() - t0)

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"file: {os.path.basename(path)}")
    print(f"{n_events} events, {n_hits} hits, {n_trks} tracks; step_size {step}; "
          f"{args.reps} reps (median, min..max)")
    for name in ("uproot", "uproot+Head", "km3flow", "read_offline", "uproot_all",
                 "read_offline_all"):
        v = results[name]
        print(f"  {name:<22} {n_events / med[name]:>10.0f} events/s  "
              f"({med[name] * 1e3:.1f} ms, {min(v) * 1e3:.1f}..{max(v) * 1e3:.1f})")
    best = {k: min(v) for k, v in results.items()}
    print(f"  ratio km3flow / raw uproot (time): {med['km3flow'] / med['uproot']:.2f}x median, "
          f"{best['km3flow'] / best['uproot']:.2f}x best-of-{args.reps}")
    print(f"  ratio km3flow / (raw uproot + reading the Head object): "
          f"{med['km3flow'] / med['uproot+Head']:.2f}x median, "
          f"{best['km3flow'] / best['uproot+Head']:.2f}x best-of-{args.reps}")
    print(f"  ratio read_offline / raw uproot (Hits+Tracks): "
          f"{med['read_offline'] / med['uproot']:.2f}x median, "
          f"{best['read_offline'] / best['uproot']:.2f}x best-of-{args.reps}; "
          f"/ raw uproot + Head: {best['read_offline'] / best['uproot+Head']:.2f}x best")
    print(f"  ratio read_offline / raw uproot (all collections, {len(leaves_all)} branches): "
          f"{med['read_offline_all'] / med['uproot_all']:.2f}x median, "
          f"{best['read_offline_all'] / best['uproot_all']:.2f}x best-of-{args.reps}")
    print(f"  read_offline / OfflinePump (Hits+Tracks): "
          f"{med['read_offline'] / med['km3flow']:.2f}x median, "
          f"{best['read_offline'] / best['km3flow']:.2f}x best-of-{args.reps}")
    print(f"  numpyfi(Evt/hits) {med['numpyfi_hits'] * 1e3:.1f} ms vs uproot same "
          f"{len(hit_leaves)} leaves {med['uproot_hits_leaves'] * 1e3:.1f} ms: "
          f"{med['numpyfi_hits'] / med['uproot_hits_leaves']:.2f}x (incl. opening the file and "
          f"reading its streamer info)")
    print(f"  numpyfi on an open tree {med['numpyfi_open'] * 1e3:.1f} ms vs uproot "
          f"{med['uproot_hits_open'] * 1e3:.1f} ms: "
          f"{med['numpyfi_open'] / med['uproot_hits_open']:.2f}x (record assembly only)")
    km3io_python = args.ref_python or next(
        (p for p in KM3IO_PYTHONS if os.path.exists(p)), None)
    if not args.no_km3io and km3io_python is not None:
        reps = max(1, min(args.reps, 2))
        out = subprocess.run([km3io_python, "-W", "ignore", "-c", KM3IO_CODE, path, str(step),
                              str(reps)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"  km3io failed: {out.stderr.strip().splitlines()[-1:]}")
        else:
            data = json.loads(out.stdout.strip().splitlines()[-1])
            t = statistics.median(data["times"])
            print(f"  km3io {data['version']:<16} {data['n'] / t:>10.0f} events/s  "
                  f"({t * 1e3:.1f} ms, {reps} reps)")
            print(f"  km3io / km3flow (time): {t / med['km3flow']:.1f}x; km3io / read_offline: "
                  f"{t / med['read_offline']:.1f}x")
    else:
        print("  km3io: skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
