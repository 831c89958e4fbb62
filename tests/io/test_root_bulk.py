"""read_offline / iter_offline: whole-file and chunk-level Tables with group_id.

The reference is km3flow's OfflinePump (itself checked against km3io in
test_root_offline.py): the whole-file tables must equal its blobs stacked, with
``group_id`` the blob (event) index.
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.root import OfflinePump, iter_offline, read_offline

FILES = ["offline/numucc.root", "offline/km3net_offline.root", "offline/usr-sample.root",
         "offline/mcv5.0.DAT004340.propa.sirene.jte.jchain.aanet.4340.root"]


def _stacked(blobs, key):
    parts = [b[key] for b in blobs if key in b]
    gid = np.concatenate([np.full(len(b[key]), i) for i, b in enumerate(blobs) if key in b])
    return np.concatenate(parts), gid


def _assert_same(table, ref, gid):
    assert table.dtype.names == ref.dtype.names + ("group_id",)
    for name in ref.dtype.names:
        np.testing.assert_array_equal(table[name], ref[name], err_msg=name)
    np.testing.assert_array_equal(table["group_id"], gid)


@pytest.mark.parametrize("path", FILES)
@pytest.mark.parametrize("step_size", [1, 3, 2000])
def test_read_offline_equals_the_pump(testdata, path, step_size):
    tables = read_offline(testdata(path), step_size=step_size)
    with OfflinePump(filename=testdata(path), step_size=7) as pump:
        blobs = list(pump)
        header = pump.header
    assert set(tables) == set().union(*blobs)
    for key, table in tables.items():
        if key == "Header":
            assert type(table) is type(blobs[0]["Header"])
            continue
        ref, gid = _stacked(blobs, key)
        _assert_same(table, ref, gid)
        assert table.h5loc == next(b[key] for b in blobs if key in b).h5loc
    assert ("Header" in tables) == (header is not None)
    assert tables["EventInfo"].group_id.tolist() == list(range(len(blobs)))


def test_iter_offline_chunks(testdata):
    path = testdata("offline/numucc.root")
    chunks = list(iter_offline(path, step_size=4))
    assert [len(c["EventInfo"]) for c in chunks] == [4, 4, 2]
    whole = read_offline(path)
    for key in ("EventInfo", "Hits", "McHits", "Tracks", "McTracks", "McTracksUsr"):
        stacked = np.concatenate([c[key] for c in chunks])
        for name in whole[key].dtype.names:
            np.testing.assert_array_equal(stacked[name], whole[key][name])
    assert chunks[2]["Hits"].group_id.min() == 8 and "Header" not in chunks[0]


def test_collections_and_calibration(testdata):
    tables = read_offline(testdata("offline/km3net_offline.root"), collections=["Tracks"],
                          usr=False)
    assert set(tables) == {"EventInfo", "Tracks"}
    assert tables["Tracks"].rec_stage_0.dtype == np.int32
    calibrated = read_offline(testdata("offline/usr-sample.root"), collections=["Hits"])
    assert "pos_x" in calibrated["Hits"].dtype.names


def test_empty_file(testdata):
    tables = read_offline(testdata("offline/empty_events.root"))
    assert {k: len(v) for k, v in tables.items() if k != "Header"} == dict.fromkeys(
        ["EventInfo", "Hits", "McHits", "Tracks", "McTracks"], 0)
    assert all("group_id" in tables[k].dtype.names for k in tables if k != "Header")
    assert list(iter_offline(testdata("offline/empty_events.root"))) == []


def test_bad_file(testdata):
    with pytest.raises(FormatError, match="IO_EVT.dat"):
        read_offline(testdata("daq/IO_EVT.dat"))
    with pytest.raises(ValueError, match="unknown collections"):
        read_offline(testdata("offline/numucc.root"), collections=["Hitz"])
