"""Tests of km3flow.io.evt.EvtPump on the real EVT files of km3net-testdata.

Reference values (event counts, start_event values, first/last rows of track_in, hit,
hit_raw, neutrino, weights, track_bundle, hit totals) were computed once with KM3Pipe 11.0.0's
``km3pipe.io.evt.EvtPump(parsers=[])`` (raw tag tuples) in a separate venv (/work/refvenv)
and written down here.
"""

from __future__ import annotations

import numpy as np
import pytest

import km3flow as kp
from km3flow.exceptions import FormatError
from km3flow.io.evt import EvtPump, read_evt_header

KM3SIM = "evt/KM3Sim.evt"
NUMU_NC = "evt/example_numuNC.evt"
NUMU_CC = "evt/example_numuCC.evt"
MUPAGE = "mupage/mcv5.0.mupage_1G.5.evt"
GSEAGEN = "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt"
CORANT = "evt/corant_5.1.9.evt"
PROPA = "evt/example_corant_propa.evt"

# file: (n_events, total MC hits, total track_in lines)
COUNTS = {
    KM3SIM: (10, 98, 37), NUMU_NC: (1, 6, 2), NUMU_CC: (109, 416696, 2569),
    MUPAGE: (20, 0, 23), GSEAGEN: (82, 0, 800), CORANT: (3, 0, 0), PROPA: (1, 0, 3),
}


@pytest.fixture
def pump(testdata):
    opened = []

    def _open(name):
        p = EvtPump(filename=testdata(name))
        opened.append(p)
        return p

    yield _open
    for p in opened:
        p.close()


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_match_km3pipe(pump, name):
    n_events, n_hits, n_track_in = COUNTS[name]
    p = pump(name)
    assert len(p) == n_events
    hits = tracks = 0
    for blob in p:
        hits += len(blob["McHits"])
        tracks += len(blob["McTracks"])
        assert blob["EventInfo"].h5loc == "/event_info"
    assert (hits, tracks) == (n_hits, n_track_in)


def test_km3sim(pump):
    p = pump(KM3SIM)
    first, last = p[0], p[-1]
    assert first["start_event"] == (1, 1) and last["start_event"] == (10, 1)
    np.testing.assert_allclose(first["track_in"][0], [1.0, -47.084, -76.701, -85.565, 0.665248,
                                                     -0.730466, -0.154478, 0.068511, 0.0, 3.0])
    np.testing.assert_allclose(first["hit"][-1], [4.0, 338010.0, 1.0, 206.54, 3.0, 1.0, 1.0,
                                                 206.54, 5.0])
    np.testing.assert_allclose(first["neutrino"][0], [
        1.0, -47.084, -76.701, -85.565, 0.545149, 0.398641, -0.737494, 0.10066, 0.0, 0.225275,
        0.316002, 1.0, 12.0, 2.0])
    np.testing.assert_allclose(last["weights"][0], [134000.0, 236100.0, 0.005628])
    hits = last["McHits"]
    assert hits.h5loc == "/mc_hits" and len(hits) == 11
    assert (hits.pmt_id[0], hits.time[0], hits.pmt_id[-1], hits.time[-1]) == (
        291278, 267.24, 591806, 412.64)
    assert hits.origin[0] == 1 and hits.a[0] == 1.0
    tracks = first["McTracks"]
    # GEANT3 3, 14, 13 as PDG codes
    assert tracks.h5loc == "/mc_tracks" and list(tracks.type) == [11, 2212, 2112]
    assert tracks.energy[2] == pytest.approx(0.98208)
    nu = first["McNeutrino"]
    assert (nu.pdg_id[0], nu.interaction_type[0], nu.energy[0]) == (12, 2, 0.10066)
    info = last["EventInfo"]
    assert (info.mc_id[0], info.run_id[0]) == (10, 1)
    assert (info.weight_w1[0], info.weight_w2[0], info.weight_w3[0]) == (134000.0, 236100.0,
                                                                         0.005628)
    assert first["target"] == [["O16", "14.890"]]  # free text stays text


def test_numu_cc_hit_raw(pump, testdata):
    p = pump(NUMU_CC)
    first = p[0]
    assert first["start_event"][0] == 13
    raw = first["hit_raw"]
    assert raw.shape == (3668, 4)
    np.testing.assert_allclose(raw[0], [1, 17, 20, 2944.37])
    np.testing.assert_allclose(raw[2], [3, 63, 27, 2930.37])
    np.testing.assert_allclose(raw[-1], [3668, 64155, 21, 6034.37])
    hits = first["McHits"]
    # hit_raw lines carry no origin: the schema fill -1
    assert (hits.pmt_id[1], hits.a[1], hits.time[1], hits.origin[1]) == (61, 23, -4199.63, -1)
    last = p[-1]
    assert last["start_event"] == (692, 1) and last["hit_raw"].shape == (4081, 4)
    np.testing.assert_allclose(last["hit_raw"][-1], [4081, 64144, 25, -306.15])
    np.testing.assert_allclose(last["track_in"][0], [1.0, 23.42, -286.127, 3.764, -0.985051,
                                                    -0.157832, 0.069014, 125.728, 0.0, 5.0,
                                                    401.916])
    np.testing.assert_allclose(last["weights"][0], [83270000000000.0, 2378000000000000.0,
                                                   115300000000.0])
    tracks = first["McTracks"]
    assert tracks.length[0] == pytest.approx(334.451) and tracks.type[0] == -13  # GEANT3 5
    assert tracks.energy[0] == pytest.approx(89.9359)
    assert first["w3list"].shape == (1, 3)


def test_numu_nc(pump):
    b = pump(NUMU_NC)[0]
    assert b["start_event"] == (2, 1)
    np.testing.assert_allclose(b["hit"][0], [1.0, 34618.0, 0.8756, 259.31, -3.0, 2.0, 1.0,
                                            261.1])
    np.testing.assert_allclose(b["weights"][0], [1433000000.0, 4326000000.0, 530400.0])
    assert list(b["McHits"].origin) == [2, 2, 4, 4, 11, 0]
    # GENHEN's Fortran-style header: lines as written, values that are no numbers as text
    p = pump(NUMU_NC)
    assert p.header_lines["cut_nu"] == [["0.100E+03", "0.100E+09-0.100E+01", "0.100E+01"]]
    assert p.header.cut_nu == (100.0, "0.100E+09-0.100E+01", 1.0, None)
    assert p.header.cut_nu._fields == ("Emin", "Emax", "cosTmin", "cosTmax")


def test_mupage(pump):
    p = pump(MUPAGE)
    b = p[1]
    assert b["start_event"] == (2, 1)
    assert b["track_bundle"].shape == (1, 8) and len(b["McTracks"]) == 2
    last = p[19]
    np.testing.assert_allclose(last["track_bundle"][0], [1.0, 106.193, -393.544, 279.755,
                                                        -0.822757, 0.011946, -0.568267,
                                                        337.761])
    assert p.header_lines["livetime"] == [["0.0738", "0.02"]]
    assert p.header.livetime.numberOfSeconds == 0.0738
    assert p.header.livetime.errorOfSeconds == 0.02


def test_gseagen_v7(pump):
    p = pump(GSEAGEN)
    first, last = p[0], p[81]
    assert first["track_in"].shape == (20, 11)
    np.testing.assert_allclose(first["track_in"][0], [4.0, 397.295, 431.253, 154.806,
                                                     -0.188092, -0.911183, -0.366562, 48.18,
                                                     0.0, 6.0, 0.0])
    np.testing.assert_allclose(last["track_in"][0][8], 1048.417406)
    np.testing.assert_allclose(last["weights"][0], [3441000.0, 128000000000.0, 47.62])
    assert first["neutrino"][0][11:].tolist() == [103.0, 14.0, 2.0]
    assert first["eventtime"].tolist() == [[-1717986919, -1717986919]]
    assert p.header.start_run.run_id == 100000000
    assert first["EventInfo"].run_id[0] == 100000000
    assert len(p.header_lines["simul"]) == 3
    assert (p.header.simul.program, p.header.simul_1[0], p.header.simul_2[0]) == (
        "gSeaGen", "GENIE", "GENIE_REWEIGHT")


def test_corant(pump):
    p = pump(CORANT)
    assert [b["start_event"][0] for b in p] == [1, 2, 3]
    np.testing.assert_allclose(p[0]["weights"][0], [1.0, 1.3221389051e+17, 0.56617037597])
    np.testing.assert_allclose(p[2]["weights"][0], [1.0, 428242474530000.0, 30318.392223])
    # repeated 'track_sealepton' lines with tabs: 14 columns
    assert p[0]["track_sealepton"].shape[1] == 14
    propa = pump(PROPA)[0]
    assert propa["neutrino"].shape == (60, 13) and propa["track_seamuon"].shape == (3, 13)
    assert "McNeutrino" not in propa  # CORANT's neutrino lines are not GENHEN's
    np.testing.assert_allclose(propa["weights"][0], [2835287.5, 3.7486439e+23, 1605255.9])
    assert pump(PROPA).header_lines["can"] == [["0.000", "922.000", "*********"]]
    assert tuple(pump(PROPA).header.can) == (0.0, 922.0, "*********")


def test_raw_header_table(pump):
    p = pump(KM3SIM)
    assert p[0]["Header"] is p.header and "RawHeader" not in p[0] and "raw_header" not in p[0]
    tab = p.header.to_table()
    assert tab.h5loc == "/raw_header" and tab.h5singleton
    params = [x.decode() for x in tab.parameter]
    assert "physics" in params and "physics_1" in params
    row = tab[params.index("can")]
    assert row.field_names.decode() == "zmin zmax r"
    assert row.field_values.decode() == "-116 130 170"
    assert tab["dtype"][params.index("can")].decode() == "f4 f4 f4"
    # a repeated tag has no field names (field_<i>), as aanet/km3io name it
    assert tab[params.index("physics_1")].field_names.decode().startswith("field_0 field_1")
    assert read_evt_header(p.filename).spectrum.alpha == -3.0


def test_random_access_equals_streaming(pump):
    p = pump(GSEAGEN)
    streamed = list(p)
    for i in (0, 40, 81, -1):
        np.testing.assert_array_equal(p[i]["track_in"], streamed[i]["track_in"])
    with pytest.raises(IndexError):
        p[82]


def test_pipeline_with_calibration(testdata, tmp_path):
    """The MC hits of example_numuNC (simulated with a 115-DU 'km3net_115' geometry) carry
    global PMT ids; they are calibrated through the pipeline with the 115-DU geometry of
    km3net_jul13_90m_r1494_corrected.detx, whose PMT ids 1..64170 cover them."""
    collected = []
    pipe = kp.Pipeline()
    pipe.attach(EvtPump, filename=testdata(NUMU_NC))
    pipe.attach(kp.calib.Calibration,
                detector=testdata("detx/km3net_jul13_90m_r1494_corrected.detx"))
    pipe.attach(lambda blob: collected.append(blob) or blob)
    pipe.drain()
    hits = collected[0]["McHits"]
    det = kp.io.read_detector(testdata("detx/km3net_jul13_90m_r1494_corrected.detx"))
    row = det.pmt_index_by_id([34618])[0]
    assert hits.pos_x[0] == det.pmts.pos_x[row] and hits.dom_id[0] == det.pmts.dom_id[row]
    assert hits.time[0] == 259.31  # MC hits keep their time


def test_not_an_evt_file(testdata, tmp_path):
    with pytest.raises(FormatError, match="line 1.*start_run"):
        EvtPump(filename=testdata("detx/detx_v1.detx"))
    empty = tmp_path / "empty.evt"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty file"):
        EvtPump(filename=empty)


def test_truncated_file_names_line(testdata, tmp_path):
    data = open_bytes(testdata(KM3SIM))
    cut = data[:data.index(b"end_event:", data.index(b"start_event: 3")) - 5]
    bad = tmp_path / "cut.evt"
    bad.write_bytes(cut)
    with pytest.raises(FormatError) as err:
        EvtPump(filename=bad)
    assert "cut.evt" in str(err.value) and "event 2 is not closed" in str(err.value)
    assert err.value.line == cut[:cut.index(b"start_event: 3")].count(b"\n") + 1


def test_bad_number_names_line(testdata, tmp_path):
    data = open_bytes(testdata(KM3SIM))
    pos = data.index(b"hit:        2 264344")
    bad = tmp_path / "bad.evt"
    bad.write_bytes(data[:pos + 14] + b"x" + data[pos + 15:])
    with EvtPump(filename=bad) as p:
        with pytest.raises(FormatError) as err:
            p[0]
        assert err.value.line == data[:pos].count(b"\n") + 1
        assert "expected numbers in the 'hit' line" in str(err.value)
        assert len(p[1]["McHits"]) == 2  # the other events are fine
    with pytest.raises(ValueError, match="closed"):
        p[1]


def test_file_without_header(testdata, tmp_path):
    data = open_bytes(testdata(MUPAGE))
    body = data[data.index(b"start_event:"):]
    f = tmp_path / "noheader.evt"
    f.write_bytes(body)
    with EvtPump(filename=f) as p:
        assert len(p) == 20 and len(p.header) == 0 and p.header_lines == {}
        assert len(p.header.to_table()) == 0 and "Header" not in p[0]
        assert p[0]["EventInfo"].run_id[0] == 0
        assert p[0]["EventInfo"].n_events_gen[0] == np.iinfo(np.uint64).max  # the fill


def open_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_tag_interrupted_by_other_tags(testdata, tmp_path):
    """A tag that comes back after other tags (here the first track_in line of KM3Sim's first
    event moved behind the weights) still yields all its rows, in file order."""
    lines = open_bytes(testdata(KM3SIM)).split(b"\n")
    first = lines.index(b"start_event: 1 1")
    t_in = next(i for i in range(first, len(lines)) if lines[i].startswith(b"track_in"))
    end = lines.index(b"end_event:", first)
    moved = lines[:t_in] + lines[t_in + 1:end] + [lines[t_in]] + lines[end:]
    f = tmp_path / "moved.evt"
    f.write_bytes(b"\n".join(moved))
    with EvtPump(filename=f) as p:
        b = p[0]
        assert list(b["McTracks"].id) == [2, 3, 1]
        assert len(b["McHits"]) == 4 and len(p) == 10


def test_crlf_line_endings_read_the_same(testdata, tmp_path):
    """The same file with Windows line endings (derived from KM3Sim.evt) gives equal events."""
    data = open_bytes(testdata(KM3SIM))
    f = tmp_path / "crlf.evt"
    f.write_bytes(data.replace(b"\n", b"\r\n"))
    with EvtPump(filename=testdata(KM3SIM)) as ref, EvtPump(filename=f) as p:
        assert len(p) == len(ref) and p.header == ref.header
        for a, b in zip(ref, p):
            for key in ("hit", "track_in", "neutrino", "weights"):
                np.testing.assert_array_equal(a[key], b[key])
            np.testing.assert_array_equal(a["McHits"], b["McHits"])


# PDG codes of all track_in lines of each file: km3pipe.mc.geant2pdg(int(row[9])) over the
# raw track_in rows of KM3Pipe 11.0.0's EvtPump(parsers=[]) (/tmp/refvenv): code → count,
# and the GEANT3 codes and PDG codes of the first event.
REF_PDG = {
    KM3SIM: ([3, 14, 13], [11, 2212, 2112],
             {-11: 3, 11: 7, 22: 3, 111: 3, 2112: 10, 2212: 11}),
    NUMU_NC: ([4, 13], [12, 2112], {12: 1, 2112: 1}),
    NUMU_CC: ([5, 11, 12, 8, 13, 1, 1, 8, 9, 1, 1, 1, 1, 1, 1] + [99] * 14,
              [-13, 321, -321, 211, 2112, 22, 22, 211, -211, 22, 22, 22, 22, 22, 22] + [0] * 14,
              {-2212: 8, -2112: 5, -321: 20, -211: 192, -13: 111, -11: 2, 0: 1211, 11: 2,
               12: 2, 22: 575, 130: 21, 211: 260, 310: 23, 321: 21, 2112: 35, 2212: 70,
               3122: 11}),
    MUPAGE: ([5], [-13], {-13: 23}),
    PROPA: ([6, 5, 6], [13, -13, 13], {-13: 1, 13: 2}),
    GSEAGEN: ([6, 13, 1, 1, 1, 1, 1, 1, 1, 8, 1, 3, 2, 8, 1, 1, 1, 1, 1, 1],
              [13, 2112, 22, 22, 22, 22, 22, 22, 22, 211, 22, 11, -11, 211, 22, 22, 22, 22,
               22, 22],
              {-3122: 3, -2212: 7, -2112: 1, -321: 9, -313: 1, -213: 1, -211: 102, -11: 3,
               11: 3, 13: 82, 22: 325, 130: 10, 211: 150, 310: 10, 321: 16, 333: 3, 2112: 26,
               2212: 38, 3112: 1, 3122: 6, 3222: 3}),
}


@pytest.mark.parametrize("name", list(REF_PDG))
def test_mc_track_types_are_pdg_codes_as_km3pipe_geant2pdg(name, testdata):
    geant, pdg, counts = REF_PDG[name]
    got: dict[int, int] = {}
    with EvtPump(filename=testdata(name)) as p, \
            EvtPump(filename=testdata(name), convert_geant=False) as raw:
        first = p[0]
        assert first["McTracks"].type.tolist() == pdg
        assert raw[0]["McTracks"].type.tolist() == geant
        # the blob's raw track_in array keeps the GEANT3 codes (column 9)
        assert first["track_in"][:, 9].astype(int).tolist() == geant
        for blob in p:
            for code in blob["McTracks"].type.tolist():
                got[code] = got.get(code, 0) + 1
    assert got == counts
