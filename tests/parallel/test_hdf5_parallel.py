"""HDF5Pump → HDF5Sink over real KM3Pipe files: the parallel run writes the serial file."""

from __future__ import annotations

import tables
from h5compare import h5_content

from km3flow.core import Pipeline
from km3flow.io.hdf5 import HDF5Pump, HDF5Sink
from km3flow.io.hdf5.provenance import read_provenance

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
