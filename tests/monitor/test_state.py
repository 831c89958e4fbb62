"""MonitorState on the tables of real DAQ files (no sockets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from km3flow.controlhost.replay import iter_daq_frames
from km3flow.io.daq import parse_frame
from km3flow.io.detector import read_detector
from km3flow.monitor.state import MonitorInputError, MonitorState, dom_flags


class Clock:
    def __init__(self, t: float = 1_700_000_000.25) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _frames(testdata, name):
    path = testdata(name)
    return [parse_frame(f, path=str(path)) for _, _, f in iter_daq_frames(path)]


def test_summaryslices_give_dom_rates_and_flags(testdata):
    state = MonitorState(clock=Clock())
    frames = _frames(testdata, "daq/IO_SUM.dat")
    for frame in frames:
        state.add_summaryslice(frame["Summaryslice"])
    last = {}
    for frame in frames:
        for row in frame["Summaryslice"]:
            last[int(row["dom_id"])] = row
    doc = json.loads(json.dumps(state.api_state(), allow_nan=False))
    assert doc["n_doms"] == len(last) and doc["summaryslices"] == len(frames)
    assert doc["dom_records"] == sum(len(f["Summaryslice"]) for f in frames)
    for dom_id, row in last.items():
        dom = doc["doms"][str(dom_id)]
        assert dom["rate_hz"] == pytest.approx(row["rates"].sum())
        assert dom["flags"]["hrv"] == bool(int(row["hrv"]) & 0x7FFFFFFF)
        assert dom["flags"]["fifo"] == bool(int(row["fifo"]) & 0x7FFFFFFF)
        assert dom["flags"]["udp_loss"] == (not row["has_udp_trailer"] or
                                            row["n_udp_packets"] < row["max_sequence_number"] + 1)
    # the rows are kept sorted by DOM id whatever the order of arrival
    assert list(state.ids) == sorted(last)


def test_flags_of_mutated_status_words(testdata):
    table = _frames(testdata, "daq/IO_SUM.dat")[0]["Summaryslice"].copy()
    rng = np.random.default_rng(14)
    pick = rng.choice(len(table), 6, replace=False)
    table["hrv"] = np.uint32(1 << 31)  # white rabbit only: no veto
    table["fifo"] = np.uint32(1 << 31)  # trailer bit only: no FIFO flag
    table["hrv"][pick[0]] |= np.uint32(1 << 30)
    table["fifo"][pick[1]] |= np.uint32(1)
    table["has_udp_trailer"][pick[2]] = False
    table["n_udp_packets"][pick[3]] = table["max_sequence_number"][pick[3]]  # one lost
    flags = dom_flags(table)
    assert np.flatnonzero(flags["hrv"]).tolist() == [pick[0]]
    assert np.flatnonzero(flags["fifo"]).tolist() == [pick[1]]
    assert sorted(np.flatnonzero(flags["udp_loss"]).tolist()) == sorted(pick[2:4].tolist())


def test_events_and_per_second_history(testdata):
    clock = Clock()
    state = MonitorState(clock=clock, history_seconds=5)
    events = _frames(testdata, "daq/IO_EVT.dat")
    for ev in events:
        state.add_event(ev["EventInfo"], ev["Hits"], ev["TriggeredHits"])
    clock.t += 1
    update = state.page_update()
    trig = update["triggers"]
    assert trig["event_rate_hz"][-1] == len(events)
    n_hits = sum(len(e["Hits"]) for e in events)
    assert trig["hits_per_event"][-1] == pytest.approx(n_hits / len(events))
    masks = [int(e["EventInfo"]["trigger_mask"][0]) for e in events]
    for label, counts in trig["bits"].items():
        bit = int(label.split("(")[1].rstrip(")"))
        assert counts[-1] == sum((m >> bit) & 1 for m in masks)
    assert update["event"]["frame_index"] == int(events[-1]["EventInfo"]["frame_index"][0])
    assert len(update["event"]["time"]) == len(events[-1]["Hits"])
    assert sum(update["event"]["triggered"]) == int(events[-1]["Hits"]["triggered"].sum())
    # seconds without data are bins with no events; only history_seconds are kept
    clock.t += 10
    trig = state.page_update()["triggers"]
    assert len(trig["time"]) == 5 and trig["event_rate_hz"] == [0.0] * 5
    assert np.all(np.diff(trig["time"]) == 1)


def test_detector_gives_du_floor_and_positions(testdata):
    det = read_detector(testdata("detx/D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx"))
    state = MonitorState(detector=det, clock=Clock())
    for frame in _frames(testdata, "daq/IO_SUM.dat"):
        state.add_summaryslice(frame["Summaryslice"])
    ev = _frames(testdata, "daq/IO_EVT.dat")[0]
    state.add_event(ev["EventInfo"], ev["Hits"], ev["TriggeredHits"])
    doc = state.api_state()
    assert doc["geometry"] == "detector"
    for dom_id, dom in doc["doms"].items():
        row = det.get_dom(int(dom_id))
        assert (dom["du"], dom["floor"]) == (int(row["du"]), int(row["floor"]))
    update = json.loads(json.dumps(state.page_update(), allow_nan=False))
    positions = det.dom_positions
    z_of = dict(zip(det.dom_ids.tolist(), positions[:, 2].round(2).tolist()))
    assert update["event"]["z"] == [z_of[int(d)] for d in ev["Hits"]["dom_id"]]
    heat = update["heatmap"]
    assert sum(v is not None for row in heat["rate_mhz"] for v in row) == doc["n_doms"]


def test_messages_and_connection():
    state = MonitorState(max_messages=3, clock=Clock())
    state.add_message("one\ntwo")
    state.add_message("three\nfour")
    state.set_connected(True, "connected to 127.0.0.1:5553")
    doc = state.api_state()
    assert [m["text"] for m in doc["messages"]] == ["two", "three", "four"]
    assert doc["connected"] and doc["data_age_s"] == 0


def test_bad_tables_are_named(testdata):
    state = MonitorState()
    ev = _frames(testdata, "daq/IO_EVT.dat")[0]
    with pytest.raises(MonitorInputError, match="Summaryslice: missing columns .*rates"):
        state.add_summaryslice(ev["Hits"])
    with pytest.raises(MonitorInputError, match="EventInfo: missing column"):
        state.add_event(ev["Hits"], ev["Hits"], ev["TriggeredHits"])
    assert state.dom(123) is None
