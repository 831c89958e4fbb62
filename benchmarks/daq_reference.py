import io, warnings
warnings.filterwarnings("ignore")
import numpy as np
from km3pipe.io.daq import DAQPump, TimesliceParser, TMCHRepump
from km3net_testdata import data_path

def events(fn, legacy):
    p = DAQPump(filename=data_path(fn), legacy=legacy)
    print("==", fn, "frames", len(p), "positions", p.frame_positions[:3], p.frame_positions[-3:])
    nt=[];ns=[]
    for i, b in enumerate(p):
        e=b["DAQEvent"]; h=b["DAQHeader"]
        nt.append(e.n_triggered_hits); ns.append(e.n_snapshot_hits)
        if i in (0, 1, len(p)-1):
            print(i, "hdr", h.det_id,h.run,h.time_slice,h.time_stamp,h.ticks,h.wr_status, "evt", e.trigger_counter,e.trigger_mask,e.overlays)
            print("  snap first", e.snapshot_hits[0], "last", e.snapshot_hits[-1])
            print("  trig first", e.triggered_hits[0], "last", e.triggered_hits[-1])
    print("n_triggered", nt); print("n_snapshot", ns)

def sums(fn, legacy):
    p = DAQPump(filename=data_path(fn), legacy=legacy)
    print("==", fn, "frames", len(p))
    nf=[]
    for i, b in enumerate(p):
        s=b["DAQSummaryslice"]; h=b["DAQHeader"]
        nf.append(s.n_summary_frames)
        if i in (0, len(p)-1):
            doms=list(s.summary_frames)
            print(i, "hdr", h.det_id,h.run,h.time_slice,h.time_stamp,h.ticks,h.wr_status)
            print("  doms first/last", doms[0], doms[-1])
            print("  first dom rates[:5]", np.round(s.summary_frames[doms[0]][:5], 3), "dom rate", round(float(s.dom_rates[doms[0]]),3))
            print("  first dom status", s.dq_status[doms[0]].hex(), s.dom_status[doms[0]])
            print("  last dom rates[:5]", np.round(s.summary_frames[doms[-1]][:5], 3))
    print("n_frames", nf)

def tsl(fn, legacy):
    f = open(data_path(fn), "rb"); n = len(f.read()); f.seek(0)
    print("==", fn)
    i = 0
    while f.tell() < n:
        info, finfos, hits = TimesliceParser(legacy=legacy)._parse_timeslice(f)
        print(i, "frame_index", info[0].frame_index, "ts", info[0].timestamp, "ns", info[0].nanoseconds, "n_frames", info[0].n_frames, "n_hits", len(hits),
              "first", (hits[0].dom_id, hits[0].channel_id, hits[0].time, hits[0].tot) if len(hits) else None,
              "last", (hits[-1].dom_id, hits[-1].channel_id, hits[-1].time, hits[-1].tot) if len(hits) else None,
              "doms", list(finfos)[:2], list(finfos)[-1:] )
        i += 1

events("daq/IO_EVT.dat", False)
events("daq/IO_EVT_legacy.dat", True)
sums("daq/IO_SUM.dat", False)
try:
    sums("daq/IO_SUM_legacy.dat", True)
except Exception as e:
    print("km3pipe fails on IO_SUM_legacy:", repr(e))
for fn, leg in [("daq/IO_TSL1_1003.dat", False), ("daq/IO_TSSN.dat", False), ("daq/IO_TSL0_legacy.dat", True), ("daq/IO_TSL1_legacy.dat", True), ("daq/IO_TSL2_legacy.dat", True)]:
    tsl(fn, leg)
print("== IO_MONIT")
for i, b in enumerate(TMCHRepump(filename=data_path("daq/IO_MONIT.dat"))):
    t = b["TMCHData"]
    print(i, t.run, t.udp_sequence_number, t.utc_seconds, t.nanoseconds, t.dom_id, t.version, t.yaw, t.temp, t.humidity, t.ts_duration_ms, sum(t.pmt_rates), t.dom_status_0)
