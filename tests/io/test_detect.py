import pytest

import km3flow as kp
from km3flow.exceptions import FormatError
from km3flow.io.detect import detect_format, open_pump


@pytest.mark.parametrize("relpath, fmt", [
    ("daq/IO_EVT.dat", "daq"),
    ("daq/IO_EVT_legacy.dat", "daq"),
    ("daq/IO_SUM.dat", "daq"),
    ("daq/IO_TSL1_1003.dat", "daq"),
    ("daq/IO_TSSN.dat", "daq"),
    ("daq/IO_MONIT.dat", "monitoring"),
    ("evt/example_numuNC.evt", "evt"),
    ("evt/KM3Sim.evt", "evt"),
    ("mupage/mcv5.0.mupage_1G.5.evt", "evt"),
    ("offline/km3net_offline.root", "offline"),
    ("offline/numucc.root", "offline"),
    ("online/km3net_online.root", "online"),
    ("online/summaryslices.root", "online"),
    ("hdf5/geamon.h5", "hdf5"),
    ("online/events_sample.h5", "hdf5"),
    ("detx/detx_v5.detx", "detx"),
    ("datx/KM3NeT_00000133_20221025.datx", "datx"),
])
def test_detect_real_files(testdata, relpath, fmt):
    assert detect_format(testdata(relpath)) == fmt


def test_detect_errors(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        detect_format(tmp_path / "missing.dat")
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        detect_format(empty)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(FormatError, match="junk.bin: not a KM3NeT file"):
        detect_format(junk)
    with pytest.raises(FormatError, match="directory"):
        detect_format(tmp_path)


def test_open_pump_picks_the_reader(testdata):
    with open_pump(testdata("daq/IO_EVT.dat")) as pump:
        assert type(pump).__name__ == "DAQPump" and len(pump) == 3
    with open_pump(testdata("evt/KM3Sim.evt")) as pump:
        assert type(pump).__name__ == "EvtPump" and len(pump) == 10
    with pytest.raises(FormatError, match="detector file"):
        open_pump(testdata("detx/detx_v5.detx"))


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
