"""Reference values for tests/io/test_daq*.py, computed with KM3Pipe's DAQ readers.

Run with the reference venv (KM3Pipe 11.0.0, not a km3flow dependency):
``/work/refvenv/bin/python benchmarks/daq_reference.py``. It prints frame positions, hit
counts, first/last hits, headers, rates and the TMCH monitoring values that the tests
hard-code. KM3Pipe cannot read IO_SUM_legacy.dat (it assumes the v13 55-byte summary
frame); the script reports that failure.
"""

import warnings

import numpy as np
from km3net_testdata import data_path
from km3pipe.io.daq import DAQPump, TimesliceParser, TMCHRepump

warnings.filterwarnings("ignore")


def hit(h):
    return tuple(int(v) for v in h)


def events(fn, legacy):
    p = DAQPump(filename=data_path(fn), legacy=legacy)
    print("==", fn, "frames", len(p), "positions", p.frame_positions[:3],
          p.frame_positions[-3:])
    n_trig, n_snap = [], []
    for i, b in enumerate(p):
        e, h = b["DAQEvent"], b["DAQHeader"]
        n_trig.append(e.n_triggered_hits)
        n_snap.append(e.n_snapshot_hits)
        if i in (0, 1, len(p) - 1):
            print(i, "hdr", h.det_id, h.run, h.time_slice, h.time_stamp, h.ticks, h.wr_status,
                  "evt", e.trigger_counter, e.trigger_mask, e.overlays)
            print("  snap first", hit(e.snapshot_hits[0]), "last", hit(e.snapshot_hits[-1]))
            print("  trig first", hit(e.triggered_hits[0]), "last", hit(e.triggered_hits[-1]))
    print("n_triggered", n_trig)
    print("n_snapshot", n_snap)


def summaryslices(fn, legacy):
    p = DAQPump(filename=data_path(fn), legacy=legacy)
    print("==", fn, "frames", len(p))
    n_frames = []
    for i, b in enumerate(p):
        s, h = b["DAQSummaryslice"], b["DAQHeader"]
        n_frames.append(s.n_summary_frames)
        if i in (0, len(p) - 1):
            doms = list(s.summary_frames)
            print(i, "hdr", h.det_id, h.run, h.time_slice, h.time_stamp, h.ticks, h.wr_status)
            print("  doms first/last", doms[0], doms[-1])
            print("  first dom rates[:5]", np.round(s.summary_frames[doms[0]][:5], 3),
                  "dom rate", round(float(s.dom_rates[doms[0]]), 3))
            print("  first dom status", s.dq_status[doms[0]].hex(), s.dom_status[doms[0]])
            print("  last dom rates[:5]", np.round(s.summary_frames[doms[-1]][:5], 3))
    print("n_frames", n_frames)


def timeslices(fn, legacy):
    with open(data_path(fn), "rb") as f:
        size = len(f.read())
        f.seek(0)
        print("==", fn)
        i = 0
        while f.tell() < size:
            info, finfos, hits = TimesliceParser(legacy=legacy)._parse_timeslice(f)
            ends = (hit(hits[0]), hit(hits[-1])) if len(hits) else (None, None)
            print(i, "frame_index", info[0].frame_index, "ts", info[0].timestamp, "ns",
                  info[0].nanoseconds, "n_frames", info[0].n_frames, "n_hits", len(hits),
                  "first", ends[0], "last", ends[1], "doms", list(finfos)[:2],
                  list(finfos)[-1:])
            i += 1


events("daq/IO_EVT.dat", False)
events("daq/IO_EVT_legacy.dat", True)
summaryslices("daq/IO_SUM.dat", False)
try:
    summaryslices("daq/IO_SUM_legacy.dat", True)
except Exception as err:  # noqa: BLE001 - report whatever KM3Pipe raises
    print("km3pipe fails on IO_SUM_legacy:", repr(err))
for name, legacy in [("daq/IO_TSL1_1003.dat", False), ("daq/IO_TSSN.dat", False),
                     ("daq/IO_TSL0_legacy.dat", True), ("daq/IO_TSL1_legacy.dat", True),
                     ("daq/IO_TSL2_legacy.dat", True)]:
    timeslices(name, legacy)
print("== IO_MONIT")
for i, b in enumerate(TMCHRepump(filename=data_path("daq/IO_MONIT.dat"))):
    t = b["TMCHData"]
    print(i, t.run, t.udp_sequence_number, t.utc_seconds, t.nanoseconds, t.dom_id, t.version,
          t.yaw, t.temp, t.humidity, t.ts_duration_ms, sum(t.pmt_rates), t.dom_status_0)
