"""Format detection, open_pump and FilePump, over every format of the registry."""

import pytest

import km3flow as kp
from km3flow.exceptions import FormatError
from km3flow.io.detect import detect_format, open_pump
from km3flow.io.formats import builtin_formats

FORMAT_NAMES = [spec.name for spec in builtin_formats()]


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_detect_real_files(testdata, format_samples, name):
    assert format_samples.get(name), f"format '{name}' has no sample files in tests/conftest.py"
    for relpath in format_samples[name]:
        assert detect_format(testdata(relpath)) == name, relpath


def test_every_sample_is_of_a_registered_format(format_samples):
    assert sorted(format_samples) == sorted(FORMAT_NAMES)


def test_detect_errors(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        detect_format(tmp_path / "missing.dat")
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        detect_format(empty)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(FormatError, match="junk.bin: not a KM3NeT file") as info:
        detect_format(junk)
    assert ", ".join(FORMAT_NAMES) in str(info.value)  # the message lists the formats
    with pytest.raises(FormatError, match="directory"):
        detect_format(tmp_path)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_open_pump_picks_the_reader(testdata, format_samples, name):
    spec = next(s for s in builtin_formats() if s.name == name)
    path = testdata(format_samples[name][0])
    if spec.pump is None:
        with pytest.raises(FormatError, match=f"{path}: a {name} detector file, which holds no"):
            open_pump(path)
        return
    with open_pump(path) as pump:
        assert type(pump) is getattr(kp.io, spec.pump_name)
        first = next(iter(pump))
        assert len(first) > 0


def test_open_pump_lengths(testdata):
    with open_pump(testdata("daq/IO_EVT.dat")) as pump:
        assert type(pump).__name__ == "DAQPump" and len(pump) == 3
    with open_pump(testdata("evt/KM3Sim.evt")) as pump:
        assert type(pump).__name__ == "EvtPump" and len(pump) == 10


def test_file_pump_chains_formats_and_random_access(testdata):
    files = [testdata("daq/IO_EVT.dat"), testdata("evt/KM3Sim.evt"), testdata("daq/IO_EVT.dat")]
    pump = kp.io.FilePump(filenames=files)
    assert len(pump) == 3 + 10 + 3
    blobs = list(pump)
    assert [b["Filename"] for b in blobs] == [files[0]] * 3 + [files[1]] * 10 + [files[2]] * 3
    assert "Hits" in blobs[0] and "McHits" in blobs[3]
    again = pump[13]
    assert again["Filename"] == files[2]
    assert (again["Hits"].time == blobs[0]["Hits"].time).all()
    assert len(pump[-1]["Hits"]) == len(blobs[-1]["Hits"])
    pump.close()


def test_file_pump_in_a_pipeline_and_errors(testdata, tmp_path):
    seen = []
    pipe = kp.Pipeline()
    pipe.attach(kp.io.FilePump, filename=testdata("daq/IO_SUM.dat"))
    pipe.attach(lambda b: seen.append(len(b["Summaryslice"])) or b, name="count")
    pipe.drain()
    assert len(seen) == 3 and all(n > 0 for n in seen)
    assert pipe.services["input_files"]() == [testdata("daq/IO_SUM.dat")]
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a km3net file at all")
    with pytest.raises(FormatError, match="bad.bin"):
        kp.io.FilePump(filenames=[testdata("daq/IO_SUM.dat"), str(bad)])


@pytest.mark.parametrize("size", [8, 100, 1000])
def test_daq_file_cut_inside_its_first_frame_is_truncated_gh11(testdata, tmp_path, size):
    import pathlib
    import struct

    data = pathlib.Path(testdata("daq/IO_EVT.dat")).read_bytes()
    length = struct.unpack("<i", data[:4])[0]
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[:size])
    with pytest.raises(FormatError) as info:
        detect_format(cut)
    assert str(info.value) == (f"{cut}: at byte 0: truncated DAQ file: the first frame (data "
                               f"type 10001) announces {length} bytes, but the file has only "
                               f"{size}")
    assert info.value.offset == 0


def test_root_file_with_neither_kind_of_tree(tmp_path):
    """A ROOT file without 'E' or KM3NET_* trees: one error from the shared ROOT path."""
    import numpy as np
    import uproot

    path = tmp_path / "flat.root"
    with uproot.recreate(path) as f:
        f["T"] = {"x": np.arange(3, dtype=np.int32)}  # an RNTuple, not a TTree
    with pytest.raises(FormatError, match=r"flat.root: a ROOT file, but with neither an "
                                          r"offline tree 'E' nor online KM3NET_\* trees "
                                          r"\(TTrees: none\)"):
        detect_format(path)
