"""Every reader gives the schema's tables on real files and logs its fills once per file."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from km3flow.dataclasses.schema import FILL_U4, FILL_U8, SCHEMAS
from km3flow.io.daq import DAQReader
from km3flow.io.evt import EvtPump
from km3flow.io.hdf5 import HDF5Pump
from km3flow.io.root.online import OnlinePump
from km3flow.io.root import OfflinePump
from km3flow.logger import get_logger

# the blob keys that are schema tables, and their schema (CalibHits where calibrated)
_SCHEMA_OF = {"EventInfo": "EventInfo", "Hits": "Hits", "McHits": "McHits",
              "McTracks": "McTracks", "Tracks": "Tracks", "TriggeredHits": "TriggeredHits",
              "SummarysliceInfo": "SummarysliceInfo", "Summaryslice": "Summaryslice",
              "TimesliceInfo": "TimesliceInfo", "TimesliceFrameInfo": "TimesliceFrameInfo",
              "TimesliceHits": "TimesliceHits"}


def _check_blob(blob, expect, calibrated=False):
    """Every schema table in ``blob`` has the schema's dtype; ``expect`` keys are there."""
    seen = set()
    for key, value in blob.items():
        if key not in _SCHEMA_OF or not isinstance(value, np.ndarray):
            continue
        name = _SCHEMA_OF[key]
        if calibrated and name == "Hits":
            name = "CalibHits"
        schema = SCHEMAS[name]
        assert value.dtype.names == schema.names, key
        assert np.dtype([(n, value.dtype[n]) for n in value.dtype.names]) == schema.dtype, key
        assert value.h5loc == schema.h5loc and value.split_h5 == schema.split_h5, key
        seen.add(key)
    assert set(expect) <= seen, (expect, seen)


READERS = [
    (DAQReader, "daq/IO_EVT.dat", {}, ["EventInfo", "Hits", "TriggeredHits"]),
    (DAQReader, "daq/IO_EVT_legacy.dat", {}, ["EventInfo", "Hits", "TriggeredHits"]),
    (DAQReader, "daq/IO_SUM.dat", {}, ["SummarysliceInfo", "Summaryslice"]),
    (DAQReader, "daq/IO_TSL1_1003.dat", {}, ["TimesliceInfo", "TimesliceFrameInfo",
                                             "TimesliceHits"]),
    (EvtPump, "evt/example_numuNC.evt", {}, ["EventInfo", "McTracks", "McHits"]),
    (EvtPump, "evt/KM3Sim.evt", {}, ["EventInfo", "McTracks", "McHits"]),
    (EvtPump, "evt/corant_5.1.9.evt", {}, ["EventInfo", "McTracks", "McHits"]),
    (EvtPump, "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt", {}, ["EventInfo", "McTracks"]),
    (OfflinePump, "offline/numucc.root", {}, ["EventInfo", "Hits", "McHits", "McTracks",
                                              "Tracks"]),
    (OfflinePump, "offline/km3net_offline.root", {}, ["EventInfo", "Hits", "Tracks"]),
    (OnlinePump, "online/km3net_online.root", {}, ["EventInfo", "Hits", "TriggeredHits"]),
    (OnlinePump, "online/km3net_online.root", {"kind": "summaryslices"},
     ["SummarysliceInfo", "Summaryslice"]),
    (OnlinePump, "online/km3net_online.root", {"kind": "timeslices"},
     ["TimesliceInfo", "TimesliceFrameInfo", "TimesliceHits"]),
]


@pytest.mark.parametrize("cls,path,params,expect", READERS,
                         ids=[f"{r[0].__name__}-{r[1]}-{r[2]}" for r in READERS])
def test_reader_tables_have_the_schema(testdata, cls, path, params, expect):
    with cls(filename=testdata(path), **params) as pump:
        _check_blob(pump[0], expect)
        for blob in pump:  # iteration may take other paths (bulk DAQ decoding, chunks)
            _check_blob(blob, [])


def test_calibrated_offline_hits_are_calib_hits_with_nan_t0(testdata):
    with OfflinePump(filename=testdata("offline/usr-sample.root")) as pump:
        assert pump.calibrated
        blob = pump[0]
        _check_blob(blob, ["Hits"], calibrated=True)
        assert np.isnan(blob["Hits"].t0).all() and not np.isnan(blob["Hits"].pos_x).any()


def test_daq_and_online_fill_the_mc_columns(testdata):
    for cls, path in ((DAQReader, "daq/IO_EVT.dat"), (OnlinePump, "online/km3net_online.root")):
        with cls(filename=testdata(path)) as pump:
            info = pump[0]["EventInfo"]
            assert (info.mc_id[0], info.event_id[0], info.mc_run_id[0]) == (-1, -1, -1)
            assert np.isnan(info.mc_t[0]) and np.isnan(info.weight_w1[0])
            assert info.livetime_sec[0] == FILL_U8
            assert info.det_id[0] > 0 and info.utc_seconds[0] > 1_400_000_000


def test_evt_fills(testdata):
    with EvtPump(filename=testdata("evt/example_numuNC.evt")) as pump:
        blob = pump[0]
    info, trks = blob["EventInfo"], blob["McTracks"]
    assert (info.det_id[0], info.event_id[0]) == (-1, -1)
    assert (info.frame_index[0], info.utc_seconds[0]) == (FILL_U4, FILL_U8)
    assert info.mc_id[0] == blob["start_event"][0] and not np.isnan(info.weight_w1[0])
    assert np.isnan(info.weight_w4[0]) and np.isnan(info.mc_t[0])
    assert (trks.status == -1).all() and (trks.mother_id == -1).all()
    assert np.isnan(trks.length).all()  # track_in lines of 10 values carry no length


def test_offline_event_id_and_missing_branches(testdata):
    with OfflinePump(filename=testdata("offline/numucc.root")) as pump:
        assert "Evt/trks/trks.status" in pump.missing_branches
        blob = pump[3]
    assert blob["EventInfo"].event_id[0] >= 0
    assert (blob["Tracks"].status == -1).all() and (blob["McTracks"].mother_id == -1).all()


@pytest.fixture
def info_logs(capsys):
    """Turn the readers' loggers to INFO; yield a function returning what they wrote."""
    names = ["DAQReader", "DAQPump", "EvtPump", "OfflinePump", "OnlinePump", "HDF5Pump"]
    loggers = [get_logger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
    capsys.readouterr()
    yield lambda: capsys.readouterr().err
    for lg, level in zip(loggers, levels):
        lg.setLevel(level)


def test_fills_are_logged_once_per_file(testdata, info_logs):
    with DAQReader(filename=testdata("daq/IO_EVT.dat")) as pump:
        blobs = list(pump) + [pump[1], pump[2]]
    assert len(blobs) == 5
    err = info_logs()
    assert err.count("filled") == 1
    assert "EventInfo.{mc_id, event_id, mc_run_id} = -1" in err
    assert "not in DAQ events (IO_EVT.dat)" in err

    with EvtPump(filename=testdata("evt/KM3Sim.evt")) as pump:
        list(pump)
        list(pump)
    err = info_logs()
    # the format's fills once, and once the track_in lines without a length
    assert err.count("not in EVT files (KM3Sim.evt)") == 1
    assert err.count("McTracks.length = NaN") == 1
    assert "McTracks.{status, mother_id} = -1" in err

    with OfflinePump(filename=testdata("offline/numucc.root"), step_size=3) as pump:
        list(pump)
    err = info_logs()
    # the EventInfo columns no event tree has come from numucc.root's header: no INFO fills
    assert err.count("INFO ++ OfflinePump: filled") == 0
    assert err.count("WARNING ++ OfflinePump: filled") == 1
    assert "McTracks.{status, mother_id} = -1: their branches are missing from numucc.root" \
        in err

    with OfflinePump(filename=testdata("offline/km3net_offline.root"), step_size=3) as pump:
        list(pump)
    err = info_logs()  # no (readable) header: the generation columns hold their fills
    assert err.count("INFO ++ OfflinePump: filled") == 1
    assert "EventInfo.{livetime_sec, n_events_gen, n_files_gen}" in err

    with OnlinePump(filename=testdata("online/km3net_online.root")) as pump:
        list(pump)
    assert info_logs().count("not in online events (km3net_online.root)") == 1


def test_plain_hdf5_reading_is_unchanged(testdata):
    path = testdata("hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5")
    with HDF5Pump(filename=path) as pump:
        blob = pump[0]
    assert "GroupInfo" in blob and "timestamp" in blob["EventInfo"].dtype.names
    assert blob["Hits"].dtype["channel_id"] == np.dtype("<i8")


def test_file_pump_logs_once_for_each_file(testdata, info_logs):
    from km3flow.io.files import FilePump

    files = [testdata("daq/IO_EVT.dat"), testdata("evt/KM3Sim.evt"), testdata("daq/IO_EVT.dat")]
    with FilePump(filenames=files) as pump:
        assert len(list(pump)) == 16
    err = info_logs()
    assert err.count("not in DAQ events (IO_EVT.dat)") == 2
    assert err.count("not in EVT files (KM3Sim.evt)") == 1
