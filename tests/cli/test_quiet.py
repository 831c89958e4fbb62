"""-q/--quiet, -v/--verbose and --log-level on every command (gh11 item 6)."""

from __future__ import annotations

import os

import pytest

from km3flow import logger as kplog
from km3flow.cli.main import SUBCOMMANDS, main


@pytest.mark.parametrize("argv", [
    ["-q", "convert"], ["convert", "-q"], ["--quiet", "convert"],
    ["--log-level", "WARNING", "convert"], ["convert", "--log-level", "error"],
])
def test_quiet_convert_prints_nothing_on_success(testdata, tmp_path, capsys, argv):
    out = tmp_path / "out.h5"
    # with the progress bar: it is quiet too
    assert main(argv + [testdata("daq/IO_EVT.dat"), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert out.exists()


def test_default_convert_prints_init_line_file_written_and_summary(testdata, tmp_path, capsys):
    out = tmp_path / "out.h5"
    assert main(["convert", testdata("daq/IO_EVT.dat"), "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Pipeline and module initialisation took")
    assert f"++ HDF5Sink: HDF5 file written to: {out}" in text
    assert "3 cycles drained" in text


def test_log_level_error_info_does_not_print_opening_gh11(testdata, tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert main(["-q", "convert", testdata("daq/IO_EVT.dat"), "-o", str(out)]) == 0
    assert main(["info", str(out)]) == 0
    assert "++ HDF5Pump: Opening" in capsys.readouterr().out  # the default, as in the talk
    for argv in (["--log-level", "ERROR", "info", str(out)], ["info", str(out), "-q"]):
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert "Opening" not in text
        assert text.startswith(f"{out}\n  format: hdf5")  # the report itself is the output


def test_quiet_failure_prints_only_the_errors(testdata, tmp_path, capsys):
    out = tmp_path / "cal.h5"
    rc = main(["-q", "convert", "--detector", testdata("detx/km3net_offline.detx"),
               testdata("offline/numucc.root"), "-o", str(out)])
    assert rc == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "HDF5 file written" not in captured.err and "cycles drained" not in captured.err
    assert captured.err.splitlines()[-1].startswith(
        "km3flow convert: error: module 'Calibration' failed in cycle 0: CalibrationError")


def test_verbose_shows_debug_messages(testdata, tmp_path, capsys):
    out = tmp_path / "out.h5"
    assert main(["convert", testdata("daq/IO_EVT.dat"), "-o", str(out), "--no-progress",
                 "-v"]) == 0
    captured = capsys.readouterr()
    assert "DEBUG ++ DAQPump: indexed 3 frames" in captured.err
    assert "3 cycles drained" in captured.out  # verbose keeps the normal output
    assert main(["convert", testdata("daq/IO_EVT.dat"), "-o", str(out), "--no-progress",
                 "--overwrite"]) == 0
    assert "DEBUG" not in capsys.readouterr().err


def test_the_level_does_not_outlive_the_command(testdata, tmp_path, capsys):
    before = os.environ.get("KM3FLOW_LOGLEVEL")
    assert main(["-q", "info", testdata("daq/IO_EVT.dat")]) == 0
    assert kplog.printing_enabled()
    assert kplog._global_level is None
    assert os.environ.get("KM3FLOW_LOGLEVEL") == before
    capsys.readouterr()


def test_every_command_but_test_takes_the_options_after_it(capsys):
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        if name == "test":
            continue  # everything after 'test' goes to pytest (where -q is pytest's)
        assert "-q, --quiet" in text and "-v, --verbose" in text and "--log-level" in text, name


def test_library_printers_honour_the_level(capsys):
    from km3flow.core import Pipeline

    def source(blob):
        return blob

    with kplog.level_scope("WARNING"):
        kplog.get_printer("Quiet")("hidden")
        Pipeline().attach(source).drain(2)
        assert capsys.readouterr().out == ""
    Pipeline().attach(source).drain(2)  # the talk's defaults: init line and summary
    text = capsys.readouterr().out
    assert text.startswith("Pipeline and module initialisation took")
    assert "2 cycles drained" in text


def test_log_level_info_is_not_taken_for_the_info_command(testdata, tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert main(["-q", "convert", testdata("daq/IO_EVT.dat"), "-o", str(out)]) == 0
    assert main(["--log-level", "info", "h5info", str(out)]) == 0
    assert "status           complete" in capsys.readouterr().out
