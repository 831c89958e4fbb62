"""Production scale: peak anonymous memory of `km3flow convert` vs input size, and many-file runs.

Run (about 15 min on a quiet 2-core machine):

    PYTHONPATH=src python benchmarks/scale.py --sizes 0.1 0.5 2 --files 1000 --workers 2

(1) Memory. For every format, inputs of each ``--sizes`` (GB) are made in a temporary
    directory from km3net-testdata files and converted with ``km3flow -q convert IN -o
    OUT.h5 --no-progress`` in a subprocess:

    - daq: ``daq/IO_EVT.dat`` repeated (3 events per 8 kB);
    - evt: ``evt/example_numuCC.evt``: its header once, then its 109 events repeated with
      renumbered ``start_event`` ids;
    - hdf5: the daq input of the same size converted uncompressed (complevel 0), so the
      HDF5 file is about as large as the DAQ file;
    - offline / online ROOT: one ROOT file cannot be made bigger without ROOT, so the input
      is many hard links of the biggest testdata file (``offline/muon_cc_events.root``,
      9.2 MB; ``online/muon_cc_daqevents.root``, 6.6 MB) in one convert run: the total
      size grows, each file is read like any other.

    Memory is sampled every 5 ms from ``/proc/<pid>/status`` (``RssAnon``: anonymous pages
    only, i.e. heap and numpy arrays; file pages of memory maps and the page cache are not
    counted) for the convert process and its children; the peak is reported.

(2) Many files. ``--files`` hard links of ``offline/km3net_offline.root`` (10 events each)
    converted serially, with ``--workers N`` (local process pool) and with ``--scheduler``
    on an N-process Dask LocalCluster started beforehand (best wall of ``--reps`` runs);
    wall time, CPU time, the merge time (all of it, and the part after the last task: the
    rest overlapped the tasks) and the per-task overhead from the run's summary, and the
    parent's peak memory.
    Speed-ups need a machine with N idle cores: on a shared machine they measure the load.
    Then the CPU time of merging n one-file parts, for n = files/4 and files (linear?).

(3) Per-file cost: CPU time to open an offline file and get its first event with
    OfflinePump and with FilePump (format detection included), against raw uproot reading
    the same branches for the same entries.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")


def _rss_anon_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    """utime + stime of a process so far, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _env() -> dict[str, str]:
    """The environment of a measured km3flow process: this checkout's src first."""
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_measured(argv: list[str]) -> dict[str, float | str]:
    """Run ``argv``; sample RssAnon of it (parent) and its descendants (each) every 5 ms."""
    env = _env()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak = {"parent": 0, "child": 0}
    cpu: dict[int, float] = {}  # last CPU reading of every process of the tree
    done = threading.Event()

    def sample() -> None:
        k = 0
        while not done.is_set():
            peak["parent"] = max(peak["parent"], _rss_anon_kb(proc.pid))
            todo, seen = _children(proc.pid), set()
            while todo:
                c = todo.pop()
                if c in seen:
                    continue
                seen.add(c)
                peak["child"] = max(peak["child"], _rss_anon_kb(c))
                todo += _children(c)
            if k % 10 == 0:
                for p in seen | {proc.pid}:
                    cpu[p] = max(cpu.get(p, 0.0), _cpu_s(p))
            k += 1
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output, _ = proc.communicate()
    done.set()
    thread.join()
    wall = time.perf_counter() - t0
    # CPU of the process tree (pool workers included, not Dask's), sampled every 50 ms
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv[:6])} … failed ({proc.returncode}):\n{output[-3000:]}")
    return {"wall": wall, "cpu": sum(cpu.values()), "parent_mb": peak["parent"] / 1024,
            "child_mb": peak["child"] / 1024, "output": output}


def run_side_by_side(argvs: list[list[str]]) -> dict[str, float]:
    """Start ``argvs`` at once and wait for all: the wall of the slowest, CPU of all.

    The limit of a parallel run on this machine: independent serial processes, one per
    worker, each on its share of the files, with no coordination and no merge (they
    still compete for the cores' caches, memory bandwidth and clock).
    """
    import resource

    env = _env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(a, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for a in argvs]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if any(codes):
        raise SystemExit(f"a side-by-side run failed: exit codes {codes}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def _convert_argv(inputs: list[str], out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "km3flow.cli.main", "convert", *inputs, "-o", out,
            "--overwrite", "--no-progress", *extra]


# -- inputs ----------------------------------------------------------------------------------
def make_daq(path: str, size: float) -> list[str]:
    from km3net_testdata import data_path

    unit = open(data_path("daq/IO_EVT.dat"), "rb").read()
    n = max(1, int(size / len(unit)))
    with open(path, "wb") as fh:
        block = unit * 1000
        for _ in range(n // 1000):
            fh.write(block)
        fh.write(unit * (n % 1000))
    return [path]


def make_evt(path: str, size: float) -> list[str]:
    from km3net_testdata import data_path

    text = open(data_path("evt/example_numuCC.evt")).read()
    first = text.index("start_event:")
    head, body = text[:first], text[first:]
    events = re.split(r"(?m)^(?=start_event:)", body)
    events = [e for e in events if e]
    written, k = 0, 0
    with open(path, "w") as fh:
        fh.write(head)
        while written < size:
            for e in events:
                k += 1
                e = re.sub(r"^start_event:\s*\S+", f"start_event: {k}", e, count=1)
                fh.write(e)
                written += len(e)
    return [path]


def make_hdf5(path: str, size: float, tmp: str) -> list[str]:
    from km3flow.core import Pipeline
    from km3flow.io.daq import DAQPump
    from km3flow.io.hdf5 import HDF5Sink

    daq = os.path.join(tmp, "for_hdf5.dat")
    make_daq(daq, size)
    pipe = Pipeline()
    pipe.attach(DAQPump, filename=daq)
    pipe.attach(HDF5Sink, filename=path, complevel=0, fletcher32=False, shuffle=False)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        pipe.drain()
    os.remove(daq)
    return [path]


def make_links(directory: str, source: str, size: float) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    n = max(1, round(size / os.path.getsize(source)))
    paths = []
    for i in range(n):
        p = os.path.join(directory, f"f{i:05d}{os.path.splitext(source)[1]}")
        if not os.path.exists(p):
            os.link(source, p)
        paths.append(p)
    return paths


def make_inputs(fmt: str, size: float, tmp: str) -> list[str]:
    from km3net_testdata import data_path

    tag = f"{fmt}_{size / 1e9:g}GB"
    if fmt == "daq":
        return make_daq(os.path.join(tmp, tag + ".dat"), size)
    if fmt == "evt":
        return make_evt(os.path.join(tmp, tag + ".evt"), size)
    if fmt == "hdf5":
        return make_hdf5(os.path.join(tmp, tag + ".h5"), size, tmp)
    if fmt == "offline":
        return make_links(os.path.join(tmp, tag), data_path("offline/muon_cc_events.root"),
                          size)
    if fmt == "online":
        return make_links(os.path.join(tmp, tag), data_path("online/muon_cc_daqevents.root"),
                          size)
    raise ValueError(fmt)


def _summary_value(output: str, pattern: str) -> float | None:
    m = re.search(pattern, output)
    return float(m.group(1)) if m else None


# -- the two parts -----------------------------------------------------------------------------
def memory_table(formats: list[str], sizes: list[float], tmp: str) -> None:
    print("| format | input | files | events (blobs) | wall s | CPU s | peak RssAnon MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for fmt in formats:
        for size in sizes:
            inputs = make_inputs(fmt, size * 1e9, tmp)
            total = sum(os.path.getsize(p) for p in inputs)
            out = os.path.join(tmp, "out.h5")
            r = run_measured(_convert_argv(inputs, out))
            cycles = _summary_value(str(r["output"]), r"(\d+) cycles drained")
            cpu = _summary_value(str(r["output"]), r"drained in [\d.]+s \(CPU ([\d.]+)s\)")
            print(f"| {fmt} | {total / 1e9:.2f} GB | {len(inputs)} | {int(cycles or 0)} | "
                  f"{r['wall']:.1f} | {cpu or 0:.1f} | {r['parent_mb']:.0f} |", flush=True)
            for p in inputs:
                if os.path.isfile(p):
                    os.remove(p)
            os.remove(out)


def many_files(n_files: int, workers: int, tmp: str, reps: int = 1) -> None:
    from km3net_testdata import data_path

    src = data_path("offline/km3net_offline.root")
    files = make_links(os.path.join(tmp, "many"), src, n_files * os.path.getsize(src))
    out = os.path.join(tmp, "many.h5")
    runs = [("serial", [])]
    runs.append((f"pool, --workers {workers}", ["--workers", str(workers)]))
    cluster = None
    try:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        runs.append((f"Dask LocalCluster, {workers} processes",
                     ["--scheduler", cluster.scheduler_address]))
    except ImportError:
        print("(dask.distributed not installed: no Dask run)")
    results = {}
    try:
        print(f"\n{n_files} files × 10 events (offline/km3net_offline.root, "
              f"{os.path.getsize(src) / 1e3:.0f} kB each), {os.cpu_count()} CPUs\n")
        print("| run | wall s | speed-up | CPU s (process + pool workers) | merge s | "
              "merge after the tasks s | merge after / wall | overhead per task ms | "
              "parent peak RssAnon MB | worker peak RssAnon MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, extra in runs:
            # best (shortest wall) of reps runs
            r = min((run_measured(_convert_argv(files, out, *extra)) for _ in range(reps)),
                    key=lambda m: float(m["wall"]))
            results[label] = r
            text = str(r["output"])
            merge = _summary_value(text, r"merging outputs ([\d.]+)s")
            after = _summary_value(text, r"([\d.]+)s of it after the tasks")
            overhead = _summary_value(text, r"overhead per task: ([\d.]+)s")
            wall = float(r["wall"])
            speed = float(results["serial"]["wall"]) / wall
            cells = [label, f"{wall:.1f}", f"{speed:.2f}x", f"{r['cpu']:.1f}",
                     "" if merge is None else f"{merge:.2f}",
                     "" if after is None else f"{after:.2f}",
                     "" if after is None else f"{100 * after / wall:.1f} %",
                     "" if overhead is None else f"{1000 * overhead:.0f}",
                     f"{r['parent_mb']:.0f}",
                     "" if label == "serial" else f"{r['child_mb']:.0f}" if r["child_mb"]
                     else "(cluster's)"]
            print("| " + " | ".join(cells) + " |", flush=True)
        # the machine's limit for this many workers: independent serial runs side by side
        shares = [files[i::workers] for i in range(workers)]
        limit = min((run_side_by_side([_convert_argv(s, os.path.join(tmp, f"alone{i}.h5"))
                                       for i, s in enumerate(shares)]) for _ in range(reps)),
                    key=lambda m: m["wall"])
        serial = float(results["serial"]["wall"])
        print(f"| limit: {workers} independent serial runs side by side (1/{workers} of the "
              f"files each, {workers} outputs, no merge) | {limit['wall']:.1f} | "
              f"{serial / limit['wall']:.2f}x | {limit['cpu']:.1f} | | | | | | |")
        for label in results:
            if label != "serial":
                print(f"\n{label}: {limit['wall'] / float(results[label]['wall']):.2f} of "
                      "the side-by-side limit's speed")
    finally:
        if cluster is not None:
            cluster.close()
    merge_cost(src, n_files, tmp)


def merge_cost(src: str, n_files: int, tmp: str) -> None:
    """CPU time of merging n parts (each the conversion of one file): linear in n?"""
    from km3flow.io.hdf5.merge import merge_hdf5

    one = os.path.join(tmp, "one.h5")
    run_measured(_convert_argv([src], one))
    print(f"\nmerge_hdf5 of n parts (each the {os.path.getsize(one) / 1e3:.0f} kB conversion "
          "of one file), CPU time of this process:\n")
    print("| parts | CPU s | ms per part | merged MB |")
    print("|---:|---:|---:|---:|")
    for n in sorted({max(1, n_files // 4), n_files}):
        out = os.path.join(tmp, "merged.h5")
        cpu0 = time.process_time()
        merge_hdf5([one] * n, out)
        cpu = time.process_time() - cpu0
        print(f"| {n} | {cpu:.2f} | {1000 * cpu / n:.1f} | {os.path.getsize(out) / 1e6:.1f} |",
              flush=True)
        os.remove(out)


def per_file_cost(reps: int = 15) -> None:
    """CPU time to open an offline file and get its first event: km3flow vs raw uproot."""
    import logging
    import statistics

    import uproot
    from km3net_testdata import data_path

    from km3flow.io.files import FilePump
    from km3flow.io.root.offline import OfflinePump

    logging.disable(logging.WARNING)
    print("\nopening an offline file and reading its first event (first chunk), CPU ms, "
          f"median of {reps}:\n")
    print("| file | raw uproot (same branches) | OfflinePump | FilePump | FilePump / raw |")
    print("|---|---:|---:|---:|---:|")
    for name in ("offline/km3net_offline.root", "offline/muon_cc_events.root"):
        path = data_path(name)
        pump = OfflinePump(filename=path)
        leaves, step = pump._leaves, pump.step_size
        pump.close()

        def raw() -> None:
            with uproot.open(path) as f:
                f["E"].arrays(leaves, entry_start=0, entry_stop=step, how=dict, library="ak")

        def offline() -> None:
            p = OfflinePump(filename=path)
            p.get_blob(0)
            p.close()

        def files() -> None:
            p = FilePump(filenames=[path])
            next(iter(p))
            p.close()

        med = {}
        for f in (raw, offline, files, raw, offline, files):  # interleaved, twice
            times = []
            for _ in range(reps):
                t0 = time.process_time()
                f()
                times.append(time.process_time() - t0)
            med.setdefault(f.__name__, []).append(statistics.median(times))
        ms = {k: 1000 * min(v) for k, v in med.items()}
        print(f"| {os.path.basename(name)} | {ms['raw']:.1f} | {ms['offline']:.1f} | "
              f"{ms['files']:.1f} | {ms['files'] / ms['raw']:.2f}x |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.1, 0.5, 2.0],
                        help="input sizes in GB")
    parser.add_argument("--formats", nargs="*",
                        default=["daq", "evt", "hdf5", "offline", "online"])
    parser.add_argument("--files", type=int, default=1000, help="files of the many-file runs "
                        "(0: skip them)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=1,
                        help="many-file runs: best (shortest wall) of this many")
    parser.add_argument("--no-per-file", action="store_true",
                        help="skip the per-file cost of offline files")
    parser.add_argument("--tmp", default=None, help="where to make the inputs (a temporary "
                        "directory by default, removed at the end)")
    args = parser.parse_args(argv)
    sys.path.insert(0, SRC)
    tmp = args.tmp or tempfile.mkdtemp(prefix="km3flow-bench-scale-")
    os.makedirs(tmp, exist_ok=True)
    try:
        if args.formats and args.sizes:
            memory_table(args.formats, args.sizes, tmp)
        if args.files:
            many_files(args.files, args.workers, tmp, args.reps)
        if not args.no_per_file:
            per_file_cost()
    finally:
        if args.tmp is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
