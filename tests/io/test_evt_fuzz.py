"""Fuzzing EvtPump with corrupt variants of real EVT files (fixed seed, a few seconds).

Every variant must either read completely or raise km3flow's FormatError; never another
exception, never a hang.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.evt import EvtPump

FILES = ["evt/KM3Sim.evt", "evt/example_numuNC.evt", "mupage/mcv5.0.mupage_1G.5.evt",
         "evt/corant_5.1.9.evt"]


def _drain(path) -> int:
    with EvtPump(filename=path) as pump:
        n = 0
        for blob in pump:
            assert "McTracks" in blob and "EventInfo" in blob
            n += 1
        assert n == len(pump)
        return n


def _check(path, n_max: int) -> str:
    try:
        n = _drain(path)
    except FormatError as err:
        assert str(path) in str(err) and err.line is not None and err.line >= 1
        return "error"
    assert n <= n_max
    return "ok"


@pytest.mark.parametrize("name", FILES)
def test_truncations(testdata, tmp_path, name):
    data = Path(testdata(name)).read_bytes()
    n_events = _drain(testdata(name))
    rng = np.random.default_rng(5)
    offsets = sorted(set(rng.integers(1, len(data), 60).tolist()) |
                     {data.index(b"end_event:") + k for k in range(11)})
    outcomes = set()
    for cut in offsets:
        path = tmp_path / f"cut{cut}.evt"
        path.write_bytes(data[:cut])
        outcomes.add(_check(path, n_events))
    assert "error" in outcomes


@pytest.mark.parametrize("name", FILES)
def test_flipped_bytes(testdata, tmp_path, name):
    data = Path(testdata(name)).read_bytes()
    n_events = _drain(testdata(name))
    rng = np.random.default_rng(11)
    outcomes = set()
    for k in range(60):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), 1 + k % 3):
            buf[pos] ^= int(rng.integers(1, 256))
        path = tmp_path / f"flip{k}.evt"
        path.write_bytes(bytes(buf))
        outcomes.add(_check(path, n_events))
    assert "error" in outcomes


@pytest.mark.parametrize("name", FILES)
def test_random_bytes_after_valid_prefix(testdata, tmp_path, name):
    data = Path(testdata(name)).read_bytes()
    n_events = _drain(testdata(name))
    rng = np.random.default_rng(23)
    for k in range(40):
        cut = int(rng.integers(0, len(data)))
        junk = rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes()
        path = tmp_path / f"junk{k}.evt"
        path.write_bytes(data[:cut] + junk)
        assert _check(path, n_events) == "error" or junk.strip() == b""


def test_digit_noise_in_hits(testdata, tmp_path):
    """Letters and separators dropped into the numeric lines of the big hit_raw run of
    example_numuCC's first event are reported with the line that holds them."""
    data = Path(testdata("evt/example_numuCC.evt")).read_bytes()
    end = data.index(b"end_event:", data.index(b"start_event:"))
    rng = np.random.default_rng(3)
    for k, noise in enumerate([b"x", b"-", b"e", b"1.2.3", b":"]):
        pos = int(rng.integers(data.index(b"hit_raw:"), end - 50))
        pos = data.index(b" ", pos) + 1
        buf = data[:pos] + noise + data[pos + 1:end] + b"end_event:\n"
        path = tmp_path / f"noise{k}.evt"
        path.write_bytes(buf)
        with EvtPump(filename=path) as pump:
            try:
                hits = pump[0]["hit_raw"]
            except FormatError as err:
                assert err.line == buf[:pos].count(b"\n") + 1
            else:  # e.g. '-' before a number or a digit replaced by '1' stays valid
                assert hits.shape[1] == 4 and np.isfinite(hits).all()


def _checked_lines(lines: list[bytes]) -> list[int]:
    """Indices of the event lines whose number of values EvtPump checks: tags with a fixed
    layout, and free-width tags (w2list) that occur on more than one line of the file (a
    single w2list line of a one-event file cannot be told from another generator version)."""
    from km3flow.io.evt_checks import TAG_SPECS

    body = next(k for k, ln in enumerate(lines) if ln.startswith(b"start_event:"))
    tags = [ln.split(b":", 1)[0].strip().decode() if b":" in ln else "" for ln in lines]
    out = []
    for k in range(body, len(lines)):
        spec = TAG_SPECS.get(tags[k])
        if tags[k] == "start_event" or (spec is not None and (
                spec.widths is not None or tags.count(tags[k]) > 1)):
            out.append(k)
    return out


def _raw_tags(blob) -> dict:
    return {k: v for k, v in blob.items() if k[0].islower() and isinstance(v, np.ndarray)}


@pytest.mark.parametrize("name", FILES + ["gseagen/gseagen_v7.0.0_numuCC_diffuse.evt"])
def test_value_count_mutations(testdata, tmp_path, name, capsys):
    """One value dropped from or added to a random checked line: strict reading raises a
    FormatError naming that line; lenient reading gives the original values without that
    line and says so. Never different values in silence."""
    from km3flow.io.evt_checks import TAG_SPECS

    lines = Path(testdata(name)).read_bytes().split(b"\n")
    with EvtPump(filename=testdata(name)) as pump:
        ref = [_raw_tags(b) for b in pump]
    candidates = _checked_lines(lines)
    rng = np.random.default_rng(29)
    for trial in range(25):
        k = int(rng.choice(candidates))
        tag, values = lines[k].split(b":", 1)
        vals = values.split()
        if trial % 2 and len(vals) > 1:
            del vals[int(rng.integers(len(vals)))]
        else:
            vals.insert(int(rng.integers(len(vals) + 1)), b"%d" % rng.integers(0, 100))
        mutated = lines.copy()
        mutated[k] = tag + b": " + b" ".join(vals)
        path = tmp_path / f"count{trial}.evt"
        path.write_bytes(b"\n".join(mutated))
        with pytest.raises(FormatError) as err:
            with EvtPump(filename=path) as pump:
                for _ in pump:
                    pass
        assert err.value.line == k + 1 and f"'{tag.decode()}" in str(err.value)
        # lenient: the same values, less the bad line (start_event lines are kept)
        event = sum(ln.startswith(b"start_event:") for ln in lines[:k + 1]) - 1
        start = max(i for i in range(k + 1) if lines[i].startswith(b"start_event:"))
        row = sum(ln.startswith(tag + b":") for ln in lines[start:k])
        capsys.readouterr()
        with EvtPump(filename=path, strict=False) as pump:
            got = [_raw_tags(b) for b in pump]
        assert "bad lines dropped (strict=False), 1 in all" in capsys.readouterr().err
        assert len(got) == len(ref)
        for i, (a, b) in enumerate(zip(ref, got)):
            expect = dict(a)
            key = tag.decode()
            if i == event and key in TAG_SPECS:
                expect[key] = np.delete(a[key], row, axis=0)
                if not len(expect[key]):
                    expect[key] = b[key]  # an empty run: its width is not known
            assert expect.keys() == b.keys()
            for key2 in expect:
                np.testing.assert_array_equal(expect[key2], b[key2])
