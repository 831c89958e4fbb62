"""Outputs are never clobbered, interrupts exit 130/143 with exact counts (gh19, gh11 item 2)."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import struct
import subprocess
import sys
import time

import pytest
import tables as tb

from km3flow.cli.main import main
from km3flow.io.hdf5 import read_provenance

SRC = str(pathlib.Path(__file__).resolve().parents[2] / "src")


def n_groups(path):
    with tb.open_file(str(path)) as h5:
        return h5.root.group_info.nrows


@pytest.fixture
def good_output(testdata, tmp_path, capsys):
    """A complete 3-event file at tmp_path/out.h5 and its bytes."""
    out = tmp_path / "out.h5"
    assert main(["-q", "convert", testdata("daq/IO_EVT.dat"), "-o", str(out)]) == 0
    capsys.readouterr()
    return out, out.read_bytes()


@pytest.fixture
def cut_daq(testdata, tmp_path):
    """IO_EVT.dat cut 50 bytes into its second frame: readable only when opened."""
    daq = pathlib.Path(testdata("daq/IO_EVT.dat")).read_bytes()
    first = struct.unpack("<i", daq[:4])[0]
    path = tmp_path / "cut.dat"
    path.write_bytes(daq[:first + 50])
    return path


def test_existing_output_is_refused_without_overwrite(testdata, good_output, capsys):
    out, before = good_output
    assert main(["convert", testdata("offline/numucc.root"), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"km3flow convert: error: {out}: exists already; pass "
                                       "--overwrite to replace it\n")
    assert out.read_bytes() == before
    assert main(["-q", "convert", testdata("offline/numucc.root"), "-o", str(out),
                 "--overwrite"]) == 0
    assert n_groups(out) == 10  # replaced, once the run completed


def test_bin_refuses_an_existing_output(testdata, good_output, tmp_path, capsys):
    out, before = good_output
    config = tmp_path / "bin.toml"
    config.write_text("")
    assert main(["bin", str(config), testdata("daq/IO_EVT.dat"), "-o", str(out)]) == 2
    assert f"{out}: exists already; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_failed_run_without_blobs_keeps_the_old_file_gh11(testdata, good_output, capsys):
    out, before = good_output
    rc = main(["convert", "--detector", testdata("detx/km3net_offline.detx"),
               testdata("offline/numucc.root"), "-o", str(out), "--overwrite"])
    assert rc == 2
    captured = capsys.readouterr()
    assert "HDF5 file written" not in captured.out  # never a success line
    assert captured.err.splitlines()[-1].endswith(f"nothing written, '{out}' left as it was")
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.h5"]


def test_failed_run_keeps_a_partial_file_under_a_side_name(testdata, good_output, cut_daq,
                                                           capsys):
    out, before = good_output
    rc = main(["convert", testdata("daq/IO_EVT.dat"), str(cut_daq), "-o", str(out),
               "--overwrite", "--no-progress"])
    assert rc == 2
    captured = capsys.readouterr()
    partial = out.with_name("out.partial.h5")
    assert "HDF5 file written" not in captured.out
    assert (f"ERROR ++ HDF5Sink: the run failed: PARTIAL file with 3 blobs written to "
            f"'{partial}'; '{out}' left as it was") in captured.err
    last = captured.err.splitlines()[-1]
    assert last.startswith("km3flow convert: error: module 'FilePump' failed in cycle 3: ")
    assert last.endswith(f"; partial output with 3 blobs kept in '{partial}', '{out}' left "
                         "as it was")
    assert out.read_bytes() == before
    assert n_groups(partial) == 3
    assert main(["h5info", str(partial)]) == 0
    text = capsys.readouterr().out
    assert "status           PARTIAL: 3 blobs of a failed run (meant for out.h5)" in text
    assert main(["h5info", str(out)]) == 0
    assert "status           complete" in capsys.readouterr().out


def test_failed_run_with_nothing_at_the_path_leaves_nothing_there(testdata, tmp_path, cut_daq,
                                                                  capsys):
    out = tmp_path / "new.h5"
    assert main(["convert", testdata("daq/IO_EVT.dat"), str(cut_daq), "-o", str(out),
                 "--no-progress"]) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"partial output with 3 blobs kept in '{tmp_path / 'new.partial.h5'}', no file at "
        f"'{out}'")
    assert not out.exists()


# -- real processes and signals -----------------------------------------------------------

def start_convert(inputs, out, *extra):
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("KM3FLOW_LOGLEVEL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "km3flow.cli.main", "convert", *map(str, inputs), "-o", str(out),
         "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_temp_file(proc, out):
    """Wait until the sink has opened its temporary file (the first blob reached it)."""
    pattern = re.compile(re.escape(f".{out.name}.") + r"[0-9a-f]{8}\.tmp$")
    for _ in range(6000):
        temps = [p for p in out.parent.iterdir() if pattern.match(p.name)]
        if temps:
            return temps[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the sink never opened its temporary file")


@pytest.fixture
def long_daq(testdata, tmp_path):
    """IO_EVT.dat 5000 times over: 15000 events, long enough to be interrupted."""
    data = pathlib.Path(testdata("daq/IO_EVT.dat")).read_bytes()
    path = tmp_path / "long.dat"
    path.write_bytes(data * 5000)
    return path


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_exit_code_count_and_no_clobber_gh19(long_daq, good_output, signum, code):
    out, before = good_output
    proc = start_convert([long_daq], out, "--overwrite")
    try:
        wait_for_temp_file(proc, out)
        time.sleep(0.2)  # into the run (the count need not be any particular number)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert "HDF5 file written" not in stdout
    drained = int(re.search(r"^(\d+) cycles drained", stdout, flags=re.M)[1])
    partial = out.with_name("out.partial.h5")
    assert 0 < drained < 15000
    assert n_groups(partial) == drained  # the summary counts what the sink wrote
    with tb.open_file(str(partial)) as h5:
        prov = read_provenance(h5)
    assert prov["n_groups"] == drained and prov["drain"]["cycles"] == drained
    assert prov["drain"]["interrupted"] is True and prov["drain"]["complete"] is False
    name = signal.Signals(signum).name
    assert stderr.splitlines()[-1] == (
        f"km3flow convert: interrupted by {name}; partial output with {drained} "
        f"blob{'s' if drained != 1 else ''} kept "
        f"in '{partial}', '{out}' left as it was")
    assert out.read_bytes() == before
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_leftover_temp_files_of_a_killed_run_are_named(long_daq, good_output, testdata,
                                                       capsys):
    out, before = good_output
    proc = start_convert([long_daq], out, "--overwrite")
    try:
        temp = wait_for_temp_file(proc, out)
    finally:
        proc.kill()  # SIGKILL: no chance to tidy up
        proc.communicate()
    assert temp.exists() and out.read_bytes() == before
    assert main(["h5info", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.endswith(f"Leftovers:\n  temporary file of a killed run writing it: {temp}\n")
    moved = out.with_name("gone.h5")
    temp2 = temp.with_name(temp.name.replace(".out.h5.", ".gone.h5."))
    temp.rename(temp2)
    assert main(["h5info", str(moved)]) == 2
    assert capsys.readouterr().err == (
        f"km3flow h5info: error: {moved}: no such file; temporary file of a killed run "
        f"writing it: {temp2}\n")
    assert main(["convert", testdata("daq/IO_EVT.dat"), "-o", str(moved), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err == (f"WARNING ++ HDF5Sink: temporary file of an earlier run that was killed: "
                   f"{temp2}; delete it once no other run is writing '{moved}'\n")
    assert temp2.exists()  # never deleted: another run might be writing it
