"""get_dtype / numpyfi: NumPy dtypes from ROOT streamer info and record arrays of split branches.

Counts and values to compare with were computed with km3io 1.2.6 in a separate venv
(``km3io.OfflineReader(path)``, ``ak.num(r.hits.t, axis=1)``, ``r[0].trks.E[0]``).
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.exceptions import FormatError
from km3flow.io.root import JaggedRecords, get_dtype, numpyfi, variable_members

OFFLINE = "offline/km3net_offline.root"
VEC = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")]


def test_get_dtype_hit_as_in_the_talk(testdata):
    dtype = get_dtype(testdata(OFFLINE), "Hit")
    # the member list of aanet's Hit, as get_dtype(Hit) showed it in the talk
    assert dtype == np.dtype([
        ("id", "<i4"), ("dom_id", "<i4"), ("channel_id", "<u4"), ("tdc", "<u4"),
        ("tot", "<u4"), ("trig", "<i4"), ("pmt_id", "<i4"), ("t", "<f8"), ("a", "<f8"),
        ("pos", VEC), ("dir", VEC), ("pure_t", "<f8"), ("pure_a", "<f8"), ("type", "<i4"),
        ("origin", "<i4"), ("pattern_flags", "<u4"),
    ])
    assert get_dtype(testdata(OFFLINE), "Hit", byteorder=">")["t"] == np.dtype(">f8")
    aligned = get_dtype(testdata(OFFLINE), "Hit", align=True)
    assert aligned.fields["t"][1] == 32 and aligned.itemsize == 128  # padded before t
    assert get_dtype(testdata(OFFLINE), "Hit", aliases=True).fields["time"][0] == np.dtype("f8")


def test_get_dtype_inlines_bases_and_skips_variable_members(testdata):
    trk = get_dtype(testdata(OFFLINE), "Trk")
    assert trk.names[:3] == ("fUniqueID", "fBits", "id")  # TObject via AAObject
    assert trk["pos"] == np.dtype(VEC) and "rec_stages" not in trk.names
    assert variable_members(testdata(OFFLINE), "Trk") == [
        "usr_data", "usr_names", "rec_stages", "fitinf", "hit_ids", "error_matrix", "comment"]
    evt = get_dtype(testdata(OFFLINE), "Evt")
    assert evt["t"] == np.dtype([("fSec", "<i4"), ("fNanoSec", "<i4")])
    assert evt["trigger_mask"] == np.dtype("<u8")


def test_get_dtype_unknown_class(testdata):
    with pytest.raises(FormatError, match="no streamer info for class 'Nope'.*Hit"):
        get_dtype(testdata(OFFLINE), "Nope")
    with pytest.raises(FormatError, match="no streamer version 99"):
        get_dtype(testdata(OFFLINE), "Hit", version=99)


def test_numpyfi_hits(testdata):
    hits = numpyfi(testdata(OFFLINE), "Evt/hits")
    assert isinstance(hits, JaggedRecords) and len(hits) == 10
    # km3io hits per event
    assert hits.counts.tolist() == [176, 125, 318, 157, 83, 60, 71, 84, 255, 105]
    first = hits[0]
    assert isinstance(first, np.recarray)
    assert first.time[0] == 70104010.0 and first.t[-1] == 70104841.0  # km3io t first/last
    assert first.dom_id[0] == 806451572 and first.dom_id[-1] == 809544061
    assert hits[-1].time[-1] == 54749367.0
    assert (first.pos.x == 0).all()
    # field access is a view of the one record buffer: no copy
    assert np.shares_memory(first.pos.x, hits.records)
    assert np.shares_memory(hits.records.time, hits.records)
    assert [len(h) for h in hits] == hits.counts.tolist()
    with pytest.raises(IndexError):
        hits[10]


def test_numpyfi_calibrated_hits_and_tracks(testdata):
    path = testdata("offline/usr-sample.root")
    hits = numpyfi(path, "Evt/hits")
    assert hits[0].pos.x[0] == pytest.approx(464.43319912912)  # km3io hits.pos_x[0]
    trks = numpyfi(testdata(OFFLINE), "Evt/trks", entry_start=1, entry_stop=3)
    assert trks.counts.tolist() == [55, 56]
    trks = numpyfi(testdata(OFFLINE), "Evt/trks")
    assert trks[0].energy[0] == pytest.approx(99.10458562488608)
    assert trks[0].dir.z[0] == pytest.approx(-0.872885221293917)
    assert trks[9].likelihood[0] == pytest.approx(159.77779654216795)


def test_numpyfi_one_object_per_entry(testdata):
    evt = numpyfi(testdata(OFFLINE), "Evt")
    assert evt.counts.tolist() == [1] * 10
    assert evt.records.id.tolist() == list(range(1, 11))
    assert evt[0].t.fSec[0] == 1567036818  # km3io t_sec


def test_numpyfi_errors(testdata):
    with pytest.raises(FormatError, match="expected a branch 'Evt/nope'"):
        numpyfi(testdata(OFFLINE), "Evt/nope")
    with pytest.raises(FormatError, match="expected a TTree 'E'"):
        numpyfi(testdata("acoustics/mechanical_model.root"), "Evt/hits")


# Unsplit branches: Jpp DAQ hits in online files, viewed in the decompressed basket bytes.
# Expected values: km3io's former OnlineReader tests (KM3NeT/km3io tests/test_online.py at
# commit b4a0949, before km3io dropped its online reader): snapshot hits per event 96, 124,
# 78; dom_id [806451572, 806451572, 806455814], channel_id [10, 13, 0], time [30733918,
# 30733916, 30733256]; triggered hits 18, 53, 9 with trigger_mask [16, 16, 4].
ONLINE = "online/km3net_online.root"
SNAPSHOT = np.dtype([("dom_id", ">i4"), ("channel_id", "u1"), ("time", "<u4"), ("tot", "u1")])
TRIGGERED = np.dtype(SNAPSHOT.descr + [("mask_count", ">u4"), ("mask_version", ">u2"),
                                       ("trigger_mask", ">u8")])


def test_numpyfi_unsplit_views_of_basket_bytes(testdata):
    hits = numpyfi(testdata(ONLINE), "snapshotHits", tree="KM3NET_EVENT", dtype=SNAPSHOT)
    assert hits.counts.tolist() == [96, 124, 78]
    first = hits[0]
    assert first.dom_id[:3].tolist() == [806451572, 806451572, 806455814]
    assert first.channel_id[:3].tolist() == [10, 13, 0]
    assert first.time[:3].tolist() == [30733918, 30733916, 30733256]
    # zero copy: the entry is a view of the basket's decompressed bytes
    assert any(np.shares_memory(first, buf) for buf in hits.buffers)
    assert not np.shares_memory(first, hits[1])
    flat = hits.records  # the one place that copies: headers between entries are dropped
    assert len(flat) == 298 and hits.offsets.tolist() == [0, 96, 220, 298]
    assert flat[96:98].tobytes() == hits[1][:2].tobytes()
    assert not any(np.shares_memory(flat, buf) for buf in hits.buffers)
    triggered = numpyfi(testdata(ONLINE), "triggeredHits", tree="KM3NET_EVENT",
                        dtype=TRIGGERED)
    assert triggered.counts.tolist() == [18, 53, 9]
    assert triggered[0].trigger_mask[:3].tolist() == [16, 16, 4]
    assert triggered[0].time[:3].tolist() == [30733918, 30733916, 30733429]
    tail = numpyfi(testdata(ONLINE), "snapshotHits", tree="KM3NET_EVENT", dtype=SNAPSHOT,
                   entry_start=1)
    assert tail.counts.tolist() == [124, 78] and tail[-1].tobytes() == hits[2].tobytes()


def test_numpyfi_unsplit_needs_a_layout(testdata):
    # JDAQSnapshotHit has a custom streamer: no members to derive a dtype from
    with pytest.raises(FormatError, match="pass dtype="):
        numpyfi(testdata(ONLINE), "snapshotHits", tree="KM3NET_EVENT")
    wrong = np.dtype(SNAPSHOT.descr + [("pad", "u1")])  # 11 bytes: does not divide
    with pytest.raises(FormatError, match="not a whole number of 11-byte records"):
        numpyfi(testdata(ONLINE), "snapshotHits", tree="KM3NET_EVENT", dtype=wrong)


def test_numpyfi_fields_keep_the_entries_as_the_readme_shows(testdata):
    hits = numpyfi(testdata("offline/usr-sample.root"), "Evt/hits")
    # hits.time / hits.pos.x as in the talk and the README: per entry, views of one buffer
    assert isinstance(hits.time, JaggedRecords) and isinstance(hits.pos.x, JaggedRecords)
    assert hits.pos.x.counts.tolist() == hits.counts.tolist()
    for i in (0, 1, -1):
        assert np.array_equal(hits.pos.x[i], hits[i].pos.x)
        assert np.array_equal(hits.time[i], hits[i].t)  # alias title of aanet's "t"
    assert hits.pos.x[0][0] == pytest.approx(464.43319912912)
    flat = np.asarray(hits.pos.x)
    assert flat.shape == (len(hits.records),) and np.shares_memory(flat, hits.records)
    assert np.array_equal(np.asarray(hits["dom_id"]), hits.records.dom_id)
    assert np.mean(hits.pos.z) == pytest.approx(hits.records.pos.z.mean())
    with pytest.raises(AttributeError, match="no field 'nope'.*fields: id, dom_id"):
        hits.nope
    with pytest.raises(KeyError, match="no field 'y'"):
        hits.time["y"]
