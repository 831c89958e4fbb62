import json

import numpy as np
import tables

import km3flow as kp
from km3flow.cli.main import main


def test_convert_daq_events_and_read_back(testdata, tmp_path, capsys):
    out = tmp_path / "events.h5"
    assert main(["convert", testdata("daq/IO_EVT.dat"), "-o", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr().out
    assert "3 cycles drained" in captured
    assert f"HDF5 file written to: {out}" in captured
    with kp.io.HDF5Pump(filename=str(out)) as pump:
        assert len(pump) == 3
        direct = kp.io.DAQPump(filename=testdata("daq/IO_EVT.dat"))
        for i in range(3):
            assert np.array_equal(pump[i]["Hits"].time, direct[i]["Hits"].time)
            assert np.array_equal(pump[i]["Hits"].triggered, direct[i]["Hits"].triggered)


def test_convert_with_calibration_and_n_events(testdata, tmp_path, capsys):
    out = tmp_path / "offline.h5"
    rc = main(["convert", testdata("offline/km3net_offline.root"), "--detector",
               testdata("detx/km3net_offline.detx"), "-n", "4", "-o", str(out)])
    assert rc == 0
    with tables.open_file(str(out)) as f:
        assert f.root.group_info.nrows == 4
        assert "pos_x" in f.root.hits._v_children and "t0" in f.root.hits._v_children
        prov = json.loads(f.root._v_attrs.km3flow_provenance)
    assert prov["input_files"] == [testdata("offline/km3net_offline.root")]
    names = [m["name"] for m in prov["pipeline"]["modules"]]
    assert names[:2] == ["FilePump", "Calibration"] and names[-1] == "HDF5Sink"


def test_convert_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x00" * 3)
    assert main(["convert", str(bad), "-o", str(tmp_path / "x.h5")]) == 2
    assert "bad.dat" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_info_on_several_formats(testdata, capsys):
    files = [testdata("daq/IO_EVT.dat"), testdata("daq/IO_SUM.dat"),
             testdata("detx/detx_v5.detx"), testdata("evt/KM3Sim.evt")]
    assert main(["info", *files]) == 0
    out = capsys.readouterr().out
    assert "format: daq" in out and "blobs: 3 (read 3)" in out
    assert "detector id: 44" in out
    assert "time range (UTC): 2019-11-22T14:27:53+00:00 .. 2019-11-22T14:27:54+00:00" in out
    assert "detector 49: 114 DOMs, 3348 PMTs" in out
    assert "McHits: 98 rows" in out
    assert "blobs: 10 (read 10)" in out


def test_info_max_blobs(testdata, capsys):
    assert main(["info", "--max-blobs", "1", testdata("evt/KM3Sim.evt")]) == 0
    assert "blobs: 10 (read 1)" in capsys.readouterr().out


def test_convert_with_workers_matches_serial(testdata, tmp_path, capsys):
    inputs = [testdata("daq/IO_EVT.dat"), testdata("evt/KM3Sim.evt"), testdata("daq/IO_EVT.dat")]
    serial, parallel = tmp_path / "serial.h5", tmp_path / "parallel.h5"
    assert main(["convert", *inputs, "-o", str(serial), "--no-progress"]) == 0
    assert main(["convert", *inputs, "-o", str(parallel), "--workers", "2"]) == 0
    with kp.io.HDF5Pump(filename=str(serial)) as a, kp.io.HDF5Pump(filename=str(parallel)) as b:
        assert len(a) == len(b) == 16
        for i in range(16):
            assert sorted(a[i]) == sorted(b[i])
            for key, value in a[i].items():
                if hasattr(value, "dtype"):
                    # bytes: the schema's NaN fills compare equal bit for bit
                    assert np.asarray(value).tobytes() == np.asarray(b[i][key]).tobytes(), \
                        (i, key)
    assert main(["convert", *inputs, "-o", str(parallel), "--workers", "2", "-n", "3"]) == 2
    assert "--n-events limits a serial conversion" in capsys.readouterr().err


def test_info_lists_every_tree_of_an_online_file_gh11(testdata, capsys):
    assert main(["info", testdata("online/km3net_online.root")]) == 0
    out = capsys.readouterr().out
    assert ("  trees:\n"
            "    E                   0 offline events\n"
            "    KM3NET_EVENT        3 events\n"
            "    KM3NET_SUMMARYSLICE 3 summary slices\n"
            "    KM3NET_TIMESLICE    3 timeslices\n"
            "    KM3NET_TIMESLICE_L0 0 timeslices (L0)\n"
            "    KM3NET_TIMESLICE_L1 3 timeslices (L1)\n"
            "    KM3NET_TIMESLICE_L2 0 timeslices (L2)\n"
            "    KM3NET_TIMESLICE_SN 3 timeslices (SN)\n") in out
    assert main(["info", testdata("online/KM3NeT_00000267_00025291_SN.root")]) == 0
    assert "    KM3NET_TIMESLICE_SN 100 timeslices (SN)\n" in capsys.readouterr().out


def test_convert_help_lists_the_pipeline_modules_declared_parameters(capsys):
    import pytest

    from km3flow.calib import Calibration
    from km3flow.cli.main import main as cli_main
    from km3flow.io.hdf5 import HDF5Sink

    with pytest.raises(SystemExit):
        cli_main(["convert", "--help"])
    out = capsys.readouterr().out
    assert "the pipeline's modules and their parameters:" in out
    for cls in (Calibration, HDF5Sink):
        assert f"\n  {cls.__name__}\n" in out
        for name in cls.declared_parameters:
            assert f"    {name}: " in out
    assert "slewing_variant: int, default 3, one of [1, 2, 3]" in out
