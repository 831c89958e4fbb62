"""Sanity warnings of the DAQ readers for what the binary format cannot forbid (issue 19): a
repeated timeslice/summary-slice ``frame_index`` and UTC times that contradict the frame
counter, on real km3net-testdata files and mutated copies (fixed seed) under tmp_path."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from km3flow.io.daq import DAQReader, iter_frames
from km3flow.io.daq.pump import sequence_findings

REAL = ["IO_EVT.dat", "IO_EVT_legacy.dat", "IO_SUM.dat", "IO_SUM_legacy.dat",
        "IO_TSL0_legacy.dat", "IO_TSL1_1003.dat", "IO_TSL1_legacy.dat", "IO_TSL2_legacy.dat",
        "IO_TSSN.dat"]


def _frames(testdata, name: str) -> tuple[bytes, list]:
    data = Path(testdata(f"daq/{name}")).read_bytes()
    return data, list(iter_frames(data))


def _open(path) -> int:
    with DAQReader(filename=path) as reader:
        return len(reader)


def test_real_files_give_no_warning(testdata, capsys):
    """IO_SUM_legacy.dat holds summary slices out of order (frame_index 114687, 114688,
    114629, …) with times that follow their frame indices: normal, not reported."""
    for name in REAL:
        _open(testdata(f"daq/{name}"))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name,kind", [("IO_TSL1_1003.dat", "DAQTimesliceL1"),
                                       ("IO_SUM_legacy.dat", "DAQSummaryslice")])
def test_duplicated_frame_warns(testdata, tmp_path, capsys, name, kind):
    data, frames = _frames(testdata, name)
    rng = np.random.default_rng(19)
    src, dst = sorted(rng.choice(len(frames), 2, replace=False).tolist())
    copy = data[frames[src].offset:frames[src].offset + frames[src].length]
    cut = frames[dst].offset + frames[dst].length
    path = tmp_path / "dup.dat"
    path.write_bytes(data[:cut] + copy + data[cut:])
    assert _open(path) == len(frames) + 1
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1
    assert (f"dup.dat: 1 of {len(frames) + 1} {kind} frames repeat a frame_index of their "
            f"run (frames {src} and {dst + 1} have the same)") in err


@pytest.mark.parametrize("name,kind,legacy,k", [
    ("IO_TSL1_1003.dat", "DAQTimesliceL1", False, 6), ("IO_EVT_legacy.dat", "DAQEvent", True, 20),
    ("IO_SUM.dat", "DAQSummaryslice", False, 2)])
def test_time_going_backwards_warns(testdata, tmp_path, capsys, name, kind, legacy, k):
    data, frames = _frames(testdata, name)
    buf = bytearray(data)
    # preamble, class version (v13+), det_id, run, frame_index
    at = frames[k].offset + 8 + (0 if legacy else 2) + 12
    (seconds,) = struct.unpack_from("<I", buf, at)
    (index,) = struct.unpack_from("<i", buf, at - 4)
    struct.pack_into("<I", buf, at, seconds - 3)
    path = tmp_path / "back.dat"
    path.write_bytes(bytes(buf))
    assert _open(path) == len(frames)
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1
    assert (f"back.dat: {kind}: a UTC time before that of the previous frame_index, "
            f"1x (first at frame {k}, frame_index {index})") in err


def test_frame_numbers_count_all_frames_of_a_mixed_file(testdata, tmp_path, capsys):
    summary, sframes = _frames(testdata, "IO_SUM.dat")
    tsl, tframes = _frames(testdata, "IO_TSL1_1003.dat")
    copy = tsl[tframes[4].offset:tframes[4].offset + tframes[4].length]
    path = tmp_path / "mixed.dat"
    path.write_bytes(summary + tsl + copy)
    n = len(sframes) + len(tframes)
    assert _open(path) == n + 1
    err = capsys.readouterr().err
    assert (f"1 of {len(tframes) + 1} DAQTimesliceL1 frames repeat a frame_index of their run "
            f"(frames {len(sframes) + 4} and {n} have the same)") in err


def test_frames_out_of_order_with_their_times_are_fine(testdata, tmp_path, capsys):
    data, frames = _frames(testdata, "IO_TSL1_1003.dat")
    order = np.random.default_rng(5).permutation(len(frames)).tolist()
    path = tmp_path / "shuffled.dat"
    path.write_bytes(b"".join(data[frames[i].offset:frames[i].offset + frames[i].length]
                              for i in order))
    assert _open(path) == len(frames)
    assert capsys.readouterr().err == ""


def test_sequence_findings_ignores_events(testdata):
    """Many events share a frame_index (one timeslice, several triggers): no finding."""
    data, _ = _frames(testdata, "IO_EVT.dat")
    stream = data * 3
    with DAQReader(data=stream) as reader:
        assert sequence_findings(stream, reader.all_frames, reader.legacy) == []
