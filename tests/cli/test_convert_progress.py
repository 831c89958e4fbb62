"""The progress bar of `convert`: files, events and bytes done, serial and parallel; -q hides it
(issue 16)."""

from __future__ import annotations

import os

import pytest

from km3flow.cli.main import main


def _last_bar(err: str) -> str:
    lines = [part for part in err.replace("\r", "\n").split("\n") if "files " in part]
    assert lines, err
    return lines[-1]


@pytest.mark.parametrize("parallel", [[], ["--workers", "2"]])
def test_convert_bar_counts_files_events_and_bytes_gh16(parallel, testdata, tmp_path, capsys):
    inputs = [testdata("daq/IO_EVT.dat"), testdata("evt/example_numuNC.evt")]
    total = sum(os.path.getsize(p) for p in inputs)
    out = tmp_path / "out.h5"
    assert main(["convert", *inputs, "-o", str(out), *parallel]) == 0
    bar = _last_bar(capsys.readouterr().err)
    # 3 DAQ events and the EVT file's events; all bytes of both inputs, with a rate
    assert "files 2/2" in bar, bar
    events = int(bar.split("events ")[1].split("]")[0])
    assert events > 3
    assert "100%" in bar and f"{total / 1024:.1f}k/{total / 1024:.1f}k" in bar, bar
    assert "B/s" in bar


def test_convert_bar_moves_within_a_file_gh16(testdata, tmp_path, capsys):
    # one 400-frame DAQ file: the bar shows partial progress from the pump's position
    # (it does not jump from 0 to 100 % at the end of the only file)
    with open(testdata("daq/IO_EVT.dat"), "rb") as fh:
        unit = fh.read()
    daq = tmp_path / "big.dat"
    daq.write_bytes(unit * 4000)
    assert main(["convert", str(daq), "-o", str(tmp_path / "out.h5")]) == 0
    err = capsys.readouterr().err.replace("\r", "\n")
    shown = [line for line in err.split("\n") if "files 0/1" in line and "events" in line]
    assert any(int(line.split("events ")[1].split("]")[0]) > 0 for line in shown), err


@pytest.mark.parametrize("parallel", [[], ["--workers", "2"]])
def test_quiet_convert_draws_no_bar_gh16(parallel, testdata, tmp_path, capsys):
    out = tmp_path / "out.h5"
    assert main(["-q", "convert", testdata("daq/IO_EVT.dat"), testdata("daq/IO_EVT.dat"),
                 "-o", str(out), *parallel]) == 0
    captured = capsys.readouterr()
    assert "files " not in captured.err and "files " not in captured.out
    assert "%|" not in captured.err
