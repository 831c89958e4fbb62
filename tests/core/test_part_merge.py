"""Merging output parts as the tasks of a drain report (PartStream), in this process.

The serial executor runs the tasks here, one after the other, so the parts of the first
tasks are merged before the later ones run, deterministically; the process-pool case
(tasks ending out of order) is in tests/parallel/test_hdf5_parallel.py.
"""

from __future__ import annotations

import os
import shutil

import pytest
import tables
from h5compare import assert_same_h5

import km3flow as kp
from km3flow.core.config import Parameter
from km3flow.core.part_merge import PartStream
from km3flow.exceptions import Km3flowError, WorkerError
from km3flow.io.files import FilePump
from km3flow.io.hdf5 import HDF5Sink
from km3flow.io.hdf5.merge import PartMerger

EVT = ["evt/KM3Sim.evt", "evt/example_numuCC.evt", "evt/KM3Sim.evt"]  # 10, 109, 10 events


@pytest.fixture
def inputs(testdata, tmp_path):
    """Copies of real EVT files, each with its own name (f0.evt, f1.evt, f2.evt)."""
    folder = tmp_path / "in"
    folder.mkdir()
    files = []
    for k, name in enumerate(EVT):
        path = folder / f"f{k}.evt"
        shutil.copyfile(testdata(name), path)
        files.append(str(path))
    return files


def _pipe(files, out, *extra):
    pipe = kp.Pipeline()
    pipe.attach(FilePump, filenames=files)
    for cls, params in extra:
        pipe.attach(cls, **params)
    pipe.attach(HDF5Sink, filename=str(out))
    return pipe


@pytest.fixture
def recorded(monkeypatch):
    """The reports handed to PartStream and the parts merged, in the order they came."""
    events = []
    stream_add, merger_add = PartStream.add, PartMerger.add

    def on_report(self, report):
        events.append(("report", report.index, report.status))
        stream_add(self, report)

    def on_part(self, part):
        events.append(("merge", int(os.fspath(part).rsplit("-", 1)[1]), None))
        merger_add(self, part)

    monkeypatch.setattr(PartStream, "add", on_report)
    monkeypatch.setattr(PartMerger, "add", on_part)
    return events


def test_each_part_is_merged_when_its_task_reports(inputs, tmp_path, recorded):
    _pipe(inputs, tmp_path / "serial.h5").drain()
    pipe = _pipe(inputs, tmp_path / "tasks.h5")
    pipe.drain(executor="serial", files_per_task=1)
    assert [e[:2] for e in recorded] == [("report", 0), ("merge", 0), ("report", 1),
                                         ("merge", 1), ("report", 2), ("merge", 2)]
    assert_same_h5(str(tmp_path / "tasks.h5"), str(tmp_path / "serial.h5"), provenance=False)
    summary = pipe.parallel_summary
    assert 0 <= summary.merge_after_wall <= summary.merge_wall
    assert "of it after the tasks" in summary.text()
    assert sorted(os.listdir(tmp_path)) == ["in", "serial.h5", "tasks.h5"]


class StopAt(kp.Module):
    """Raises KeyboardInterrupt (as Ctrl-C would) at the first event of file ``name``."""

    stop_on = Parameter(str, help="the input file's base name")

    def process(self, blob):
        if os.path.basename(blob["Filename"]) == self.stop_on:
            raise KeyboardInterrupt
        return blob


class FailAt(StopAt):
    def process(self, blob):
        if os.path.basename(blob["Filename"]) == self.stop_on:
            raise ValueError("bad event")
        return blob


@pytest.mark.parametrize("stopper, error", [(StopAt, KeyboardInterrupt),
                                            (FailAt, WorkerError)])
def test_interrupted_or_failed_run_drops_the_merge_and_keeps_every_part(
        inputs, tmp_path, recorded, stopper, error):
    out = tmp_path / "out.h5"
    pipe = _pipe(inputs, out, (stopper, {"stop_on": "f2.evt"}))
    with pytest.raises(error):
        pipe.drain(executor="serial", files_per_task=1)
    # the parts of the first two tasks had been merged into the temporary file already
    assert [e[:2] for e in recorded if e[0] == "merge"] == [("merge", 0), ("merge", 1)]
    assert recorded[-1] == ("report", 2, "interrupted" if error is KeyboardInterrupt
                            else "failed")
    # no final file and no temporary merge file; every part stays, the merged ones too
    # (the stopped task wrote no event, so it left no part)
    assert sorted(os.listdir(tmp_path)) == ["in", "out.h5.part-0", "out.h5.part-1"]
    for k, events in ((0, 10), (1, 109)):
        with tables.open_file(tmp_path / f"out.h5.part-{k}") as f:
            assert f.root.group_info.nrows == events


class _FailingMerger:
    """Stands for a merge that fails on its second part (say, a full disk)."""

    def __init__(self, path):
        self.path = path
        self.parts = 0
        with open(path, "w") as fh:
            fh.write("started\n")

    def add(self, part):
        self.parts += 1
        if self.parts == 2:
            raise OSError("disk full")

    def close(self):
        raise AssertionError("a failed merger is not closed")

    def abort(self):
        pass


class FailingMergeSink(HDF5Sink):
    @classmethod
    def part_merger(cls, final_path, n_parts):
        return _FailingMerger(final_path)


def test_a_merge_failing_while_tasks_run_is_reported_at_the_end(inputs, tmp_path):
    out = tmp_path / "out.h5"
    pipe = kp.Pipeline()
    pipe.attach(FilePump, filenames=inputs)
    pipe.attach(FailingMergeSink, filename=str(out))
    with pytest.raises(Km3flowError, match="FailingMergeSink.part_merger failed: OSError: "
                                           "disk full; the parts are left in place") as info:
        pipe.drain(executor="serial", files_per_task=1)
    parts = [str(tmp_path / f"out.h5.part-{k}") for k in range(3)]
    assert ", ".join(parts) in str(info.value)  # the task after the failure ran to its end
    assert sorted(os.listdir(tmp_path)) == ["in"] + [os.path.basename(p) for p in parts]
