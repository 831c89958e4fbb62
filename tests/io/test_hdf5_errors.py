"""Bad input to HDF5Pump (one FormatError naming the file) and crash safety of HDF5Sink."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tables as tb

from km3flow.core import Blob, Module, Pipeline
from km3flow.dataclasses import Table
from km3flow.exceptions import FormatError, ModuleError
from km3flow.io.hdf5 import HDF5Pump, HDF5Sink

SRC = str(pathlib.Path(__file__).resolve().parents[2] / "src")


def read_everything(path):
    with HDF5Pump(filename=str(path)) as pump:
        return [blob for blob in pump]


def expect_format_error(path, match):
    with pytest.raises(FormatError, match=match) as info:
        read_everything(path)
    assert str(path) in str(info.value)
    return info.value


def test_missing_directory_empty_and_non_hdf5(tmp_path, testdata):
    expect_format_error(tmp_path / "nope.h5", "no such file")
    expect_format_error(tmp_path, "is a directory")
    (tmp_path / "empty.h5").write_bytes(b"")
    expect_format_error(tmp_path / "empty.h5", "0 bytes long")
    expect_format_error(testdata("online/events_sample.root"), "not an HDF5 file")
    expect_format_error(testdata("daq/IO_EVT.dat"), "not an HDF5 file")


def test_other_layout_and_too_old(tmp_path, testdata):
    expect_format_error(
        testdata("hdf5/mcv5.1.genhen_anumuNC.sirene.jte.jchain.aashower.sample.hdf5"),
        r"not a KM3Pipe-layout HDF5 file: no 'format_version' root attribute and no "
        r"/group_info table \(top-level nodes: /HEADER")
    old = tmp_path / "old.h5"
    old.write_bytes(pathlib.Path(testdata("online/events_sample.h5")).read_bytes())
    with tb.open_file(old, "a") as h5:
        h5.root._v_attrs.format_version = np.bytes_("3.2")
    expect_format_error(old, r"format version 3.2 is older than the oldest supported \(4.1\)")


def test_truncated_files_and_garbage_after_a_valid_prefix(tmp_path, testdata):
    data = pathlib.Path(testdata("online/events_sample.h5")).read_bytes()
    rng = np.random.default_rng(2024)
    path = tmp_path / "cut.h5"
    for cut in sorted(set(np.linspace(1, len(data) - 1, 40).astype(int))):
        path.write_bytes(data[:cut])
        expect_format_error(path, None)
    for _ in range(25):
        cut = int(rng.integers(8, len(data)))
        tail = rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
        path.write_bytes(data[:cut] + tail)
        expect_format_error(path, None)


def test_flipped_bytes_in_data_chunks(tmp_path, testdata):
    # Flips in HDF5 *metadata* can crash the HDF5/PyTables C code itself (a segfault in
    # PyTables' attribute loading was seen), so only data chunks are damaged here; their
    # Fletcher32 checksums must catch every flip.
    original = testdata("online/events_sample.h5")
    data = pathlib.Path(original).read_bytes()
    with tb.open_file(original) as h5:
        chunks = [(n, h5.get_node(n).chunk_info((0,)))
                  for n in ("/hits/time", "/hits/dom_id", "/event_info", "/group_info",
                            "/hits/_indices")]
    rng = np.random.default_rng(7)
    path = tmp_path / "flip.h5"
    for node, info in chunks:
        for _ in range(6):
            damaged = bytearray(data)
            damaged[info.offset + int(rng.integers(0, info.size))] ^= int(rng.integers(1, 256))
            path.write_bytes(bytes(damaged))
            err = expect_format_error(path, None)
            assert node.split("/")[1] in str(err) or "structure" in str(err)


def test_error_is_raised_at_configure_in_a_pipeline(tmp_path):
    pipe = Pipeline()
    with pytest.raises(FormatError, match="nope.h5: no such file"):
        pipe.attach(HDF5Pump, filename=str(tmp_path / "nope.h5"))


class Source(Module):
    def configure(self):
        self.i = 0

    def process(self, blob):
        blob["T"] = Table({"i": self.i, "x": np.arange(self.i % 5 + 1, dtype="<f8")}, h5loc="/t")
        blob["H"] = Table({"x": np.arange(self.i % 7)}, h5loc="/h", split_h5=True)
        self.i += 1
        return blob


class FailAt(Module):
    def configure(self):
        self.at = self.require("at")
        self.n = 0

    def process(self, blob):
        if self.n == self.at:
            raise RuntimeError("boom")
        self.n += 1
        return blob


def test_exception_mid_drain_leaves_a_valid_partial_file(tmp_path, capsys):
    out = tmp_path / "out.h5"
    pipe = Pipeline()
    pipe.attach(Source)
    pipe.attach(FailAt, at=37)
    pipe.attach(HDF5Sink, filename=str(out), buffer_size=500)
    with pytest.raises(ModuleError, match="boom"):
        pipe.drain(100)
    captured = capsys.readouterr()
    assert "HDF5 file written to" not in captured.out  # a failed run never announces success
    assert (f"ERROR ++ HDF5Sink: the run failed: PARTIAL file with 37 blobs written to "
            f"'{tmp_path / 'out.partial.h5'}'; no file at '{out}'") in captured.err
    assert not out.exists()
    out = tmp_path / "out.partial.h5"
    blobs = read_everything(out)
    assert len(blobs) == 37
    assert [int(b["T"].i[0]) for b in blobs] == list(range(37))
    assert [len(b["H"]) for b in blobs] == [i % 7 for i in range(37)]
    assert [p.name for p in tmp_path.iterdir()] == ["out.partial.h5"]  # no temporary file left
    from km3flow.io.hdf5 import read_provenance

    with tb.open_file(str(out)) as h5:
        drain = read_provenance(h5)["drain"]
    assert drain["complete"] is False and drain["interrupted"] is False
    assert drain["cycles"] == 37 and "boom" in drain["error"]


def test_interrupted_drain_is_recorded_in_the_file(tmp_path, capsys):
    out = tmp_path / "out.h5"

    def interrupt(blob):
        if int(blob["T"].i[0]) == 5:
            raise KeyboardInterrupt
        return blob

    pipe = Pipeline()
    pipe.attach(Source)
    pipe.attach(interrupt)
    pipe.attach(HDF5Sink, filename=str(out))
    with pytest.raises(KeyboardInterrupt):
        pipe.drain(100)
    out = tmp_path / "out.partial.h5"
    assert len(read_everything(out)) == 5
    from km3flow.cli.main import main

    capsys.readouterr()
    assert main(["h5info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "drain            INTERRUPTED after 5 cycles" in text
    assert "status           PARTIAL: 5 blobs of an interrupted run (meant for out.h5)" in text


def test_sink_without_blobs_writes_a_valid_empty_file(tmp_path):
    sink = HDF5Sink(filename=str(tmp_path / "e.h5"))
    sink.finish()
    sink.finish()  # a second finish does nothing
    assert read_everything(tmp_path / "e.h5") == []


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {src!r})
    from km3flow.core import Blob
    from km3flow.dataclasses import Table
    from km3flow.io.hdf5 import HDF5Sink

    sink = HDF5Sink(filename={out!r}, buffer_size=20000)
    rng = np.random.default_rng(1)
    for i in range(10**9):
        sink.process(Blob(T=Table({{"t": rng.random(50)}}, h5loc="/hits", split_h5=True)))
        if i == 300:
            print("WRITING", flush=True)
""")


def test_sigkill_mid_write_never_corrupts_the_final_path(tmp_path):
    out = tmp_path / "final.h5"
    previous = HDF5Sink(filename=str(out))
    previous.process(Blob(T=Table({"t": [1.0, 2.0]}, h5loc="/hits", split_h5=True)))
    previous.finish()
    before = out.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(src=SRC, out=str(out))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "WRITING", proc.stderr.read()
        time.sleep(0.3)  # let it flush a few times into its temporary file
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and temps[0].stat().st_size > 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == before  # the final path still holds the earlier, whole file
    blobs = read_everything(out)
    assert len(blobs) == 1 and blobs[0]["Hits"].t.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("first, later, fits", [
    ([1, 2], [1.5], False),                                         # float into an int column
    (np.array([1], np.int32), np.array([2**40]), False),            # too big for int32
    (np.array([1], np.uint64), np.array([-1]), False),              # negative into unsigned
    (np.array([b"abc"]), np.array([b"abcdef"]), False),             # longer string
    (np.array([1], np.int32), np.array([7]), True),                 # int64 values that fit
    ([1.5], [2], True),                                             # ints into a float column
])
def test_later_blobs_must_fit_the_column_dtype(tmp_path, first, later, fits):
    values = iter([first, later])
    pipe = Pipeline()
    pipe.attach(lambda b: Blob({"T": Table({"a": next(values)}, h5loc="/t")}), name="src")
    pipe.attach(HDF5Sink, filename=str(tmp_path / "t.h5"))
    if fits:
        pipe.drain(2)
        blobs = read_everything(tmp_path / "t.h5")
        assert blobs[1]["T"].a.tolist() == list(np.asarray(later).tolist())
    else:
        with pytest.raises(ModuleError, match="column 'a' at /t was created as .* without loss"):
            pipe.drain(2)
        assert not (tmp_path / "t.h5").exists()
        assert len(read_everything(tmp_path / "t.partial.h5")) == 1  # the first blob is kept


def test_partial_path_names():
    from km3flow.io.hdf5.sink import partial_path

    assert partial_path("out.h5") == "out.partial.h5"
    assert partial_path("/d/run.1.HDF5") == "/d/run.1.partial.HDF5"
    assert partial_path("out.h5.part-3") == "out.h5.part-3.partial"


def _one_blob_file(path, value, **params):
    sink = HDF5Sink(filename=str(path), **params)
    sink.process(Blob(T=Table({"v": [value]}, h5loc="/t")))
    sink.finish()
    return sink


def test_library_sink_overwrites_by_default_on_success(tmp_path, capsys):
    out = tmp_path / "output.h5"
    _one_blob_file(out, 1.0)
    _one_blob_file(out, 2.0)  # the talk's cell, run twice
    assert [b["T"].v.tolist() for b in read_everything(out)] == [[2.0]]
    assert capsys.readouterr().out.count(f"HDF5 file written to: {out}") == 2


def test_sink_overwrite_false_refuses_an_existing_file(tmp_path):
    from km3flow.exceptions import ConfigError

    out = tmp_path / "o.h5"
    _one_blob_file(out, 1.0, overwrite=False)  # nothing there yet: fine
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="o.h5' exists already; pass overwrite=True"):
        HDF5Sink(filename=str(out), overwrite=False)
    assert out.read_bytes() == before
    with pytest.raises(ConfigError, match="is a directory"):
        HDF5Sink(filename=str(tmp_path))


def test_sink_overwrite_false_keeps_a_file_that_appeared_meanwhile(tmp_path):
    from km3flow.io.hdf5.sink import HDF5WriteError

    out = tmp_path / "o.h5"
    sink = HDF5Sink(filename=str(out), overwrite=False)
    sink.process(Blob(T=Table({"v": [1.0]}, h5loc="/t")))
    out.write_bytes(b"someone else's")
    with pytest.raises(HDF5WriteError, match="appeared while writing it"):
        sink.finish()
    assert out.read_bytes() == b"someone else's"
    assert len(read_everything(tmp_path / "o.partial.h5")) == 1


def test_failed_drain_with_an_existing_file_leaves_it_alone_gh19(tmp_path, capsys):
    out = tmp_path / "out.h5"
    _one_blob_file(out, 1.0)
    before = out.read_bytes()
    pipe = Pipeline()
    pipe.attach(Source)
    pipe.attach(FailAt, at=4)
    pipe.attach(HDF5Sink, filename=str(out))
    with pytest.raises(ModuleError, match="boom"):
        pipe.drain(10)
    assert out.read_bytes() == before
    assert len(read_everything(tmp_path / "out.partial.h5")) == 4
    assert f"'{out}' left as it was" in capsys.readouterr().err


def test_failed_drain_before_any_blob_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out.h5"
    pipe = Pipeline()
    pipe.attach(Source)
    pipe.attach(FailAt, at=0)
    pipe.attach(HDF5Sink, filename=str(out))
    with pytest.raises(ModuleError, match="boom"):
        pipe.drain(10)
    captured = capsys.readouterr()
    assert "HDF5 file written" not in captured.out
    assert ("ERROR ++ HDF5Sink: the run failed before any blob reached the sink: nothing "
            f"written, no file at '{out}'") in captured.err
    assert list(tmp_path.iterdir()) == []


def test_keep_partial_false_removes_the_partial_file(tmp_path, capsys):
    pipe = Pipeline()
    pipe.attach(Source)
    pipe.attach(FailAt, at=3)
    sink = HDF5Sink(filename=str(tmp_path / "out.h5"), keep_partial=False)
    pipe.attach(sink)
    with pytest.raises(ModuleError):
        pipe.drain(10)
    assert list(tmp_path.iterdir()) == []
    assert sink.complete is False and sink.written_to is None
    assert f"the run failed: nothing written, no file at '{tmp_path / 'out.h5'}'" in \
        capsys.readouterr().err


def test_leftover_temp_files_are_found_and_named(tmp_path, capsys):
    from km3flow.io.hdf5.sink import find_leftovers

    out = tmp_path / "out.h5"
    left = [tmp_path / ".out.h5.0123abcd.tmp", tmp_path / ".out.h5.merging-4242",
            tmp_path / ".out.h5.part-1.cef92066.tmp"]
    for p in left + [tmp_path / ".other.h5.0123abcd.tmp", tmp_path / ".out.h5.xyz.tmp"]:
        p.write_bytes(b"x")
    assert find_leftovers(out) == [str(p) for p in left]
    _one_blob_file(out, 1.0)
    err = capsys.readouterr().err
    assert err == (f"WARNING ++ HDF5Sink: temporary files of an earlier run that was killed: "
                   f"{left[0]}, {left[1]}, {left[2]}; delete them once no other run is "
                   f"writing '{out}'\n")
    assert all(p.exists() for p in left)
