"""merge_hdf5 on real KM3Pipe-written testdata files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tables
from h5compare import assert_same_h5

from km3flow.cli.main import main
from km3flow.exceptions import FormatError
from km3flow.io.hdf5.provenance import read_provenance
from km3flow.io.hdf5.merge import merge_hdf5

SAMPLE = "online/events_sample.h5"  # KM3Pipe 9.0: 10 groups, /hits split, no MC
MUPAGE = "hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5"  # KM3Pipe 8.27: 10 groups, MC


def _read(path, node):
    with tables.open_file(path) as f:
        return f.get_node(node).read()


def _hits_of_group(path, group, g):
    with tables.open_file(path) as f:
        idx = f.get_node(f"{group}/_indices")[g]
        col = f.get_node(f"{group}/time")
        return col[idx["index"]:idx["index"] + idx["n_items"]]


def test_merge_renumbers_groups_and_rebuilds_indices(testdata, tmp_path):
    a, b = testdata(SAMPLE), testdata(MUPAGE)
    out = str(tmp_path / "merged.h5")
    merge_hdf5([a, b, a], out)

    groups = _read(out, "/group_info")
    assert list(groups["group_id"]) == list(range(30))
    info = _read(out, "/event_info")
    assert list(info["group_id"]) == list(range(30))
    for k, (src, offset) in enumerate([(a, 0), (b, 10), (a, 20)]):
        orig = _read(src, "/event_info")
        part = info[offset:offset + 10]
        assert np.array_equal(part["event_id"], orig["event_id"]), k
        hits_gid = _read(out, "/hits/group_id")
        for g in range(10):
            assert np.array_equal(_hits_of_group(out, "/hits", offset + g),
                                  _hits_of_group(src, "/hits", g))
    hits_idx = _read(out, "/hits/_indices")
    assert hits_idx["index"][0] == 0 and hits_idx["n_items"].sum() == 1078 + 1293 + 1078
    assert np.array_equal(hits_idx["index"][1:], np.cumsum(hits_idx["n_items"])[:-1])
    assert np.array_equal(np.repeat(np.arange(30), hits_idx["n_items"]), hits_gid)
    # mc_hits exist only in the middle part: the others get empty entries per group.
    mc_idx = _read(out, "/mc_hits/_indices")
    assert len(mc_idx) == 30
    assert mc_idx["n_items"][:10].sum() == 0 and mc_idx["n_items"][20:].sum() == 0
    assert np.array_equal(mc_idx["n_items"][10:20], _read(b, "/mc_hits/_indices")["n_items"])
    assert np.array_equal(_hits_of_group(out, "/mc_hits", 13), _hits_of_group(b, "/mc_hits", 3))
    assert np.array_equal(_read(out, "/mc_tracks")["group_id"],
                          _read(b, "/mc_tracks")["group_id"] + 10)
    # Singletons are copied once; root attributes from the first part with a new kid.
    assert np.array_equal(_read(out, "/raw_header"), _read(b, "/raw_header"))
    with tables.open_file(out) as f, tables.open_file(a) as fa:
        assert f.root._v_attrs.format_version == b"5.1"
        assert f.root._v_attrs.origin == fa.root._v_attrs.origin
        assert f.get_node("/hits")._v_attrs.datatype == "Hits"
        assert f.get_node("/event_info").filters == fa.get_node("/event_info").filters


def test_merge_in_small_chunks_gives_the_same_file(testdata, tmp_path):
    a, b = testdata(SAMPLE), testdata(MUPAGE)
    merge_hdf5([a, b], tmp_path / "big.h5")
    merge_hdf5([a, b], tmp_path / "small.h5", chunk_rows=7)
    for node in ("/hits/time", "/hits/_indices", "/event_info", "/mc_hits/pmt_id"):
        big, small = _read(tmp_path / "big.h5", node), _read(tmp_path / "small.h5", node)
        assert big.dtype == small.dtype and big.tobytes() == small.tobytes()  # NaN weights


def test_merge_refuses_parts_with_different_layouts(testdata, tmp_path):
    # geamon.h5 (KM3Pipe 9.3) puts group_id last in /event_info, events_sample.h5 (9.0)
    # after frame_index; its hits are also uint32/int32 where events_sample has int64.
    with pytest.raises(FormatError, match=r"geamon\.h5: node '/event_info' is \["):
        merge_hdf5([testdata(SAMPLE), testdata("hdf5/geamon.h5")], tmp_path / "x.h5")


def test_merge_refuses_an_unfinished_part(testdata, tmp_path):
    part = tmp_path / "crashed.h5"
    shutil.copy(testdata(SAMPLE), part)
    with tables.open_file(part, "a") as f:
        del f.root._v_attrs.format_version  # what a writer that died before finish leaves
    with pytest.raises(FormatError, match="crashed.h5: no format_version"):
        merge_hdf5([testdata(SAMPLE), part], tmp_path / "x.h5")


@pytest.mark.parametrize("names", [
    ("evt/example_numuCC.evt", "evt/example_numuNC.evt"),
    ("offline/numucc.root", "offline/km3net_offline.root"),
])
def test_parallel_convert_writes_the_serial_file(names, testdata, tmp_path):
    """``convert --workers 2`` of 4 real files writes every node of the serial run byte for
    byte, /group_info included. The first blob of every file carries its raw header, a
    singleton the serial sink writes (and counts in ``blob_length``) once per output; each
    part writes its own copy, and the merge keeps one and counts it once."""
    a, b = (testdata(n) for n in names)
    inputs = [a, b, a, b]
    serial, parallel = tmp_path / "serial.h5", tmp_path / "parallel.h5"
    assert main(["convert", *inputs, "-o", str(serial), "--no-progress"]) == 0
    assert main(["convert", *inputs, "-o", str(parallel), "--workers", "2",
                 "--no-progress"]) == 0
    assert_same_h5(str(serial), str(parallel), provenance=False)
    with tables.open_file(serial) as s, tables.open_file(parallel) as p:
        lengths = s.root.group_info.col("blob_length")
        assert "/raw_header" in s and len(lengths) == p.root.group_info.nrows
        parts = read_provenance(p)["parts"]
        starts = np.cumsum([0] + [part["n_groups"] for part in parts])[:-1]
        assert len(starts) == 4 and starts[1] > 0
        # group 0 counts the header; the first group of the same file read again does not
        assert lengths[0] == lengths[starts[2]] + 1
        assert read_provenance(s)["singleton_groups"] == {"/raw_header": 0}
        assert read_provenance(p)["singleton_groups"] == {"/raw_header": 0}


def test_merge_opens_one_part_at_a_time_gh16(testdata, tmp_path, monkeypatch):
    import km3flow.io.hdf5.merge as merging

    a, b = testdata(SAMPLE), testdata(MUPAGE)
    parts = [a, b] * 15
    opened = []
    real_open = merging._open_part
    already = len(tables.file._open_files.filenames)  # e.g. left open by other tests

    def watched(path):
        # files open besides the output, just before this part is opened
        opened.append(len(tables.file._open_files.filenames) - already - 1)
        return real_open(path)

    monkeypatch.setattr(merging, "_open_part", watched)
    out = tmp_path / "merged.h5"
    merge_hdf5(parts, out)
    assert len(opened) == 30 and max(opened) == 0  # every part is closed before the next
    groups = _read(out, "/group_info")
    assert list(groups["group_id"]) == list(range(300))
    idx = _read(out, "/mc_hits/_indices")  # only in every second part: empty entries
    assert len(idx) == 300 and idx["n_items"][:10].sum() == 0
    assert np.array_equal(idx["index"][1:], np.cumsum(idx["n_items"])[:-1])
    n_hits = [len(_read(p, "/hits/time")) for p in (a, b)]
    assert len(_read(out, "/hits/time")) == 15 * sum(n_hits)
