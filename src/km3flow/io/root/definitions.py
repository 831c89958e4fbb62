"""Named constants of the aanet/Jpp offline format: fit-info indices, reconstruction stages,
header fields.

The values are those of the KM3NeT data format definitions (km3net-dataformat v3.6.2, as shipped
with km3io 1.2 in ``km3io/_definitions``). They give names to the positions in ``Trk.fitinf``
and to the numbers in ``Trk.rec_stages`` and name the fields of the MC header lines.
"""

from __future__ import annotations

__all__ = ["FITINF_COLUMNS", "FITINF_INDEX", "HEADER_FIELDS", "RECONSTRUCTION"]

# Positions in Trk::fitinf used by the Jpp reconstructions (JFitParameters): defined with the
# Tracks table in km3flow.dataclasses.schema, whose fit-info columns they name.
from ...dataclasses.schema import FITINF_COLUMNS, FITINF_INDEX  # noqa: F401 (re-exported)

# Field names of the MC header lines: defined with the Header type.
from ...dataclasses.header import HEADER_FIELDS

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
