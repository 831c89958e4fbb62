"""Tests of km3flow.calib on real hits and detectors from km3net-testdata.

Reference values were computed once with KM3Pipe 11.0.0 (``kp.calib.Calibration(filename=…)
.apply(hits, correct_slewing=False)``, and with the default ``correct_slewing=True`` where
slewing is tested; ``km3pipe.calib.slew``) and km3io 1.x in a separate venv (/work/refvenv,
/tmp/refvenv):
the first event of ``offline/km3net_offline.root`` calibrated with
``detx/km3net_offline.detx``, and the MC hits of ``evt/example_numuNC.evt`` calibrated by
pmt_id with ``detx/km3net_jul13_90m_r1494_corrected.detx``.
"""

from __future__ import annotations

import numpy as np
import pytest

import km3flow as kp
from km3flow.calib import Calibration, CalibrationError, calibrate, slew
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
    c = calibrate(offline_hits, det, correct_slewing=False)
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
    c2 = calibrate(offline_hits, testdata("detx/km3net_offline.detx"), correct_time=False,
                   correct_slewing=False)
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
    # with the time-slewing correction by default, as KM3Pipe's Calibration.apply
    assert results[0].time[0] == pytest.approx(70311757.415)
    assert results[0].pmt_id[-1] == 7596
    results.clear()
    pipe = kp.Pipeline()
    pipe.attach(source)
    pipe.attach(Calibration, detector=testdata("detx/km3net_offline.detx"),
                correct_slewing=False)
    pipe.attach(lambda blob: results.append(blob["Hits"]) or blob)
    pipe.drain(1)
    assert results[0].time[0] == pytest.approx(70311757.825)
    with pytest.raises(kp.exceptions.ParameterError, match="slewing_variant"):
        Calibration(detector=testdata("detx/km3net_offline.detx"), slewing_variant=4)


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


# km3pipe.calib.slew(np.arange(256), variant=v) with KM3Pipe 11.0.0 (/tmp/refvenv)
REF_SLEW_V1 = np.array([
    5.80598, 5.405773748664604, 4.990743731825274, 4.593775419895343, 4.216983186549879,
    3.8604302288675836, 3.523571993947069, 3.205633902380768, 2.905751571965192,
    2.623033317278, 2.3565911574586407, 2.1055571591562856, 1.8690922504920886,
    1.6463908857528455, 1.4366833016760432, 1.2392363229920829, 1.0533532724962589,
    0.8783733215947955, 0.7136704917045416, 0.5586524419635892, 0.4127591324033544,
    0.275461422236559, 0.14625964363485533, 0.02468217848377452, -0.08971594317440967,
    -0.19735441037403145, -0.29862895576031945, -0.3939126320693598, -0.4835570373563389,
    -0.5678934873245549, -0.6472341342233077, -0.7218730325848155, -0.7920871526435991,
    -0.8581373426869217, -0.9202692418655835, -0.9787141451824647, -1.0336898224951951,
    -1.0854012934366395, -1.1340415601855218, -1.1797923000193749, -1.2228245195604703,
    -1.2632991725882143, -1.3013677432429631, -1.337172796389706, -1.3708484968480983,
    -1.402521099129922, -1.4323094092576802, -1.4603252201698702, -1.4866737221504311,
    -1.5114538896525755, -1.5347588458212087, -1.5566762059537735, -1.5772884010769335,
    -1.5966729827561665, -1.6149029101972516, -1.6320468206428378, -1.64816928401384,
    -1.6633310426943086, -1.6775892373096488, -1.6909976193015868, -1.7036067510590511,
    -1.715464194322072, -1.7266146875358706, -1.7371003127943996, -1.7469606529766626,
    -1.7562329396450833, -1.7649521922429463, -1.7731513490974102, -1.7808613907057156,
    -1.7881114557549116, -1.7949289502996102, -1.8013396504978978, -1.8073677992824941,
    -1.8130361973224989, -1.8183662886105338, -1.8233782409907062, -1.8280910219245283,
    -1.8325224697746838, -1.8366893608702488, -1.8406074726016364, -1.8442916427790577,
    -1.8477558254746567, -1.8510131435556074, -1.8540759381033498, -1.8569558149027166,
    -1.8596636881739337, -1.862209821710347, -1.864603867575165, -1.8668549025015075,
    -1.8689714621315825, -1.8709615732228146, -1.8728327839412389, -1.87459219235539,
    -1.8762464732372435, -1.877801903270492, -1.8792643847605262, -1.8806394679349194,
    -1.8819323719179826, -1.8831480044580116, -1.884290980481219, -1.885365639541956,
    -1.8863760622347279, -1.887326085629625, -1.8882193177891502, -1.8890591514209922,
    -1.8898487767180645, -1.8905911934340895, -1.891289222240154, -1.8919455154049623,
    -1.892562566838988, -1.8931427215403402, -1.893688184477916, -1.8942010289453037,
    -1.8946832044169166, -1.8951365439359664, -1.8955627710621301, -1.8959635064051106,
    -1.896340273768736, -1.896694505928777, -1.8970275500662885, -1.8973406728769813,
    -1.8976350653759169, -1.8979118474156678, -1.898172071935007, -1.8984167289541807,
    -1.8986467493318568, -1.8988630082979525, -1.8990663287756875, -1.8992574845054322,
    -1.8994372029821558, -1.8996061682175862, -1.8997650233375307, -1.8999143730241852,
    -1.9000547858126686, -1.9001867962504815, -1.9003109069280544, -1.9004275903880803,
    -1.9005372909208567, -1.9006404262524348, -1.9007373891319757, -1.9008285488243182,
    -1.9009142525134195, -1.9009948266219836, -1.9010705780522774, -1.9011417953528398,
    -1.9012087498155041, -1.9012716965068925, -1.9013308752382954, -1.901386511477611,
    -1.9014388172068057, -1.901487991728146, -1.901534222422259, -1.901577685460902,
    -1.9016185464771393, -1.901656961195475, -1.901693076024328, -1.9017270286131018,
    -1.9017589483759614, -1.9017889569843065, -1.90181716882981, -1.901843691459781,
    -1.901868625986503, -1.9018920674721063, -1.90191410529043, -1.9019348234672555,
    -1.901954301000196, -1.9019726121594651, -1.9019898267706596, -1.902006010480638,
    -1.9020212250074995, -1.9020355283756165, -1.9020489751366134, -1.9020616165771314,
    -1.9020735009141667, -1.9020846734787311, -1.902095176888525, -1.902105051210285,
    -1.9021143341124234, -1.9021230610085345, -1.902131265192322, -1.9021389779644513,
    -1.9021462287518185, -1.9021530452196815, -1.9021594533770845, -1.9021654776759773,
    -1.902171141104403, -1.902176465274112, -1.9021814705029338, -1.9021861758922207,
    -1.9021905993996586, -1.9021947579077205, -1.902198667288025, -1.9022023424618433,
    -1.902205797456987, -1.9022090454612892, -1.9022120988728886, -1.9022149693475017,
    -1.902217667842868, -1.9022202046605345, -1.9022225894851406, -1.902224831421349,
    -1.9022269390285715, -1.902228920353611, -1.902230782961353, -1.90223253396362,
    -1.9022341800462979, -1.9022357274948385, -1.902237182218237, -1.9022385497715726,
    -1.902239835377201, -1.9022410439446777, -1.9022421800894884, -1.90224324815066,
    -1.902244252207313, -1.9022451960942295, -1.9022460834164825, -1.9022469175631935,
    -1.902247701720466, -1.9022484388835423, -1.9022491318682357, -1.902249783321676,
    -1.902250395732412, -1.9022509714399094, -1.9022515126434807, -1.9022520214106786,
    -1.9022524996851886, -1.902252949294248, -1.90225337195562, -1.902253769284153,
    -1.9022541427979436, -1.9022544939241324, -1.9022548240043524, -1.9022551342998515,
    -1.9022554259963074, -1.9022557002083549, -1.9022559579838412, -1.9022562003078276,
    -1.9022564281063503, -1.9022566422499567, -1.9022568435570295, -1.9022570327969122,
    -1.902257210692846, -1.9022573779247334, -1.902257535131734, -1.902257682914705,
    -1.9022578218384971, -1.9022579524341106, -1.9022580752007245, -1.9022581906076033,
    -1.9022582990958878, -1.9022584010802828, -1.902258496950638, -1.9022585870734403,
    -1.9022586717932115, -1.9022587514338258, -1.9022588262997462,
])
REF_SLEW_V2 = np.array([
    9.17766991205, 7.320888871542779, 6.514754112189895, 5.891513523450715, 5.366613545740718,
    4.906714131878481, 4.4944159365697995, 4.119201958442728, 3.774099942960726,
    3.454182453629268, 3.1557995624097304, 2.8761483778219086, 2.613014169395079,
    2.3646059861701865, 2.1294476027841753, 1.9063025114695078, 1.694120744485681,
    1.492000188273642, 1.299157807086166, 1.1149078187483354, 0.9386448583303393,
    0.7698307919061964, 0.6079842487236293, 0.45267220998499713, 0.30350317572271734,
    0.16012155819442153, 0.02220303971462112, -0.11054930304728927, -0.23840825966231538,
    -0.36162524844547406, -0.4804326722614847, -0.5950459396935388, -0.705665208893671,
    -0.8124769000803833, -0.9156550138266324, -1.0153622853663218, -1.1117511996844196,
    -1.2049648878074137, -1.295137921225372, -1.3823970185644927, -1.466861676345696,
    -1.5486447337999483, -1.627852880179545, -1.7045871117401359, -1.7789431445191792,
    -1.8510117881618324, -1.9208792853127998, -1.9886276204765596, -2.0543348017280394,
    -2.118075118214652, -2.179919376015107, -2.2399351145997337, -2.298186805862158,
    -2.3547360374558415, -2.409641681965083, -2.462960053263692, -2.5147450512614267,
    -2.5650482961050947, -2.61391925278494, -2.6614053469952785, -2.7075520730091034,
    -2.7524030942480153, -2.796000337159679, -2.838384078954012, -2.8795930296952443,
    -2.919664409199127, -2.9586340191418885, -2.996536310749681, -3.033404448403356,
    -3.069270369463184, -3.104164840590984, -3.1381175108228794, -3.1711569616239945,
    -3.203310754136762, -3.234605473816768, -3.2650667726340754, -3.2947194090034513,
    -3.3235872855938355, -3.3516934851554914, -3.3790603044924543, -3.405709286698119,
    -3.4316612517627925, -3.456936325653957, -3.4815539679624656, -3.5055329982011623,
    -3.52889162083611, -3.551647449124973, -3.573817527831821, -3.595418354882818,
    -3.6164659020228744, -3.6369756345292186, -3.6569625300341535, -3.6764410965057683,
    -3.6954253894322115, -3.7139290282521706, -3.731965212071496, -3.749546734703368,
    -3.766685999067076, -3.7833950309783315, -3.799685492361986, -3.8155686939162083,
    -3.831055607255389, -3.8461568765574787, -3.8608828297399054, -3.875243489186877,
    -3.8892485820495124, -3.9029075501390684, -3.9162295594323693, -3.929223509207483,
    -3.9418980408267132, -3.9542615461830093, -3.966322175825068, -3.978087846775552,
    -3.9895662500560873, -4.000764857932012, -4.0116909308891335, -4.022351524354146,
    -4.032753495169758, -4.042903507835014, -4.05280804052077, -4.062473390869794,
    -4.071905681590483, -4.081110865852752, -4.090094732494239, -4.098862911044581,
    -4.107420876575119, -4.11577395438109, -4.123927324502976, -4.131886026093422,
    -4.139654961635788, -4.1472389010201685, -4.154642485482415, -4.161870231411454,
    -4.168926534029965, -4.175815670953252, -4.182541805630915, -4.1891089906757575,
    -4.195521171084129, -4.2017821873517684, -4.207895778488994, -4.213865584938955,
    -4.219695151402491, -4.225387929572973, -4.230947280784418, -4.2363764785759574,
    -4.241678711175672, -4.2468570839066615, -4.251914621518073, -4.256854270443768,
    -4.2616789009911304, -4.266391309462446, -4.270994220211219, -4.275490287635627,
    -4.2798820981113055, -4.28417217186551, -4.28836296479465, -4.292456870227116,
    -4.296456220633232, -4.30036328928411, -4.304180291861097, -4.307909388017469,
    -4.311552682893939, -4.315112228589493, -4.318590025589037, -4.321988024149233,
    -4.3253081256439, -4.328552183870292, -4.3317220063174835, -4.334819355398114,
    -4.337845949644629, -4.340803464871166, -4.343693535302162, -4.346517754668743,
    -4.349277677273894, -4.351974819027395, -4.354610658451466, -4.357186637658033,
    -4.359704163298478, -4.36216460748674, -4.364569308696582, -4.366919572633804,
    -4.369216673084169, -4.371461852737802, -4.373656323990743, -4.375801269724361,
    -4.377897844063294, -4.37994717311256, -4.381950355674457, -4.383908463945852,
    -4.38582254419646, -4.387693617428641, -4.389522680019304, -4.391310704344407,
    -4.393058639386579, -4.394767411326368, -4.396437924117574, -4.398071060047134,
    -4.399667680280021, -4.401228625389568, -4.402754715873662, -4.404246752657185,
    -4.405705517581127, -4.407131773878724, -4.4085262666390195, -4.409889723258173,
    -4.4112228538789, -4.412526351818342, -4.413800893984732, -4.415047141283131,
    -4.416265739010574, -4.417457317240904, -4.418622491199591, -4.419761861628805,
    -4.420876015143027, -4.421965524575451, -4.4230309493154305, -4.424072835637226,
    -4.425091717020285, -4.426088114461284, -4.4270625367781715, -4.428015480906418,
    -4.428947432187687, -4.4298588646511465, -4.430750241287594, -4.431622014316626,
    -4.432474625447002, -4.43330850613042, -4.434124077808853, -4.4349217521556445,
    -4.435701931310505, -4.4364650081086, -4.437211366303861, -4.4379413807866905,
    -4.43865541779621, -4.43935383512718, -4.4400369823317565, -4.440705200916197,
    -4.441358824532666, -4.441998179166268, -4.44262358331742, -4.4432353481797,
    -4.443833777813283, -4.444419169314087, -4.444991812978727, -4.445551992465402,
    -4.446099984950813, -4.446636061283209, -4.447160486131681, -4.447673518131772,
    -4.448175410027533, -4.44866640881008, -4.449146755852775, -4.4496166870430915,
    -4.4500764329112705, -4.450526218755831, -4.450966264766034,
])
REF_SLEW_V3 = np.array([
    8.01, 7.52, 7.05, 6.59, 6.15, 5.74, 5.33, 4.95, 4.58, 4.22, 3.89, 3.56, 3.25, 2.95, 2.66,
    2.39, 2.12, 1.87, 1.63, 1.4, 1.19, 0.98, 0.78, 0.6, 0.41, 0.24, 0.07, -0.1, -0.27, -0.43,
    -0.59, -0.75, -0.91, -1.08, -1.24, -1.41, -1.56, -1.71, -1.85, -1.98, -2.11, -2.23, -2.35,
    -2.47, -2.58, -2.69, -2.79, -2.89, -2.99, -3.09, -3.19, -3.28, -3.37, -3.46, -3.55, -3.64,
    -3.72, -3.8, -3.88, -3.96, -4.04, -4.12, -4.2, -4.27, -4.35, -4.42, -4.49, -4.56, -4.63,
    -4.7, -4.77, -4.84, -4.9, -4.97, -5.03, -5.1, -5.16, -5.22, -5.28, -5.34, -5.4, -5.46,
    -5.52, -5.58, -5.63, -5.69, -5.74, -5.8, -5.85, -5.91, -5.96, -6.01, -6.06, -6.11, -6.16,
    -6.21, -6.26, -6.31, -6.36, -6.41, -6.45, -6.5, -6.55, -6.59, -6.64, -6.68, -6.72, -6.77,
    -6.81, -6.85, -6.89, -6.93, -6.98, -7.02, -7.06, -7.09, -7.13, -7.17, -7.21, -7.25, -7.28,
    -7.32, -7.36, -7.39, -7.43, -7.46, -7.5, -7.53, -7.57, -7.6, -7.63, -7.66, -7.7, -7.73,
    -7.76, -7.79, -7.82, -7.85, -7.88, -7.91, -7.94, -7.97, -7.99, -8.02, -8.05, -8.07, -8.1,
    -8.13, -8.15, -8.18, -8.2, -8.23, -8.25, -8.28, -8.3, -8.32, -8.34, -8.37, -8.39, -8.41,
    -8.43, -8.45, -8.47, -8.49, -8.51, -8.53, -8.55, -8.57, -8.59, -8.61, -8.62, -8.64, -8.66,
    -8.67, -8.69, -8.7, -8.72, -8.74, -8.75, -8.76, -8.78, -8.79, -8.81, -8.82, -8.83, -8.84,
    -8.86, -8.87, -8.88, -8.89, -8.9, -8.92, -8.93, -8.94, -8.95, -8.96, -8.97, -8.98, -9.0,
    -9.01, -9.02, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04,
    -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04,
    -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04,
    -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04, -9.04,
    -9.04, -9.04, -9.04, -9.04, -9.04,
])


def test_slew_matches_km3pipe_for_every_tot():
    tots = np.arange(256)
    np.testing.assert_array_equal(slew(tots), REF_SLEW_V3)
    np.testing.assert_array_equal(slew(tots.astype(np.uint8), variant=3), REF_SLEW_V3)
    np.testing.assert_allclose(slew(tots, variant=1), REF_SLEW_V1, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(slew(tots, variant=2), REF_SLEW_V2, rtol=1e-13, atol=1e-13)
    # scalars give floats, as km3pipe's slew(23)
    assert slew(23) == 0.6 and isinstance(slew(np.int64(255)), float)
    assert slew(23, variant=2) == pytest.approx(REF_SLEW_V2[23], rel=1e-14)
    with pytest.raises(ValueError, match="variant 4"):
        slew(3, variant=4)
    with pytest.raises(ValueError, match="ToT 256 outside"):
        slew(np.array([3, 256]))
    with pytest.raises(ValueError, match="integer ToTs"):
        slew(np.array([3.5]))


# km3pipe.calib.Calibration(filename="detx/km3net_offline.detx").apply(ev.hits,
# correct_slewing=cs).time for every event ev of km3io.OfflineReader("offline/km3net_offline.root")
# (KM3Pipe 11.0.0, km3io 1.2.6): per event, (n_hits, (sum, first, last) without slewing,
# (sum, first, last) with slewing).
REF_OFFLINE_TIMES = [
    (176, (12374868107.29, 70311757.825, 70312214.144),
     (12374868107.119999, 70311757.415, 70312213.544)),
    (125, (10133693731.984, 81068484.229, 81069521.189),
     (10133693716.314001, 81068484.65900001, 81069520.779)),
    (318, (6767761032.021999, 21282355.656, 21282422.715),
     (6767761046.521999, 21282355.756, 21282420.595)),
    (157, (2592605336.5130005, 16512305.555, 16513237.161),
     (2592605304.9830008, 16512305.315, 16513236.561)),
    (83, (3915868311.7799997, 47179086.557, 47178273.924),
     (3915868294.0200005, 47179086.657, 47178273.854)),
    (60, (4924124820.668, 82069045.962, 82068999.349),
     (4924124786.278, 82069045.722, 82069000.099)),
    (71, (3368831357.231, 47448555.581, 47447300.2),
     (3368831318.3809996, 47448556.491, 47447297.81)),
    (84, (4254364695.3510003, 50646243.777, 50647731.699),
     (4254364641.421, 50646242.997, 50647731.799)),
    (255, (24770864297.056, 97139951.333, 97140687.507),
     (24770864337.596, 97139951.92300001, 97140687.937)),
    (105, (5770430350.281, 54956523.861, 54956742.396),
     (5770430301.411, 54956523.961, 54956742.666)),
]


def test_calibrated_times_match_km3pipe_with_and_without_slewing(testdata):
    import uproot

    det = read_detector(testdata("detx/km3net_offline.detx"))
    with uproot.open(testdata("offline/km3net_offline.root")) as f:
        arrays = f["E/Evt/hits"].arrays(["hits.dom_id", "hits.channel_id", "hits.t",
                                         "hits.tot"], library="np")
    assert len(arrays["hits.t"]) == len(REF_OFFLINE_TIMES)
    for i, (n, plain, slewed) in enumerate(REF_OFFLINE_TIMES):
        hits = Table.from_template({
            "dom_id": arrays["hits.dom_id"][i], "channel_id": arrays["hits.channel_id"][i],
            "time": arrays["hits.t"][i], "tot": arrays["hits.tot"][i],
            "triggered": np.zeros(n, bool)}, "Hits")
        for correct, (total, first, last) in ((False, plain), (True, slewed)):
            t = calibrate(hits, det, correct_slewing=correct).time
            assert (len(t), t[0], t[-1]) == (n, first, last), (i, correct)
            assert t.sum() == pytest.approx(total, rel=1e-15, abs=0), (i, correct)
        # the sign: KM3Pipe subtracts the slewing from the time
        unslewed = calibrate(hits, det, correct_slewing=False).time
        np.testing.assert_allclose(calibrate(hits, det).time - unslewed,
                                   -REF_SLEW_V3[hits.tot], atol=2e-8)
        np.testing.assert_allclose(calibrate(hits, det, slewing_variant=1).time - unslewed,
                                   -REF_SLEW_V1[hits.tot], atol=2e-8)


def test_slewing_never_applied_to_mc_hits(testdata):
    with EvtPump(filename=testdata("evt/example_numuNC.evt")) as pump:
        mc = pump[0]["McHits"]
    det = read_detector(testdata("detx/km3net_jul13_90m_r1494_corrected.detx"))
    with_tot = Table({"pmt_id": mc.pmt_id, "time": mc.time,
                      "tot": np.full(len(mc), 3, np.uint8)}, h5loc="/mc_hits")
    for hits in (mc, with_tot):
        np.testing.assert_array_equal(calibrate(hits, det).time, hits.time)
        np.testing.assert_array_equal(calibrate(hits, det, correct_slewing=True).time,
                                      hits.time)


def test_slewing_needs_tot(testdata):
    det = read_detector(testdata("detx/km3net_offline.detx"))
    hits = Table({"dom_id": det.pmts.dom_id[:2], "channel_id": det.pmts.channel_id[:2],
                  "time": [1.0, 2.0]})
    with pytest.raises(CalibrationError, match="needs a tot column"):
        calibrate(hits, det)
    c = calibrate(hits, det, correct_slewing=False)
    np.testing.assert_array_equal(c.time, [1.0, 2.0] + det.pmts.t0[:2])


def test_offline_pump_and_calibration_module_match_km3pipe(testdata):
    """The pipeline a KM3Pipe user ports: OfflinePump → Calibration (slewing by default)."""
    from km3flow.io.root import OfflinePump

    times = []
    pipe = kp.Pipeline()
    pipe.attach(OfflinePump, filename=testdata("offline/km3net_offline.root"), step_size=4)
    pipe.attach(Calibration, detector=testdata("detx/km3net_offline.detx"))
    pipe.attach(lambda blob: times.append(blob["Hits"].time) or blob)
    pipe.drain()
    assert len(times) == len(REF_OFFLINE_TIMES)
    for t, (n, _, (total, first, last)) in zip(times, REF_OFFLINE_TIMES):
        assert (len(t), t[0], t[-1]) == (n, first, last)
        assert t.sum() == pytest.approx(total, rel=1e-15, abs=0)
