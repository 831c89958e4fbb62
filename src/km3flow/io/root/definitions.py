"""Named constants of the aanet/Jpp offline format: fit-info indices, reconstruction stages, header fields.

The values are those of the KM3NeT data format definitions (km3net-dataformat v3.6.2, as shipped
with km3io 1.2 in ``km3io/_definitions``). They give names to the positions in ``Trk.fitinf``
and to the numbers in ``Trk.rec_stages`` and name the fields of the MC header lines.
"""

from __future__ import annotations

# Positions in Trk::fitinf used by the Jpp reconstructions (JFitParameters).  Indices 0..25
# are all defined, so the offline Tracks table carries exactly these 26 fit-info columns.
FITINF_INDEX: dict[str, int] = {
    "JGANDALF_BETA0_RAD": 0,
    "JGANDALF_BETA1_RAD": 1,
    "JGANDALF_CHI2": 2,
    "JGANDALF_NUMBER_OF_HITS": 3,
    "JENERGY_ENERGY": 4,
    "JENERGY_CHI2": 5,
    "JGANDALF_LAMBDA": 6,
    "JGANDALF_NUMBER_OF_ITERATIONS": 7,
    "JSTART_NPE_MIP": 8,
    "JSTART_NPE_MIP_TOTAL": 9,
    "JSTART_LENGTH_METRES": 10,
    "JVETO_NPE": 11,
    "JVETO_NUMBER_OF_HITS": 12,
    "JENERGY_MUON_RANGE_METRES": 13,
    "JENERGY_NOISE_LIKELIHOOD": 14,
    "JENERGY_NDF": 15,
    "JENERGY_NUMBER_OF_HITS": 16,
    "JCOPY_Z_M": 17,
    "JPP_COVERAGE_ORIENTATION": 18,
    "JPP_COVERAGE_POSITION": 19,
    "JENERGY_MINIMAL_ENERGY": 20,
    "JENERGY_MAXIMAL_ENERGY": 21,
    "JSTART_NPE_MIP_MISSED": 22,
    "JMUONFEATURES_NUMBER_OF_DOMS": 23,
    "JMUONFEATURES_NUMBER_OF_LINES": 24,
    "JMUONFEATURES_NUMBER_OF_HITS": 25,
}

#: Column names of the fit-info values in the Tracks table, in index order.
FITINF_COLUMNS: tuple[str, ...] = tuple(
    name.lower() for name, _ in sorted(FITINF_INDEX.items(), key=lambda item: item[1])
)

# Trk::rec_type and the stage numbers found in Trk::rec_stages.
RECONSTRUCTION: dict[str, int] = {
    "JPP_RECONSTRUCTION_TYPE": 4000,
    "JMUONBEGIN": 0,
    "JMUONPREFIT": 1,
    "JMUONSIMPLEX": 2,
    "JMUONGANDALF": 3,
    "JMUONENERGY": 4,
    "JMUONSTART": 5,
    "JLINEFIT": 6,
    "JMUONFEATURES": 7,
    "JMUONEND": 99,
    "JSHOWERBEGIN": 100,
    "JSHOWERPREFIT": 101,
    "JSHOWERPOSITIONFIT": 102,
    "JSHOWERCOMPLETEFIT": 103,
    "JSHOWER_BJORKEN_Y": 104,
    "JSHOWERENERGYPREFIT": 105,
    "JSHOWERPOINTSIMPLEX": 106,
    "JSHOWERDIRECTIONPREFIT": 107,
    "JSHOWEREND": 199,
    "DUSJ_RECONSTRUCTION_TYPE": 200,
    "DUSJSHOWERBEGIN": 200,
    "DUSJSHOWERPREFIT": 201,
    "DUSJSHOWERPOSITIONFIT": 202,
    "DUSJSHOWERCOMPLETEFIT": 203,
    "DUSJSHOWEREND": 299,
    "AANET_RECONSTRUCTION_TYPE": 101,
    "AASHOWERBEGIN": 300,
    "AASHOWERFITPREFIT": 302,
    "AASHOWERFITPOSITIONFIT": 303,
    "AASHOWERFITDIRECTIONENERGYFIT": 304,
    "AASHOWEREND": 399,
    "JUSERBEGIN": 1000,
    "JMUONVETO": 1001,
    "JMUONPATH": 1003,
    "JMCEVT": 1004,
    "JUSEREND": 1099,
    "RECTYPE_UNKNOWN": -1,
    "RECSTAGE_UNKNOWN": -1,
}

# Field names of the MC header lines (the values are whitespace separated).
_HEADER_FIELDS: dict[str, str] = {
    "DAQ": "livetime",
    "seed": "program level iseed",
    "PM1_type_area": "type area TTS",
    "PDF": "i1 i2",
    "model": "interaction muon scattering numberOfEnergyBins",
    "can": "zmin zmax r",
    "genvol": "zmin zmax r volume numberOfEvents",
    "merge": "time gain",
    "coord_origin": "x y z",
    "translate": "x y z",
    "genhencut": "gDir Emin",
    "k40": "rate time",
    "norma": "primaryFlux numberOfPrimaries",
    "livetime": "numberOfSeconds errorOfSeconds",
    "flux": "type key file_1 file_2",
    "spectrum": "alpha",
    "fixedcan": "xcenter ycenter zmin zmax radius",
    "start_run": "run_id",
}
for _key in ("cut_primary", "cut_seamuon", "cut_in", "cut_nu"):
    _HEADER_FIELDS[_key] = "Emin Emax cosTmin cosTmax"
for _key in ("generator", "physics", "simul"):
    _HEADER_FIELDS[_key] = "program version date time"

HEADER_FIELDS: dict[str, tuple[str, ...]] = {k: tuple(v.split()) for k, v in _HEADER_FIELDS.items()}
