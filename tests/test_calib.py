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
from km3flow.io.detector import DetectorReadOnlyError, read_detector
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
    with newer.edit():
        newer.pmts["t0"] += 100.0
    again = calibrate(once, newer)
    assert np.allclose(again.time - once.time, 100.0)
    assert np.allclose(again.t0 - once.t0, 100.0)


def test_detector_written_in_place_is_refused_loudly(offline_hits, testdata):
    """calibrate() caches per-PMT records on the detector, so a write into det.pmts/doms
    outside edit() raises instead of being ignored by later calls."""
    det = read_detector(testdata("detx/km3net_offline.detx"))
    before = calibrate(offline_hits, det)  # builds the caches
    t0 = det.pmts["t0"]
    writes = {
        "column item": lambda: t0.__setitem__(0, 1.0),
        "column +=": lambda: np.add(t0, 100.0, out=t0),
        "attribute item": lambda: det.pmts.t0.__setitem__(slice(0, 3), 0.0),
        "column assignment": lambda: det.pmts.__setitem__("t0", 0.0),
        "attribute assignment": lambda: setattr(det.pmts, "pos_z", 0.0),
        "row": lambda: det.pmts.__setitem__(0, det.pmts[1]),
        "vector": lambda: setattr(det.pmts, "pos", np.zeros((det.n_pmts, 3))),
        "vector item": lambda: det.pmts.dir.__setitem__(0, [0.0, 0.0, 1.0]),
        "slice of a column": lambda: det.pmts.pos_x[5:9].__setitem__(0, 3.0),
        "DOM column": lambda: det.doms.floor.__setitem__(0, 7),
        "replacing pmts": lambda: setattr(det, "pmts", det.pmts),
    }
    for what, write in writes.items():
        with pytest.raises(DetectorReadOnlyError, match=r"det\.edit\(\)") as err:
            write()
        assert isinstance(err.value, ValueError), what
    with pytest.raises(DetectorReadOnlyError, match="Detector.doms"):
        det.doms.floor[0] = 7
    # numpy's own read-only error where the guard cannot reach: loud, never silent
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(det.pmts)["t0"][0] = 1.0
    np.testing.assert_array_equal(np.asarray(calibrate(offline_hits, det)), np.asarray(before))
    # copies are the user's own, writable arrays
    copy = det.pmts[det.pmts.du == 2]
    copy["t0"] += 1.0
    column = det.pmts.t0 * 2
    column[0] = 0.0
    assert type(column) is np.ndarray and column.flags.writeable


def test_detector_edit_is_honoured_by_calibrate(offline_hits, testdata, tmp_path):
    """Values changed inside det.edit() are used by the next calibrate(): the result equals
    calibrating with a detector read from the edited detector's DETX file."""
    det = read_detector(testdata("detx/km3net_offline.detx"))
    rng = np.random.default_rng(11)
    row = int(det.pmt_index(offline_hits.dom_id[:1], offline_hits.channel_id[:1])[0])
    results, kept = [], []

    def edit_after_first_cycle(blob):
        results.append(blob["Hits"])
        if len(results) == 1:  # the module has calibrated once: its caches are built
            with det.edit():
                det.pmts["t0"] += rng.normal(0, 5, det.n_pmts)
                det.pmts.pos += [1.0, -2.0, 0.5]
                det.pmts.dir_z[row] = -det.pmts.dir_z[row]
                # ids too: two PMTs trade their global ids (the pmt_id lookup must follow)
                det.pmts.pmt_id[[0, row]] = det.pmts.pmt_id[[row, 0]]
                kept.append(det.pmts["t0"])
            with pytest.raises(DetectorReadOnlyError):
                det.pmts.t0[0] = 0.0  # read-only again once the block ends
            kept[0][:] = 0.0  # a view of the working copy cannot reach the detector
        return blob

    pipe = kp.Pipeline()
    pipe.attach(lambda blob: blob.__setitem__("Hits", offline_hits) or blob)
    pipe.attach(Calibration, detector=det)
    pipe.attach(edit_after_first_cycle)
    pipe.drain(2)
    assert len(results) == 2 and det.pmts.t0.min() > 1e5
    edited = tmp_path / "edited.detx"
    det.write(edited)
    fresh = calibrate(offline_hits, read_detector(edited))
    assert results[1].dtype == fresh.dtype
    for name in fresh.dtype.names:
        np.testing.assert_allclose(results[1][name], fresh[name], rtol=0, atol=1e-3,
                                   err_msg=name)
    assert np.abs(results[1].time - results[0].time).max() > 1.0
    assert results[1].pmt_id[0] == read_detector(edited).pmts.pmt_id[row]
    assert results[1].dir_z[0] == pytest.approx(-results[0].dir_z[0], abs=1e-6)
    # by pmt_id: the traded ids find the PMTs that now carry them
    mc = Table({"pmt_id": det.pmts.pmt_id[[0, row]], "time": [1.0, 2.0]}, h5loc="/mc_hits")
    c = calibrate(mc, det)
    assert list(c.dom_id) == [det.pmts.dom_id[0], det.pmts.dom_id[row]]
    # an exception inside the block leaves the detector read-only and the caches rebuilt
    with pytest.raises(RuntimeError), det.edit():
        det.pmts["t0"] += 1000.0
        raise RuntimeError("stop")
    assert calibrate(offline_hits, det).t0[0] == pytest.approx(results[1].t0[0] + 1000.0)
    with pytest.raises(DetectorReadOnlyError):
        det.pmts["t0"][0] = 0.0


def test_pickled_detector_stays_read_only(testdata):
    """Workers of a parallel run get pickled detectors: they must keep the guard (and so
    must deep copies)."""
    import copy
    import pickle

    det = read_detector(testdata("datx/KM3NeT_00000133_20221025.datx"))
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(np.asarray(again.pmts), np.asarray(det.pmts))
    with pytest.raises(DetectorReadOnlyError):
        again.pmts.t0[0] = 0.0
    with pytest.raises(DetectorReadOnlyError):
        copy.deepcopy(det).doms.t0[0] = 0.0
    with again.edit():
        again.pmts.t0[0] = 0.0
        with again.edit():  # nested: the outer block finishes the edit
            again.pmts.t0[1] = 0.0
        again.pmts.t0[2] = 0.0
    assert (again.pmts.t0[:3] == 0.0).all() and det.pmts.t0[0] != 0.0
