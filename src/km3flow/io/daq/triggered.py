"""Which snapshot hits of a DAQ event are also among its triggered hits (the ``triggered``
flag of the Hits table), for many events at once or for one.

Both hit records start with the same 10 bytes on the wire (dom_id, channel_id, time, tot),
so a hit is identified exactly by two integers, and a hash table matches them without
sorting and without assuming any order of the hits. The bulk decoder
(:mod:`~km3flow.io.daq.bulk`) calls :func:`batch_triggered` per chunk of events; the
per-event decoders (``DAQReader[i]``, online ROOT files) call :func:`triggered_flags`.
"""

from __future__ import annotations

import numpy as np

from .format import SNAPSHOT_HIT_DTYPE, TRIGGERED_HIT_DTYPE


def triggered_flags(snapshot: np.ndarray, triggered: np.ndarray) -> np.ndarray:
    """Mark the snapshot hits whose (dom_id, channel_id, time, tot) equal a triggered hit's.

    ``snapshot``/``triggered`` are the hits of one event: structured arrays with those
    fields, as on the wire or in any other layout and byte order (then packed first).
    """
    s, t = _wire(snapshot), _wire(triggered)
    return batch_triggered(s, t, np.array([0, len(s)]), np.array([0, len(t)]))


def _wire(hits: np.ndarray) -> np.ndarray:
    """The hits with the wire layout's first 10 bytes (a copy unless they have it)."""
    if hits.dtype in (SNAPSHOT_HIT_DTYPE, TRIGGERED_HIT_DTYPE):
        return hits
    packed = np.empty(len(hits), SNAPSHOT_HIT_DTYPE)
    for name in SNAPSHOT_HIT_DTYPE.names or ():
        packed[name] = hits[name]
    return packed


def batch_triggered(snap: np.ndarray, trig: np.ndarray, so: np.ndarray,
                     to: np.ndarray) -> np.ndarray:
    """The ``triggered`` flag of all events at once: does a snapshot hit's (dom_id,
    channel_id, time, tot) occur among the triggered hits of its own event?

    ``snap``/``trig`` are the hits of all events in the wire layout (their first 10 bytes),
    ``so``/``to`` the events' offsets into them.

    Both hit records start with those 10 bytes, so a hit is identified exactly by two
    integers, its first 8 bytes and its next 2 bytes with the event index above them, and
    :func:`_match_words` finds them with a hash table — no sort, and no order assumed
    (in IO_EVT.dat the triggered hits are ordered by DOM and channel, the snapshot hits
    only grouped by DOM, so neither is a subsequence of the other). Events go in groups
    of about ``_GROUP`` triggered hits, which keeps the table in cache (the pump's chunks
    are one group).
    """
    out = np.zeros(len(snap), dtype=bool)
    if not len(snap) or not len(trig):
        return out
    n_events, first = len(so) - 1, 0
    while first < n_events:
        last = max(int(np.searchsorted(to, to[first] + _GROUP, side="right")) - 1, first + 1)
        s, t = slice(so[first], so[last]), slice(to[first], to[last])
        if s.start != s.stop and t.start != t.stop:
            # words per group: small arrays, reused memory (whole-stream ones cost page faults)
            out[s] = _match_words(*_hit_words(snap[s], so[first:last + 1]),
                                  *_hit_words(trig[t], to[first:last + 1]))
        first = last
    return out


_GROUP = (1 << 15) - 1  # triggered hits per group: a table of at most 2**18 int32 (1 MB)
_MAX_ROUNDS = 6
# odd 64-bit multipliers (splitmix64, murmur3, xxhash64): one per round, then the mixer
_ROUND_MULT = np.array([0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xFF51AFD7ED558CCD,
                        0xC2B2AE3D27D4EB4F, 0x9E3779B185EBCA87, 0x27D4EB2F165667C5],
                       dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_NO_HIT = np.uint64(1 << 63)  # a second word no hit has (event indices stay below 2**47)


def _hit_words(rec: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bytes 0–7 of each hit record as uint64, and bytes 8–9 | event index << 16 (the
    events are numbered from 0 at ``offsets[0]``)."""
    n, size = len(rec), rec.dtype.itemsize
    raw = np.ascontiguousarray(rec).view(np.uint8)
    first = np.ndarray((n,), "<u8", buffer=raw, strides=(size,)).copy()
    second = np.repeat(np.arange(len(offsets) - 1, dtype=np.uint64), np.diff(offsets))
    second <<= np.uint64(16)
    second |= np.ndarray((n,), "<u2", buffer=raw, offset=8, strides=(size,))
    return first, second


def _match_words(a_s: np.ndarray, b_s: np.ndarray, a_t: np.ndarray, b_t: np.ndarray,
                 depth: int = 0) -> np.ndarray:
    """For each snapshot key ``(a_s, b_s)``: is it among the triggered keys ``(a_t, b_t)``?

    The triggered keys are scattered into a table of 8–16 slots per key (their indices,
    one per slot); each snapshot key gathers its slot's index and compares both words.
    Keys that lost their slot to a different key are matched in a further round with
    another hash function, against only the snapshot keys whose slot was contended; after
    ``_MAX_ROUNDS`` rounds the rest (a few keys, if any: each round keeps ~6 %) is
    matched with a Python set.
    """
    n = len(a_t)
    if depth >= _MAX_ROUNDS:
        keys = set(zip(a_t.tolist(), b_t.tolist()))
        return np.fromiter((k in keys for k in zip(a_s.tolist(), b_s.tolist())), bool,
                           len(a_s))
    bits = n.bit_length() + 3
    shift, mult = np.uint64(64 - bits), _ROUND_MULT[depth]
    slot_t, slot_s = _slots(a_t, b_t, mult, shift), _slots(a_s, b_s, mult, shift)
    # int32 indices (a smaller table, in cache): a group holds < 2**31 keys (an i4 count)
    index = np.arange(n, dtype=np.int32)
    table = np.full(1 << bits, n, dtype=np.int32)  # n: the empty slot (a sentinel key)
    table[slot_t] = index  # of the keys sharing a slot, one stays
    found = table[slot_s]
    a_x, b_x = np.append(a_t, np.uint64(0)), np.append(b_t, _NO_HIT)
    match = a_x[found] == a_s
    match &= b_x[found] == b_s
    kept = table[slot_t]
    lost = np.flatnonzero(kept != index)
    if len(lost):
        # a copy of the key that kept the slot is not lost
        other = kept[lost]
        lost = lost[(a_t[other] != a_t[lost]) | (b_t[other] != b_t[lost])]
    if len(lost):
        contended = np.zeros(1 << bits, dtype=bool)
        contended[slot_t[lost]] = True
        retry = np.flatnonzero(contended[slot_s] & ~match)
        if len(retry):
            match[retry] = _match_words(a_s[retry], b_s[retry], a_t[lost], b_t[lost],
                                        depth + 1)
    return match


def _slots(a: np.ndarray, b: np.ndarray, mult: np.uint64, shift: np.uint64) -> np.ndarray:
    """Multiplicative hash of the two words, the top bits as table slots."""
    h = b * mult
    h ^= a
    h *= _MIX
    h >>= shift
    return h.view(np.int64)
