"""Tests of km3flow.io.detector on the real DETX/DATX files of km3net-testdata.

Reference values (det_id, version, counts, first/last PMT fields, t0 sums, floor sums,
validity, UTM) were computed once with KM3Pipe 11.0.0 (``km3pipe.hardware.Detector``) in a
separate venv (/work/refvenv) and written down here; KM3Pipe cannot read
``detx_v5_invalid_multiline_comments.detx`` (it fails on the comment continuation lines), so
that file is checked against ``detx_v5.detx``'s layout and its own header instead.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.detector import Detector, read_detector

# file: (det_id, version, n_doms, n_pmts, n_dus,
#        first (pmt_id, dom_id, du, floor, channel_id, pos_x, dir_z, t0),
#        last (pmt_id, dom_id, du, floor, channel_id, pos_z, t0), sum_t0, floor_sum,
#        valid_from, valid_until, utm)
KM3PIPE = {
    "D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx": (
        49, 3, 108, 3348, 6, (13287, 808972698, 1, 1, 0, 431.129, 0.554, 207105.766),
        (12341, 808976219, 11, 18, 30, 191.991, 208612.594), 695927109.625, 31806,
        1580056200.0, 9999999999.0, ("32N", 256500.0, 4743000.0, -2440.0)),
    "KM3NeT_-00000001_20171212.detx": (
        20, 2, 2070, 64170, 115, (1, 101, 1, 1, 0, -23.062, 0.555, 0.0),
        (128339, 11518, 115, 18, 30, 676.941, 0.0), 0.0, 609615,
        0.0, 999999999999.9, ("33N", 587600.0, 4016800.0, -3450.0)),
    "KM3NeT_00000133_20221025.detx": (
        133, 5, 399, 11718, 21, (28208, 817597102, 5, 1, 0, -165.18, 0.554957, 479697.14),
        (3630, 808984586, 32, 18, 30, 685.17, 481535.621), 5619939330.681, 111321,
        1662826947.0, 9999999999.0, ("33N", 587600.0, 4016800.0, -3450.0)),
    "detx_v1.detx": (
        1, 1, 6, 18, 2, (1, 1, 1, 1, 0, 1.1, 0.3, 10.0), (18, 6, 2, 3, 2, 23.9, 290.8),
        2703.6, 36, None, None, None),
    "detx_v2.detx": (
        23, 2, 6, 18, 2, (1, 1, 1, 1, 0, 1.1, 0.3, 10.0), (18, 6, 2, 3, 2, 23.9, 290.8),
        2707.2, 36, 1500000000.1, 9999999999.0, ("32N", 256500.0, 4743000.0, -2425.0)),
    "detx_v3.detx": (
        23, 3, 6, 18, 2, (1, 1, 1, 1, 0, 1.1, 0.3, 10.0), (18, 6, 2, 3, 2, 23.9, 290.8),
        2707.2, 36, 1500000000.1, 9999999999.0, ("32N", 256500.0, 4743000.0, -2425.0)),
    "detx_v3_whitespace.detx": (
        23, 3, 6, 18, 2, (1, 1, 1, 1, 0, 1.1, 0.3, 10.0), (18, 6, 2, 3, 2, 23.9, 290.8),
        2707.2, 36, 1500000000.1, 9999999999.0, ("32N", 256500.0, 4743000.0, -2425.0)),
    "detx_v4.detx": (
        44, 4, 90, 2790, 5, (2712, 808432836, 1, 1, 0, 86.607, 0.555, 207261.022),
        (9333, 808956908, 5, 18, 30, 192.711, 208401.369), 579624958.548, 26505,
        1556228627.7, 9999999999.0, ("32N", 256500.0, 4743000.0, -2440.0)),
    "detx_v5.detx": (
        49, 5, 114, 3348, 6, (10057, 808987107, 11, 1, 0, 484.761, 0.554898, 207699.045),
        (5965, 808432835, 1, 18, 30, 190.175, 208030.973), 695924884.869, 31806,
        1580056200.0, 9999999999.0, ("32N", 256500.0, 4743000.0, -2441.5)),
    "km3net_jul13_90m_r1494_corrected.detx": (
        -1, 1, 2070, 64170, 115, (1, 1, 1, 18, 0, 6.0, -1.0, 0.0),
        (64170, 2070, 115, 1, 30, 100.111, 0.0), 0.0, 609615, None, None, None),
    "km3net_offline.detx": (
        44, 2, 90, 2790, 5, (2712, 808432836, 1, 1, 0, -13.393, 0.555, 207261.022),
        (9333, 808956908, 5, 18, 30, 192.711, 208401.388), 579624958.554, 26505,
        1556228627.7, 9999999999.0, ("32N", 256500.0, 4743000.0, -2440.0)),
    "orca_115strings_av20min17mhorizontal_18OMs_alt9mvertical_v2.detx": (
        -1, 2, 2070, 64170, 115, (1, 1, 1, 1, 0, -74.931, -1.0, 0.0),
        (64170, 2070, 115, 18, 30, 38.011, 0.0), 0.0, 609615,
        0.0, 9999999999.0, ("32N", 256500.0, 4743000.0, -2425.0)),
    "orca_115strings_av23min20mhorizontal_18OMs_alt9mvertical_v1.detx": (
        -1, 1, 2070, 64170, 115, (1, 1, 1, 1, 0, -86.171, -1.0, 0.0),
        (64170, 2070, 115, 18, 30, 38.011, 0.0), 0.0, 609615, None, None, None),
}
SMALL = [k for k, v in KM3PIPE.items() if v[3] < 20000]
# files whose layout does not survive a round trip, and what is normalised
NORMALISED = {"detx_v3_whitespace.detx"}


@pytest.mark.parametrize("name", sorted(KM3PIPE))
def test_detx_matches_km3pipe(testdata, name):
    (det_id, version, n_doms, n_pmts, n_dus, first, last, sum_t0, floor_sum, vfrom, vuntil,
     utm) = KM3PIPE[name]
    det = read_detector(testdata(f"detx/{name}"))
    assert (det.det_id, det.version, det.n_doms, det.n_pmts, det.n_dus) == (
        det_id, version, n_doms, n_pmts, n_dus)
    p = det.pmts
    got_first = (p.pmt_id[0], p.dom_id[0], p.du[0], p.floor[0], p.channel_id[0], p.pos_x[0],
                 p.dir_z[0], p.t0[0])
    got_last = (p.pmt_id[-1], p.dom_id[-1], p.du[-1], p.floor[-1], p.channel_id[-1],
                p.pos_z[-1], p.t0[-1])
    assert got_first == pytest.approx(first)
    assert got_last == pytest.approx(last)
    assert p.t0.sum() == pytest.approx(sum_t0, rel=1e-12)
    assert int(p.floor.sum()) == floor_sum
    if vfrom is None:
        assert det.utm is None and np.isnan(det.valid_from)
    else:
        assert (det.valid_from, det.valid_until) == (vfrom, vuntil)
        assert (det.utm.zone, det.utm.easting, det.utm.northing, det.utm.z) == utm
        assert det.utm.ellipsoid == "WGS84"


@pytest.mark.parametrize("name", sorted(set(KM3PIPE) - NORMALISED) +
                         ["detx_v5_invalid_multiline_comments.detx"])
def test_detx_round_trip_is_byte_identical(testdata, name, tmp_path):
    path = testdata(f"detx/{name}")
    original = Path(path).read_bytes()
    det = read_detector(path)
    assert det.to_detx().encode() == original
    if name in SMALL:
        out = tmp_path / name
        det.write(out)
        assert out.read_bytes() == original
        assert not list(tmp_path.glob("*.tmp-*"))


def test_detx_whitespace_round_trip_drops_irregular_blank_lines(testdata):
    """detx_v3_whitespace.detx has two blank lines that do not follow every DOM block; the
    writer drops them and changes nothing else (the documented normalisation)."""
    path = testdata("detx/detx_v3_whitespace.detx")
    original = Path(path).read_text()
    det = read_detector(path)
    text = det.to_detx()
    assert text != original
    assert text.split("\n") == [ln for ln in original.split("\n")[:-1] if ln.strip()] + [""]
    assert text == Path(testdata("detx/detx_v3.detx")).read_text()


def test_invalid_multiline_comments_file(testdata):
    det = read_detector(testdata("detx/detx_v5_invalid_multiline_comments.detx"))
    ref = read_detector(testdata("detx/detx_v5.detx"))
    assert (det.det_id, det.version, det.n_doms, det.n_pmts) == (49, 5, 114, 3348)
    assert det.valid_until == 1637103600.0
    assert set(det.dom_ids) == set(ref.dom_ids)
    assert det.comments[0] == "$fb6360e0-7f9b-4ae3-be48-f30b2ce90192$"


@pytest.mark.parametrize("name", ["datx/KM3NeT_00000133_20221025.datx",
                                  "detector_geometry/KM3NeT_00000232.detector.datx"])
def test_datx_round_trip_is_byte_identical(testdata, name, tmp_path):
    path = testdata(name)
    original = Path(path).read_bytes()
    det = read_detector(path)
    assert det.to_datx() == original
    out = tmp_path / "det.datx"
    det.write(out)
    assert out.read_bytes() == original


def test_datx_matches_jpp_detx(testdata):
    """The 133 DATX and DETX files are the same detector written by Jpp: the same ids,
    positions and t0s; directions agree to the DETX's 6 decimals (within 4e-6)."""
    a = read_detector(testdata("datx/KM3NeT_00000133_20221025.datx"))
    b = read_detector(testdata("detx/KM3NeT_00000133_20221025.detx"))
    assert (a.det_id, a.version, a.n_doms, a.n_pmts) == (133, 5, 399, 11718)
    assert a.comments == b.comments
    assert (a.valid_from, a.valid_until, a.utm) == (b.valid_from, b.valid_until, b.utm)
    for col in ("pmt_id", "dom_id", "du", "floor", "channel_id", "status"):
        np.testing.assert_array_equal(a.pmts[col], b.pmts[col])
    for col in ("pos_x", "pos_y", "pos_z", "t0"):
        np.testing.assert_allclose(a.pmts[col], b.pmts[col], atol=5e-4)
    np.testing.assert_allclose(a.pmts.dir, b.pmts.dir, atol=4e-6)
    for col in ("pos_x", "pos_y", "pos_z", "qa", "qb", "qc", "qd", "t0", "status"):
        np.testing.assert_allclose(a.doms[col], b.doms[col], atol=5e-4)
    # DATX written as DETX uses Jpp's layout: identical apart from the rounded directions
    lines_a = a.to_detx().split("\n")
    lines_b = Path(testdata("detx/KM3NeT_00000133_20221025.detx")).read_text().split("\n")
    assert len(lines_a) == len(lines_b)
    differ = [k for k, (x, y) in enumerate(zip(lines_a, lines_b)) if x != y]
    for k in differ:
        xa, xb = lines_a[k].split(), lines_b[k].split()
        assert xa[:4] == xb[:4] and xa[7:] == xb[7:]


def test_datx_232_geometry(testdata):
    det = read_detector(testdata("detector_geometry/KM3NeT_00000232.detector.datx"))
    assert (det.det_id, det.version, det.n_doms, det.n_pmts, det.n_dus) == (232, 5, 569,
                                                                           16709, 30)
    base = det.doms[det.doms.n_pmts == 0]
    assert len(base) == 30 and set(base.floor) == {0}
    assert det.utm.zone == "33N"


def test_lookups(testdata):
    det = read_detector(testdata("detx/detx_v5.detx"))
    p = det.pmts
    rows = np.array([0, 17, 1000, len(p) - 1])
    np.testing.assert_array_equal(det.pmt_index(p.dom_id[rows], p.channel_id[rows]), rows)
    np.testing.assert_array_equal(det.pmt_index_by_id(p.pmt_id[rows]), rows)
    assert det.pmt_index([123], [0])[0] == -1
    assert det.pmt_index([p.dom_id[0]], [31])[0] == -1
    assert det.pmt_index_by_id([-5])[0] == -1
    assert det.get_pmt(808987107, 0).pmt_id == 10057
    assert det.get_dom(808987107).du == 11
    assert det.dom_at(11, 1) == 808987107
    assert len(det.pmts_of_dom(808987107)) == 31
    np.testing.assert_array_equal(det.floors(11), np.arange(0, 19))
    with pytest.raises(KeyError):
        det.get_pmt(808987107, 40)
    with pytest.raises(KeyError):
        det.dom_at(99, 1)
    s = det.summary()
    assert (s["n_dus"], s["n_floors"], s["n_doms"], s["n_pmts"]) == (6, 19, 114, 3348)
    assert s["n_base_modules"] == 6 and s["n_optical_doms"] == 108


def test_dom_positions_from_pmt_axes(testdata):
    """Before v4 DOM centres are not in the file; the axes intersection finds them (checked
    against the v4 file of the same detector, det 44, whose DOM lines carry the centres)."""
    v4 = read_detector(testdata("detx/detx_v4.detx"))
    pos = Detector(testdata("detx/detx_v4.detx"))
    stripped = read_detector(testdata("detx/D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx"))
    assert np.isfinite(stripped.dom_positions).all()
    # For v4 the file's centres are returned
    np.testing.assert_array_equal(pos.dom_positions[:, 2], v4.doms.pos_z)
    # The axes intersection of the v4 PMTs lies within 3 cm of the file's DOM centre
    est = _axes(v4)
    assert np.nanmax(np.linalg.norm(est - v4.dom_positions, axis=1)) < 0.03


def _axes(det):
    from km3flow.io.detector import _axes_intersection

    return _axes_intersection(det)


def test_write_other_version(testdata, tmp_path):
    det = read_detector(testdata("detx/detx_v3.detx"))
    out = tmp_path / "v5.detx"
    det.write(out, version=5)
    again = read_detector(out)
    assert again.version == 5 and again.n_pmts == 18
    np.testing.assert_array_equal(again.pmts.pmt_id, det.pmts.pmt_id)
    np.testing.assert_allclose(again.pmts.t0, det.pmts.t0)
    v1 = Detector.from_string(det.to_detx(version=1))
    assert v1.version == 1 and v1.n_doms == 6
    np.testing.assert_array_equal(v1.pmts.status, 0)


def test_modified_detector_keeps_layout(testdata):
    det = read_detector(testdata("detx/detx_v5.detx"))
    with det.edit():
        det.pmts.t0[0] += 1.0
    text = det.to_detx()
    line = next(ln for ln in text.split("\n") if ln.startswith("    10057 "))
    assert line == ("    10057  +484.761  +564.607   +26.805 +0.803578 -0.215292 +0.554898 "
                    "+207700.045 0")
    assert Detector.from_string(text).pmts.t0[0] == pytest.approx(207700.045)


def test_pmt_index_hash_agrees_with_search(testdata):
    """The modulo direct-address lookup gives the same rows as a plain search, for known and
    unknown DOM ids, channels out of range, signed and unsigned inputs."""
    det = read_detector(testdata("detx/KM3NeT_00000133_20221025.detx"))
    rng = np.random.default_rng(2)
    p = det.pmts
    rows = rng.integers(0, len(p), 5000)
    dom = np.asarray(p.dom_id[rows], dtype=np.int64)
    ch = np.asarray(p.channel_id[rows], dtype=np.int64)
    dom[::7] = rng.integers(0, 2**31 - 1, len(dom[::7]))  # unknown DOMs
    ch[::11] = rng.integers(0, 40, len(ch[::11]))  # some channels out of range
    expect = np.full(len(dom), -1)
    lookup = {(int(d), int(c)): k for k, (d, c) in enumerate(zip(p.dom_id, p.channel_id))}
    for k, (d, c) in enumerate(zip(dom, ch)):
        expect[k] = lookup.get((int(d), int(c)), -1)
    np.testing.assert_array_equal(det.pmt_index(dom, ch), expect)
    np.testing.assert_array_equal(det.pmt_index(dom.astype(np.uint32), ch.astype(np.uint8)),
                                  expect)
    assert det.pmt_index([-5], [0])[0] == -1
    det.reset_caches()
    np.testing.assert_array_equal(det.pmt_index(dom, ch), expect)


def test_floor_minus_one_written_back_unless_changed(testdata):
    """Old MC geometries have floor -1 (replaced by the DOM's rank on its DU, as KM3Pipe
    does); writing gives the file's -1 back, but a floor changed by the user is written."""
    det = read_detector(testdata("detx/detx_v2.detx"))
    orca = read_detector(
        testdata("detx/orca_115strings_av23min20mhorizontal_18OMs_alt9mvertical_v1.detx"))
    assert orca.doms.floor[:3].tolist() == [1, 2, 3]
    assert orca.to_detx().split("\n")[1] == "1 1 -1 31"
    with orca.edit():
        orca.doms.floor[0] = 7
    assert orca.to_detx().split("\n")[1] == "1 1 7 31"
    with det.edit():
        det.doms.floor[0] = 5
    assert Detector.from_string(det.to_detx()).doms.floor[0] == 5


def _mutated_pmt_lines(text: str, rows: list[int], change) -> tuple[str, list[int]]:
    """``text`` with ``change(tokens)`` applied to the PMT lines ``rows`` (by PMT row);
    returns the new text and the 1-based line numbers changed."""
    det = Detector.from_string(text)
    lines = text.split("\n")
    pmt_lines = [i for i, ln in enumerate(lines)
                 if len(ln.split()) in (8, 9) and not ln.lstrip().startswith("#")]
    assert len(pmt_lines) == det.n_pmts
    changed = []
    for row in rows:
        i = pmt_lines[row]
        toks = lines[i].split()
        assert int(toks[0]) == det.pmts.pmt_id[row]
        lines[i] = " ".join(change(toks))
        changed.append(i + 1)
    return "\n".join(lines), changed


def test_nan_pmt_direction_is_a_format_error(testdata, tmp_path):
    src = testdata("detx/km3net_offline.detx")
    text = Path(src).read_text()
    for bad in ("nan", "inf", "-inf"):
        mutated, changed = _mutated_pmt_lines(
            text, [100, 2000], lambda t: t[:5] + [bad] + t[6:])
        path = tmp_path / f"{bad}.detx"
        path.write_text(mutated)
        with pytest.raises(FormatError, match="expected a finite direction") as err:
            read_detector(path)
        pmt_id = int(read_detector(src).pmts.pmt_id[100])
        assert err.value.line == changed[0] and err.value.path == str(path)
        assert f"{path}: line {changed[0]}: " in str(err.value)
        assert f"for PMT {pmt_id}," in str(err.value) and "(2 PMTs in all)" in str(err.value)
    # DATX: the error names the byte offset of the direction fields of that PMT
    det = read_detector(testdata("datx/KM3NeT_00000133_20221025.datx"))
    data = bytearray(Path(testdata("datx/KM3NeT_00000133_20221025.datx")).read_bytes())
    row = 4321
    record = struct.pack("<i3d", det.pmts.pmt_id[row], det.pmts.pos_x[row],
                         det.pmts.pos_y[row], det.pmts.pos_z[row])
    start = bytes(data).index(record)
    data[start + 44:start + 52] = struct.pack("<d", float("nan"))  # dir_z
    with pytest.raises(FormatError, match=f"for PMT {det.pmts.pmt_id[row]}") as err:
        Detector.from_bytes(bytes(data), "bad.datx")
    assert err.value.offset == start + 28 and str(err.value).startswith("bad.datx: at byte")


def test_non_unit_pmt_directions_are_logged_once_per_file(testdata, tmp_path, capsys):
    # the real files, old ones written with 3 decimals (|norm - 1| up to 5.9e-4), are quiet
    for name in sorted(KM3PIPE) + ["../datx/KM3NeT_00000133_20221025.datx"]:
        if name not in ("detx_v1.detx", "detx_v2.detx", "detx_v3.detx",
                        "detx_v3_whitespace.detx"):  # toy files with made-up directions
            read_detector(testdata(f"detx/{name}"))
    assert "unit vectors" not in capsys.readouterr().err
    text = Path(testdata("detx/detx_v5.detx")).read_text()
    scale = {17: 1.002, 1800: 0.5, 3000: 1.0011}  # by PMT row; 1.0009 stays within 1e-3
    mutated, changed = _mutated_pmt_lines(text, [17, 1800, 3000, 5], lambda t: t)
    lines = mutated.split("\n")
    for row, lineno in zip([17, 1800, 3000, 5], changed):
        toks = lines[lineno - 1].split()
        f = scale.get(row, 1.0009)
        toks[4:7] = [repr(float(v) * f) for v in toks[4:7]]
        lines[lineno - 1] = " ".join(toks)
    path = tmp_path / "scaled.detx"
    path.write_text("\n".join(lines))
    det = read_detector(path)
    err = capsys.readouterr().err
    assert err.count("unit vectors") == 1
    assert (f"{path}: 3 of 3348 PMT directions are not unit vectors (length off 1 by more "
            f"than 0.001); the largest deviation, 0.5, is PMT {det.pmts.pmt_id[1800]} at "
            f"line {changed[1]}") in err
    # the directions are kept as written
    assert np.linalg.norm(det.pmts.dir[1800]) == pytest.approx(0.5, abs=1e-5)
