"""Tests of ``km3flow h5info``."""

from __future__ import annotations

import argparse
import json

import pytest

from km3flow.cli import h5info
from km3flow.core import Blob
from km3flow.dataclasses import NDArray, Table
from km3flow.exceptions import FormatError
from km3flow.io.hdf5 import HDF5Sink


def run(*argv):
    parser = argparse.ArgumentParser()
    h5info.add_arguments(parser)
    return h5info.run(parser.parse_args(list(argv)))


@pytest.fixture
def km3flow_file(tmp_path):
    sink = HDF5Sink(filename=str(tmp_path / "k.h5"))
    sink.expose('{"modules": [{"name": "Src", "module": "x.Src", "params": {"n": 2}}]}',
                "pipeline_description")
    for i in range(2):
        sink.process(Blob(H=Table({"t": [1.0, 2.0]}, h5loc="/hits", split_h5=True, name="Hits"),
                          A=NDArray([[i]], h5loc="/arr"), filename="in.root"))
    sink.finish()
    return str(tmp_path / "k.h5")


def test_km3flow_file(km3flow_file, capsys):
    capsys.readouterr()
    assert run(km3flow_file) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == km3flow_file
    assert "  format_version   5.1" in out and "  km3flow          0.1.0" in out
    assert "  writer           km3flow.io.hdf5.HDF5Sink" in out
    assert "  n_groups         2" in out and "    in.root" in out
    assert "    0: Src (x.Src)  n=2" in out
    assert "/hits" in out and "split table  4 rows" in out and "t, group_id (+ _indices)" in out
    assert "/arr_indices" in out and "shape (2, 1)" in out
    assert run(km3flow_file, "--json") == 0
    prov = json.loads(capsys.readouterr().out)
    assert prov["n_groups"] == 2 and prov["input_files"] == ["in.root"]


def test_km3pipe_file(testdata, capsys):
    assert run(testdata("hdf5/geamon.h5"), testdata("online/events_sample.h5")) == 0
    out = capsys.readouterr().out
    assert "  km3pipe          9.3.0" in out
    assert out.count("none recorded (not written by km3flow)") == 2
    assert "/mc_hits" in out and "84848 rows" in out
    assert "'Reconstruction Stages': idx, rec_stage, group_id" in out


def test_bad_file(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(FormatError, match="x.h5: not an HDF5 file"):
        run(str(tmp_path / "x.h5"))
