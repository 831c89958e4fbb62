"""HDF5Pump and HDF5Header on the KM3Pipe-written files of km3net-testdata.

Reference values (groups, rows per table in the first and last group, sample values) were
computed with KM3Pipe 11.0.0's own HDF5Pump (km3pipe.io.hdf5) in a separate venv; KM3Pipe
11 cannot read the format 4.x files (no /group_info), so their values were computed with
PyTables directly (rows selected by ``event_id``).
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.dataclasses import NDArray, Table
from km3flow.dataclasses import Header
from km3flow.io.hdf5 import HDF5Header, HDF5Pump

# file: (groups, {key: rows} of the first group, {key: rows} of the last group)
KM3PIPE_REFERENCE = {
    "hdf5/atmospheric_muons_sample.h5": (
        500,
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 11, "Meta": 1, "RawHeader": 22,
         "Hits": 4886, "McHits": 399},
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 3, "Meta": 1, "RawHeader": 22,
         "Hits": 3990, "McHits": 70}),
    "hdf5/geamon.h5": (
        2,
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 1, "RawHeader": 60, "RecStages": 116,
         "Tracks": 46, "Hits": 21176, "McHits": 81389},
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 1, "RawHeader": 60, "RecStages": 125,
         "Tracks": 49, "Hits": 4523, "McHits": 3459}),
    "hdf5/mupage_ARCA.h5": (
        150,
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 70, "RawHeader": 18, "RecStages": 121,
         "Tracks": 52, "Hits": 4738, "McHits": 1651},
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 2, "RawHeader": 18, "RecStages": 121,
         "Tracks": 52, "Hits": 4525, "McHits": 997}),
    "hdf5/test_event_info.h5": (
        5,
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 44, "Jmuongandalf": 12,
         "Jmuonprefit": 12, "Jmuonsimplex": 12},
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 13, "Jmuongandalf": 12,
         "Jmuonprefit": 12, "Jmuonsimplex": 12}),
    "online/events_sample.h5": (
        10, {"EventInfo": 1, "GroupInfo": 1, "Hits": 100},
        {"EventInfo": 1, "GroupInfo": 1, "Hits": 64}),
    "hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5": (
        10,
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 1, "Meta": 1, "RawHeader": 12,
         "Hits": 147, "McHits": 315},
        {"EventInfo": 1, "GroupInfo": 1, "McTracks": 1, "Meta": 1, "RawHeader": 12,
         "Hits": 128, "McHits": 263}),
}


def _rows(blob):
    return {k: len(v) for k, v in blob.items() if isinstance(v, (Table, NDArray))}


def _without_raw_header(rows):
    # KM3Pipe's blobs also hold the /raw_header table as 'RawHeader'; km3flow's hold it only
    # as the Header (the one header key)
    return {k: n for k, n in rows.items() if k != "RawHeader"}


@pytest.mark.parametrize("name", sorted(KM3PIPE_REFERENCE))
def test_groups_and_rows_as_km3pipe(testdata, name):
    n, first, last = KM3PIPE_REFERENCE[name]
    with HDF5Pump(filename=testdata(name)) as pump:
        assert len(pump) == n
        assert _rows(pump[0]) == _without_raw_header(first)
        assert _rows(pump[-1]) == _without_raw_header(last)
        blobs = list(pump)
        assert len(blobs) == n
        assert _rows(blobs[-1]) == _without_raw_header(last)
        gids = [int(b["GroupInfo"].group_id[0]) for b in blobs]
        assert gids == list(range(n))
        for b in blobs[:: max(1, n // 7)]:
            g = int(b["GroupInfo"].group_id[0])
            for key, tab in b.items():
                if isinstance(tab, Table) and not tab.h5singleton and "group_id" in tab:
                    assert (tab.group_id == g).all(), key
        if "RawHeader" in first:
            assert isinstance(blobs[0]["Header"], Header) and "RawHeader" not in blobs[0]
            assert len(pump.h5singleton("/raw_header")) == first["RawHeader"]


def test_values_as_km3pipe(testdata):
    with HDF5Pump(filename=testdata("hdf5/atmospheric_muons_sample.h5")) as pump:
        last, first = pump[499], pump[0]
        hits = last["Hits"]
        assert hits.split_h5 and hits.h5loc == "/hits" and hits.name == "Hits"
        np.testing.assert_array_equal(hits.time[:3], [37020875.0, 37025064.0, 37025681.0])
        assert hits.dom_id[-2:].tolist() == [11518, 11518] and hits.tot.sum() == 91056
        np.testing.assert_allclose(first["McTracks"].energy[:2], [17.72, 22.033])
    with HDF5Pump(filename=testdata("online/events_sample.h5")) as pump:
        hits = pump[9]["Hits"]
        np.testing.assert_array_equal(hits.time[:3], [79257988.0, 79258917.0, 79258038.0])
        assert hits.dom_id[-2:].tolist() == [809544061] * 2 and hits.tot.sum() == 1501
    with HDF5Pump(filename=testdata("hdf5/mupage_ARCA.h5")) as pump:
        b = pump[149]
        np.testing.assert_allclose(b["Tracks"].E[:2], [90800.06502559] * 2)
        assert b["Tracks"].h5loc == "/reco/tracks"
        assert b["Hits"].tot.sum() == 105713
    with HDF5Pump(filename=testdata("hdf5/geamon.h5")) as pump:
        hits = pump[1]["Hits"]
        assert hits.dom_id[-2:].tolist() == [2069, 2070] and hits.tot.sum() == 109951
        assert hits.dtype["tot"] == np.dtype("<u4")  # the producer's dtype is kept


def test_old_format_files_keyed_by_event_id(testdata):
    with HDF5Pump(filename=testdata("hdf5/numu_cc_test.h5")) as pump:  # format 4.1
        assert len(pump) == 2
        b0, b1 = pump[0], pump[1]
        assert len(b0["Hits"]) == 2440 and len(b1["Hits"]) == 2105
        assert b1["Hits"].time[:3].tolist() == [50000529, 50000671, 49999790]
        assert (b1["Hits"].event_id == 1).all()
        np.testing.assert_allclose(b0["McTracks"].energy[:2], [56.1570015, 55.04499817])
        assert sorted(b0) == ["Dusj", "EventInfo", "Gandalf", "Hits", "McHits", "McTracks",
                              "Rlns", "Thomas"]
    with HDF5Pump(filename=testdata("hdf5/basic_analysis_sample.h5")) as pump:  # 4.3
        assert len(pump) == 3484
        assert len(pump[3483]["McTracks"]) == 17
        np.testing.assert_allclose(pump[0]["McTracks"].energy[:2], [4.36549997, 0.00618])
        np.testing.assert_allclose(pump[0]["Gandalf"].pos_x, [47.64088668])
        np.testing.assert_allclose(pump[1]["Gandalf"].pos_x, [-41.82924072])


def test_header_only_file(testdata):
    with HDF5Pump(filename=testdata("hdf5/raw_header.h5")) as pump:
        assert len(pump) == 0
        assert pump.h5singleton("/raw_header").parameter[0] == b"propag"
        assert pump.header.seabottom == 3450.0  # a one-value tag is its value, as in km3io


def test_hdf5header_from_files(testdata):
    # Values as asserted by KM3Pipe's own test_hdf5.py for the same files; KM3Pipe's
    # positional names (propag_0, seabottom_0) read as km3io names them (field_0, a value)
    header = HDF5Header.from_hdf5(testdata("hdf5/raw_header.h5"))
    assert header.propag[0] == "MUSIC" and header.propag[1] == "seawater"
    assert header.propag._fields == ("field_0", "field_1", "field_2")
    assert header.seabottom == 3450
    assert header.seed == (  # known fields in definition order, the rest by position
        "MUPAGE-MT19937", 3, 17808569, 0, 0)
    assert header.seed._fields == ("program", "level", "iseed", "field_3", "field_4")
    assert header.generation() == {"livetime_sec": 12}
    assert header.livetime.numberOfSeconds == pytest.approx(12.1, abs=1e-3)
    assert header.livetime.errorOfSeconds == pytest.approx(0.09, abs=1e-3)
    assert tuple(header.coord_origin) == (0, 0, 0)
    assert "end_event" not in header  # no values: skipped, as in KM3Pipe
    geamon = HDF5Header.from_hdf5(testdata("hdf5/geamon.h5"))
    assert geamon["drays+z"][0] == 1.0 and geamon["drays+z"][1] == 68.5
    from km3flow.exceptions import FormatError

    with pytest.raises(FormatError, match="no /raw_header"):
        HDF5Header.from_hdf5(testdata("hdf5/basic_analysis_sample.h5"))


def test_hdf5header_dict_and_table_round_trip():
    hdict = {"param_a": {"field_a_1": "1", "field_a_2": "2"}, "param_b": {"field_b_1": "a"},
             "param_c": {"field_c_1": 23}, "param_e": {"param_e_2": 3, "param_e_0": 1,
                                                       "param_e_1": 2}}
    h = HDF5Header(hdict)
    assert list(h.keys()) == list(hdict) and len(h) == 4
    assert h.param_a.field_a_1 == "1" and h["param_c"].field_c_1 == 23
    assert tuple(h.param_e) == (3, 1, 2)  # as given (KM3Pipe sorted the names)
    with pytest.raises(KeyError, match="no header tag 'zz'"):
        h["zz"]
    tab = h.to_table()
    assert tab.h5loc == "/raw_header" and tab.h5singleton and len(tab) == 4
    back = HDF5Header.from_table(tab)
    # text stays text, numbers numbers; KM3Pipe's positional names are read by position
    assert back.param_a.field_a_1 == "1" and back.param_b.field_b_1 == "a"
    assert back.param_c.field_c_1 == 23
    assert tuple(back.param_e) == (1, 2, 3) and back.param_e._fields[0] == "field_0"
