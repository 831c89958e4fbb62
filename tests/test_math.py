"""km3flow.math against KM3Pipe's km3pipe.math.

Reference values were computed once with KM3Pipe 11.0.0 (numpy 2.4.6) in a separate venv:
``km3pipe.math.zenith(V)``, ``azimuth(V)``, ``theta(V)``, ``phi(V)``, ``unit_vector(V)``,
``angle_between(V, V[::-1], axis=1)``, ``angle_between((0.3, -0.4, 0.5), V)``,
``neutrino_to_source_direction(PH, TH)`` (also in degrees) and
``source_to_neutrino_direction(PH, TH)``; for the real tracks the directions of the first
five reconstructed tracks of the first event of ``offline/km3net_offline.root`` (read with
km3io 1.2.6), ``zenith``/``azimuth`` of them and ``angle_between(d, d[::-1], axis=1)``.
"""

from __future__ import annotations

import math as pymath

import numpy as np
import pytest

from km3flow import math as kmath
from km3flow.dataclasses import Table
from km3flow.io.root import OfflinePump

V = np.array([[0, 0, -1], [0, 0, 1], [1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0],
              [0.3, -0.4, 0.5], [-2.0, 1.0, -3.0], [0.001, -0.002, 0.999], [-0.5, -0.5, -0.5]])
PI = 3.141592653589793
ZEN = [0.0, PI, 1.5707963267948966, 1.5707963267948966, 1.5707963267948966,
       1.5707963267948966, 2.356194490192345, 0.6405223126794245, 3.1393543510439588,
       0.9553166181245092]
AZI = [PI, PI, PI, 4.71238898038469, 0.0, 1.5707963267948966, 2.214297435588181,
       5.81953769817878, 2.0344439357957027, 0.7853981633974483]
THETA = [PI, 0.0, 1.5707963267948966, 1.5707963267948966, 1.5707963267948966,
         1.5707963267948966, 1.0471975511965976, np.nan, 0.04472508716873345,
         2.0943951023931957]
PHI = [0.0, 0.0, 0.0, 1.5707963267948966, PI, 4.71238898038469, 5.355890089177974,
       2.677945044588987, 5.176036589385496, 3.9269908169872414]
UNIT = [[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0],
        [0.0, -1.0, 0.0], [0.42426406871192845, -0.565685424949238, 0.7071067811865475],
        [-0.5345224838248488, 0.2672612419124244, -0.8017837257372732],
        [0.0010009984934953979, -0.0020019969869907958, 0.9999974950019025],
        [-0.5773502691896258, -0.5773502691896258, -0.5773502691896258]]
ANG_ROWS = [0.9553166181245092, 0.0022383025458344212, 2.1347389681555256, 2.172060543474025,
            1.5707963267948966, 1.5707963267948966, 2.172060543474025, 2.1347389681555256,
            0.0022383025458344212, 0.9553166181245092]
ANG_ONE = [2.356194490192345, 0.7853981633974484, 1.1326472962107264, 2.172060543474025,
           2.008945357379067, 0.9695321101157683, 1.4901161193847656e-08, 2.808119481337961,
           0.7831960452689128, 1.9034989442131205]
PH = np.array([0, 0.5, 3.0, 6.2, 2 * np.pi])
TH = np.array([0, 0.1, 1.5, 3.0, np.pi])
N2S = ([PI, 3.641592653589793, 6.141592653589793, 3.058407346410206, PI],
       [PI, 3.041592653589793, 1.6415926535897931, 0.14159265358979312, 0.0])
N2S_DEG = ([180.0, 208.64788975654116, 351.88733853924697, 175.23383298111037, 180.0],
           [180.0, 174.27042204869176, 94.05633073037652, 8.112661460753031, 0.0])
S2N = ([PI, 3.641592653589793, 6.141592653589793, 3.058407346410207, PI],
       [PI, 3.041592653589793, 1.6415926535897931, 0.14159265358979312, 0.0])
# the first five tracks of event 0 of offline/km3net_offline.root
REAL_DIR = [[0.0368711082700674, -0.48653048395923415, -0.872885221293917]] * 3 + [
    [0.0350902209201918, -0.4847347489423964, -0.8739570353075282],
    [0.033035231293994244, -0.4906713981329461, -0.8707182394710773]]
REAL_ZEN = [0.5097116827437967] * 3 + [0.5075106725816889, 0.5141354063403981]
REAL_AZI = [1.6464355024349349] * 3 + [1.6430608332784225, 1.6380214634917927]
REAL_ANG = [0.0060462421352404355, 0.0027468188923343226, 0.0, 0.0027468188923343226,
            0.0060462421352404355]

# arccos near ±1 turns one ulp of its argument into ~1e-8 rad
TIGHT = {"rtol": 1e-13, "atol": 0}
NEAR_ONE = {"rtol": 1e-13, "atol": 3e-8}


def _dir_table(v):
    v = np.asarray(v, dtype=float)
    return Table({"dir_x": v[:, 0], "dir_y": v[:, 1], "dir_z": v[:, 2],
                  "energy": np.arange(len(v), dtype=float)}, h5loc="/tracks")


@pytest.mark.parametrize(("func", "expected"), [
    (kmath.zenith, ZEN), (kmath.azimuth, AZI), (kmath.theta, THETA), (kmath.phi, PHI)])
def test_angles_of_stacks_match_km3pipe(func, expected):
    got = func(V)
    assert got.shape == (len(V),)
    np.testing.assert_allclose(got, expected, **TIGHT)
    np.testing.assert_allclose(func(_dir_table(V)), expected, **TIGHT)


@pytest.mark.parametrize(("func", "expected"), [
    (kmath.zenith, ZEN), (kmath.azimuth, AZI), (kmath.phi, PHI)])
def test_angles_of_single_vectors_are_floats(func, expected):
    for vector, value in zip(V, expected):
        got = func(tuple(vector))
        assert type(got) is float
        assert got == pytest.approx(value, rel=1e-13, abs=0)


def test_a_single_table_row_gives_a_float():
    table = _dir_table(V)
    assert kmath.zenith(table[6]) == pytest.approx(ZEN[6], rel=1e-13)


def test_unit_vector_matches_km3pipe():
    np.testing.assert_allclose(kmath.unit_vector(V), UNIT, **TIGHT)
    np.testing.assert_allclose(kmath.unit_vector(_dir_table(V)), UNIT, **TIGHT)
    assert kmath.unit_vector(V[7]).shape == (3,)
    assert np.isnan(kmath.unit_vector((0, 0, 0))).all()  # no direction, no warning


def test_angle_between_rows_and_one_vector_match_km3pipe():
    np.testing.assert_allclose(kmath.angle_between(V, V[::-1]), ANG_ROWS, **NEAR_ONE)
    np.testing.assert_allclose(kmath.angle_between(V, V[::-1], axis=1), ANG_ROWS, **NEAR_ONE)
    np.testing.assert_allclose(kmath.angle_between((0.3, -0.4, 0.5), V), ANG_ONE, **NEAR_ONE)
    np.testing.assert_allclose(kmath.angle_between(V, (0.3, -0.4, 0.5)), ANG_ONE, **NEAR_ONE)
    np.testing.assert_allclose(kmath.angle_between(_dir_table(V), V[::-1]), ANG_ROWS,
                               **NEAR_ONE)
    assert kmath.angle_between((1, 0, 0), (0, 0, 3)) == pytest.approx(pymath.pi / 2)


def test_angle_between_axis0_is_km3pipes_all_pairs():
    got = kmath.angle_between(V[:3], V[::-1][:4], axis=0)
    assert got.shape == (3, 4)
    assert got[2, 3] == pytest.approx(1.1326472962107264, rel=1e-13)  # KM3Pipe's [2, 3]
    np.testing.assert_allclose(np.diag(got[:, :3]),
                               kmath.angle_between(V[:3], V[::-1][:3]), **NEAR_ONE)


def test_angle_between_rejects_bad_input():
    with pytest.raises(ValueError, match="stacks of 3 and 4 vectors"):
        kmath.angle_between(V[:3], V[:4])
    with pytest.raises(ValueError, match="unsupported axis 2"):
        kmath.angle_between(V, V, axis=2)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        kmath.zenith([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="missing dir_z"):
        kmath.zenith(Table({"dir_x": [1.0], "dir_y": [0.0]}))


def test_neutrino_to_source_direction_matches_km3pipe():
    az, zen = kmath.neutrino_to_source_direction(PH, TH)
    np.testing.assert_allclose(az, N2S[0], **TIGHT)
    np.testing.assert_allclose(zen, N2S[1], rtol=1e-13, atol=1e-15)
    az, zen = kmath.neutrino_to_source_direction(np.rad2deg(PH), np.rad2deg(TH), radian=False)
    np.testing.assert_allclose(az, N2S_DEG[0], **TIGHT)
    np.testing.assert_allclose(zen, N2S_DEG[1], rtol=1e-13, atol=1e-13)
    phi, theta = kmath.source_to_neutrino_direction(PH, TH)
    np.testing.assert_allclose(phi, S2N[0], **TIGHT)
    np.testing.assert_allclose(theta, S2N[1], rtol=1e-13, atol=1e-15)
    assert kmath.neutrino_to_source_direction(0.5, 0.1) == pytest.approx(
        (N2S[0][1], N2S[1][1]), rel=1e-13)


def test_neutrino_to_source_direction_checks_ranges():
    with pytest.raises(ValueError, match="phi must be at most 2π"):
        kmath.neutrino_to_source_direction(7.0, 0.0)
    with pytest.raises(ValueError, match="theta at most π"):
        kmath.neutrino_to_source_direction(0.0, 181.0, radian=False)


def test_directions_of_source_and_motion_agree():
    # zenith/azimuth of a direction equal the source direction of its theta/phi (theta,
    # as KM3Pipe's, wants unit vectors)
    unit = kmath.unit_vector(V[[0, 2, 3, 6, 9]])
    az, zen = kmath.neutrino_to_source_direction(kmath.phi(unit), kmath.theta(unit))
    np.testing.assert_allclose(zen, np.array(ZEN)[[0, 2, 3, 6, 9]], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(az % (2 * np.pi), np.array(AZI)[[0, 2, 3, 6, 9]],
                               rtol=1e-12, atol=1e-15)


def test_real_tracks_match_km3pipe(testdata):
    with OfflinePump(filename=testdata("offline/km3net_offline.root"),
                     collections=["Tracks"]) as pump:
        tracks = pump[0]["Tracks"][:5]
    np.testing.assert_array_equal(np.column_stack([tracks.dir_x, tracks.dir_y, tracks.dir_z]),
                                  REAL_DIR)
    np.testing.assert_allclose(kmath.zenith(tracks), REAL_ZEN, **TIGHT)
    np.testing.assert_allclose(kmath.azimuth(tracks), REAL_AZI, **TIGHT)
    np.testing.assert_allclose(kmath.angle_between(tracks, tracks[::-1]), REAL_ANG, **NEAR_ONE)


def test_stdlib_math_is_not_shadowed():
    # km3flow.math is a submodule; ``import math`` inside km3flow stays the standard library
    from km3flow.core import timing

    assert timing.math is pymath and pymath.__name__ == "math"
    assert kmath.__name__ == "km3flow.math" and not hasattr(pymath, "zenith")
