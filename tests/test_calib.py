"""Tests of km3flow.calib on real hits and detectors from km3net-testdata.

Reference values were computed once with KM3Pipe 11.0.0 (``kp.calib.Calibration(filename=…)
.apply(hits, correct_slewing=False)``) and km3io 1.x in a separate venv (/work/refvenv):
the first event of ``offline/km3net_offline.root`` calibrated with
``detx/km3net_offline.detx``, and the MC hits of ``evt/example_numuNC.evt`` calibrated by
pmt_id with ``detx/km3net_jul13_90m_r1494_corrected.detx``.
"""

from __future__ import annotations

import numpy as np
import pytest

import km3flow as kp
from km3flow.calib import Calibration, CalibrationError, calibrate
from km3flow.dataclasses import Table
from km3flow.io.detector import read_detector
from km3flow.io.evt import EvtPump


@pytest.fixture(scope="module")
def offline_hits(testdata):
    import uproot

    with uproot.open(testdata("offline/km3net_offline.root")) as f:
        tree = f["E/Evt/hits"]
        arrays = tree.arrays(["hits.dom_id", "hits.channel_id", "hits.t", "hits.tot",
                              "hits.trig"], entry_stop=1, library="np")
    return Table.from_template({
        "dom_id": arrays["hits.dom_id"][0], "channel_id": arrays["hits.channel_id"][0],
        "time": arrays["hits.t"][0], "tot": arrays["hits.tot"][0],
        "triggered": arrays["hits.trig"][0] > 0,
    }, "Hits")


REF_DATA_HITS = {  # index: (dom_id, channel_id, time, t0, pos_x..z, dir_x..z, du, floor, pmt_id)
    0: (806451572, 8, 70311757.825, 207747.825, 19.522, -12.053, 76.662, -0.39, 0.735, 0.555,
        5, 6, 9142),
    1: (806451572, 9, 70311761.656, 207745.656, 19.435, -12.194, 76.662, -0.831, 0.03, 0.555,
        5, 6, 9131),
    175: (809544061, 26, 70312214.144, 207373.144, -13.296, 6.616, 76.381, 0.521, 0.078,
          -0.85, 2, 6, 7596),
}


def test_calibrate_data_hits_matches_km3pipe(offline_hits, testdata):
    det = read_detector(testdata("detx/km3net_offline.detx"))
    assert len(offline_hits) == 176
    c = calibrate(offline_hits, det)
    names = ("dom_id", "channel_id", "time", "t0", "pos_x", "pos_y", "pos_z", "dir_x",
             "dir_y", "dir_z", "du", "floor", "pmt_id")
    for i, ref in REF_DATA_HITS.items():
        assert tuple(c[n][i] for n in names) == pytest.approx(ref)
    assert c.time.sum() == pytest.approx(12374868107.29, rel=1e-13)
    assert c.pos_z.sum() == pytest.approx(15372.051)
    assert c.h5loc == "/hits" and c.time.dtype == np.float64
    # the input is not changed
    assert offline_hits.time[0] == 70104010.0
    # a path works as well as a Detector, and without the time correction
    c2 = calibrate(offline_hits, testdata("detx/km3net_offline.detx"), correct_time=False)
    np.testing.assert_array_equal(c2.time, offline_hits.time)


def test_calibrate_mc_hits_by_pmt_id_matches_km3pipe(testdata):
    with EvtPump(filename=testdata("evt/example_numuNC.evt")) as pump:
        mc = pump[0]["McHits"]
    det = read_detector(testdata("detx/km3net_jul13_90m_r1494_corrected.detx"))
    c = calibrate(mc, det)
    assert list(c.time) == [259.31, 327.77, 260.63, 484.44, 440.99, 745.57]
    assert list(c.dom_id) == [1117, 1675, 1117, 1639, 1676, 2]
    assert list(c.channel_id) == [21, 24, 21, 14, 24, 4]
    assert list(c.du) == [63, 94, 63, 92, 94, 1] and list(c.floor) == [18, 18, 18, 18, 17, 17]
    assert (c.pos_x[3], c.pos_y[3], c.pos_z[3]) == (494.0, 77.191, 711.941)
    assert c.dir_z[5] == pytest.approx(-0.846193303213)
    assert (c.t0 == 0).all()


def test_missing_pmts(offline_hits, testdata):
    det = read_detector(testdata("detx/detx_v1.detx"))  # a detector without these DOMs
    with pytest.raises(CalibrationError, match="176 of 176 hits are on PMTs not in detector 1"):
        calibrate(offline_hits, det)
    c = calibrate(offline_hits, det, missing="nan")
    assert np.isnan(c.pos_x).all() and (c.pmt_id == -1).all()
    with pytest.raises(CalibrationError, match="needs a pmt_id column"):
        calibrate(Table({"time": [1.0]}), det)


def test_calibration_module_in_pipeline(offline_hits, testdata):
    results = []

    def source(blob):
        blob["Hits"] = offline_hits
        return blob

    pipe = kp.Pipeline()
    pipe.attach(source)
    pipe.attach(Calibration, detector=testdata("detx/km3net_offline.detx"))
    pipe.attach(lambda blob: results.append(blob["Hits"]) or blob)
    pipe.drain(2)
    assert len(results) == 2
    assert results[0].time[0] == pytest.approx(70311757.825)
    assert results[0].pmt_id[-1] == 7596


def test_reached_as_kp_calib():
    assert kp.calib.Calibration is Calibration
    assert kp.calib.calibrate is calibrate


def test_calibrating_twice_equals_calibrating_once(offline_hits, testdata):
    det = read_detector(testdata("detx/km3net_offline.detx"))
    once = calibrate(offline_hits, det)
    twice = calibrate(once, det)
    assert twice.dtype.names == once.dtype.names
    assert np.array_equal(np.asarray(twice), np.asarray(once))
    # a recalibration with other t0s replaces the old ones instead of adding to them
    newer = read_detector(testdata("detx/km3net_offline.detx"))
    newer.pmts["t0"] += 100.0
    again = calibrate(once, newer)
    assert np.allclose(again.time - once.time, 100.0)
    assert np.allclose(again.t0 - once.t0, 100.0)
