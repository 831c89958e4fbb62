"""HDF5 outputs of parallel runs: the merged file is the serial run's file, also when the
parts are merged while tasks still run and the tasks end out of order."""

from __future__ import annotations

import glob
import os
import shutil

import tables
from h5compare import assert_same_h5, h5_content
from parallel_testmods import GatedFilePump

from km3flow.core import Pipeline
from km3flow.core.part_merge import PartStream
from km3flow.io.files import FilePump
from km3flow.io.hdf5 import HDF5Pump, HDF5Sink
from km3flow.io.hdf5.merge import PartMerger
from km3flow.io.hdf5.provenance import read_provenance
from km3flow.parallel import part_path

SAMPLE = "online/events_sample.h5"  # 10 groups, hits
MUPAGE = "hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5"  # 10 groups, MC too


def _convert(files, out, **drain):
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filenames=files)
    pipe.attach(HDF5Sink, filename=str(out))
    pipe.drain(**drain)


def test_parallel_conversion_equals_serial(testdata, tmp_path):
    # Copies of two real files; the first parts have no MC, so the merged MC nodes need
    # empty index entries for their groups, as the serial sink writes them.
    files = [testdata(SAMPLE), testdata(SAMPLE), testdata(MUPAGE), testdata(SAMPLE)]
    _convert(files, tmp_path / "serial.h5")
    _convert(files, tmp_path / "par.h5", workers=2)
    serial = h5_content(str(tmp_path / "serial.h5"))
    par = h5_content(str(tmp_path / "par.h5"))
    assert sorted(serial) == sorted(par)
    for path in serial:
        ts, us, ds = serial[path]
        tp, up, dp = par[path]
        assert ts == tp, path
        us.pop("km3flow_provenance", None)
        up.pop("km3flow_provenance", None)
        assert {k: str(v) for k, v in us.items()} == {k: str(v) for k, v in up.items()}, path
        if ds is not None:
            assert ds.dtype == dp.dtype and ds.tobytes() == dp.tobytes(), path
    with tables.open_file(tmp_path / "par.h5") as f:
        assert f.root.group_info.nrows == 40
        prov = read_provenance(f)
    assert prov["n_groups"] == 40 and prov["filename"] == "par.h5"
    assert len(prov["parts"]) == 4
    assert sorted(set(prov["input_files"])) == sorted(set(files))


OFFLINE = ["offline/km3net_offline.root", "offline/numucc.root"]  # 10 events, 77 / 385 kB


def test_parts_merged_as_tasks_end_out_of_order_give_the_serial_file(testdata, tmp_path,
                                                                     monkeypatch):
    # Four offline ROOT files of two sizes, each copy with its own name.
    folder = tmp_path / "in"
    folder.mkdir()
    files = []
    for k, name in enumerate(OFFLINE * 2):
        files.append(str(folder / f"f{k}.root"))
        shutil.copyfile(testdata(name), files[-1])
    serial = Pipeline()
    serial.attach(FilePump, filenames=files)
    serial.attach(HDF5Sink, filename=str(tmp_path / "serial.h5"))
    serial.drain()

    out = tmp_path / "par.h5"
    gates = {
        # task 0 ends only after task 1 wrote its part: part 1 must wait for part 0
        "f0.root": glob.escape(part_path(str(out), 1)),
        # task 3 starts reading only once the parent merges (the merged file exists)
        "f3.root": os.path.join(glob.escape(str(tmp_path)), ".par.h5.merging-*"),
    }
    events = []
    stream_add, merger_add = PartStream.add, PartMerger.add

    def on_report(self, report):  # in this process: the parent of the workers
        events.append(("report", report.index))
        stream_add(self, report)

    def on_part(self, part):
        events.append(("merge", int(os.fspath(part).rsplit("-", 1)[1])))
        merger_add(self, part)

    monkeypatch.setattr(PartStream, "add", on_report)
    monkeypatch.setattr(PartMerger, "add", on_part)
    pipe = Pipeline()
    pipe.attach(GatedFilePump, filenames=files, gates=gates)
    pipe.attach(HDF5Sink, filename=str(out))
    pipe.drain(workers=2, files_per_task=1)

    assert events[0] == ("report", 1)  # out of order: it waited for part 0
    assert [e for e in events if e[0] == "merge"] == [("merge", k) for k in range(4)]
    # merged while a task still ran (task 3 waited for the merge to start)
    assert events.index(("merge", 0)) < events.index(("report", 3))
    assert_same_h5(str(out), str(tmp_path / "serial.h5"), provenance=False)
    with tables.open_file(out) as f, tables.open_file(tmp_path / "serial.h5") as s:
        merged, single = read_provenance(f), read_provenance(s)
        assert list(f.root.event_info.col("group_id")) == list(range(40))
    assert merged["input_files"] == single["input_files"] == files
    assert merged["n_groups"] == single["n_groups"] == 40
    assert [p["filename"] for p in merged["parts"]] == [f"par.h5.part-{k}" for k in range(4)]
    summary = pipe.parallel_summary
    assert summary.merge_wall >= summary.merge_after_wall >= 0
    assert sorted(os.listdir(tmp_path)) == ["in", "par.h5", "serial.h5"]


def _filters(path):
    with tables.open_file(path) as f:
        return {n._v_pathname: str(n.filters) for n in f.walk_nodes("/", "Leaf")
                if not n._v_pathname.startswith("/_i_")}


def test_parts_are_written_uncompressed_and_the_merge_applies_the_sinks_filters(
        testdata, tmp_path):
    # The worker's part needs no compression (the parent reads it back at once); the
    # merged file must still get exactly the filters a serial run gives.
    files = [testdata(SAMPLE), testdata(MUPAGE)]
    _convert(files, tmp_path / "serial.h5")
    _convert(files, tmp_path / "par.h5", workers=2)
    serial, merged = _filters(tmp_path / "serial.h5"), _filters(tmp_path / "par.h5")
    assert merged == serial
    assert all("complevel=5" in f and "fletcher32=True" in f for f in merged.values())
    with tables.open_file(tmp_path / "par.h5") as f:
        assert read_provenance(f)["sink"]["deferred_compression"] is False

    # a part as a task writes it (HDF5Sink.part_parameters), merged by itself
    part = tmp_path / "one.h5.part-0"
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filenames=[testdata(MUPAGE)])
    pipe.attach(HDF5Sink, **HDF5Sink.part_parameters({"filename": str(part),
                                                       "complevel": 3}))
    pipe.drain()
    assert all("complevel=0" in f and "fletcher32=False" in f
               for f in _filters(part).values())
    merger = PartMerger(tmp_path / "one.h5", n_parts=1)
    merger.add(part)
    merger.close()
    assert all("complevel=3" in f and "fletcher32=True" in f and "shuffle=True" in f
               for f in _filters(tmp_path / "one.h5").values())


def test_kept_parts_keep_the_sinks_compression(testdata, tmp_path):
    # merge=False: each task's part becomes an output of its own, so it is compressed
    _convert([testdata(SAMPLE), testdata(MUPAGE)], tmp_path / "out.h5", workers=2,
             merge=False)
    kept = sorted(glob.glob(str(tmp_path / "out.*.h5")))
    assert len(kept) == 2
    for path in kept:
        assert all("complevel=5" in f for f in _filters(path).values())
