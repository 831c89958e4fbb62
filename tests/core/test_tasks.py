"""Task planning: many small files are grouped into tasks, big files stay alone (issue 16)."""

from __future__ import annotations

import shutil

import pytest

from km3flow.core import Pipeline
from km3flow.core.tasks import plan_tasks
from km3flow.exceptions import ConfigError
from km3flow.io.files import FilePump
from km3flow.io.hdf5 import HDF5Sink


def _pipe(files, tmp_path):
    pipe = Pipeline()
    pipe.attach(FilePump, filenames=[str(f) for f in files])
    pipe.attach(HDF5Sink, filename=str(tmp_path / "out.h5"))
    return pipe


def _copies(testdata, tmp_path, n):
    files = []
    for i in range(n):
        files.append(tmp_path / f"f{i:03d}.dat")
        shutil.copy(testdata("daq/IO_EVT.dat"), files[-1])
    return files


def test_auto_groups_many_small_files_in_order_gh16(testdata, tmp_path):
    files = _copies(testdata, tmp_path, 40)
    tasks, _ = plan_tasks(_pipe(files, tmp_path), files_per_task="auto", n_workers=2)
    # 40 files // (8 tasks per worker * 2 workers) = 2 files per task
    assert [len(t.input_files) for t in tasks] == [2] * 20
    assert [f for t in tasks for f in t.input_files] == [str(f) for f in files]
    assert [t.index for t in tasks] == list(range(20))
    assert all(t.n_tasks == 20 for t in tasks)
    assert len({t.outputs["HDF5Sink"] for t in tasks}) == 20


def test_auto_keeps_big_files_alone_gh16(testdata, tmp_path):
    files = _copies(testdata, tmp_path, 40)
    # a 70 MB file (sparse: its DAQ preamble, then a hole) where a task would start
    with open(files[4], "r+b") as fh:
        fh.truncate(70 * 2**20)
    tasks, _ = plan_tasks(_pipe(files, tmp_path), files_per_task="auto", n_workers=2)
    big = next(t for t in tasks if str(files[4]) in t.input_files)
    assert big.input_files == [str(files[4])]  # over 64 MiB: a task of its own
    assert [f for t in tasks for f in t.input_files] == [str(f) for f in files]
    assert sorted({len(t.input_files) for t in tasks}) == [1, 2]


def test_few_files_give_one_task_each_gh16(testdata, tmp_path):
    files = _copies(testdata, tmp_path, 5)
    tasks, _ = plan_tasks(_pipe(files, tmp_path), files_per_task="auto", n_workers=4)
    assert [t.input_files for t in tasks] == [[str(f)] for f in files]


@pytest.mark.parametrize("bad", [0, "many", 1.5])
def test_files_per_task_must_be_positive_or_auto(bad, testdata, tmp_path):
    with pytest.raises(ConfigError, match="positive integer or 'auto'"):
        plan_tasks(_pipe(_copies(testdata, tmp_path, 2), tmp_path), files_per_task=bad)
