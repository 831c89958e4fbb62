"""Every file pump can be drained in parallel: it names the parameter holding its file."""

import numpy as np
import pytest

import km3flow as kp


@pytest.mark.parametrize("pump, relpath", [
    ("DAQPump", "daq/IO_EVT.dat"),
    ("EvtPump", "evt/KM3Sim.evt"),
    ("OfflinePump", "offline/numucc.root"),
    ("OnlinePump", "online/km3net_online.root"),
    ("HDF5Pump", "hdf5/geamon.h5"),
    ("FilePump", "daq/IO_SUM.dat"),
])
def test_file_pump_drains_in_a_worker_like_serially(pump, relpath, testdata, tmp_path, capsys):
    cls = getattr(kp.io, pump)
    assert cls.parallel_input
    outputs = {}
    for mode in ("serial", "parallel"):
        out = tmp_path / f"{mode}.h5"
        pipe = kp.Pipeline()
        pipe.attach(cls, filename=testdata(relpath))
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
