"""Strict line checks of EvtPump, its lenient mode (``strict=False``) and the sanity warnings,
on mutated copies of the km3net-testdata EVT files written under tmp_path.

Each case is a finding of the adversarial probe of issue 19 (values stored as 0, truncated or
ignored without a word); now each is a FormatError naming file, line and tag, or a warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.evt import EvtPump

KM3SIM = "evt/KM3Sim.evt"
NUMU_NC = "evt/example_numuNC.evt"
NUMU_CC = "evt/example_numuCC.evt"
GSEAGEN = "gseagen/gseagen_v7.0.0_numuCC_diffuse.evt"
ALL = [KM3SIM, NUMU_NC, NUMU_CC, GSEAGEN, "evt/corant_5.1.9.evt",
       "evt/example_corant_propa.evt", "mupage/mcv5.0.mupage_1G.5.evt"]


def _lines(testdata, name: str, n_events: int | None = None) -> list[bytes]:
    """The lines of a test file; with ``n_events``, only the header and the first events
    (example_numuCC's 109 events hold 416,696 hit lines: two are enough here)."""
    lines = Path(testdata(name)).read_bytes().split(b"\n")
    if n_events is not None:
        ends = [k for k, ln in enumerate(lines) if ln.startswith(b"end_event:")]
        lines = lines[:ends[n_events] + 1] + [b""]  # ends[0] closes the header
    return lines


def _write(tmp_path, lines: list[bytes], name: str = "mutated.evt") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines))
    return path


def _first(lines: list[bytes], tag: bytes, start: int = 0) -> int:
    """Index of the first line at or after ``start`` with ``tag`` (or starting with
    ``tag`` when it holds a colon already, e.g. ``b"start_event: 3 "``)."""
    key = tag if b":" in tag else tag + b":"
    return next(k for k in range(start, len(lines)) if lines[k].startswith(key))


def _set_value(line: bytes, col: int, value: bytes) -> bytes:
    tag, values = line.split(b":", 1)
    vals = values.split()
    vals[col] = value
    return tag + b": " + b" ".join(vals)


def _read_all(path, **kw) -> list:
    with EvtPump(filename=path, **kw) as p:
        return list(p)


def _strict_error(path) -> FormatError:
    with pytest.raises(FormatError) as err:
        _read_all(path)
    assert str(path) in str(err.value)
    return err.value


def test_real_files_read_without_warnings(testdata, capsys):
    for name in ALL:
        _read_all(testdata(name))
    assert capsys.readouterr().err == ""


def test_track_in_with_missing_values_is_an_error(testdata, tmp_path):
    """gSeaGen v7 track_in has 11 values; 6 of them used to store dir_z, energy, length and
    type as 0."""
    lines = _lines(testdata, GSEAGEN)
    k = _first(lines, b"track_in", _first(lines, b"start_event", 0) + 1)
    lines[k] = b" ".join(lines[k].split()[:7])  # the tag and 6 values
    err = _strict_error(_write(tmp_path, lines))
    assert err.line == k + 1
    assert re.search(r"expected 11 values \(as line \d+, the file's layout\) in the "
                     r"'track_in' line, got 6", str(err))


def test_hit_raw_with_two_values_is_an_error(testdata, tmp_path):
    lines = _lines(testdata, NUMU_CC, 2)
    k = _first(lines, b"hit_raw", _first(lines, b"start_event") + 1) + 1
    lines[k] = b"hit_raw: 2 17"
    err = _strict_error(_write(tmp_path, lines))
    assert err.line == k + 1 and "'hit_raw' line, got 2" in str(err)


@pytest.mark.parametrize("name,tag,n", [(KM3SIM, b"hit", 9), (NUMU_CC, b"hit_raw", 4),
                                        (GSEAGEN, b"neutrino", 14), (KM3SIM, b"weights", 3),
                                        (NUMU_CC, b"track_in", 11)])
def test_an_extra_value_is_an_error(testdata, tmp_path, name, tag, n):
    lines = _lines(testdata, name, 3)
    rng = np.random.default_rng(7)
    rows = [k for k, ln in enumerate(lines) if ln.startswith(tag + b":")]
    k = rows[int(rng.integers(len(rows)))]
    lines[k] += b" 1.5"
    err = _strict_error(_write(tmp_path, lines))
    assert err.line == k + 1
    assert f"in the '{tag.decode()}' line, got {n + 1}" in str(err)


def test_a_width_another_file_layout_allows_is_an_error(testdata, tmp_path):
    """track_in may have 10 values (KM3Sim) or 11 (gSeaGen v7), but one file keeps one
    layout: an 11th value on one of KM3Sim's lines would be stored as a track length."""
    lines = _lines(testdata, KM3SIM)
    first = _first(lines, b"track_in")
    k = _first(lines, b"track_in", _first(lines, b"start_event: 5 ") + 1)
    lines[k] += b" 17.5"
    err = _strict_error(_write(tmp_path, lines))
    assert err.line == k + 1
    assert (f"expected 10 values (as line {first + 1}, the file's layout) in the "
            "'track_in' line, got 11") in str(err)


@pytest.mark.parametrize("value", [b"nan", b"17.9", b"inf", b"-inf"])
def test_integer_columns_take_integers_only(testdata, tmp_path, value):
    """A pmt_id of 'nan' used to become 0 and '17.9' became 17."""
    lines = _lines(testdata, NUMU_CC, 2)
    k = _first(lines, b"hit_raw")
    lines[k] = _set_value(lines[k], 1, value)
    err = _strict_error(_write(tmp_path, lines))
    assert err.line == k + 1
    assert "expected an integer in column 2 of the 'hit_raw' line" in str(err)


def test_track_type_must_be_an_integer(testdata, tmp_path):
    lines = _lines(testdata, KM3SIM)
    k = _first(lines, b"track_in")
    lines[k] = _set_value(lines[k], 9, b"3.5")
    err = _strict_error(_write(tmp_path, lines))
    assert "column 10 of the 'track_in' line, got 3.5" in str(err) and err.line == k + 1


@pytest.mark.parametrize("value", [b"nan", b"inf"])
def test_non_finite_kinematics_are_an_error(testdata, tmp_path, value):
    lines = _lines(testdata, KM3SIM)
    k = _first(lines, b"neutrino")
    lines[k] = _set_value(lines[k], 7, value)  # the energy
    err = _strict_error(_write(tmp_path, lines))
    assert err.line == k + 1
    assert "expected a finite number in column 8 of the 'neutrino' line" in str(err)


def test_non_finite_weights_are_kept_as_written(testdata, tmp_path):
    lines = _lines(testdata, KM3SIM)
    k = _first(lines, b"weights")
    lines[k] = _set_value(lines[k], 2, b"inf")
    blob = _read_all(_write(tmp_path, lines))[0]
    assert blob["weights"][0, 2] == np.inf and blob["EventInfo"].weight_w3[0] == np.inf


def test_start_event_needs_two_integers(testdata, tmp_path, capsys):
    lines = _lines(testdata, KM3SIM)
    k = _first(lines, b"start_event")
    lines[k] = b"start_event: 1"
    path = _write(tmp_path, lines)
    err = _strict_error(path)
    assert err.line == k + 1 and "two integers, got 1 values" in str(err)
    blobs = _read_all(path, strict=False)
    assert blobs[0]["EventInfo"].mc_id[0] == 1 and len(blobs) == 10
    assert f"start_event: 1 (wrong number of values (kept) (lines {k + 1}))" in \
        capsys.readouterr().err


def test_unknown_tags_stay_raw(testdata, tmp_path):
    """Tags km3flow does not interpret keep any number of values (padded with NaN)."""
    lines = _lines(testdata, KM3SIM)
    k = _first(lines, b"target")
    lines[k:k] = [b"my_tag: 1 2 3", b"my_tag: 4"]
    blob = _read_all(_write(tmp_path, lines))[0]
    np.testing.assert_array_equal(blob["my_tag"], [[1, 2, 3], [4, np.nan, np.nan]])


def _mutate_many(testdata, rng) -> tuple[list[bytes], dict[str, list[int]]]:
    """KM3Sim.evt with bad lines of several tags; returns the lines and the 1-based line
    numbers of the bad ones per tag."""
    lines = _lines(testdata, KM3SIM)
    bad: dict[str, list[int]] = {"hit": [], "track_in": [], "neutrino": []}
    hits = [k for k, ln in enumerate(lines) if ln.startswith(b"hit:")]
    for k in sorted(rng.choice(hits, 7, replace=False).tolist()):
        lines[k] = b" ".join(lines[k].split()[:-2]) if k % 2 else lines[k] + b" 3"
        bad["hit"].append(k + 1)
    tracks = [k for k, ln in enumerate(lines) if ln.startswith(b"track_in:")]
    k = int(rng.choice(tracks[1:]))
    lines[k] = _set_value(lines[k], 9, b"17.9")
    bad["track_in"].append(k + 1)
    k = _first(lines, b"neutrino", len(lines) // 2)
    lines[k] = _set_value(lines[k], 13, b"nan")
    bad["neutrino"].append(k + 1)
    return lines, bad


def test_lenient_drops_bad_lines_and_warns_once(testdata, tmp_path, capsys):
    rng = np.random.default_rng(19)
    lines, bad = _mutate_many(testdata, rng)
    path = _write(tmp_path, lines)
    _strict_error(path)
    capsys.readouterr()
    ref = _read_all(testdata(KM3SIM))
    got = _read_all(path, strict=False)
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1, err  # one warning per file
    assert "mutated.evt: bad lines dropped (strict=False), 9 in all: " in err
    assert (f"hit: 7 (wrong number of values (lines "
            f"{', '.join(map(str, bad['hit'][:5]))}, …))") in err
    assert f"track_in: 1 (not an integer (lines {bad['track_in'][0]}))" in err
    assert f"neutrino: 1 (not an integer (lines {bad['neutrino'][0]}))" in err
    # every line that is kept has the values of the original; the bad ones are gone
    n_hits = sum(len(b["McHits"]) for b in got)
    assert n_hits == sum(len(b["McHits"]) for b in ref) - 7
    for a, b in zip(ref, got):
        ids = set(b["hit"][:, 0].tolist())
        keep = np.isin(a["hit"][:, 0], list(ids))
        np.testing.assert_array_equal(a["hit"][keep], b["hit"])
        assert b["track_in"].shape[1] == 10 and b["hit"].shape[1] == 9
    # McNeutrino of the event with the bad neutrino line is absent, not filled with 0
    assert sum("McNeutrino" in b and len(b["McNeutrino"]) for b in got) == 9


def test_lenient_reports_non_numbers(testdata, tmp_path, capsys):
    lines = _lines(testdata, NUMU_CC, 2)
    k = _first(lines, b"hit_raw") + 3
    lines[k] = lines[k].replace(b" ", b" x", 1)
    path = _write(tmp_path, lines)
    _strict_error(path)
    with EvtPump(filename=path, strict=False) as p:
        assert len(p[0]["McHits"]) == 3667
        got = list(p)  # event 0 read again: checked again, counted once
    assert len(got[0]["McHits"]) == 3667
    assert f"1 in all: hit_raw: 1 (not a number (lines {k + 1}))" in \
        capsys.readouterr().err


def test_repeated_events_warn(testdata, tmp_path, capsys):
    """11 of KM3Sim's events copied again among the others (the probe's finding: 11
    repeated mc_ids in 120 events converted in silence)."""
    lines = _lines(testdata, KM3SIM)
    starts = [k for k, ln in enumerate(lines) if ln.startswith(b"start_event:")]
    ends = [k for k, ln in enumerate(lines) if ln.startswith(b"end_event:")][1:]
    events = [lines[s:e + 1] for s, e in zip(starts, ends)]
    rng = np.random.default_rng(3)
    order = list(range(10)) + rng.choice(10, 11).tolist()
    body = [ln for i in order for ln in events[i]]
    path = _write(tmp_path, lines[:starts[0]] + body + [b""])
    with EvtPump(filename=path) as p:
        assert len(p) == 21
        err = capsys.readouterr().err
        assert err.count("WARNING") == 1
        assert "11 of 21 events repeat an event id (mc_id) used earlier in the file" in err
        ids, counts = np.unique(order, return_counts=True)
        listed = [f"{i + 1} ({c}x, first in event {order.index(i)})"
                  for i, c in zip(ids, counts) if c > 1][:5]
        assert err.rstrip().endswith(": " + ", ".join(listed))


def test_deleted_and_repeated_lines_warn(testdata, tmp_path, capsys):
    lines = _lines(testdata, KM3SIM)
    ev3 = _first(lines, b"start_event: 3 ")
    k = _first(lines, b"hit", ev3) + 1
    del lines[k]  # a hit of event index 2
    ev6 = _first(lines, b"start_event: 6 ")
    k = _first(lines, b"track_in", ev6)
    lines.insert(k, lines[k])  # a repeated track of event index 5
    _read_all(_write(tmp_path, lines))
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1
    assert "suspicious events (a line deleted or repeated?)" in err
    assert "hit ids are not 1..n (events 2; 1 in all)" in err
    assert "repeated track_in ids (events 5; 1 in all)" in err
    assert "total_hits differs from the number of hit lines (events 2; 1 in all)" in err


def test_layout_of_a_tag_written_with_a_space_before_the_colon(testdata, tmp_path):
    """'hit :' lines are not found by the layout search for 'hit:'; the layout then comes
    from the lines at hand, and the file reads as the original (and a short line still
    fails)."""
    lines = _lines(testdata, KM3SIM)
    spaced = [b"hit :" + ln[4:] if ln.startswith(b"hit:") else ln for ln in lines]
    ref, got = _read_all(testdata(KM3SIM)), _read_all(_write(tmp_path, spaced))
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a["hit"], b["hit"])
    k = [i for i, ln in enumerate(spaced) if ln.startswith(b"hit :")][6]
    spaced[k] = b" ".join(spaced[k].split()[:-1])
    err = _strict_error(_write(tmp_path, spaced, "short.evt"))
    assert err.line == k + 1 and "in the 'hit' line, got 8" in str(err)


def test_lenient_warning_at_the_end_of_iteration(testdata, tmp_path, capsys):
    """Reading to the end warns without close(); close() then does not warn again."""
    lines = _lines(testdata, KM3SIM)
    k = _first(lines, b"weights")
    lines[k] += b" 0.5"
    pump = EvtPump(filename=_write(tmp_path, lines), strict=False)
    assert len(list(pump)) == 10
    assert f"weights: 1 (wrong number of values (lines {k + 1}))" in capsys.readouterr().err
    pump.close()
    assert capsys.readouterr().err == ""
