"""The chunk-level reader of EVT files (io/evt_chunk.py) against the per-event path.

Iterating over an EvtPump reads small events a chunk at a time; ``pump[i]`` parses one
event. Both must give the same blobs, key by key and byte by byte, on every EVT file of
km3net-testdata and on mutated copies (written under tmp_path with a fixed seed), and the
same errors and warnings.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from km3flow.core import Blob
from km3flow.core.blob import LazyBlob, Pending
from km3flow.dataclasses import Table
from km3flow.exceptions import FormatError
from km3flow.io import evt_chunk
from km3flow.io.evt import EvtPump

FILES = ["evt/KM3Sim.evt", "evt/example_numuNC.evt", "evt/example_numuCC.evt",
         "evt/corant_5.1.9.evt", "evt/example_corant_propa.evt",
         "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt", "mupage/mcv5.0.mupage_1G.5.evt"]
GSEAGEN = "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt"


def _same_value(key: str, a, b) -> None:
    assert type(a) is type(b), key
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, key
        # bytes, not ==: NaN padding and -0.0 must match too
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), key
        if isinstance(a, Table):
            assert (a.h5loc, a.split_h5, a.name, a.h5singleton) == \
                (b.h5loc, b.split_h5, b.name, b.h5singleton), key
    else:
        assert a == b, key


def _assert_same_blobs(streamed: list, single: list) -> None:
    assert len(streamed) == len(single)
    for k, (a, b) in enumerate(zip(streamed, single)):
        assert list(a) == list(b), f"event {k}: keys"
        for key in a:
            # (a[key]: a LazyBlob's entries are built on this first read)
            _same_value(f"event {k}, {key}", a[key], b[key])
        assert type(a) is Blob, f"event {k}: built after reading"


def _both(path, **kw) -> tuple[list, list]:
    with EvtPump(filename=path, **kw) as pump:
        streamed = list(pump)
    with EvtPump(filename=path, **kw) as pump:
        single = [pump[i] for i in range(len(pump))]
    return streamed, single


def _outcome(fn):
    """The blobs, or the error message."""
    try:
        return fn()
    except FormatError as err:
        return f"FormatError: {err}"


@pytest.mark.parametrize("name", FILES)
def test_chunks_equal_single_events_on_every_testdata_file(testdata, name):
    streamed, single = _both(testdata(name))
    if "numuCC" not in name:  # (its events are big: read one by one, plain Blobs)
        assert all(type(b) is LazyBlob for b in streamed)
    _assert_same_blobs(streamed, single)
    with EvtPump(filename=testdata(name), convert_geant=False) as pump:
        raw_types = [b["McTracks"].type.tolist() for b in pump]
        assert raw_types == [pump[i]["McTracks"].type.tolist() for i in range(len(pump))]


@pytest.mark.parametrize("name", [n for n in FILES if "numuCC" not in n])
def test_small_events_take_the_chunk_path(testdata, name):
    with EvtPump(filename=testdata(name)) as pump:
        groups = list(evt_chunk.chunks(pump._starts, pump._ends))
        assert all(chunked for _, _, chunked in groups)
        for first, stop, _ in groups:
            assert all(b is not None for b in evt_chunk.read_chunk(pump, first, stop))


def test_chunks_are_bounded(testdata, monkeypatch):
    """Several chunks (and events too big for one) give the same blobs as one chunk."""
    path = testdata(GSEAGEN)
    with EvtPump(filename=path) as pump:
        one = list(pump)
    monkeypatch.setattr(evt_chunk, "CHUNK_EVENTS", 7)
    monkeypatch.setattr(evt_chunk, "BIG_EVENT", 9000)
    with EvtPump(filename=path) as pump:
        groups = list(evt_chunk.chunks(pump._starts, pump._ends))
        assert len(groups) > 82 // 7 and any(not c for _, _, c in groups)
        assert all(stop - first <= 7 for first, stop, _ in groups)
        _assert_same_blobs(list(pump), one)


def _mutants(data: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """Edits of single lines of an event that the chunk reader must leave to the per-event
    path, or handle exactly like it."""
    lines = data.split(b"\n")
    body = [k for k, ln in enumerate(lines) if b":" in ln and not
            ln.startswith((b"start_event", b"end_event"))]
    body = body[len(body) // 4:]  # past the header
    out = []
    edits = {
        "nan": lambda ln: ln.rsplit(b" ", 1)[0] + b" nan",
        "text": lambda ln: ln + b" abc",
        "extra value": lambda ln: ln + b" 1",
        "one less": lambda ln: ln.rsplit(b" ", 1)[0],
        "fraction in id": lambda ln: ln.split(b":")[0] + b": 1.5 " + b" ".join(
            ln.split(b":", 1)[1].split()[1:]),
        "malformed number": lambda ln: ln + b" 1.2.3",
        "no colon": lambda ln: ln.replace(b":", b" "),
        "space before colon": lambda ln: ln.replace(b":", b" :", 1),
        "blank line after": lambda ln: ln + b"\n",
        "spaces line after": lambda ln: ln + b"\n   ",
        "crlf": lambda ln: ln + b"\r",
        "tab": lambda ln: ln.replace(b" ", b"\t", 2),
        "unknown text tag": lambda ln: ln + b"\ncomment: made by hand, v2",
        "unknown ragged tag": lambda ln: ln + b"\nvertex: 1 2 3 4 5",
        "tag again later": lambda ln: ln + b"\nzzz: 1\n" + ln,
        "exponent": lambda ln: ln + b"\nnumbers: 1e-320 -0 +5 .5 5. 1E+400",
        "huge event id": lambda ln: ln,
    }
    for what, edit in edits.items():
        k = int(rng.choice(body))
        new = list(lines)
        if what == "huge event id":
            k = next(j for j in range(k, len(lines)) if lines[j].startswith(b"start_event"))
            new[k] = b"start_event: 99999999999 1"
        else:
            new[k] = edit(lines[k])
        out.append((what, b"\n".join(new)))
    return out


@pytest.mark.parametrize("name", ["evt/KM3Sim.evt", GSEAGEN, "evt/corant_5.1.9.evt",
                                  "mupage/mcv5.0.mupage_1G.5.evt"])
@pytest.mark.parametrize("strict", [True, False])
def test_mutated_files_read_alike(testdata, tmp_path, caplog, name, strict):
    data = Path(testdata(name)).read_bytes()
    rng = np.random.default_rng(13)
    for what, mutant in _mutants(data, rng):
        path = tmp_path / "mutant.evt"
        path.write_bytes(mutant)
        logs = []
        results = []
        for read in ("stream", "single"):
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="km3flow"):
                def run(read=read):
                    with EvtPump(filename=path, strict=strict) as pump:
                        if read == "stream":
                            return list(pump)
                        return [pump[i] for i in range(len(pump))]
                results.append(_outcome(run))
            logs.append(sorted(r.getMessage() for r in caplog.records))
        if isinstance(results[0], str) or isinstance(results[1], str):
            assert results[0] == results[1], what
        else:
            _assert_same_blobs(*results)
        assert logs[0] == logs[1], what


def test_error_comes_after_the_good_events(testdata, tmp_path):
    """Strict reading yields the events before a bad one, then raises, as per event."""
    data = Path(testdata(GSEAGEN)).read_bytes()
    lines = data.split(b"\n")
    starts = [k for k, ln in enumerate(lines) if ln.startswith(b"start_event")]
    k = starts[40] + 3
    lines[k] = lines[k] + b" 7"
    path = tmp_path / "bad.evt"
    path.write_bytes(b"\n".join(lines))
    seen = 0
    with EvtPump(filename=path) as pump, pytest.raises(FormatError) as err:
        for _ in pump:
            seen += 1
    assert seen == 40
    assert err.value.line == k + 1 and str(path) in str(err.value)


def _float_rows(block: bytes) -> np.ndarray:
    """The per-line float conversion of the per-event path (np.array of the tokens)."""
    rows = [ln.split(b":", 1)[1].split() for ln in block.split(b"\n") if ln]
    return np.array(rows, dtype=np.float64)


def test_big_runs_read_integer_columns_exactly(testdata):
    """Big runs (np.loadtxt, integer-looking columns as int64) equal the float parse."""
    from km3flow.io.evt import _bulk

    data = Path(testdata("evt/example_numuCC.evt")).read_bytes()
    lines = [ln for ln in data.split(b"\n")[:40000] if ln.startswith(b"hit_raw:")]
    block = b"\n".join(lines) + b"\n"
    got = _bulk(block, b"hit_raw:", len(lines))
    assert got.tobytes() == _float_rows(block).tobytes()
    rng = np.random.default_rng(3)
    cases = {
        "minus zero in an integer column": b"-0",
        "float in an integer column": b"17.5",
        "beyond 2**53": b"9007199254740993",
        "beyond int64": b"99999999999999999999",
        "exponent": b"1e3",
        "plus sign": b"+12",
    }
    for what, token in cases.items():
        mutated = list(lines)
        k = int(rng.integers(1, len(lines)))
        values = mutated[k].split()
        values[2] = token
        mutated[k] = b" ".join(values)
        block = b"\n".join(mutated) + b"\n"
        got = _bulk(block, b"hit_raw:", len(mutated))
        assert got is not None, what
        assert got.tobytes() == _float_rows(block).tobytes(), what


def test_reading_a_closed_pump_is_an_error(testdata):
    pump = EvtPump(filename=testdata(GSEAGEN))
    pump.close()
    with pytest.raises(ValueError, match="closed EvtPump"):
        next(iter(pump))
    with pytest.raises(ValueError, match="closed EvtPump"):
        pump[0]


SMALL = [n for n in FILES if "numuCC" not in n]


def _eager(path) -> list:
    """The blobs built at once (as after a user read a lazy entry in an earlier chunk)."""
    with EvtPump(filename=path) as pump:
        pump._entries_read = True
        blobs = list(pump)
    assert all(type(b) is Blob for b in blobs)
    return blobs


@pytest.mark.parametrize("name", SMALL)
def test_lazy_blobs_equal_eager_ones_whichever_entry_is_read_first(testdata, name):
    """A chunk's blobs hold McTracks at once and placeholders for the other entries;
    reading any one entry first builds them all, with the values built at once."""
    path = testdata(name)
    eager = _eager(path)
    keys = sorted({key for blob in eager for key in blob})
    rng = np.random.default_rng(7)
    for first_key in ["McTracks", "EventInfo", *rng.choice(keys, 3, replace=False).tolist()]:
        with EvtPump(filename=path) as pump:
            lazy = list(pump)
            assert not pump._entries_read
        for blob in lazy:
            assert type(blob) is LazyBlob
            assert isinstance(dict.__getitem__(blob, "McTracks"), Table)
            assert type(dict.__getitem__(blob, "EventInfo")) is Pending
        for k, blob in enumerate(lazy):
            if first_key in blob:
                pending = type(dict.__getitem__(blob, first_key)) is Pending
                first = blob[first_key]
                # a placeholder's read builds every entry; McTracks' read none
                assert (type(blob) is Blob) is pending
                _same_value(f"event {k}, {first_key}", first, eager[k][first_key])
        _assert_same_blobs(lazy, eager)
        assert pump._entries_read


def test_reading_an_entry_makes_later_chunks_eager(testdata, monkeypatch):
    """Once a user read a lazily built entry, the pump builds later chunks at once; until
    then, reading only McTracks keeps every chunk lazy."""
    monkeypatch.setattr(evt_chunk, "CHUNK_EVENTS", 10)
    path = testdata(GSEAGEN)
    with EvtPump(filename=path) as pump:
        kinds = []
        for blob in pump:
            kinds.append(type(blob))
            blob["McTracks"]
        assert kinds == [LazyBlob] * len(pump) and not pump._entries_read
    with EvtPump(filename=path) as pump:
        kinds = []
        blobs = []
        for k, blob in enumerate(pump):
            kinds.append(type(blob))
            if k == 12:  # in the second chunk
                blob["neutrino"]
            blobs.append(blob)
    assert kinds == [LazyBlob] * 20 + [Blob] * (len(kinds) - 20)
    _assert_same_blobs(blobs, _eager(path))


def _layouts_two_ways(path) -> tuple[dict, dict]:
    """The file's layout of each tag as the chunk reader found it (from the first
    chunk's lines) and as LineChecks' search of the file finds it (lenient reading: the
    mutants have bad lines)."""
    with EvtPump(filename=path, strict=False) as pump:
        list(pump)
        from_chunk = dict(pump.checks._widths)
    with EvtPump(filename=path, strict=False) as pump:
        searched = {tag: (pump.checks.chunk_plan(tag), pump.checks._widths[tag])
                    for tag in from_chunk}
    return from_chunk, {tag: w for tag, (_, w) in searched.items()}


@pytest.mark.parametrize("name", SMALL)
def test_layouts_from_the_first_chunk_equal_the_file_search(testdata, tmp_path, name):
    data = Path(testdata(name)).read_bytes()
    from_chunk, searched = _layouts_two_ways(testdata(name))
    assert from_chunk and from_chunk == searched
    # the first lines of a tag disagreeing (one value more, or text), in a mutated copy
    lines = data.split(b"\n")
    tag = b"track_in:"
    at = [k for k, ln in enumerate(lines) if ln.startswith(tag)]
    if not at:
        return
    for edit in ([at[0]], at[:2], at[:3], at[1:4]):
        for extra in (b" 1", b" x"):
            new = list(lines)
            for k in edit:
                new[k] = new[k] + extra
            path = tmp_path / "mutant.evt"
            path.write_bytes(b"\n".join(new))
            from_chunk, searched = _layouts_two_ways(path)
            assert from_chunk == searched, (edit, extra)


def test_tag_numbering_equals_np_unique(testdata, monkeypatch):
    """The table numbering of a chunk's tag keys gives np.unique's first lines (in
    another order); keys sharing a slot of the table fall back to np.unique, with the
    same blobs."""
    rng = np.random.default_rng(5)
    distinct = rng.integers(0, 2**63, 12, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    keys = distinct[rng.integers(0, 12, 3000)]
    got = evt_chunk._number(keys)
    assert got is not None
    first, inv = got
    _, want_first, want_inv = np.unique(keys, return_index=True, return_inverse=True)
    assert sorted(first.tolist()) == sorted(want_first.tolist())
    assert (keys[first[inv]] == keys).all() and len(set(inv.tolist())) == len(want_first)
    same_slot = np.array([5 << 52, (5 << 52) + 1], np.uint64)
    assert evt_chunk._number(same_slot) is None
    path = testdata(GSEAGEN)
    with EvtPump(filename=path) as pump:
        want = list(pump)
    monkeypatch.setattr(evt_chunk, "_SLOT_BITS", 1)  # two slots: the tags collide
    with EvtPump(filename=path) as pump:
        _assert_same_blobs(list(pump), want)


def test_lazy_entries_need_no_open_file(testdata):
    """The placeholders hold the chunk's parsed arrays: reading them after the pump was
    closed gives the same values."""
    path = testdata(GSEAGEN)
    with EvtPump(filename=path) as pump:
        lazy = list(pump)
    assert pump._file.closed and all(type(b) is LazyBlob for b in lazy)
    _assert_same_blobs(lazy, _eager(path))
