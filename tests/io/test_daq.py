"""Tests of the DAQ binary readers on the km3net-testdata files.

Expected values were computed once with KM3Pipe 11.0.0 (``km3pipe.io.daq.DAQPump`` and
``TimesliceParser``) in a separate venv; the script is ``benchmarks/daq_reference.py``.
Where KM3Pipe cannot read a file (IO_SUM_legacy.dat: it assumes the 55-byte v13 summary
frame) the values were checked by hand against the bytes, as noted.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from km3flow.core import Pipeline
from km3flow.exceptions import FormatError
from km3flow.io.daq import (
    DAQPump, DAQReader, SummarysliceReader, TimeslicePump, channel_flags, decode_rates,
    encode_rates, index_frames, iter_frames, parse_event, parse_frame, parse_summaryslice,
    parse_timeslice,
)


def _bytes(testdata, name):
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        return fobj.read()


# -- frames ----------------------------------------------------------------------------------
def test_iter_frames_offsets_match_km3pipe(testdata):
    # km3pipe DAQPump.frame_positions
    assert [f.offset for f in iter_frames(testdata("daq/IO_EVT.dat"))] == [0, 5724, 7674]
    assert [f.offset for f in iter_frames(testdata("daq/IO_SUM.dat"))] == [0, 1849, 5678]
    legacy = index_frames(testdata("daq/IO_EVT_legacy.dat"))
    assert len(legacy) == 38
    assert list(legacy["offset"][:3]) == [0, 570, 986]
    assert list(legacy["offset"][-3:]) == [13694, 14016, 14360]
    sums = index_frames(testdata("daq/IO_SUM_legacy.dat"))
    assert len(sums) == 81 and list(sums["offset"][-3:]) == [50973, 51629, 52285]


def test_iter_frames_accepts_bytes_and_file_objects(testdata):
    data = _bytes(testdata, "IO_TSL1_1003.dat")
    from_bytes = list(iter_frames(data))
    with open(testdata("daq/IO_TSL1_1003.dat"), "rb") as fobj:
        from_file = list(iter_frames(fobj))
    from_stream = list(iter_frames(io.BytesIO(data)))
    assert from_bytes == from_file == from_stream
    assert len(from_bytes) == 10
    assert {f.data_type for f in from_bytes} == {1003}
    assert sum(f.length for f in from_bytes) == len(data)
    assert list(iter_frames(b"")) == []


# -- events ----------------------------------------------------------------------------------
def test_events_match_km3pipe(testdata):
    with DAQReader(filename=testdata("daq/IO_EVT.dat")) as reader:
        assert len(reader) == 3
        n_trig, n_snap = [], []
        for blob in reader:
            n_trig.append(len(blob["TriggeredHits"]))
            n_snap.append(len(blob["Hits"]))
            assert blob["Hits"].triggered.sum() == len(blob["TriggeredHits"])
        assert n_trig == [182, 49, 6]
        assert n_snap == [239, 101, 35]
        blob = reader[0]
    info = blob["EventInfo"]
    assert info.h5loc == "/event_info"
    assert (info.det_id[0], info.run_id[0], info.frame_index[0]) == (44, 6760, 88733)
    assert (info.trigger_counter[0], info.trigger_mask[0], info.overlays[0]) == (2816, 22, 54)
    assert (info.utc_seconds[0], info.utc_nanoseconds[0]) == (1574432873, 18750000 * 16)
    hits, trig = blob["Hits"], blob["TriggeredHits"]
    assert hits.h5loc == "/hits" and hits.split_h5
    assert list(trig.dom_id[:5]) == [806451572, 806455814, 806455814, 806483369, 806483369]
    assert list(trig.channel_id[:5]) == [23, 14, 24, 6, 11]
    assert list(trig.time[:5]) == [40380598, 40380623, 40380551, 40380835, 40380920]
    assert list(trig.trigger_mask[:5]) == [4, 4, 4, 4, 22]
    assert list(hits.channel_id[:5]) == [23, 17, 14, 24, 6]
    assert tuple(hits[0])[:4] == (23, 806451572, 40380598, 27)
    assert tuple(hits[-1])[:4] == (28, 809544061, 40381035, 35)
    last = DAQReader(filename=testdata("daq/IO_EVT.dat"))[-1]
    assert tuple(last["Hits"][0])[:4] == (14, 806465101, 93292528, 16)
    assert tuple(last["TriggeredHits"][-1]) == (24, 809007627, 93291973, 28, 2)


def test_events_legacy_match_km3pipe(testdata):
    reader = DAQPump(filename=testdata("daq/IO_EVT_legacy.dat"), legacy=True)
    assert len(reader) == 38
    n_trig = [len(b["TriggeredHits"]) for b in reader]
    assert n_trig == [13, 10, 7, 10, 6, 6, 9, 6, 6, 19, 9, 13, 6, 10, 9, 13, 7, 11, 10, 9, 6,
                      12, 7, 7, 6, 8, 8, 7, 6, 9, 6, 11, 6, 9, 6, 7, 6, 7]
    blob = reader[4]
    assert (len(blob["TriggeredHits"]), len(blob["Hits"])) == (6, 17)
    first = reader[0]
    assert int(first["Hits"].triggered.sum()) == 13 and len(first["Hits"]) == 28
    info = first["EventInfo"]
    assert (info.det_id[0], info.run_id[0], info.frame_index[0], info.trigger_counter[0],
            info.trigger_mask[0], info.overlays[0]) == (7, 139, 5443, 184, 18, 13)
    assert tuple(first["Hits"][0])[:4] == (11, 808430036, 30932749, 14)
    last = reader[-1]
    assert tuple(last["TriggeredHits"][-1]) == (21, 808447091, 67495553, 17, 18)
    reader.close()


def test_parse_event_on_a_payload_and_versions(testdata):
    data = _bytes(testdata, "IO_EVT.dat")
    info, hits, trig = parse_event(data[5724:7674])
    assert (len(trig), len(hits), info.trigger_counter[0]) == (49, 101, 2905)
    with pytest.raises(FormatError, match="legacy=True"):
        parse_event(_bytes(testdata, "IO_EVT_legacy.dat")[:570])
    with pytest.raises(FormatError):
        parse_event(data[:5724], legacy=True)


# -- summary slices --------------------------------------------------------------------------
def test_summaryslices_match_km3pipe(testdata):
    reader = SummarysliceReader(filename=testdata("daq/IO_SUM.dat"))
    assert len(reader) == 3
    assert [len(b["Summaryslice"]) for b in reader] == [33, 69, 69]
    blob = reader[0]
    info, frames = blob["SummarysliceInfo"], blob["Summaryslice"]
    assert (info.frame_index[0], info.timestamp[0], info.nanoseconds[0]) == (
        241, 1574424024, 6250000 * 16)
    assert (frames.dom_id[0], frames.dom_id[-1]) == (806451572, 809544061)
    np.testing.assert_allclose(frames.rates[0][:5],
                               [7962.143, 6410.802, 7340.673, 7340.673, 7340.673], atol=1e-3)
    assert frames.dom_rate[0] == pytest.approx(421369.899, abs=1e-3)
    np.testing.assert_allclose(frames.rates[-1][:5],
                               [6767.71, 10726.098, 10160.436, 7962.143, 7749.35], atol=1e-3)
    # status words as km3pipe's dom_status (signed there): dq 0x001C001D, hrv 0x82484000
    assert (frames.dq_status[0], frames.hrv[0], frames.fifo[0]) == (
        0x001C001D, 0x82484000, 0x80000000)
    assert (frames.n_udp_packets[0], frames.max_sequence_number[0]) == (29, 28)
    assert frames.has_udp_trailer[0] and frames.white_rabbit[0]
    assert list(np.flatnonzero(channel_flags(frames.hrv[0]))) == [14, 19, 22, 25]
    last = reader[2]["Summaryslice"]
    assert last.dom_rate[0] == pytest.approx(243486.36, abs=1e-2)
    reader.close()


def test_summaryslices_legacy(testdata):
    # KM3Pipe fails on this file; checked by hand: 81 frames of 656 = 28 + 4 + 16·39 bytes,
    # first DOM 808430036 with status 0x80000000 and rate bytes 0x2b 0x2b 0x2c (43, 43, 44).
    reader = SummarysliceReader(filename=testdata("daq/IO_SUM_legacy.dat"), legacy=True)
    assert len(reader) == 81
    frames = reader[0]["Summaryslice"]
    assert len(frames) == 16
    assert frames.dom_id[0] == 808430036 and frames.hrv[0] == 0x80000000
    assert list(frames.raw_rates[0][:3]) == [43, 43, 44]
    np.testing.assert_allclose(frames.rates[0][:3], decode_rates([43, 43, 44]))
    assert reader[0]["SummarysliceInfo"].frame_index[0] == 114687  # km3pipe header
    reader.close()


def test_rate_decoding_matches_km3io():
    # km3io.online.get_rate (before its removal) gave int32(2054), 55987, 1999999
    assert [int(r) for r in decode_rates([0, 1, 123, 255])] == [0, 2054, 55987, 1999999]
    assert [int(r) for r in decode_rates([1, 2, 3])] == [2054, 2111, 2169]
    # unsigned: byte 200 is ~ 456 kHz, not a negative number (km3pipe reads 'b')
    assert decode_rates([200])[0] == pytest.approx(2e3 * np.exp(200 * np.log(1000) / 255))
    assert list(encode_rates(decode_rates(np.arange(256)))) == list(range(256))
    assert list(encode_rates([0.0, -1.0, 1.0, 1e9])) == [0, 0, 1, 255]


# -- timeslices ------------------------------------------------------------------------------
def test_timeslices_l1_match_km3pipe(testdata):
    pump = TimeslicePump(filename=testdata("daq/IO_TSL1_1003.dat"))
    assert len(pump) == 10
    expected_first_times = [607618, 643163, 678851, 714828, 750241, 786338, 821975, 857422,
                            893804, 929683]
    expected_last_times = [99611011, 99646663, 99682352, 99718369, 99753746, 99789839,
                           99825469, 99860902, 99897358, 99933229]
    for i, blob in enumerate(pump):
        hits, info = blob["TimesliceHits"], blob["TimesliceInfo"]
        assert len(hits) == 1800 and info.n_frames[0] == 15
        assert info.frame_index[0] == 13535 + 10 * i
        assert info.timestamp[0] == 1605025366 + i and info.nanoseconds[0] == 500000000
        assert tuple(hits[0]) == (12, 808489098, expected_first_times[i], hits[0].tot)
        assert hits.time[0] == expected_first_times[i]
        assert hits.time[-1] == expected_last_times[i]
        assert hits.dom_id[-1] == 809544159 and hits.channel_id[-1] == 0
        finfo = blob["TimesliceFrameInfo"]
        assert (finfo.dom_id[0], finfo.dom_id[1], finfo.dom_id[-1]) == (
            806451239, 806451575, 809544159)
        assert finfo.n_hits.sum() == 1800
    assert pump[0]["TimesliceHits"].tot[0] == 25 and pump[9]["TimesliceHits"].tot[0] == 26
    assert pump[0]["TimesliceStream"] == "L1"
    pump.close()


def test_timeslices_sn_and_legacy_match_km3pipe(testdata):
    pump = TimeslicePump(filename=testdata("daq/IO_TSSN.dat"), stream="SN")
    assert [len(b["TimesliceHits"]) for b in pump] == [0, 4, 54]
    assert [b["TimesliceInfo"].frame_index[0] for b in pump] == [198, 218, 238]
    hits = pump[1]["TimesliceHits"]
    assert tuple(hits[0]) == (21, 808982077, 75012004, 24)
    assert tuple(hits[-1]) == (25, 808982077, 75012008, 28)
    hits = pump[2]["TimesliceHits"]
    assert tuple(hits[0]) == (29, 806483369, 5595972, 30)
    assert tuple(hits[-1]) == (22, 809544058, 7628923, 30)
    assert np.all(hits.channel_id < 31)
    assert len(TimeslicePump(filename=testdata("daq/IO_TSSN.dat"), stream="L1")) == 0

    l0 = TimeslicePump(filename=testdata("daq/IO_TSL0_legacy.dat"), legacy=True)[0]
    hits = l0["TimesliceHits"]
    assert len(hits) == 200 and hits.tot[0] == 25 and hits.dom_id[23] == 808447031
    assert tuple(hits[0]) == (13, 808447031, 650330, 25)
    assert tuple(hits[-1]) == (0, 808447031, 99782762, 25)
    assert l0["TimesliceInfo"].frame_index[0] == 232
    for name, frame_index in [("IO_TSL1_legacy.dat", 4873), ("IO_TSL2_legacy.dat", 4872)]:
        blob = TimeslicePump(filename=testdata(f"daq/{name}"), legacy=True)[0]
        assert len(blob["TimesliceHits"]) == 0
        assert blob["TimesliceInfo"].frame_index[0] == frame_index


def test_timeslice_fast_path_equals_frame_walk(testdata, monkeypatch):
    from km3flow.io.daq import parse as parse_mod

    data = _bytes(testdata, "IO_TSSN.dat")[204:]
    fast = parse_timeslice(data)
    monkeypatch.setattr(parse_mod, "_superframe_starts_fast", lambda *a: None)
    slow = parse_timeslice(data)
    for a, b in zip(fast, slow):
        assert np.array_equal(np.asarray(a), np.asarray(b))


# -- pumps in pipelines ----------------------------------------------------------------------
def test_pump_in_pipeline_and_random_access(testdata):
    seen = []

    def collect(blob):
        seen.append(len(blob["Hits"]))
        return blob

    pipe = Pipeline()
    pipe.attach(DAQPump, filename=testdata("daq/IO_EVT.dat"))
    pipe.attach(collect)
    pipe.drain()
    assert seen == [239, 101, 35]
    reader = DAQReader(filename=testdata("daq/IO_EVT.dat"))
    assert len(reader[-1]["Hits"]) == 35
    assert reader.frame(1).offset == 5724
    assert reader.counts() == {"DAQEvent": 3}
    with pytest.raises(IndexError):
        reader[3]
    reader.close()


def test_reader_on_bytes_in_memory(testdata):
    data = _bytes(testdata, "IO_SUM.dat") + _bytes(testdata, "IO_EVT.dat")
    reader = DAQReader(data=data)
    assert reader.counts() == {"DAQSummaryslice": 3, "DAQEvent": 3}
    assert len(reader) == 6
    assert "Summaryslice" in reader[0] and "Hits" in reader[3]
    only_events = DAQReader(data=data, data_types=[10001])
    assert len(only_events) == 3 and len(only_events[0]["Hits"]) == 239
    blob = parse_frame(reader.raw(3))
    assert blob["DAQHeader"].frame_index == 88733


def test_tables_have_hdf5_metadata(testdata):
    blob = DAQReader(filename=testdata("daq/IO_TSL1_1003.dat"))[0]
    assert blob["TimesliceHits"].h5loc == "/timeslice_hits"
    assert blob["TimesliceInfo"].h5loc == "/timeslice_info"
    assert blob["TimesliceFrameInfo"].h5loc == "/timeslice_frame_info"
    assert blob["TimesliceHits"].dtype["time"] == np.dtype("<u4")
    summary = DAQReader(filename=testdata("daq/IO_SUM.dat"))[0]
    assert summary["Summaryslice"].h5loc == "/summaryslice"
    assert summary["SummarysliceInfo"].h5loc == "/summaryslice_info"


def test_wrong_format_files_raise_format_error(testdata):
    with pytest.raises(FormatError, match="IO_MONIT.dat: at byte 0: expected a DAQ frame"):
        DAQReader(filename=testdata("daq/IO_MONIT.dat"))
    with pytest.raises(FormatError, match="km3net_online.root"):
        DAQReader(filename=testdata("online/km3net_online.root"))
    with pytest.raises(FormatError, match="expected a frame of data type"):
        parse_summaryslice(_bytes(testdata, "IO_EVT.dat")[:5724])


def _hit_keys(hits):
    """The hits' (dom_id, channel_id, time, tot) as 10-byte keys (an exact reference)."""
    from km3flow.io.daq.format import SNAPSHOT_HIT_DTYPE

    packed = np.empty(len(hits), SNAPSHOT_HIT_DTYPE)
    for name in SNAPSHOT_HIT_DTYPE.names:
        packed[name] = hits[name]
    return packed.view("V10")


def test_triggered_flags_equal_the_bytewise_match(testdata):
    from km3flow.io.daq.format import SNAPSHOT_HIT_DTYPE, TRIGGERED_HIT_DTYPE
    from km3flow.io.daq.triggered import triggered_flags

    for name, legacy in [("IO_EVT.dat", False), ("IO_EVT_legacy.dat", True)]:
        for blob in DAQReader(filename=testdata(f"daq/{name}"), legacy=legacy):
            hits, trig = blob["Hits"], blob["TriggeredHits"]
            snap = np.empty(len(hits), SNAPSHOT_HIT_DTYPE)
            tr = np.empty(len(trig), TRIGGERED_HIT_DTYPE)
            for k in SNAPSHOT_HIT_DTYPE.names:
                snap[k], tr[k] = hits[k], trig[k]
            exact = np.isin(_hit_keys(snap), _hit_keys(tr))
            assert np.array_equal(hits.triggered, exact)
            assert np.array_equal(triggered_flags(snap, tr), exact)
    # a time beyond 2**27 ns and a duplicated triggered key
    snap = np.zeros(3, SNAPSHOT_HIT_DTYPE)
    snap["time"] = [1, 1 << 30, 5]
    snap["tot"] = [1, 2, 3]
    tr = np.zeros(2, TRIGGERED_HIT_DTYPE)
    tr["time"] = [1 << 30, 5]
    tr["tot"] = [2, 4]
    assert list(triggered_flags(snap, tr)) == [False, True, False]
    tr["time"] = [5, 5]
    tr["tot"] = [4, 3]
    assert list(triggered_flags(snap, tr)) == [False, False, True]


@pytest.mark.parametrize("name,legacy", [
    ("IO_EVT.dat", False), ("IO_EVT_legacy.dat", True), ("IO_SUM.dat", False),
    ("IO_SUM_legacy.dat", True), ("IO_TSL1_1003.dat", False), ("IO_TSSN.dat", False),
])
def test_chunked_iteration_equals_frame_by_frame(testdata, name, legacy):
    from km3flow.io.daq.bulk import read_events, read_summaryslices, read_timeslices

    reader = DAQReader(filename=testdata(f"daq/{name}"), legacy=legacy, chunk_size=7)
    chunked = list(reader)
    single = [reader[i] for i in range(len(reader))]
    assert len(chunked) == len(single) == len(reader)
    for a, b in zip(chunked, single):
        assert list(a) == list(b)  # the same keys in the same order
        for key in a:
            va, vb = a[key], b[key]
            if isinstance(vb, np.ndarray):
                # bytes, not values: the schema's NaN fills are equal bit for bit
                assert va.dtype == vb.dtype and va.tobytes() == vb.tobytes(), key
                assert (va.h5loc, va.name, va.split_h5) == (vb.h5loc, vb.name, vb.split_h5)
            else:
                assert va == vb, key
    bulk = {"E": read_events, "S": read_summaryslices, "T": read_timeslices}
    batch = bulk[name[3]](testdata(f"daq/{name}"), legacy)
    assert len(batch.info) == len(reader)


@pytest.mark.parametrize("name", ["IO_EVT.dat", "IO_SUM.dat", "IO_TSSN.dat"])
def test_blobs_go_straight_into_hdf5(testdata, tmp_path, name):
    from km3flow.io.hdf5 import HDF5Pump, HDF5Sink

    out = str(tmp_path / "daq.h5")
    pipe = Pipeline()
    pipe.attach(DAQPump, filename=testdata(f"daq/{name}"))
    pipe.attach(HDF5Sink, filename=out)
    pipe.drain()
    reader = DAQPump(filename=testdata(f"daq/{name}"))
    with HDF5Pump(filename=out) as back:
        assert len(back) == len(reader)
        for i in (0, len(reader) - 1):
            orig, blob = reader[i], back[i]
            for key, table in orig.items():
                if not isinstance(table, np.ndarray):
                    continue
                assert key in blob
                for column in table.dtype.names:
                    values = np.asarray(table[column])
                    assert np.array_equal(np.asarray(blob[key][column]), values,
                                          equal_nan=values.dtype.kind == "f"), (key, column)


def test_timeslice_without_super_frames(testdata):
    # derived from IO_TSSN.dat frame 0 (one super frame without hits): drop the super
    # frame, set the count to 0 and fix the length, then put it between real slices
    from km3flow.io.daq import read_timeslices

    data = _bytes(testdata, "IO_TSSN.dat")
    empty = bytearray(data[:34])
    empty[0:4] = (34).to_bytes(4, "little")
    empty[30:34] = (0).to_bytes(4, "little")
    stream = data[90:204] + bytes(empty) + data[204:] + bytes(empty)
    info, finfo, hits = parse_timeslice(bytes(empty))
    assert (info.n_frames[0], len(finfo), len(hits)) == (0, 0, 0)
    batch = read_timeslices(stream)
    assert list(batch.info.n_frames) == [1, 0, 33, 0]
    assert list(np.diff(batch.hits_offsets)) == [4, 0, 54, 0]
    blobs = list(DAQReader(data=stream))
    assert [len(b["TimesliceHits"]) for b in blobs] == [4, 0, 54, 0]


@pytest.mark.parametrize("name,legacy", [
    ("IO_EVT.dat", False), ("IO_EVT_legacy.dat", True), ("IO_SUM.dat", False),
    ("IO_SUM_legacy.dat", True), ("IO_TSL1_1003.dat", False), ("IO_TSSN.dat", False),
    ("IO_TSL0_legacy.dat", True), ("IO_TSL1_legacy.dat", True), ("IO_TSL2_legacy.dat", True),
])
def test_legacy_detection(testdata, name, legacy):
    reader = DAQReader(filename=testdata(f"daq/{name}"), legacy=None)
    assert reader.legacy is legacy
    assert len(list(reader)) == len(reader)


@pytest.mark.parametrize("name, n", [("IO_EVT.dat", 3), ("IO_SUM.dat", 3), ("IO_TSSN.dat", 3)])
def test_len_of_bulk_results_is_the_number_of_frames_not_fields(testdata, name, n):
    import dataclasses
    import pickle

    from km3flow.io.daq import read_events, read_summaryslices, read_timeslices

    reader = {"E": read_events, "S": read_summaryslices, "T": read_timeslices}[name[3]]
    batch = reader(testdata(f"daq/{name}"))
    assert len(batch) == len(batch.info) == len(DAQReader(filename=testdata(f"daq/{name}")))
    assert len(batch) == n
    # iterating still gives the fields in order (unpacking as before), and it pickles
    fields = tuple(batch)
    assert len(fields) == len(dataclasses.fields(batch)) and fields[0] is batch.info
    first, *rest = batch
    assert first is batch.info and len(rest) == len(fields) - 1
    again = pickle.loads(pickle.dumps(batch))
    assert len(again) == n and np.array_equal(again.header, batch.header)
    assert len(dataclasses.replace(batch, info=batch.info[:1])) == 1


@pytest.mark.parametrize("name,main", [
    ("IO_EVT.dat", "Hits"), ("IO_SUM.dat", "Summaryslice"), ("IO_TSSN.dat", "TimesliceHits"),
])
def test_chunk_blobs_build_header_and_secondary_tables_on_first_use(testdata, name, main):
    from km3flow.core import Blob
    from km3flow.core.blob import LazyBlob

    reader = DAQReader(filename=testdata(f"daq/{name}"))
    blobs = list(reader)
    assert all(type(b) is LazyBlob for b in blobs)
    first = blobs[0]
    assert first[main].tobytes() == reader[0][main].tobytes() and type(first) is LazyBlob
    assert first["DAQHeader"] == reader[0]["DAQHeader"]
    assert type(first) is Blob  # all entries built at once
    for k, got in enumerate(blobs):
        want = reader[k]
        assert list(got.items())[0] == ("DAQHeader", want["DAQHeader"])  # items() builds
        for key, value in got.items():
            if isinstance(value, np.ndarray):
                assert type(value) is type(want[key]) and value.tobytes() == want[key].tobytes()
                assert (value.h5loc, value.name) == (want[key].h5loc, want[key].name)
            else:
                assert value == want[key]


@pytest.mark.parametrize("name", ["IO_EVT.dat", "IO_SUM.dat", "IO_TSL1_1003.dat"])
def test_bulk_readers_take_a_known_index(testdata, name):
    from km3flow.io.daq.bulk import read_events, read_summaryslices, read_timeslices

    read = {"E": read_events, "S": read_summaryslices, "T": read_timeslices}[name[3]]
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        data = fobj.read()
    plain, indexed = read(data), read(data, index=index_frames(data))
    for a, b in zip(plain, indexed):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_index_frames_in_memory_and_from_a_file_agree(testdata, tmp_path):
    path = testdata("daq/IO_TSSN.dat")
    with open(path, "rb") as fobj:
        data = fobj.read()
    assert index_frames(data).tobytes() == index_frames(path).tobytes()
    assert [tuple(r) for r in index_frames(memoryview(data))] == [
        tuple(f) for f in iter_frames(path)]
    first = int(index_frames(data)["length"][0])
    for cut in (first + 3, first + 100, len(data) - 1):  # preamble cut, frame cut
        broken = tmp_path / f"cut{cut}.dat"
        broken.write_bytes(data[:cut])
        with pytest.raises(FormatError) as mem:
            index_frames(data[:cut])
        with pytest.raises(FormatError) as disk:
            index_frames(str(broken))
        assert (mem.value.reason, mem.value.offset) == (disk.value.reason, disk.value.offset)
    bad = bytearray(data)
    bad[first + 4] = 7  # an unknown data type in the second preamble
    with pytest.raises(FormatError, match="data type") as err:
        index_frames(bytes(bad))
    assert err.value.offset == first


def test_reader_builds_at_once_after_a_deferred_entry_was_read(testdata):
    from km3flow.core import Blob
    from km3flow.core.blob import LazyBlob

    path = testdata("daq/IO_TSL1_1003.dat")
    reader = DAQReader(filename=path, chunk_size=3)  # chunks of 3, 3, 3 and 1 frame
    blobs = iter(reader)
    first, second, third = next(blobs), next(blobs), next(blobs)
    assert len(first["TimesliceHits"]) and type(first) is LazyBlob  # the main table only
    assert type(second) is LazyBlob and second["TimesliceInfo"]["frame_index"][0] >= 0
    assert type(second) is Blob and type(third) is LazyBlob  # built one by one
    rest = list(blobs)
    assert [type(b) for b in rest] == [Blob] * 7  # later chunks: built at once
    single = DAQReader(filename=path)
    for k, got in enumerate([first, second, third, *rest]):
        want = single[k]
        assert list(got) == list(want)
        for key in want:
            if isinstance(want[key], np.ndarray):
                assert got[key].tobytes() == want[key].tobytes()
                assert (got[key].h5loc, got[key].name, got[key].split_h5) == (
                    want[key].h5loc, want[key].name, want[key].split_h5)
            else:
                assert got[key] == want[key]
