"""Every file pump of the registry can be drained in parallel: it names the parameter
holding its file, and a worker gives what a serial drain gives."""

import numpy as np
import pytest

import km3flow as kp
from km3flow.io.formats import builtin_formats

PER_FILE = [spec for spec in builtin_formats() if spec.pump and spec.per_file]


def drain_both_ways(cls, params, tmp_path):
    outputs = {}
    for mode in ("serial", "parallel"):
        out = tmp_path / f"{mode}.h5"
        pipe = kp.Pipeline()
        pipe.attach(cls, **params)
        pipe.attach(kp.io.HDF5Sink, filename=str(out))
        pipe.drain(**({"workers": 1} if mode == "parallel" else {}))
        with kp.io.HDF5Pump(filename=str(out)) as back:
            outputs[mode] = [{k: np.asarray(v) for k, v in b.items() if hasattr(v, "dtype")}
                             for b in back]
    serial, parallel = outputs["serial"], outputs["parallel"]
    assert len(serial) == len(parallel) > 0
    for a, b in zip(serial, parallel):
        assert sorted(a) == sorted(b)
        for key in a:
            assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key


@pytest.mark.parametrize("spec", PER_FILE, ids=[spec.name for spec in PER_FILE])
def test_file_pump_drains_in_a_worker_like_serially(spec, format_samples, testdata, tmp_path):
    cls = getattr(kp.io, spec.pump_name)  # every registered pump is exported
    declared = cls.parallel_input
    assert spec.input in ((declared,) if isinstance(declared, str) else declared)
    drain_both_ways(cls, {spec.input: testdata(format_samples[spec.name][0])}, tmp_path)


def test_file_pump_of_any_format_drains_in_a_worker_like_serially(testdata, tmp_path):
    drain_both_ways(kp.io.FilePump, {"filename": testdata("daq/IO_SUM.dat")}, tmp_path)
