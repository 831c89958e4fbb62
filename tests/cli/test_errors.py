"""Every CLI error is one line naming the file and the problem, never a traceback (gh11)."""

from __future__ import annotations

import pathlib
import struct

import pytest

from km3flow.cli.main import main


@pytest.fixture
def bad_files(testdata, tmp_path):
    """Broken inputs made from real testdata files: name -> (path, what the error says)."""
    daq = pathlib.Path(testdata("daq/IO_EVT.dat")).read_bytes()
    first = struct.unpack("<i", daq[:4])[0]
    files = {}

    def make(name, data):
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    files["missing"] = (str(tmp_path / "nope.dat"), "no such file")
    (tmp_path / "adir").mkdir()
    files["directory"] = (str(tmp_path / "adir"), "is a directory")
    files["empty"] = (make("empty.dat", b""), "empty")
    files["truncated_daq_100"] = (make("cut100.dat", daq[:100]),
                                  f"at byte 0: truncated DAQ file: the first frame (data type "
                                  f"10001) announces {first} bytes, but the file has only 100")
    files["truncated_daq_1000"] = (make("cut1000.dat", daq[:1000]),
                                   f"announces {first} bytes, but the file has only 1000")
    files["truncated_hdf5"] = (make("cut.h5", pathlib.Path(
        testdata("online/events_sample.h5")).read_bytes()[:2000]), "truncated HDF5 file: 2000")
    files["truncated_root"] = (make("cut.root", pathlib.Path(
        testdata("offline/numucc.root")).read_bytes()[:3000]), "truncated ROOT file")
    files["wrong_format"] = (make("words.txt", b"hello world\n"),
                             "not a KM3NeT file km3flow knows")
    return files


def one_error_line(capsys, command):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"km3flow {command}: error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "truncated_daq_100",
                                  "truncated_daq_1000", "truncated_hdf5", "truncated_root",
                                  "wrong_format"])
def test_info_and_convert_name_file_and_problem(bad_files, tmp_path, capsys, case):
    path, problem = bad_files[case]
    assert main(["info", path]) == 2
    line = one_error_line(capsys, "info")
    assert path in line and problem in line
    out = tmp_path / "out.h5"
    assert main(["convert", path, "-o", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys, "convert")
    assert path in line and problem in line
    assert not out.exists()


@pytest.mark.parametrize("case, problem", [
    ("missing", "no such file"),
    ("directory", "is a directory"),
    ("empty", "0 bytes long"),
    ("truncated_hdf5", "truncated HDF5 file: 2000 bytes long, but its superblock says"),
    ("wrong_format", "not an HDF5 file"),
    ("truncated_daq_100", "not an HDF5 file"),
])
def test_h5info_errors(bad_files, capsys, case, problem):
    path = bad_files[case][0]
    assert main(["h5info", path]) == 2
    line = one_error_line(capsys, "h5info")
    assert path in line and problem in line


@pytest.mark.parametrize("case, problem", [
    ("missing", "no such file"),
    ("directory", "is a directory, expected a file"),
    ("empty", "expected a DETX header"),
    ("wrong_format", "expected a DETX header ('det_id vN' or 'det_id n_doms'), got 'hello world'"),
    ("truncated_daq_100", "expected UTF-8 text"),
])
def test_detx_errors_gh11(bad_files, capsys, case, problem):
    path = bad_files[case][0]
    assert main(["detx", path]) == 2
    line = one_error_line(capsys, "detx")
    assert path in line and problem in line


def test_truncated_detx_names_the_line(testdata, tmp_path, capsys):
    cut = tmp_path / "cut.detx"
    cut.write_bytes(pathlib.Path(testdata("detx/km3net_offline.detx")).read_bytes()[:300])
    assert main(["detx", str(cut)]) == 2
    line = one_error_line(capsys, "detx")
    assert str(cut) in line and "line " in line


def test_convert_truncated_after_the_first_frame_blames_the_pump_gh11(testdata, tmp_path,
                                                                        capsys):
    daq = pathlib.Path(testdata("daq/IO_EVT.dat")).read_bytes()
    first = struct.unpack("<i", daq[:4])[0]
    cut = tmp_path / "cut.dat"
    cut.write_bytes(daq[:first + 50])
    out = tmp_path / "out.h5"
    assert main(["convert", str(cut), "-o", str(out)]) == 2  # with the progress bar
    line = one_error_line(capsys, "convert")
    assert "ProgressBar" not in line
    # the bar follows the pump's input_progress (it does not count blobs up front): the
    # pump's own error at its first blob
    assert line.startswith("km3flow convert: error: module 'FilePump' failed in cycle 0: "
                           f"FormatError: {cut.name}: at byte {first}: truncated frame")
    assert line.endswith(f"nothing written, no file at '{out}'")
    assert not out.exists()


@pytest.mark.parametrize("argv, problem", [
    (["--log-level", "nonsense", "info", "x"], "argument --log-level: unknown log level "
                                               "'nonsense'; use one of DEBUG, INFO, WARNING"),
    (["info", "--log-level", "loud", "x"], "unknown log level 'loud'"),
    (["-q", "-v", "info", "x"], "-q and -v contradict each other"),
    (["-q", "info", "--log-level", "INFO", "x"], "-q and --log-level contradict each other"),
    (["convert", "x.dat", "-o", "o.h5", "-n", "-3"], "argument -n/--n-events: expected a "
                                                      "positive integer, got -3"),
    (["convert", "x.dat", "-o", "o.h5", "-n", "many"], "expected an integer, got 'many'"),
    (["convert", "x.dat"], "the following arguments are required: -o/--output"),
    (["convert", "x.dat", "-o", "o.h5", "--workers", "x"], "argument --workers"),
    (["info", "x", "--max-blobs", "-1"], "expected an integer >= 0, got -1"),
    (["detx", "x.detx", "--detx-version", "9"], "argument --detx-version: invalid choice: 9"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_option_values_are_one_line(capsys, argv, problem):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "error: " in err and problem in err and "--help" in err


def test_option_errors_found_after_parsing(testdata, tmp_path, capsys):
    src = testdata("daq/IO_EVT.dat")
    assert main(["convert", src, "-o", str(tmp_path / "o.h5"), "--workers", "0"]) == 2
    assert "--workers must be at least 1, got 0" in one_error_line(capsys, "convert")
    assert main(["convert", src, "-o", str(tmp_path / "nodir" / "o.h5")]) == 2
    assert "the directory does not exist" in one_error_line(capsys, "convert")
    assert main(["convert", src, "-o", str(tmp_path)]) == 2
    assert "is a directory; -o names the file to write" in one_error_line(capsys, "convert")
    assert main(["convert", src, "-o", str(tmp_path / "o.h5"), "--detector",
                 str(tmp_path / "none.detx")]) == 2
    assert f"{tmp_path / 'none.detx'}: no such file" in one_error_line(capsys, "convert")
    det = testdata("detx/km3net_offline.detx")
    assert main(["detx", det, "-o", str(tmp_path / "nodir" / "x.detx")]) == 2
    assert "does not exist" in one_error_line(capsys, "detx")


def test_bin_errors(testdata, tmp_path, capsys):
    assert main(["bin", str(tmp_path / "none.toml"), testdata("daq/IO_EVT.dat"),
                 "-o", str(tmp_path / "b.h5")]) == 2
    assert "none.toml" in one_error_line(capsys, "bin")
    words = tmp_path / "words.toml"
    words.write_text("hello world\n")
    assert main(["bin", str(words), "x.h5", "-o", str(tmp_path / "b.h5")]) == 2
    assert f"{words}: invalid TOML" in one_error_line(capsys, "bin")


def test_an_unexpected_error_is_one_line_and_a_traceback_with_v(testdata, tmp_path, capsys,
                                                               monkeypatch):
    from km3flow.cli import info

    def broken(path, max_blobs=None, lenient=False):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(info, "describe_file", broken)
    src = testdata("daq/IO_EVT.dat")
    assert main(["info", src]) == 1
    err = capsys.readouterr().err
    assert err == ("km3flow info: error: unexpected ZeroDivisionError: a bug (a bug in km3flow? "
                   "rerun with -v for the traceback)\n")
    assert main(["info", "-v", src]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug" in err


def test_a_bad_km3flow_loglevel_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("KM3FLOW_LOGLEVEL", "nonsense")
    assert main(["info", "x"]) == 2
    assert capsys.readouterr().err == ("km3flow: error: KM3FLOW_LOGLEVEL='nonsense' is not a "
                                       "log level; use one of DEBUG, INFO, WARNING, ERROR, "
                                       "CRITICAL\n")
