"""km3flow.mc against KM3Pipe's km3pipe.mc.

Reference values were computed once with KM3Pipe 11.0.0 (particle 1.1.0, numpy 2.4.6) in a
separate venv: ``[int(km3pipe.mc.geant2pdg(c)) for c in GEANT]``, ``km3pipe.mc.pdg2name(c)``
for ``c`` in PDG and ``km3pipe.mc.is_neutrino(PDG).tolist()`` (with pandas installed).
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow import mc
from km3flow.exceptions import Km3flowError
from km3flow.io.evt import EvtPump

# KM3Pipe 11.0.0: km3pipe.mc.geant2pdg(code) for each code
GEANT_TO_PDG = [
    (-1, 0), (0, 0), (1, 22), (2, -11), (3, 11), (4, 12), (5, -13), (6, 13), (7, 111),
    (8, 211), (9, -211), (10, 130), (11, 321), (12, -321), (13, 2112), (14, 2212),
    (15, -2212), (16, 310), (25, -2112), (44, 0), (45, 1000010020), (46, 1000010030),
    (47, 1000020040), (48, 480000000), (49, 1000020030), (50, 20022), (51, -15), (52, 15),
    (53, 24), (91, -37), (92, 0), (99, 0), (200, -525), (216, -535), (217, 0), (303, 1),
    (304, -1), (999, 1000110240), (99999, 150), (100000, 0),
]
# KM3Pipe 11.0.0: km3pipe.mc.pdg2name(code); None where KM3Pipe raises ParticleNotFound
PDG_TO_NAME = [
    (0, "N/A"), (1, "d"), (11, "e-"), (-11, "e+"), (12, "nu(e)"), (-12, "nu(e)~"),
    (13, "mu-"), (-13, "mu+"), (14, "nu(mu)"), (-14, "nu(mu)~"), (15, "tau-"), (-15, "tau+"),
    (16, "nu(tau)"), (-16, "nu(tau)~"), (22, "gamma"), (111, "pi0"), (211, "pi+"),
    (-211, "pi-"), (130, "K(L)0"), (310, "K(S)0"), (321, "K+"), (2112, "n"), (-2112, "n~"),
    (2212, "p"), (-2212, "p~"), (3122, "Lambda"), (1000010020, "D2"), (1000020040, "He4"),
    (1000080160, "O16"), (-1000080160, "O16~"), (1000822080, "Pb208"), (1000060120, "C12"),
    (99999, None), (81, None), (1000010010, "p"), (1000000010, "n"), (480000000, None),
    (9000443, "psi(4040)"),
]
PDG = [code for code, _ in PDG_TO_NAME]
# KM3Pipe 11.0.0: km3pipe.mc.is_neutrino(PDG).tolist()
IS_NEUTRINO = [False] * 4 + [True] * 2 + [False] * 2 + [True] * 2 + [False] * 2 + [True] * 2
IS_NEUTRINO += [False] * (len(PDG) - len(IS_NEUTRINO))


@pytest.mark.parametrize(("geant", "pdg"), GEANT_TO_PDG)
def test_geant2pdg_scalar_matches_km3pipe(geant, pdg):
    got = mc.geant2pdg(geant)
    assert got == pdg and type(got) is int


def test_geant2pdg_vectorised_keeps_shape():
    codes = np.array([c for c, _ in GEANT_TO_PDG]).reshape(5, 8)
    got = mc.geant2pdg(codes)
    assert got.shape == (5, 8) and got.dtype == np.int64
    assert got.ravel().tolist() == [p for _, p in GEANT_TO_PDG]
    assert mc.geant2pdg(np.array([], dtype=np.int32)).shape == (0,)


@pytest.mark.parametrize(("pdg", "name"), PDG_TO_NAME)
def test_pdg2name_scalar_matches_km3pipe(pdg, name):
    # where KM3Pipe raises ParticleNotFound, km3flow answers "N/A"
    assert mc.pdg2name(pdg) == (name or "N/A")


def test_pdg2name_vectorised():
    got = mc.pdg2name(np.array(PDG, dtype=np.int64))
    assert got.tolist() == [name or "N/A" for _, name in PDG_TO_NAME]
    assert mc.pdg2name([[13, -13], [13, 0]]).tolist() == [["mu-", "mu+"], ["mu-", "N/A"]]


def test_name2pdg_inverts_pdg2name():
    known = [(c, n) for c, n in PDG_TO_NAME if n not in (None, "N/A", "psi(4040)")]
    for code, name in known:
        # particle's from_name maps "n"/"p" to the hadron codes, not the nucleus codes
        expected = {1000010010: 2212, 1000000010: 2112}.get(code, code)
        assert mc.name2pdg(name) == expected, name
    names = np.array([n for _, n in known])
    assert mc.name2pdg(names).tolist() == [mc.name2pdg(n) for n in names]


@pytest.mark.parametrize("name", ["muon", "O9999", "H2", "", "mu"])
def test_name2pdg_unknown_raises(name):
    with pytest.raises(mc.ParticleError, match="no particle named"):
        mc.name2pdg(name)


def test_name2pdg_shared_name_raises():
    # two psi(4040) in the PDG table (200443 and 9000443); pdg2name gives the name of both
    assert mc.pdg2name([200443, 9000443]).tolist() == ["psi(4040)"] * 2
    with pytest.raises(mc.ParticleError, match="shared by the PDG codes 200443, 9000443"):
        mc.name2pdg("psi(4040)")


def test_is_neutrino_matches_km3pipe():
    got = mc.is_neutrino(PDG)
    assert got.dtype == bool and got.tolist() == IS_NEUTRINO
    assert mc.is_neutrino(-16) is True and mc.is_neutrino(13) is False


def test_is_muon_takes_both_charges():
    # KM3Pipe 11.0.0's is_muon is True for -13 only; km3flow takes mu- and mu+
    got = mc.is_muon(PDG)
    assert [c for c, flag in zip(PDG, got) if flag] == [13, -13]
    assert mc.is_muon(13) is True


@pytest.mark.parametrize("func", [mc.geant2pdg, mc.pdg2name, mc.is_neutrino, mc.is_muon])
def test_float_codes_are_rejected(func):
    with pytest.raises(mc.ParticleError, match="must be integers") as err:
        func([1.5, 2.0])
    assert isinstance(err.value, Km3flowError)


def test_geant_codes_of_an_evt_file(testdata):
    # with convert_geant=False the EVT reader keeps the GEANT3 types of this file;
    # geant2pdg gives the PDG codes, which the reader gives by default
    with EvtPump(filename=testdata("evt/example_numuCC.evt"), convert_geant=False) as pump:
        types = pump[0]["McTracks"].type
    with EvtPump(filename=testdata("evt/example_numuCC.evt")) as pump:
        converted = pump[0]["McTracks"].type
    reference = dict(GEANT_TO_PDG)
    assert set(types.tolist()) <= set(reference)
    got = mc.geant2pdg(types)
    assert got.tolist() == [reference[t] for t in types.tolist()]
    assert converted.tolist() == got.tolist()
    names = mc.pdg2name(got)
    assert names[0] == "mu+" and (names == "N/A").sum() == (types == 99).sum() > 0
