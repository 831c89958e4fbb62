"""km3flow.reco against km3io's best-track selection, on real offline files.

Reference values were computed once with km3io 1.2.6 (awkward 2.14.0, uproot 5.7.7) in a
separate venv, per file: ``t = km3io.OfflineReader(path).events.tracks``;
``z = ak.zip({"rec_stages": t.rec_stages, "lik": t.lik, "idx": ak.local_index(t.lik)},
depth_limit=2)``; then ``km3io.tools.best_jmuon(z).idx`` (and best_jshower, best_aashower,
best_dusjshower, ``best_track(z, stages=…/startend=…/minmax=…)``), i.e. the position of the
selected track within its event, -1 where km3io answers None.  ``best_jmuon(t).lik`` gave
the likelihoods.
"""

from __future__ import annotations

import numpy as np
import pytest
import tables

from km3flow import reco
from km3flow.core import Pipeline
from km3flow.dataclasses import Table
from km3flow.io.hdf5 import HDF5Sink
from km3flow.io.root import OfflinePump

OFFLINE = "offline/km3net_offline.root"
V92 = ("offline/KM3NeT_00000049_00011291.mc.gsg_neutrinos.km3sim_sirene_merged.jterbr."
       "jppmuon_jppshower_static.offline.v9.2.sample.root")

# offline/km3net_offline.root: km3io.tools.best_<kind>(z) → position of the selected track in
# its event (-1 where km3io answers None)
OFFLINE_KINDS = {
    "jmuon": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "jshower": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    "aashower": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    "dusjshower": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
}
# ... and the likelihoods of km3io"s selected tracks (best_<kind>(tracks).lik)
OFFLINE_LIK = {
    "jmuon": [294.6407542676734, 96.75133289411137, 560.2775306614813, 278.2872951665753,
        99.59098153341449, 57.84093107093217, 47.34583306549873, 71.03251451148226,
        326.440133294878, 159.77779654216795],
    "jshower": [None, None, None, None, None, None, None, None, None, None],
}
# km3io.tools.best_track(z, **{criterion: value}) → positions
OFFLINE_CRITERIA = [
    ("stages", [1, 3, 5, 4], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("stages", [1, 3], [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
    ("stages", {1, 3}, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("stages", {5}, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("startend", (1, 3), [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
    ("startend", (1, 5), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
    ("minmax", (1, 3), [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
]
# km3io.tools.best_aashower / best_dusjshower(z) with the JShower stages 100..199 shifted by
# +200 / +100 (ak.where((rs >= 100) & (rs <= 199), rs + shift, rs)) → positions
OFFLINE_SHIFTED = {
    "aashower": (200, [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1]),
    "dusjshower": (100, [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1]),
}

# V92: km3io.tools.best_<kind>(z) → position of the selected track in its event (-1: None)
V92_KINDS = {
    "jmuon": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0],
    "jshower": [1, 78, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 2, -1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 2,
        1, 99, 72],
    "aashower": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1],
    "dusjshower": [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
}
# ... and the likelihoods of km3io"s selected tracks (best_<kind>(tracks).lik)
V92_LIK = {
    "jmuon": [84.96231053004087, 116.71690123089886, 186.50091093375642, 18.911476294160735,
        248.16780554819414, 73.56030551361613, 79.13084651098427, 101.75545152188805,
        94.74303965027804, 37.28376016021589, 106.73437526842713, 96.98375402405097,
        47.18469967383285, 363.92543503326993, 112.77134757439673, 76.91657537595067,
        107.51449775767267, 185.36603747642187, 54.15657152136153, 129.41611509174726,
        316.29231348376163, 50.604051879680874, 19.416104851275737, 122.58971226472038,
        300.78179185229413, 675.1047132084617, 70.65987236829204, 50.95970492985242,
        126.85574267155026, 96.01148518443976],
    "jshower": [162.5472055828484, -0.0, 370.6964207393818, 19.40417738311914, 367.39728914851025,
        127.0785012718347, 61.202070029625716, 130.27265564094193, 112.90421050438577,
        45.63501267233471, 112.7310145668812, 133.90441778060674, 42.92502470389702,
        611.1416962427794, -0.0, 3.0640493798496355, None, 276.6188924776021, 73.89975179453373,
        157.76246487740949, 606.6553324111813, 65.87713994023288, 13.637289139425015,
        186.14817182449102, 423.09710739464356, 1827.6287519339544, -0.0, 57.474491664921075, -0.0,
        -0.0],
}
# km3io.tools.best_track(z, **{criterion: value}) → positions
V92_CRITERIA = [
    ("stages", [1, 2, 5, 3, 5, 4], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("stages", [1, 2, 5, 3], [216, 2, 216, 6, 6, 191, 6, 176, 84, 84, 46, 70, 6, 6, 6, 6, 2, 198,
        163, 57, 215, 41, 6, 211, 200, 216, 6, 15, 2, 2]),
    ("stages", {101, 103}, [1, 78, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 2, -1, 1, 1, 1, 1, 1, 2,
        1, 1, 1, 2, 1, 99, 72]),
    ("stages", {3, 4}, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0]),
    ("startend", (101, 103), [1, 78, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 2, -1, 1, 1, 1, 1, 1, 2,
        1, 1, 1, 2, 1, 99, 72]),
    ("startend", (1, 5), [5, 1, 5, 2, 5, 5, 1, 5, 5, 5, 5, 5, 1, 5, 1, 1, 1, 5, 5, 5, 5, 5, 1, 5, 5,
        5, 1, 5, 1, 1]),
    ("minmax", (1, 5), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0]),
    ("minmax", (101, 106), [266, 382, 265, 262, 259, 266, 266, 266, 266, 266, 266, 265, 268, 264,
        266, 316, -1, 266, 266, 266, 266, 266, 264, 266, 266, 266, 263, 264, 412, 372]),
]
# km3io.tools.best_aashower / best_dusjshower(z) with the JShower stages 100..199 shifted by
# +200 / +100 (ak.where((rs >= 100) & (rs <= 199), rs + shift, rs)) → positions
V92_SHIFTED = {
    "aashower": (200, [1, 78, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 2, -1, 1, 1, 1, 1, 1, 2, 1, 1,
        1, 2, 1, 99, 72]),
    "dusjshower": (100, [1, 78, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 2, -1, 1, 1, 1, 1, 1, 2, 1,
        1, 1, 2, 1, 99, 72]),
}
FILES = {OFFLINE: (OFFLINE_KINDS, OFFLINE_LIK, OFFLINE_CRITERIA, OFFLINE_SHIFTED),
         V92: (V92_KINDS, V92_LIK, V92_CRITERIA, V92_SHIFTED)}
BEST = {"jmuon": reco.best_jmuon, "jshower": reco.best_jshower,
        "aashower": reco.best_aashower, "dusjshower": reco.best_dusjshower}


@pytest.fixture(scope="module")
def events(testdata):
    """file → the Tracks table of each event, read with OfflinePump."""
    out = {}
    for name in FILES:
        with OfflinePump(filename=testdata(name), collections=["Tracks"]) as pump:
            out[name] = [pump[i]["Tracks"].copy() for i in range(len(pump))]
    return out


def _whole_file(per_event):
    """All events' tracks in one table with group_id (as /reco/tracks of an HDF5 file)."""
    rows = np.concatenate([np.asarray(t) for t in per_event])
    out = np.empty(len(rows), dtype=rows.dtype.descr + [("group_id", "<i8")])
    for name in rows.dtype.names:
        out[name] = rows[name]
    out["group_id"] = np.repeat(np.arange(len(per_event)), [len(t) for t in per_event])
    return Table(out, h5loc="/reco/tracks", name="Tracks")


def _assert_rows(best, per_event, positions):
    """``best`` has, per event, the track at ``positions`` (or the NaN row for -1)."""
    assert len(best) == len(per_event) == len(positions)
    for i, (tracks, pos) in enumerate(zip(per_event, positions)):
        row = best[i]
        if pos < 0:
            assert row["n_rec_stages"] == 0 and np.isnan(row["likelihood"]), i
            assert np.isnan(row["dir_z"]) and row["rec_stage_0"] == -1, i
            continue
        expected = tracks[pos]
        for column in tracks.dtype.names:
            np.testing.assert_array_equal(row[column], expected[column],
                                          err_msg=f"event {i} column {column}")


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("kind", sorted(BEST))
def test_best_kind_of_whole_file_matches_km3io(events, name, kind):
    per_event = events[name]
    best = BEST[kind](_whole_file(per_event))
    assert best.h5loc == f"/reco/best_{kind}"
    assert best.group_id.tolist() == list(range(len(per_event)))
    _assert_rows(best, per_event, FILES[name][0][kind])


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("kind", sorted(BEST))
def test_best_kind_per_event_matches_km3io(events, name, kind):
    per_event = events[name]
    rows = [BEST[kind](tracks) for tracks in per_event]
    assert all(len(r) == 1 and "group_id" not in r.dtype.names for r in rows)
    _assert_rows(np.concatenate(rows), per_event, FILES[name][0][kind])


@pytest.mark.parametrize("name", sorted(FILES))
def test_likelihoods_are_km3ios(events, name):
    whole = _whole_file(events[name])
    for kind, liks in FILES[name][1].items():
        got = BEST[kind](whole).likelihood
        expected = np.array([np.nan if x is None else x for x in liks])
        np.testing.assert_array_equal(got, expected)


def _criteria():
    for name in sorted(FILES):
        for criterion, value, positions in FILES[name][2]:
            yield pytest.param(name, criterion, value, positions,
                               id=f"{name.split('/')[1][:14]}-{criterion}-{sorted(value)}")


@pytest.mark.parametrize(("name", "criterion", "value", "positions"), list(_criteria()))
def test_best_track_criteria_match_km3io(events, name, criterion, value, positions):
    if criterion == "startend":
        kwargs = {"start": value[0], "end": value[1]}
    else:
        kwargs = {criterion: value}
    _assert_rows(reco.best_track(_whole_file(events[name]), **kwargs), events[name],
                 positions)


@pytest.mark.parametrize("kind", ["aashower", "dusjshower"])
def test_aashower_and_dusjshower_on_shifted_stages_match_km3io(events, kind):
    # the testdata files have no aashower/dusj fits: the JShower stages moved into their
    # ranges stand in for them, in km3io (reference) and here alike
    shift, positions = V92_SHIFTED[kind]
    per_event = []
    for tracks in events[V92]:
        shifted = tracks.copy()
        for i in range(8):
            column = shifted[f"rec_stage_{i}"]
            column[(column >= 100) & (column <= 199)] += shift
        per_event.append(shifted)
    _assert_rows(BEST[kind](_whole_file(per_event)), per_event, positions)
    assert (np.array(positions) >= 0).sum() == 29


def test_group_ids_choose_and_order_the_events(events):
    per_event = events[V92]
    whole = _whole_file(per_event)
    # event 16 has no JShower; event 3 is dropped from the table, so it has no tracks at all
    keep = ~np.isin(whole.group_id, [3])
    wanted = [16, 3, 0, 29]
    best = reco.best_jshower(whole[keep], group_ids=wanted)
    assert best.group_id.tolist() == wanted
    positions = [V92_KINDS["jshower"][i] for i in wanted]
    positions[1] = -1
    _assert_rows(best, [per_event[i] for i in wanted], positions)


def test_group_ids_need_a_group_id_column(events):
    with pytest.raises(reco.TrackSelectionError, match="needs a group_id column"):
        reco.best_jmuon(events[OFFLINE][0], group_ids=[0])


def test_empty_tables_give_a_nan_row_per_event(events):
    empty = events[OFFLINE][0][:0]
    best = reco.best_jmuon(empty)
    assert len(best) == 1 and best.n_rec_stages[0] == 0 and np.isnan(best.energy[0])
    assert best.rec_type[0] == -1 and best.mother_id[0] == -1 and best.id[0] == 0
    whole = _whole_file(events[OFFLINE])[:0]
    assert len(reco.best_jmuon(whole)) == 0
    assert reco.best_jmuon(whole, group_ids=[5, 7]).group_id.tolist() == [5, 7]


def test_extra_columns_are_carried_and_order_does_not_matter(events):
    tracks = events[V92][0]
    extra = np.empty(len(tracks), dtype=[("note", "<f4")] + tracks.dtype.descr[::-1])
    for name in tracks.dtype.names:
        extra[name] = tracks[name]
    extra["note"] = np.arange(len(tracks))
    best = reco.best_jshower(Table(extra))
    assert best.note[0] == V92_KINDS["jshower"][0]
    assert best.likelihood[0] == V92_LIK["jshower"][0]


def test_rec_type_filter(events):
    tracks = events[V92][0]
    assert reco.best_jmuon(tracks).rec_type[0] == reco.reconstruction.JPP_RECONSTRUCTION_TYPE
    jpp = reco.best_track(tracks, minmax=(0, 99), rec_type=4000)
    assert jpp.likelihood[0] == V92_LIK["jmuon"][0]
    none = reco.best_track(tracks, minmax=(0, 99), rec_type=101)
    assert none.n_rec_stages[0] == 0


@pytest.mark.parametrize("kwargs", [{}, {"stages": [1], "minmax": (1, 2)},
                                    {"start": 1, "stages": {1}}])
def test_exactly_one_criterion(events, kwargs):
    with pytest.raises(reco.TrackSelectionError, match="exactly one of"):
        reco.best_track(events[OFFLINE][0], **kwargs)


def test_bad_stages_and_missing_columns(events):
    tracks = events[OFFLINE][0]
    with pytest.raises(reco.TrackSelectionError, match="a list .* or a set"):
        reco.best_track(tracks, stages=5)
    no_stages = Table({"likelihood": [1.0], "dir_z": [0.5]})
    with pytest.raises(reco.TrackSelectionError, match="rec_stage_0, rec_stage_1"):
        reco.best_jmuon(no_stages)
    no_lik = Table({"rec_stage_0": [1], "n_rec_stages": [1]})
    with pytest.raises(reco.TrackSelectionError, match="no likelihood column"):
        reco.best_jmuon(no_lik)
    truncated = Table({"rec_stage_0": [1], "rec_stage_1": [3], "n_rec_stages": [3],
                       "likelihood": [1.0]})
    with pytest.raises(reco.TrackSelectionError, match="row 0 has 3 reconstruction stages"):
        reco.best_jmuon(truncated)


def test_without_n_rec_stages_counts_the_padded_stages():
    tracks = Table({"rec_stage_0": [1, 1, 101], "rec_stage_1": [3, -1, 102],
                    "likelihood": [5.0, 9.0, 7.0]})
    assert reco.best_jmuon(tracks).likelihood[0] == 5.0  # most stages first, then lik
    assert reco.best_track(tracks, stages=[1]).likelihood[0] == 9.0
    assert reco.best_track(tracks, end=102).likelihood[0] == 7.0


def test_names_of_stages_and_fit_parameters(events):
    tracks = events[V92][0]
    assert reco.reconstruction.JMUONGANDALF == 3 and reco.reconstruction["JSHOWEREND"] == 199
    assert reco.fitparameters.JENERGY_ENERGY == 4 and len(reco.fitparameters) == 26
    with pytest.raises(AttributeError, match="no constant 'JFOO'"):
        _ = reco.reconstruction.JFOO
    best = reco.best_jshower(tracks)
    assert reco.rec_stage_names(best) == [("JSHOWERPREFIT", "JSHOWERPOINTSIMPLEX",
                                           "JSHOWERPOSITIONFIT", "JSHOWERDIRECTIONPREFIT",
                                           "JSHOWERCOMPLETEFIT")]
    np.testing.assert_array_equal(reco.rec_stages(tracks[:2]),
                                  [[1, 2, 5, 3, 5, 4, -1, -1], [101, 106, 102, 107, 103, -1,
                                                                -1, -1]])
    np.testing.assert_array_equal(reco.fitinf(tracks, "JGANDALF_CHI2"),
                                  tracks.jgandalf_chi2)
    np.testing.assert_array_equal(reco.fitinf(tracks, 4), tracks.jenergy_energy)
    with pytest.raises(reco.TrackSelectionError, match="unknown fit parameter 'JFOO'"):
        reco.fitinf(tracks, "JFOO")
    with pytest.raises(reco.TrackSelectionError, match="no fit parameter has the index 99"):
        reco.fitinf(tracks, 99)


def test_best_tracks_module_adds_one_row_per_kind_and_event(testdata, tmp_path):
    out = tmp_path / "best.h5"
    pipe = Pipeline()
    pipe.attach(OfflinePump, filename=testdata(V92), collections=["Tracks"])
    pipe.attach(reco.BestTracks, kinds=["jmuon", "jshower"])
    seen = []
    pipe.attach(lambda blob: seen.append((blob["BestJmuon"], blob["BestJshower"])) or blob)
    pipe.attach(HDF5Sink, filename=str(out))
    pipe.drain()
    assert len(seen) == 30 and all(len(m) == 1 and len(s) == 1 for m, s in seen)
    expected = np.array([np.nan if x is None else x for x in V92_LIK["jshower"]])
    np.testing.assert_array_equal([s.likelihood[0] for _, s in seen], expected)
    with tables.open_file(out) as h5:
        shower = h5.get_node("/reco/best_jshower").read()
        muon = h5.get_node("/reco/best_jmuon").read()
    assert shower["group_id"].tolist() == list(range(30)) == muon["group_id"].tolist()
    np.testing.assert_array_equal(shower["likelihood"], expected)
    np.testing.assert_array_equal(muon["likelihood"], V92_LIK["jmuon"])


def test_best_tracks_module_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown kinds \\['muon'\\]"):
        reco.BestTracks(kinds=["muon"])


def test_whole_file_from_hdf5_matches_km3io(testdata, tmp_path):
    # /reco/tracks written by the sink carries group_id: the whole-file selection reads it
    out = tmp_path / "tracks.h5"
    pipe = Pipeline()
    pipe.attach(OfflinePump, filename=testdata(V92), collections=["Tracks"])
    pipe.attach(HDF5Sink, filename=str(out))
    pipe.drain()
    with tables.open_file(out) as h5:
        whole = Table(h5.get_node("/reco/tracks").read(), h5loc="/reco/tracks")
    best = reco.best_jshower(whole)
    expected = np.array([np.nan if x is None else x for x in V92_LIK["jshower"]])
    np.testing.assert_array_equal(best.likelihood, expected)
    assert best.group_id.tolist() == list(range(30))


def test_nan_likelihoods_as_awkwards_argmax():
    # awkward 2.14 (km3io's argmax): ak.argmax([[1.0, nan, 2.0], [nan, 1.0], [nan, nan]],
    # axis=1) == [2, 0, 0] -- NaN is skipped unless it comes first.  km3io 1.2.6's best_jmuon
    # on these tracks as an ak.Array of records gives rows [2, 3, 5], then [2, 4, 6]
    lik = [1.0, np.nan, 2.0, np.nan, 1.0, np.nan, np.nan]
    tracks = Table({"rec_stage_0": 1, "rec_stage_1": -1, "n_rec_stages": 1, "likelihood": lik,
                    "group_id": [0, 0, 0, 1, 1, 2, 2], "row": np.arange(7)})
    assert reco.best_jmuon(tracks).row.tolist() == [2, 3, 5]
    # the first passing track with the most stages counts, not the first track of the event
    tracks.n_rec_stages[3] = 0
    tracks.rec_stage_0[3] = -1
    tracks.n_rec_stages[6] = 2
    tracks.rec_stage_1[6] = 3
    assert reco.best_jmuon(tracks).row.tolist() == [2, 4, 6]


def test_strided_and_copied_tables_agree(events):
    # the stages are read as a strided view of the records: slices must work too
    whole = _whole_file(events[V92])
    strided = whole[1::3]
    copied = Table(np.ascontiguousarray(np.asarray(strided)))
    for func in (reco.best_jmuon, reco.best_jshower):
        a, b = func(strided), func(copied)
        np.testing.assert_array_equal(a.likelihood, b.likelihood)
        np.testing.assert_array_equal(a.group_id, b.group_id)
    np.testing.assert_array_equal(reco.rec_stages(strided), reco.rec_stages(copied))


def test_best_tracks_module_needs_the_tracks_key():
    from km3flow.core import Blob
    from km3flow.exceptions import BlobKeyError

    module = reco.BestTracks(key="RecoTracks")
    with pytest.raises(BlobKeyError, match="no key .RecoTracks. in blob .*present: Tracks"):
        module.process(Blob({"Tracks": Table({"likelihood": [1.0]})}))
