"""Bad input to the offline ROOT readers: one FormatError naming the file and what was expected."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.root import OfflinePump, get_dtype, read_header

SMALL = "offline/usr-sample.root"


def _drain(path):
    with OfflinePump(filename=path, step_size=2) as pump:
        return [len(b["Hits"]) for b in pump]


def test_not_a_root_file(testdata, tmp_path):
    path = testdata("evt/example_numuNC.evt")
    with pytest.raises(FormatError, match=r"example_numuNC\.evt: at byte 0: expected a ROOT file"):
        OfflinePump(filename=path)
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty.root.*expected a ROOT file"):
        read_header(empty)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="nope.root: cannot read the file"):
        OfflinePump(filename=tmp_path / "nope.root")


def test_root_file_without_the_event_tree(testdata):
    with pytest.raises(FormatError) as info:
        OfflinePump(filename=testdata("acoustics/mechanical_model.root"))
    message = str(info.value)
    assert "mechanical_model.root" in message
    assert "expected a TTree 'E' (aanet events)" in message and "keys present: META" in message


def test_tree_e_without_aanet_branches(tmp_path):
    # every testdata file with an 'E' tree holds aanet's Evt, so write a flat ntuple with uproot
    import uproot

    path = tmp_path / "flat.root"
    with uproot.recreate(path) as out:
        out["E"] = {"energy": np.arange(3.0)}
    with pytest.raises(FormatError, match="flat.root: expected the TTree 'E' to hold aanet 'Evt'"):
        OfflinePump(filename=path)


def test_truncated_file_names_the_offset(testdata, tmp_path):
    data = Path(testdata(SMALL)).read_bytes()
    path = tmp_path / "cut.root"
    path.write_bytes(data[:30000])
    with pytest.raises(FormatError) as info:
        _drain(path)
    assert "cut.root: at byte 30000: truncated ROOT file" in str(info.value)


def _write(tmp_path, data):
    path = tmp_path / "fuzz.root"
    path.write_bytes(data)
    return path


def test_fuzz_truncations(testdata, tmp_path):
    data = Path(testdata(SMALL)).read_bytes()
    rng = np.random.default_rng(5)
    offsets = sorted(set(rng.integers(0, len(data), 25).tolist()) | {0, 3, 4, 100, len(data) - 1})
    for offset in offsets:
        with pytest.raises(FormatError, match="fuzz.root"):
            _drain(_write(tmp_path, data[:offset]))


def test_fuzz_flipped_and_random_bytes(testdata, tmp_path):
    data = Path(testdata(SMALL)).read_bytes()
    reference = _drain(testdata(SMALL))
    rng = np.random.default_rng(7)
    outcomes = {"ok": 0, "error": 0}
    cases = []
    for _ in range(30):
        corrupt = bytearray(data)
        i = int(rng.integers(0, len(data)))
        corrupt[i] ^= 1 << int(rng.integers(0, 8))
        cases.append(bytes(corrupt))
    for _ in range(15):
        offset = int(rng.integers(4, len(data)))
        cases.append(data[:offset] + rng.bytes(len(data) - offset))
    for corrupt in cases:
        try:
            counts = _drain(_write(tmp_path, corrupt))
        except FormatError as err:
            assert "fuzz.root" in str(err)
            outcomes["error"] += 1
        else:
            # a flip in a value (or in unused bytes) still reads: the structure must hold
            assert len(counts) == len(reference)
            outcomes["ok"] += 1
    assert outcomes["error"] > 0


def test_get_dtype_on_bad_file(testdata, tmp_path):
    path = _write(tmp_path, os.urandom(64))
    with pytest.raises(FormatError, match="expected a ROOT file"):
        get_dtype(path, "Hit")
