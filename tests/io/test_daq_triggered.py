"""The ``triggered`` flag of DAQ event hits against a straightforward reference.

A snapshot hit is triggered when its (dom_id, channel_id, time, tot) occurs among the
triggered hits of its own event. The reference below says exactly that, with a Python set
per event; the bulk decoder (:func:`km3flow.io.daq.bulk.read_events`, a hash table over
all events of a chunk), the chunked pump and the frame-by-frame decoder must agree with it
on the km3net-testdata files and on streams rebuilt from IO_EVT.dat's events with seeded
mutations: duplicated and shuffled hits, events without triggered or snapshot hits,
triggered hits that miss a snapshot hit by one field, hits of another event, times and
channels beyond the usual ranges, and tiny value ranges where many keys coincide.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from km3flow.io.daq import DAQReader, index_frames
from km3flow.io.daq import bulk, triggered
from km3flow.io.daq.format import SNAPSHOT_HIT_DTYPE, TRIGGERED_HIT_DTYPE

_FIELDS = ("dom_id", "channel_id", "time", "tot")


def _reference(snap, trig):
    """Straightforward: per hit, is (dom, channel, time, tot) in the event's triggered set."""
    keys = {tuple(int(h[f]) for f in _FIELDS) for h in trig}
    return [tuple(int(h[f]) for f in _FIELDS) in keys for h in snap]


def _split_events(data, legacy=False):
    """(bytes before the triggered-hit count, triggered, snapshot) of every event frame."""
    fixed = 54 - (2 if legacy else 0)  # preamble, version, header, counter, mask, overlays, n
    out = []
    for off, length in index_frames(data)[["offset", "length"]].tolist():
        frame = data[off:off + length]
        (nt,) = struct.unpack_from("<i", frame, fixed - 4)
        trig = np.frombuffer(frame, TRIGGERED_HIT_DTYPE, nt, fixed).copy()
        (ns,) = struct.unpack_from("<i", frame, fixed + 18 * nt)
        snap = np.frombuffer(frame, SNAPSHOT_HIT_DTYPE, ns, fixed + 18 * nt + 4).copy()
        out.append((frame[:fixed - 4], trig, snap))
    return out


def _frame(head, trig, snap):
    body = (head[8:] + struct.pack("<i", len(trig)) + trig.tobytes()
            + struct.pack("<i", len(snap)) + snap.tobytes())
    return struct.pack("<i", 8 + len(body)) + head[4:8] + body


def _mutated_stream(testdata, seed=13, copies=40):
    """IO_EVT.dat's events, concatenated ``copies`` times, each copy mutated (seeded)."""
    with open(testdata("daq/IO_EVT.dat"), "rb") as fobj:
        events = _split_events(fobj.read())
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    previous_snap = events[-1][2]
    for copy in range(copies):
        for head, trig, snap in events:
            trig, snap = trig.copy(), snap.copy()
            kind = (copy * len(events) + len(frames)) % 10
            if kind == 1:  # duplicated snapshot and triggered hits, shuffled
                snap = np.concatenate([snap, snap[rng.integers(0, len(snap), 20)]])
                trig = np.concatenate([trig, trig[rng.integers(0, len(trig), 5)]])
                snap, trig = snap[rng.permutation(len(snap))], trig[rng.permutation(len(trig))]
            elif kind == 2:  # no triggered hits
                trig = trig[:0]
            elif kind == 3:  # no snapshot hits
                snap = snap[:0]
            elif kind == 4:  # triggered hits one field away from their snapshot hit
                for k, name in enumerate(_FIELDS):
                    trig[k::4][name] += 1
            elif kind == 5:  # only hits of the previous event are triggered
                n = min(len(previous_snap), 30)
                trig = np.zeros(n, TRIGGERED_HIT_DTYPE)
                for name in _FIELDS:
                    trig[name] = previous_snap[name][:n]
            elif kind == 6:  # times and channels beyond the usual ranges
                snap["time"][::3] += np.uint32(1 << 30)
                snap["channel_id"][1::5] = 200
                trig[: len(trig) // 2] = 0
                for name in _FIELDS:
                    trig[name][: len(trig) // 2] = snap[name][: len(trig) // 2]
            elif kind == 7:  # tiny ranges: many equal keys inside and across events
                snap = np.zeros(60, SNAPSHOT_HIT_DTYPE)
                trig = np.zeros(25, TRIGGERED_HIT_DTYPE)
                for arr in (snap, trig):
                    arr["dom_id"] = rng.integers(1, 3, len(arr))
                    arr["channel_id"] = rng.integers(0, 2, len(arr))
                    arr["time"] = rng.integers(100, 103, len(arr))
                    arr["tot"] = rng.integers(20, 22, len(arr))
            elif kind == 8:  # random bytes
                snap = rng.integers(0, 256, 10 * 50, np.uint8).view(SNAPSHOT_HIT_DTYPE)
                trig = rng.integers(0, 256, 18 * 10, np.uint8).view(TRIGGERED_HIT_DTYPE)
                trig[:5][list(_FIELDS)] = snap[10:15][list(_FIELDS)]
            frames.append(_frame(head, trig, snap))
            truth.append(_reference(snap, trig))
            previous_snap = snap
    return b"".join(frames), truth


@pytest.mark.parametrize("name,legacy", [("IO_EVT.dat", False), ("IO_EVT_legacy.dat", True)])
def test_triggered_flag_of_the_test_files_equals_the_reference(testdata, name, legacy):
    with open(testdata(f"daq/{name}"), "rb") as fobj:
        data = fobj.read()
    events = _split_events(data, legacy)
    truth = [_reference(snap, trig) for _, trig, snap in events]
    assert sum(map(sum, truth)) > 0 and sum(len(t) - sum(t) for t in truth) > 0
    batch = bulk.read_events(data, legacy)
    assert batch.hits.triggered.tolist() == sum(truth, [])
    with DAQReader(data=data, legacy=legacy) as reader:
        assert [blob["Hits"].triggered.tolist() for blob in reader] == truth
        assert [reader[k]["Hits"].triggered.tolist() for k in range(len(reader))] == truth


def test_triggered_flag_of_a_mutated_stream_equals_the_reference(testdata):
    data, truth = _mutated_stream(testdata)
    flat = sum(truth, [])
    assert 0 < sum(flat) < len(flat)
    assert any(not t for t in truth) and any(t and not any(t) for t in truth)
    batch = bulk.read_events(data)
    assert batch.hits.triggered.tolist() == flat
    assert batch.hits.tobytes() == bulk.read_events(data).hits.tobytes()  # deterministic
    # the pump's chunks (one hash table each), and the frame-by-frame decoder
    with DAQReader(data=data, chunk_size=16) as reader:
        assert [blob["Hits"].triggered.tolist() for blob in reader] == truth
        assert [reader[k]["Hits"].triggered.tolist() for k in range(0, len(reader), 7)] == \
            truth[::7]
    # no event of the stream has triggered hits
    with open(testdata("daq/IO_EVT.dat"), "rb") as fobj:
        events = _split_events(fobj.read())
    data = b"".join(_frame(head, trig[:0], snap) for head, trig, snap in events)
    batch = bulk.read_events(data)
    assert len(batch.hits) == 375 and not batch.hits.triggered.any()


@pytest.mark.parametrize("group,rounds", [(1, 6), (50, 6), (1 << 15, 1), (1 << 15, 0)])
def test_triggered_flag_with_small_groups_and_few_hash_rounds(testdata, monkeypatch,
                                                             group, rounds):
    # groups of 1 or 50 triggered hits (one event or a few per table); after 0 or 1 hash
    # rounds the rest goes to the exact set fallback
    data, truth = _mutated_stream(testdata, seed=7, copies=12)
    monkeypatch.setattr(triggered, "_GROUP", group)
    monkeypatch.setattr(triggered, "_MAX_ROUNDS", rounds)
    assert bulk.read_events(data).hits.triggered.tolist() == sum(truth, [])


def test_hash_rounds_resolve_collisions_exactly(monkeypatch):
    # 5000 distinct triggered keys, 2000 of them sharing their first word (as one hit
    # repeated in many events), and the same keys one bit away: about 6 % of the keys lose
    # their slot in each round, so several rounds run; copies of a key are found too
    rng = np.random.default_rng(3)
    a_t = np.concatenate([rng.integers(0, 1 << 63, 3000, dtype=np.uint64),
                          np.repeat(rng.integers(0, 1 << 63, 2, dtype=np.uint64), 1000)])
    b_t = rng.choice(1 << 40, 5000, replace=False).astype(np.uint64)
    a_s = np.concatenate([a_t, a_t ^ np.uint64(1), a_t[-100:]])
    b_s = np.concatenate([b_t, b_t, b_t[-100:] ^ np.uint64(1 << 45)])
    a_t, b_t = np.concatenate([a_t, a_t[:50]]), np.concatenate([b_t, b_t[:50]])
    expected = [True] * 5000 + [False] * 5100
    depths = []
    match_words = triggered._match_words

    def counting(*args):
        depths.append(args[4] if len(args) == 5 else 0)
        return match_words(*args)

    monkeypatch.setattr(triggered, "_match_words", counting)
    assert triggered._match_words(a_s, b_s, a_t, b_t).tolist() == expected
    assert max(depths) >= 2
