"""Benchmark the DAQ binary readers: hits/s and frames/s against the limits and KM3Pipe.

Streams are built by repeating the frames of the km3net-testdata files (IO_EVT.dat,
IO_SUM.dat, IO_TSL1_1003.dat, IO_TSSN.dat) until they hold ``--hits`` hits (or
``--frames`` frames for summary slices). For each stream:

- ``limit``: one ``np.frombuffer`` over all the stream's bytes as the packed record dtype
  (hits, or summary frames), converted once to a native-endian array — the cost of
  touching the bytes once, with no frame structure at all;
- ``walker``: a minimal per-frame ``struct`` walker (preamble + header with ``struct``,
  ``np.frombuffer`` per hit block — i.e. per super frame for timeslices — and the same
  native conversion), the simplest correct reader one would write by hand;
- ``km3flow``: ``DAQReader(data=stream)`` iterated to the end: indexing pass, decoding,
  Table building (Hits with the ``triggered`` flag, rates in Hz, frame infos);
- ``bulk``: ``read_events``/``read_summaryslices``/``read_timeslices`` on the stream: the
  same Tables, decoded for all frames at once (flat tables + offsets);
- ``km3pipe``: KM3Pipe's readers in a subprocess with ``--refpython`` (skipped if that
  interpreter cannot import km3pipe): ``DAQPump`` for events and summary slices (raw hit
  arrays, no tables), ``TimesliceParser`` for timeslices, and for events also
  ``DAQProcessor``, which like km3flow builds EventInfo and Hits with ``triggered``.

Times are CPU times (``time.process_time``), best of ``--reps``, the variants one after
the other per stream (KM3Pipe's in a subprocess, wall time there).

Run: ``PYTHONPATH=src python benchmarks/daq.py --hits 2000000 --reps 3
[--ref-python PATH] [--streams events SN]``
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
from km3net_testdata import data_path

from km3flow.io.daq import DAQReader, iter_frames
from km3flow.io.daq.bulk import read_events, read_summaryslices, read_timeslices
from km3flow.io.daq.format import (
    FRAME_HIT_DTYPE, RATE_TABLE, SNAPSHOT_HIT_DTYPE, SUMMARY_FRAME_DTYPE, TRIGGERED_HIT_DTYPE,
)

_NATIVE_HIT = np.dtype([("dom_id", "<u4"), ("channel_id", "u1"), ("time", "<u4"), ("tot", "u1")])
_FHIT = np.dtype([("channel_id", "u1"), ("time", "<u4"), ("tot", "u1")])
_SUM_NATIVE = np.dtype([(n, "<u4") for n in SUMMARY_FRAME_DTYPE.names[:6]] +
                       [("rates", "u1", (31,))])


def _stream(name: str, min_hits: int, min_frames: int, count) -> tuple[bytes, int, int]:
    with open(data_path(f"daq/{name}"), "rb") as fobj:
        data = fobj.read()
    hits, frames = count(data), len(list(iter_frames(data)))
    reps = max(1, -(-min_hits // max(hits, 1)), -(-min_frames // frames))
    return data * reps, hits * reps, frames * reps


def _count_hits(data: bytes) -> int:
    n = 0
    for blob in DAQReader(data=data, legacy=False):
        n += sum(len(blob[k]) for k in ("Hits", "TimesliceHits", "Summaryslice") if k in blob)
    return n


def _best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.process_time()  # CPU time: the machine may be shared
        fn()
        times.append(time.process_time() - t0)
    return min(times)


# -- the limit: one frombuffer over all bytes -------------------------------------------------
def limit(data: bytes, rec: np.dtype, native: np.dtype) -> int:
    arr = np.frombuffer(data, rec, count=len(data) // rec.itemsize)
    return len(arr.astype(native))


def limit_with_rates(data: bytes) -> int:
    """The summary-slice limit plus the rate decoding (a 256-entry lookup per byte)."""
    arr = np.frombuffer(data, SUMMARY_FRAME_DTYPE, count=len(data) // 55).astype(_SUM_NATIVE)
    return len(RATE_TABLE.take(arr["rates"]))


# -- minimal per-frame struct walkers -----------------------------------------------------------
def walk_events(data: bytes) -> int:
    n = 0
    view = memoryview(data)
    off, size = 0, len(data)
    while off < size:
        length, _ = struct.unpack_from("<ii", view, off)
        det, run, fi, sec, cyc = struct.unpack_from("<iiiII", view, off + 10)
        counter, mask, overlays, nt = struct.unpack_from("<QQIi", view, off + 30)
        pos = off + 54
        trig = np.frombuffer(view, TRIGGERED_HIT_DTYPE, count=nt, offset=pos).astype(
            TRIGGERED_HIT_DTYPE.newbyteorder("<"))
        pos += 18 * nt
        (ns,) = struct.unpack_from("<i", view, pos)
        snap = np.frombuffer(view, SNAPSHOT_HIT_DTYPE, count=ns, offset=pos + 4).astype(
            _NATIVE_HIT)
        n += len(snap) + 0 * len(trig)
        off += length
    return n


def walk_summaryslices(data: bytes) -> int:
    n = 0
    view = memoryview(data)
    off, size = 0, len(data)
    while off < size:
        length, _ = struct.unpack_from("<ii", view, off)
        det, run, fi, sec, cyc, nf = struct.unpack_from("<iiiIIi", view, off + 10)
        frames = np.frombuffer(view, SUMMARY_FRAME_DTYPE, count=nf, offset=off + 34)
        n += len(frames.astype(_SUM_NATIVE))
        off += length
    return n


def walk_timeslices(data: bytes) -> int:
    n = 0
    view = memoryview(data)
    off, size = 0, len(data)
    while off < size:
        length, _ = struct.unpack_from("<ii", view, off)
        det, run, fi, sec, cyc, nf = struct.unpack_from("<iiiIIi", view, off + 10)
        pos = off + 34
        blocks = []
        for _ in range(nf):
            flen, _, dom_id = struct.unpack_from("<ii20xi", view, pos)
            (nh,) = struct.unpack_from("<i", view, pos + 52)
            blocks.append(np.frombuffer(view, FRAME_HIT_DTYPE, count=nh, offset=pos + 56))
            pos += flen
        if blocks:
            n += len(np.concatenate(blocks).astype(_FHIT))
        off += length
    return n


def km3flow_read(data: bytes) -> int:
    n = 0
    for blob in DAQReader(data=data):
        for key in ("Hits", "TimesliceHits", "Summaryslice"):
            if key in blob:
                n += len(blob[key])
    return n


def km3flow_bulk(data: bytes, kind: str) -> int:
    if kind == "events":
        return len(read_events(data).hits)
    if kind == "summaryslices":
        return len(read_summaryslices(data).frames)
    return len(read_timeslices(data).hits)


_KM3PIPE = r"""
import io, json, struct, sys, time, types, warnings
warnings.filterwarnings("ignore")
from km3pipe.io.daq import DAQPump, DAQProcessor, TimesliceParser
path, kind, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
frames = []
off = 0
while off < len(data):
    length = struct.unpack_from("<i", data, off)[0]
    frames.append(data[off:off + length])
    off += length
best, best_proc = 1e99, 1e99
for _ in range(reps):
    t0 = time.perf_counter()
    n = 0
    if kind == "timeslices":
        f = io.BytesIO(data)
        parser = TimesliceParser()
        while f.tell() < len(data):
            info, finfos, hits = parser._parse_timeslice(f)
            n += len(hits)
    else:
        pump = DAQPump(filename=path)
        for blob in pump:
            if kind == "events":
                n += blob["DAQEvent"].n_snapshot_hits
            else:
                n += blob["DAQSummaryslice"].n_summary_frames
        pump.finish()
    best = min(best, time.perf_counter() - t0)
    if kind == "events":  # the Table-producing path: EventInfo + Hits with 'triggered'
        proc = DAQProcessor()
        prefix = types.SimpleNamespace(tag="IO_EVT")
        t0 = time.perf_counter()
        n_proc = 0
        for frame in frames:
            blob = proc.process({"CHData": frame, "CHPrefix": prefix})
            n_proc += len(blob["Hits"])
        best_proc = min(best_proc, time.perf_counter() - t0)
print(json.dumps({"seconds": best, "n": n, "processor_seconds": best_proc}))
"""


def km3pipe_read(refpython: str, data: bytes, kind: str, reps: int) -> dict | None:
    if not refpython or not os.path.exists(refpython):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stream.dat")
        with open(path, "wb") as fobj:
            fobj.write(data)
        proc = subprocess.run([refpython, "-c", _KM3PIPE, path, kind, str(reps)],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  (km3pipe failed: {proc.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=1_000_000, help="hits per hit stream")
    parser.add_argument("--frames", type=int, default=20_000,
                        help="summary frames (DOMs) in the summary-slice stream")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (best is kept)")
    parser.add_argument("--ref-python", "--refpython", dest="refpython", default="",
                        help="python with km3pipe for the KM3Pipe column (none: skipped)")
    parser.add_argument("--streams", nargs="*", default=None,
                        help="only these streams (events, summary, L1, SN)")
    args = parser.parse_args(argv)

    cases = [
        ("events (IO_EVT)", "IO_EVT.dat", "events", SNAPSHOT_HIT_DTYPE, _NATIVE_HIT,
         walk_events, args.hits, 0),
        ("summary slices (IO_SUM)", "IO_SUM.dat", "summaryslices", SUMMARY_FRAME_DTYPE,
         _SUM_NATIVE, walk_summaryslices, 0, 0),
        ("timeslices L1 (IO_TSL1)", "IO_TSL1_1003.dat", "timeslices", FRAME_HIT_DTYPE, _FHIT,
         walk_timeslices, args.hits, 0),
        ("timeslices SN (IO_TSSN)", "IO_TSSN.dat", "timeslices", FRAME_HIT_DTYPE, _FHIT,
         walk_timeslices, args.hits // 20, 0),
    ]
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, reps={args.reps}")
    header = (f"{'stream':24} {'items':>8} {'frames':>6} | {'limit':>8} {'walker':>8} "
              f"{'pump':>8} {'bulk':>8} {'km3pipe':>8} | {'pump/lim':>8} {'pump/wk':>7} "
              f"{'bulk/lim':>8} {'bulk/wk':>7} {'kp/pump':>7} {'kp/bulk':>7}")
    print(header)
    print("-" * len(header))
    for label, name, kind, rec, native, walker, min_hits, _ in cases:
        if args.streams and not any(w in label for w in args.streams):
            continue
        if kind == "summaryslices":
            data, items, frames = _stream(name, args.frames, 0, _count_hits)
        else:
            data, items, frames = _stream(name, min_hits, 0, _count_hits)
        t_limit = _best(lambda: limit(data, rec, native), args.reps)
        t_walk = _best(lambda: walker(data), args.reps)
        t_kf = _best(lambda: km3flow_read(data), args.reps)
        t_bulk = _best(lambda: km3flow_bulk(data, kind), args.reps)
        assert km3flow_read(data) == items == walker(data) == km3flow_bulk(data, kind), label
        kp = km3pipe_read(args.refpython, data, kind, max(1, args.reps - 2))
        t_kp = kp["seconds"] if kp else float("nan")
        unit = "DOMs" if kind == "summaryslices" else "hits"
        ms = [t * 1e3 for t in (t_limit, t_walk, t_kf, t_bulk, t_kp)]
        print(f"{label:24} {items:>8} {frames:>6} | "
              + " ".join(f"{m:7.2f}m" for m in ms)
              + f" | {t_kf / t_limit:8.1f} {t_kf / t_walk:7.2f} {t_bulk / t_limit:8.2f} "
              f"{t_bulk / t_walk:7.2f} {t_kp / t_kf:7.1f} {t_kp / t_bulk:7.1f}")
        print(f"{'':24} pump {items / t_kf / 1e6:.2f} M{unit}/s {frames / t_kf:,.0f} frames/s; "
              f"bulk {items / t_bulk / 1e6:.2f} M{unit}/s {frames / t_bulk:,.0f} frames/s; "
              f"limit {items / t_limit / 1e6:.1f} M{unit}/s"
              + (f"; km3pipe {items / t_kp / 1e6:.3f} M{unit}/s" if kp else ""))
        if kind == "summaryslices":
            t_lr = _best(lambda: limit_with_rates(data), args.reps)
            print(f"{'':24} limit + rate lookup {t_lr * 1e3:.2f} ms: pump/that "
                  f"{t_kf / t_lr:.1f}, bulk/that {t_bulk / t_lr:.1f}")
        if kp and kp["processor_seconds"] < 1e90:
            t_proc = kp["processor_seconds"]
            print(f"{'':24} km3pipe DAQProcessor (EventInfo + Hits with triggered, like km3flow): "
                  f"{t_proc * 1e3:.1f} ms = {t_proc / t_kf:.1f}x pump, {t_proc / t_bulk:.1f}x bulk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
