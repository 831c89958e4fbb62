"""HDF5Pump's group → rows maps, worked out per block of groups (issue 16).

The pump reads ``/group_info`` and the ``_indices`` tables per block and finds a block's
rows of a compound table from marks of its ``group_id`` column; files not in group_id
order fall back to maps of the whole file. Both ways must give KM3Pipe's blobs.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tables as tb

from km3flow.dataclasses import NDArray, Table
from km3flow.exceptions import FormatError
from km3flow.io.hdf5 import HDF5Pump
from km3flow.io.hdf5 import pump as pump_module

WITH_GROUP_INFO = ["hdf5/atmospheric_muons_sample.h5", "hdf5/geamon.h5",
                   "hdf5/mupage_ARCA.h5", "hdf5/test_event_info.h5",
                   "hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5"]


def _content(blob):
    return {k: (v.dtype.descr, v.shape, v.tobytes()) for k, v in blob.items()
            if isinstance(v, (Table, NDArray))}


def _all(path, **params):
    with HDF5Pump(filename=str(path), **params) as pump:
        return [_content(b) for b in pump]


@pytest.fixture
def small_blocks(monkeypatch):
    """Marks every 4 rows, scans of a few rows, blocks of a few groups: every window and
    scan crosses many boundaries."""
    monkeypatch.setattr(pump_module, "_MARK_ROWS", 4)
    monkeypatch.setattr(pump_module, "_SCAN_BYTES", 1000)
    monkeypatch.setattr(pump_module, "_BLOCK_ROWS", 200)


@pytest.mark.parametrize("name", WITH_GROUP_INFO)
def test_km3pipe_files_are_read_per_block(testdata, name):
    # KM3Pipe writes its tables in group_id order: no map of the whole file is made
    with tb.open_file(testdata(name)) as h5:
        n_groups = h5.root.group_info.nrows
        nrows = {t._v_pathname: t.nrows for t in h5.walk_nodes("/", classname="Table")}
    with HDF5Pump(filename=testdata(name)) as pump:
        assert len(pump) == n_groups
        for _ in pump:
            pass
        reader = pump._readers[0]
        assert reader.group_ids is None
        tables_ = [loc for loc in reader.locations if loc.kind == "table"]
        assert tables_
        for loc in tables_:
            assert loc.starts is None and loc.perm is None
            assert loc.marks is not None and len(loc.marks) == -(-nrows[loc.h5loc] // 256)


def test_blocks_agree_with_a_numpy_reading_of_the_file(testdata, small_blocks):
    path = testdata("hdf5/mupage_ARCA.h5")
    with tb.open_file(path) as h5:
        gids = h5.root.group_info.col("group_id")
        tracks = h5.root.reco.tracks.read()
        stages = h5.root.reco.rec_stages.read()
        hit_idx = h5.root.hits._indices.read()
        dom_id = h5.root.hits.dom_id.read()
    with HDF5Pump(filename=path) as pump:
        sequential = list(pump)
        order = np.random.default_rng(7).permutation(len(pump))[:40]
        random = {int(i): pump[int(i)] for i in order}
    assert len(sequential) == len(gids) == 150
    for i, blob in enumerate(sequential):
        for key, rows in (("Tracks", tracks), ("RecStages", stages)):
            want = rows[rows["group_id"] == gids[i]]
            assert blob[key].tobytes() == want.tobytes(), (i, key)
        a, n = hit_idx[i]
        np.testing.assert_array_equal(blob["Hits"].dom_id, dom_id[a:a + n])
        if i in random:
            assert _content(random[i]) == _content(blob)


def test_a_table_not_in_group_id_order_is_mapped_whole(testdata, tmp_path, small_blocks):
    path = tmp_path / "unsorted.h5"
    shutil.copy(testdata("hdf5/test_event_info.h5"), path)
    with tb.open_file(str(path), "a") as h5:
        table = h5.root.mc_tracks
        rows = table.read()
        # the groups' runs of rows in reverse order, each run as it was
        table.modify_rows(0, rows=rows[np.argsort(-rows["group_id"], kind="stable")])
    assert _all(path) == _all(testdata("hdf5/test_event_info.h5"))
    with HDF5Pump(filename=str(path)) as pump:
        pump[3]
        locs = {loc.h5loc: loc for loc in pump._readers[0].locations}
        assert locs["/mc_tracks"].marks is None and locs["/mc_tracks"].perm is not None
        assert locs["/event_info"].marks is not None


def test_group_info_not_in_group_id_order(testdata, tmp_path, small_blocks):
    path = tmp_path / "reversed.h5"
    shutil.copy(testdata("hdf5/test_event_info.h5"), path)
    with tb.open_file(str(path), "a") as h5:
        h5.root.group_info.modify_rows(0, rows=h5.root.group_info.read()[::-1])
    original = _all(testdata("hdf5/test_event_info.h5"))
    # a group's rows are found by its group_id wherever its /group_info row is
    assert _all(path) == original[::-1]
    with HDF5Pump(filename=str(path)) as pump:
        assert _content(pump[1]) == original[3]
        assert pump._readers[0].group_ids is not None  # the fallback


def test_rows_of_groups_missing_from_group_info_are_skipped(testdata, tmp_path,
                                                            small_blocks):
    path = tmp_path / "gap.h5"
    shutil.copy(testdata("hdf5/test_event_info.h5"), path)
    with tb.open_file(str(path), "a") as h5:
        h5.root.group_info.remove_rows(2, 3)
    original = _all(testdata("hdf5/test_event_info.h5"))
    blobs = _all(path)
    # the other tables still hold group 2's rows: they belong to no group
    assert len(blobs) == 4
    for got, want in zip(blobs, original[:2] + original[3:]):
        assert got.keys() == want.keys()
        for key in got:
            if key != "GroupInfo":
                assert got[key] == want[key], key


def test_scan_finds_a_decrease_at_a_read_boundary(tmp_path, monkeypatch):
    monkeypatch.setattr(pump_module, "_MARK_ROWS", 2)
    monkeypatch.setattr(pump_module, "_SCAN_BYTES", 4 * 8)  # 4 rows of 8 bytes a read
    with tb.open_file(str(tmp_path / "k.h5"), "w") as h5:
        table = h5.create_table("/", "t", np.dtype([("group_id", "<i8")]))
        table.append(np.array([(g,) for g in [0, 0, 1, 3, 3, 4, 5, 5, 6]], table.dtype))
        assert pump_module._scan_keys(table, "group_id").tolist() == [0, 1, 3, 5, 6]
        table.modify_rows(4, rows=np.array([(2,)], table.dtype))  # 3 | 2: across reads
        assert pump_module._scan_keys(table, "group_id") is None


def test_indices_pointing_past_the_data_name_the_row(testdata, tmp_path):
    path = tmp_path / "bad_index.h5"
    shutil.copy(testdata("hdf5/atmospheric_muons_sample.h5"), path)
    with tb.open_file(str(path), "a") as h5:
        idx = h5.root.hits._indices
        rows = idx.read(7, 8)
        rows["index"] = h5.root.hits.dom_id.nrows
        idx.modify_rows(7, rows=rows)
        n_hits_6 = int(idx[6]["n_items"])
    with HDF5Pump(filename=str(path)) as pump:
        assert len(pump[6]["Hits"]) == n_hits_6  # a block of other groups reads
        with pytest.raises(FormatError, match=r"row 7 of /hits/_indices points past the "
                                              r"\d+ rows of /hits") as err:
            pump[7]
        assert "bad_index.h5" in str(err.value)
        with pytest.raises(FormatError, match="row 7 of /hits/_indices"):
            list(pump)
