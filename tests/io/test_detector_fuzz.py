"""Fuzzing the DETX and DATX readers with corrupt variants of real files (fixed seed).

Every variant must either parse or raise km3flow's FormatError naming the source and a line
(DETX) or byte offset (DATX); never another exception.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.detector import Detector


def _check(data: bytes, datx: bool) -> str:
    try:
        det = Detector.from_bytes(data, name="fuzz", datx=datx)
    except FormatError as err:
        assert str(err).startswith("fuzz: ")
        assert (err.offset if datx else err.line) is not None
        return "error"
    assert det.n_pmts == len(det.pmts)
    return "ok"


CASES = [("detx/detx_v3.detx", False), ("detx/detx_v1.detx", False),
         ("detx/detx_v5.detx", False), ("datx/KM3NeT_00000133_20221025.datx", True)]


@pytest.mark.parametrize("name,datx", CASES)
def test_truncations(testdata, name, datx):
    data = Path(testdata(name)).read_bytes()
    rng = np.random.default_rng(7)
    outcomes = {_check(data[:cut], datx) for cut in rng.integers(0, len(data), 50)}
    assert "error" in outcomes


@pytest.mark.parametrize("name,datx", CASES)
def test_flipped_bytes(testdata, name, datx):
    data = Path(testdata(name)).read_bytes()
    rng = np.random.default_rng(13)
    outcomes = set()
    for k in range(50):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), 1 + k % 4):
            buf[pos] ^= int(rng.integers(1, 256))
        outcomes.add(_check(bytes(buf), datx))
    assert outcomes <= {"ok", "error"}


@pytest.mark.parametrize("name,datx", CASES)
def test_random_bytes_after_valid_prefix(testdata, name, datx):
    data = Path(testdata(name)).read_bytes()
    rng = np.random.default_rng(29)
    for _ in range(30):
        cut = int(rng.integers(0, len(data)))
        junk = rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
        _check(data[:cut] + junk, datx)


def test_detx_errors_name_line_and_expectation(testdata):
    text = Path(testdata("detx/detx_v3.detx")).read_text()
    lines = text.split("\n")
    bad = "\n".join(lines[:8] + [" 2 1.4 1.5 1.6 0.1 -1.2 0.3 20.1"] + lines[9:])
    with pytest.raises(FormatError) as err:
        Detector.from_string(bad, name="v3.detx")
    assert err.value.line == 9 and "PMT line with 9 fields" in str(err.value)
    with pytest.raises(FormatError, match=r"line 6: expected integers \(n_doms\)"):
        Detector.from_string("\n".join(lines[:5] + ["six"] + lines[6:]), name="x")
    with pytest.raises(FormatError, match="expected 7 DOMs as the header says, found 6"):
        Detector.from_string(text.replace("\n6\n", "\n7\n"), name="x")
    with pytest.raises(FormatError, match="version 1 to 5"):
        Detector.from_string(text.replace("23 v3", "23 v7"), name="x")
    with pytest.raises(FormatError, match="file ends, expected 3 PMT lines"):
        Detector.from_string("\n".join(lines[:-3]), name="x")


def test_datx_errors_name_offset(testdata):
    data = Path(testdata("datx/KM3NeT_00000133_20221025.datx")).read_bytes()
    with pytest.raises(FormatError) as err:
        Detector.from_bytes(data + b"\0\0", name="x.datx")
    assert err.value.offset == len(data) and "2 bytes follow" in str(err.value)
    with pytest.raises(FormatError, match="PMTs of DOM 808984586 to fit the file"):
        Detector.from_bytes(data[:-10], name="x.datx")
    with pytest.raises(FormatError, match="file ends, expected 24 bytes of UTM"):
        Detector.from_bytes(data[:1750], name="x.datx")
