"""Tests of the online ROOT reader on km3net-testdata ``online/*.root``.

Reference values for ``online/km3net_online.root`` come from km3io's own test suite for its
``OnlineReader`` (km3io commit d4e5b9e^, the last one with online support, and d252905 for
the timeslices), i.e. values km3io computed for the same file; the events of
``events_sample.root`` are compared hit by hit with ``online/events_sample.h5``, which KM3Pipe
9.0.0a6 wrote from it (shipped in km3net-testdata); the summary slice of
``KM3NeT_00000049_00008456.summaryslice-167941.root`` is compared with the Jpp text dump
shipped next to it in km3net-testdata (as km3io's test did). Numbers of entries and hits of
the other files were checked against the DAQ binary layout (every entry's byte counts add
up), not against another reader.
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.core import Pipeline
from km3flow.exceptions import FormatError
from km3flow.io.daq import channel_flags
from km3flow.io.root.online import OnlineFile, OnlinePump

ONLINE = "online/km3net_online.root"


def test_events_match_km3io(testdata):
    with OnlinePump(filename=testdata(ONLINE)) as pump:
        assert len(pump) == 3
        blobs = list(pump)
    snap = [len(b["Hits"]) for b in blobs]
    trig = [len(b["TriggeredHits"]) for b in blobs]
    assert snap == [96, 124, 78] and sum(snap) == 298
    assert trig == [18, 53, 9] and sum(trig) == 80
    hits, thits = blobs[0]["Hits"], blobs[0]["TriggeredHits"]
    assert list(hits.dom_id[:3]) == [806451572, 806451572, 806455814]
    assert list(hits.channel_id[:3]) == [10, 13, 0]
    assert list(hits.time[:3]) == [30733918, 30733916, 30733256]
    assert list(thits.dom_id[:3]) == [806451572, 806451572, 808432835]
    assert list(thits.channel_id[:3]) == [10, 13, 1]
    assert list(thits.time[:3]) == [30733918, 30733916, 30733429]
    assert list(thits.trigger_mask[:3]) == [16, 16, 4]
    for blob in blobs:
        assert blob["Hits"].channel_id.max() < 31
        assert blob["Hits"].triggered.sum() == len(blob["TriggeredHits"])
    info = blobs[0]["EventInfo"]
    assert (info.det_id[0], info.run_id[0], info.frame_index[0]) == (44, 6633, 127)
    assert (info.trigger_mask[0], info.overlays[0]) == (22, 6)
    assert info.h5loc == "/event_info" and hits.h5loc == "/hits"


def test_summaryslices_match_km3io(testdata):
    pump = OnlinePump(filename=testdata(ONLINE), kind="summaryslices")
    assert len(pump) == 3
    blobs = list(pump)
    assert [len(b["Summaryslice"]) for b in blobs] == [64, 66, 68]
    assert [b["SummarysliceInfo"].frame_index[0] for b in blobs] == [126, 127, 128]
    s = blobs[0]["Summaryslice"]
    assert list(s.dom_id[:3]) == [806451572, 806455814, 806465101]
    assert list(s.dom_id[-3:]) == [809526097, 809544058, 809544061]
    assert list(s.raw_rates[:3, 5]) == [75, 62, 55]

    def row(dom_id):
        return s[s.dom_id == dom_id][0]

    for dom_id, fifo in {808981510: True, 808981523: False, 808981672: False}.items():
        assert channel_flags(row(dom_id).fifo).any() == fifo
    for dom_id, hrv in {808489014: True, 808489117: False, 808493910: True,
                        808961655: False, 808981510: True, 808982018: False}.items():
        assert channel_flags(row(dom_id).hrv).any() == hrv
    for dom_id, seq in {808974758: 18, 808974773: 26, 808974972: 41, 809544061: 23}.items():
        assert row(dom_id).max_sequence_number == seq
    for dom_id, packets in {808451904: 27, 808451907: 22, 808951460: 37}.items():
        assert row(dom_id).n_udp_packets == packets
    assert s.has_udp_trailer[s.dom_id == 806451572][0]
    assert list(np.flatnonzero(channel_flags(row(809544061).hrv))) == [1, 5, 15, 21]
    pump.close()


def test_summaryslice_matches_the_jpp_text_dump(testdata):
    name = "online/KM3NeT_00000049_00008456.summaryslice-167941"
    with open(testdata(name + ".txt")) as fobj:
        ref = [line.split() for line in fobj]
    with OnlinePump(filename=testdata(name + ".root"), kind="summaryslices") as pump:
        frames = pump[0]["Summaryslice"]
    assert len(frames) == len(ref) == 103
    assert list(frames.dom_id) == [int(r[0]) for r in ref]
    ref_khz = np.array([[float(v) for v in r[1::2]] for r in ref])
    ref_flags = np.array([[f for f in r[2::2]] for r in ref])
    np.testing.assert_allclose(frames.rates / 1000, ref_khz, atol=0.051)
    hrv = np.array([[f[0] == "1" for f in r] for r in ref_flags])
    fifo = np.array([[f[1] == "1" for f in r] for r in ref_flags])
    assert np.array_equal(channel_flags(frames.hrv), hrv)
    assert np.array_equal(channel_flags(frames.fifo), fifo)


def test_timeslices_match_km3io(testdata):
    f = OnlineFile(testdata(ONLINE))
    assert f.timeslice_streams == {"": 3, "L1": 3, "SN": 3}
    f.close()
    l1 = OnlinePump(filename=testdata(ONLINE), kind="timeslices", stream="L1")
    sn = OnlinePump(filename=testdata(ONLINE), kind="timeslices", stream="SN")
    assert [b["TimesliceInfo"].n_frames[0] for b in l1] == [69, 69, 69]
    assert [b["TimesliceInfo"].n_frames[0] for b in sn] == [64, 66, 68]
    blob = sn[1]
    hits = blob["TimesliceHits"]
    assert (hits.dom_id == 808447186).sum() == 8
    finfo = blob["TimesliceFrameInfo"]
    assert finfo.n_hits.sum() == len(hits)
    # the hit time is ns since the slice start: below 100 ms for every hit of every slice
    for pump in (l1, sn):
        for b in pump:
            h = b["TimesliceHits"]
            assert h.channel_id.max() < 31 and h.time.max() < 100_000_000
            assert b["TimesliceInfo"].h5loc == "/timeslice_info"
    l1.close()
    sn.close()


def test_timeslices_all_layouts(testdata):
    # generic KM3NET_TIMESLICE tree (memberwise vector, one DOM per slice here)
    generic = OnlinePump(filename=testdata(ONLINE), kind="timeslices", stream="")
    assert [len(b["TimesliceHits"]) for b in generic] == [48550, 57425, 47717]
    first = generic[0]["TimesliceHits"]
    assert tuple(first[0]) == (0, 808969857, 231, 28)
    assert generic[0]["TimesliceInfo"].frame_index[0] == 240
    # JConvert files: memberwise vector<JDAQSuperFrame> with 453 DOMs per slice
    l1 = OnlinePump(filename=testdata("online/KM3NeT_00000267_00025291_L1.root"),
                    kind="timeslices")
    assert l1.stream == "L1" and len(l1) == 3
    blob = l1[0]
    assert blob["TimesliceInfo"].n_frames[0] == 453
    assert len(blob["TimesliceHits"]) == 167499
    assert blob["TimesliceInfo"].frame_index[0] == 5057
    assert blob["TimesliceHits"].time.max() < 100_000_000
    sn = OnlinePump(filename=testdata("online/KM3NeT_00000267_00025291_SN.root"),
                    kind="timeslices", step_size=40)
    counts = [len(b["TimesliceHits"]) for b in sn]
    assert len(counts) == 100 and counts[:3] == [0, 915, 973] and sum(counts) == 94341


def test_other_event_and_summary_files(testdata):
    for name, n, total in [("KM3NeT_00000133_JDAQEvent.root", 10, 9144),
                           ("muon_cc_daqevents.root", 250, 319713),
                           ("events_sample.root", 10, 1078)]:
        with OnlinePump(filename=testdata(f"online/{name}"), step_size=64) as pump:
            assert len(pump) == n
            assert sum(len(b["Hits"]) for b in pump) == total
    with OnlinePump(filename=testdata("online/summaryslices.root"),
                    kind="summaryslices") as pump:
        assert len(pump) == 1000
        assert sum(len(pump[i]["Summaryslice"]) for i in range(len(pump))) == 17830


def test_online_pump_in_a_pipeline(testdata):
    n_hits = []

    def count(blob):
        n_hits.append(len(blob["Hits"]))
        return blob

    pipe = Pipeline()
    pipe.attach(OnlinePump, filename=testdata(ONLINE))
    pipe.attach(count)
    pipe.drain()
    assert n_hits == [96, 124, 78]


def test_online_bad_input(testdata, tmp_path):
    with pytest.raises(FormatError, match="IO_EVT.dat"):
        OnlinePump(filename=testdata("daq/IO_EVT.dat"))
    with pytest.raises(ValueError, match="kind"):
        OnlinePump(filename=testdata(ONLINE), kind="tracks")
    with open(testdata(ONLINE), "rb") as fobj:
        data = fobj.read()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated.root"):
        pump = OnlinePump(filename=str(truncated))
        list(pump)


def test_offline_file_is_not_an_online_file(testdata):
    with pytest.raises(FormatError, match="expected an online ROOT file"):
        OnlinePump(filename=testdata("offline/km3net_offline.root"))


@pytest.mark.parametrize("name,kind", [
    ("KM3NeT_00000049_00008456.summaryslice-167941.root", "summaryslices"),
    ("KM3NeT_00000133_JDAQEvent.root", "events"),
])
def test_online_fuzz_flipped_and_truncated(testdata, tmp_path, name, kind):
    with open(testdata(f"online/{name}"), "rb") as fobj:
        data = fobj.read()
    rng = np.random.default_rng(5)
    variants = []
    for _ in range(12):
        corrupt = bytearray(data)
        for pos in rng.integers(0, len(data), size=3):
            corrupt[pos] ^= int(rng.integers(1, 256))
        variants.append(bytes(corrupt))
    variants += [data[:int(cut)] for cut in rng.integers(100, len(data), size=6)]
    for k, variant in enumerate(variants):
        path = tmp_path / f"variant{k}.root"
        path.write_bytes(variant)
        try:
            with OnlinePump(filename=str(path), kind=kind) as pump:
                for blob in pump:
                    assert len(blob)
        except FormatError as err:
            assert f"variant{k}.root" in str(err)


def test_default_kind_follows_the_file(testdata):
    for name, kind, n in [("km3net_online.root", "events", 3),
                          ("summaryslices.root", "summaryslices", 1000),
                          ("KM3NeT_00000267_00025291_L1.root", "timeslices", 3)]:
        with OnlinePump(filename=testdata(f"online/{name}")) as pump:
            assert (pump.kind, len(pump)) == (kind, n)


def test_events_match_the_km3pipe_hdf5_of_the_same_file(testdata):
    # km3net-testdata ships online/events_sample.h5, written by KM3Pipe 9.0.0a6 (its
    # attribute 'km3pipe') from events_sample.root: every hit and header field must agree
    import tables

    with tables.open_file(testdata("online/events_sample.h5")) as h5:
        ref_info = h5.root.event_info[:]
        ref_hits = {k: h5.get_node(f"/hits/{k}")[:]
                    for k in ("channel_id", "dom_id", "time", "tot", "triggered")}
        ref_index = h5.root.hits._indices[:]
    with OnlinePump(filename=testdata("online/events_sample.root")) as pump:
        blobs = list(pump)
    hits = np.concatenate([np.asarray(b["Hits"]) for b in blobs])
    info = np.concatenate([np.asarray(b["EventInfo"]) for b in blobs])
    assert len(hits) == len(ref_hits["time"]) == 1078
    assert [len(b["Hits"]) for b in blobs] == list(ref_index["n_items"])
    for column in ("channel_id", "dom_id", "tot"):
        assert np.array_equal(hits[column].astype(np.int64), ref_hits[column]), column
    assert np.array_equal(hits["time"], ref_hits["time"])
    assert np.array_equal(hits["triggered"], ref_hits["triggered"].astype(bool))
    for ours, theirs in [("det_id", "det_id"), ("frame_index", "frame_index"),
                         ("overlays", "overlays"), ("run_id", "run_id"),
                         ("utc_seconds", "timestamp"), ("utc_nanoseconds", "nanoseconds"),
                         ("trigger_counter", "trigger_counter"),
                         ("trigger_mask", "trigger_mask")]:
        assert np.array_equal(info[ours].astype(np.int64), ref_info[theirs]), ours
