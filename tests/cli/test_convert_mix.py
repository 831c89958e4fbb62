"""``km3flow convert`` of any mix of formats writes one file (gh issue 11: one schema per table)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tables as tb

from km3flow.cli.main import main
from km3flow.core import Blob
from km3flow.dataclasses import Table
from km3flow.dataclasses.schema import SCHEMAS
from km3flow.io.hdf5 import HDF5Pump, HDF5Sink, HDF5WriteError

MCV5 = "hdf5/mcv5.40.mupage_10G.sirene.jterbr00006060.962.root.h5"
INPUTS = {  # file → number of events
    "daq/IO_EVT.dat": 3,
    "evt/example_numuNC.evt": 1,
    "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt": 82,
    "offline/numucc.root": 10,
    "online/km3net_online.root": 3,
    MCV5: 10,
}


def _check_schema_tables(path):
    """Every schema location of the file holds the schema's columns (plus group_id)."""
    with tb.open_file(path) as h5:
        for schema in SCHEMAS.values():
            if schema.h5loc not in h5:
                continue
            node = h5.get_node(schema.h5loc)
            if isinstance(node, tb.Table):
                names = node.dtype.names
            else:
                names = tuple(node._v_attrs.km3flow_columns)
            if schema.name.startswith("Calib") and "pos_x" not in names:
                continue
            assert names == (*schema.names, "group_id"), schema.h5loc


@pytest.mark.parametrize("a,b", list(itertools.combinations(INPUTS, 2)))
def test_convert_every_pair_of_formats(testdata, tmp_path, capsys, a, b):
    out = tmp_path / "mixed.h5"
    assert main(["convert", testdata(a), testdata(b), "-o", str(out), "--no-progress"]) == 0
    assert f"{INPUTS[a] + INPUTS[b]} cycles drained" in capsys.readouterr().out
    _check_schema_tables(out)
    with HDF5Pump(filename=str(out)) as pump:
        assert len(pump) == INPUTS[a] + INPUTS[b]
        first, last = pump[0], pump[len(pump) - 1]
    for blob in (first, last):
        info = blob["EventInfo"]
        assert info.dtype.names == (*SCHEMAS["EventInfo"].names, "group_id")
    # the group of each file's first event holds that file's event
    assert first["EventInfo"].group_id[0] == 0
    assert last["EventInfo"].group_id[0] == INPUTS[a] + INPUTS[b] - 1


def test_km3pipe_files_of_two_layouts_need_conform(testdata, tmp_path, capsys):
    inputs = [testdata(MCV5), testdata("hdf5/geamon.h5")]
    out = tmp_path / "two.h5"
    # HDF5 alone: read as written, so the two KM3Pipe layouts clash, naming the columns
    assert main(["convert", *inputs, "-o", str(out), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "table at /event_info cannot be joined" in err or "/mc_tracks cannot be joined" in err
    assert "only in the new table" in err
    assert main(["convert", *inputs, "-o", str(out), "--no-progress", "--conform"]) == 0
    _check_schema_tables(out)
    with HDF5Pump(filename=str(out)) as pump:
        assert len(pump) == 12
        assert "RecStages" in pump[11] and pump[11]["Tracks"].dtype.names[:3] == (
            "dir_x", "dir_y", "dir_z")


def test_calibrated_and_raw_hits_cannot_be_joined(testdata, tmp_path, capsys):
    out = tmp_path / "calraw.h5"
    code = main(["convert", testdata("daq/IO_EVT.dat"), testdata("hdf5/numu_cc_test.h5"),
                 "-o", str(out), "--no-progress"])
    assert code != 0
    err = capsys.readouterr().err
    assert ("table at /hits cannot be joined to the earlier tables there: columns 'pos_x', "
            "'pos_y', 'pos_z', 'dir_x', 'dir_y', 'dir_z', 't0' only in the new table") in err


def test_sink_error_names_differing_columns_and_dtypes(tmp_path):
    sink = HDF5Sink(filename=str(tmp_path / "x.h5"))
    sink.process(Blob(T=Table({"time": [1.0], "a": [1]}, h5loc="/t")))
    new = Table({"time": np.array([2], dtype="<i4"), "b": [1.0]}, h5loc="/t")
    with pytest.raises(HDF5WriteError) as err:
        sink.process(Blob(T=new))
    sink.finish()
    assert str(err.value) == (
        "table at /t cannot be joined to the earlier tables there: column 'b' only in the "
        "new table; column 'a' only in the earlier ones; 'time' is <i4 here but <f8 before "
        "(km3flow's readers give the same columns: see docs/schema.md)")


def test_parallel_mixed_convert_conforms_in_every_worker(testdata, tmp_path):
    # each worker gets one file; the HDF5 one must be conformed too, or the parts differ
    inputs = [testdata("daq/IO_EVT.dat"), testdata(MCV5)]
    serial, parallel = tmp_path / "serial.h5", tmp_path / "parallel.h5"
    assert main(["convert", *inputs, "-o", str(serial), "--no-progress"]) == 0
    assert main(["convert", *inputs, "-o", str(parallel), "--workers", "2"]) == 0
    _check_schema_tables(parallel)
    with HDF5Pump(filename=str(serial)) as a, HDF5Pump(filename=str(parallel)) as b:
        assert len(a) == len(b) == 13
        for i in (0, 3, 12):
            assert np.asarray(a[i]["EventInfo"]).tobytes() == \
                np.asarray(b[i]["EventInfo"]).tobytes()
