"""HDF5Pump(conform=True): KM3Pipe-written tables mapped onto km3flow's schema."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import tables as tb

from km3flow.dataclasses.schema import FITINF_INDEX, SCHEMAS
from km3flow.exceptions import FormatError
from km3flow.io.hdf5 import HDF5Pump
from km3flow.logger import get_logger

MCV5 = "hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5"


def _schema_dtype(table, name):
    schema = SCHEMAS[name]
    assert table.dtype.names == schema.names, name
    assert np.dtype([(n, table.dtype[n]) for n in table.dtype.names]) == schema.dtype, name


def test_km3pipe_5_file_is_renamed_and_cast(testdata):
    path = testdata(MCV5)
    with tb.open_file(path) as h5:
        info = h5.root.event_info.read()
        trig = h5.root.hits.triggered.read()
        tracks = h5.root.mc_tracks.read()
    with HDF5Pump(filename=path, conform=True) as pump:
        assert len(pump) == 10
        blobs = list(pump)
    assert all("GroupInfo" not in b for b in blobs)
    got = np.concatenate([np.asarray(b["EventInfo"]) for b in blobs])
    _schema_dtype(got, "EventInfo")
    assert blobs[0]["EventInfo"].name == "EventInfo"
    np.testing.assert_array_equal(got["utc_seconds"], info["timestamp"])
    np.testing.assert_array_equal(got["utc_nanoseconds"], info["nanoseconds"])
    np.testing.assert_array_equal(got["mc_t"], info["mc_time"])
    np.testing.assert_array_equal(got["event_id"], info["event_id"])
    np.testing.assert_array_equal(got["mc_run_id"], info["mc_run_id"])
    assert (got["mc_id"] == -1).all()  # not in this file: the fill
    hits = np.concatenate([np.asarray(b["Hits"]) for b in blobs])
    _schema_dtype(hits, "Hits")
    np.testing.assert_array_equal(hits["triggered"], trig != 0)
    mc = np.concatenate([np.asarray(b["McTracks"]) for b in blobs if "McTracks" in b])
    _schema_dtype(mc, "McTracks")
    np.testing.assert_array_equal(mc["type"], tracks["type"])
    assert (mc["status"] == -1).all()


def test_km3pipe_4_file_keyed_by_event_id(testdata):
    with HDF5Pump(filename=testdata("hdf5/numu_cc_test.h5"), conform=True) as pump:
        blob = pump[1]
    _schema_dtype(blob["EventInfo"], "EventInfo")
    hits = blob["Hits"]  # a compound table in the file, calibrated: split CalibHits here
    _schema_dtype(hits, "CalibHits")
    assert hits.split_h5 and hits.name == "CalibHits"
    with tb.open_file(testdata("hdf5/numu_cc_test.h5")) as h5:
        rows = h5.root.hits.read_where(f"event_id == {blob['EventInfo'].event_id[0]}")
    np.testing.assert_array_equal(hits.time, rows["time"].astype(float))
    np.testing.assert_array_equal(hits.t0, rows["t0"].astype(float))
    _schema_dtype(blob["McHits"], "CalibMcHits")
    assert "Gandalf" in blob and "jenergy_energy" not in blob["Gandalf"].dtype.names


def test_reco_tracks_fitinf_names_and_unknown_tables(testdata):
    path = testdata("hdf5/geamon.h5")
    with tb.open_file(path) as h5:
        raw = h5.root.reco.tracks.read()
        stages = h5.root.reco.rec_stages.read()
        mc = h5.root.mc_tracks.read()
    with HDF5Pump(filename=path, conform=True) as pump:
        blobs = list(pump)
    tracks = np.concatenate([np.asarray(b["Tracks"]) for b in blobs])
    _schema_dtype(tracks, "Tracks")
    np.testing.assert_array_equal(tracks["energy"], raw["E"])
    np.testing.assert_array_equal(tracks["time"], raw["t"])
    for upper in ("JGANDALF_CHI2", "JENERGY_ENERGY", "JCOPY_Z_M"):
        assert upper in FITINF_INDEX
        np.testing.assert_array_equal(tracks[upper.lower()], raw[upper].astype(float))
    assert np.isnan(tracks["jpp_coverage_position"]).all()  # not in the file
    # /reco/rec_stages is no schema table: passed through as written
    got_stages = np.concatenate([np.asarray(b["RecStages"]) for b in blobs])
    assert got_stages.dtype.names == stages.dtype.names and len(got_stages) == len(stages)
    mct = np.concatenate([np.asarray(b["McTracks"]) for b in blobs])
    np.testing.assert_array_equal(mct["type"], mc["pdgid"])  # KM3Pipe's pdgid is the type


def test_other_group_info_layout_is_left_out(testdata):
    path = testdata("hdf5/test_event_info.h5")
    with HDF5Pump(filename=path) as pump:
        assert "n_blobs" in pump[0]["GroupInfo"].dtype.names
    with HDF5Pump(filename=path, conform=True) as pump:
        assert len(pump) == 5 and "GroupInfo" not in pump[0]
        _schema_dtype(pump[0]["EventInfo"], "EventInfo")


def test_value_out_of_the_schema_range_names_file_column_and_row(testdata, tmp_path):
    bad = tmp_path / "bad.h5"
    shutil.copy(testdata(MCV5), bad)
    with tb.open_file(bad, "a") as h5:
        h5.root.hits.channel_id[5] = 300
    with HDF5Pump(filename=str(bad)) as pump:  # plain reading gives what the file holds
        assert pump[0]["Hits"].channel_id[5] == 300
    with HDF5Pump(filename=str(bad), conform=True) as pump, pytest.raises(
            FormatError, match=r"bad\.h5.*/hits column 'channel_id' \(int64\): value 300 in "
                               r"row 5 of the rows of groups 0\.\.0 does not fit the "
                               r"schema's uint8"):
        pump[0]


def test_fills_and_drops_are_logged_once_per_file(testdata, capsys):
    log = get_logger("HDF5Pump")
    level = log.level
    log.setLevel(logging.INFO)
    try:
        capsys.readouterr()
        with HDF5Pump(filename=testdata(MCV5), conform=True) as pump:
            list(pump)
            pump[3], pump[7]
        err = capsys.readouterr().err
    finally:
        log.setLevel(level)
    assert err.count("WARNING ++ HDF5Pump: dropped McTracks.{bjorkeny, interaction_channel, "
                     "is_cc}") == 1
    assert err.count("McTracks.{status, mother_id} = -1: not in /mc_tracks of mcv5.40") == 1
