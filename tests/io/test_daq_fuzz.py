"""Fuzzing the DAQ binary readers with corrupt variants of the real testdata files.

Every variant (truncated, bytes flipped, random bytes after a valid prefix) must either
decode or raise :class:`FormatError` with a byte offset — never another exception, never
hang. Fixed seeds keep the runs reproducible; the whole module runs in a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.daq import DAQReader, iter_frames, parse_frame

FILES = [
    ("IO_EVT.dat", False), ("IO_EVT_legacy.dat", True), ("IO_SUM.dat", False),
    ("IO_SUM_legacy.dat", True), ("IO_TSL1_1003.dat", False), ("IO_TSSN.dat", False),
    ("IO_TSL0_legacy.dat", True),
]


def _read_all(data: bytes, legacy: bool) -> int:
    """Decode every frame; return the number of hits seen (so the work is not skipped)."""
    reader = DAQReader(data=data, legacy=legacy)
    n = 0
    for blob in reader:
        for key in ("Hits", "TimesliceHits", "Summaryslice"):
            if key in blob:
                n += len(blob[key])
    return n


def _expect_ok_or_format_error(data: bytes, legacy: bool) -> None:
    try:
        _read_all(data, legacy)
    except FormatError as err:
        assert err.offset is not None and 0 <= err.offset <= len(data), str(err)
        assert "expected" in str(err) or "truncated" in str(err), str(err)


@pytest.mark.parametrize("name,legacy", FILES)
def test_truncations(testdata, name, legacy):
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        data = fobj.read()
    boundaries = {f.offset for f in iter_frames(data)} | {len(data)}
    rng = np.random.default_rng(20261126)
    cuts = set(rng.integers(0, len(data), size=60).tolist()) | {1, 7, 8, 9, 29, 30, 33}
    cuts |= {b + d for b in boundaries for d in (-1, 1, 2) if 0 < b + d < len(data)}
    for cut in sorted(cuts):
        if cut in boundaries:
            _read_all(data[:cut], legacy)  # whole frames: must decode
            continue
        with pytest.raises(FormatError) as info:
            DAQReader(data=data[:cut], legacy=legacy)
        assert info.value.offset is not None


@pytest.mark.parametrize("name,legacy", FILES)
def test_flipped_bytes(testdata, name, legacy):
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        data = fobj.read()
    rng = np.random.default_rng(42)
    for _ in range(120):
        corrupt = bytearray(data)
        for pos in rng.integers(0, len(data), size=rng.integers(1, 4)):
            corrupt[pos] ^= int(rng.integers(1, 256))
        _expect_ok_or_format_error(bytes(corrupt), legacy)


@pytest.mark.parametrize("name,legacy", FILES)
def test_flipped_bytes_inside_one_frame(testdata, name, legacy):
    # the preamble stays intact, so the damage reaches the frame decoders themselves
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        data = fobj.read()
    ref = next(iter(iter_frames(data)))
    frame = data[ref.offset:ref.offset + ref.length]
    rng = np.random.default_rng(7)
    for _ in range(150):
        corrupt = bytearray(frame)
        pos = int(rng.integers(8, len(frame)))
        corrupt[pos] ^= int(rng.integers(1, 256))
        try:
            parse_frame(bytes(corrupt), legacy)
        except FormatError as err:
            assert err.offset is not None and 0 <= err.offset <= len(frame)


@pytest.mark.parametrize("name,legacy", FILES)
def test_random_bytes_after_a_valid_prefix(testdata, name, legacy):
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        data = fobj.read()
    rng = np.random.default_rng(1234)
    for n in (1, 5, 8, 16, 64, 1000, 5000):
        tail = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
        with pytest.raises(FormatError) as info:
            DAQReader(data=data + tail, legacy=legacy)
        assert info.value.offset == len(data)


def test_counts_that_lie(testdata):
    # a hit count that points past the frame end must be caught, not read short
    with open(testdata("daq/IO_EVT.dat"), "rb") as fobj:
        frame = bytearray(fobj.read()[:5724])
    frame[50:54] = (10**6).to_bytes(4, "little")  # n_triggered
    with pytest.raises(FormatError, match="triggered hits"):
        parse_frame(bytes(frame))
    with open(testdata("daq/IO_TSL1_1003.dat"), "rb") as fobj:
        ts = bytearray(fobj.read()[:11674])
    ts[30:34] = (16).to_bytes(4, "little")  # one super frame more than present
    with pytest.raises(FormatError, match="super frame"):
        parse_frame(bytes(ts))
    ts[30:34] = (14).to_bytes(4, "little")  # one fewer: bytes left over
    with pytest.raises(FormatError, match="remain"):
        parse_frame(bytes(ts))


@pytest.mark.parametrize("name,legacy", FILES)
def test_bulk_readers_on_corrupt_streams(testdata, name, legacy):
    from km3flow.io.daq import read_events, read_summaryslices, read_timeslices

    reader = {"E": read_events, "S": read_summaryslices, "T": read_timeslices}[name[3]]
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        data = fobj.read() * 3
    rng = np.random.default_rng(11)
    for _ in range(80):
        corrupt = bytearray(data)
        for pos in rng.integers(0, len(data), size=rng.integers(1, 3)):
            corrupt[pos] ^= int(rng.integers(1, 256))
        try:
            batch = reader(bytes(corrupt), legacy)
        except FormatError as err:
            assert err.offset is not None
        else:
            assert len(batch.info) == len(batch.header)
