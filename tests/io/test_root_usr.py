"""Offline ``usr`` data (named values of events, tracks, MC tracks) as tables, against km3io.

Reference values computed once with km3io 1.2.6 (reference venv /tmp/refvenv) as
``km3io.tools.usr(r, name)`` for events (``r = km3io.OfflineReader(path)``) and
``km3io.tools.usr(r.mc_trks[:, 0], name)`` for the first MC track of every event;
``r.mc_trks.usr_names``/``r.mc_trks.usr`` for the per-track layout.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tables

from km3flow.cli.main import main as cli_main
from km3flow.io.hdf5 import HDF5Pump
from km3flow.io.root import OfflinePump, read_offline

USR_NAMES = ["RecoQuality", "RecoNDF", "CoC", "ToT", "ChargeAbove", "ChargeBelow",
             "ChargeRatio", "DeltaPosZ", "FirstPartPosZ", "LastPartPosZ", "NSnapHits",
             "NTrigHits", "NTrigDOMs", "NTrigLines", "NSpeedVetoHits", "NGeometryVetoHits",
             "ClassficationScore"]
# km3io 1.2.6: r.usr.tolist() of usr-sample.root (names in the order of r.usr_names)
USR_VALUES = [
    [85.45957235835593, 37.0, 118.6302815337638, 825.0, 176.0, 649.0, 0.21333333333333335,
     37.51967774166617, 135.29499707179326, 97.77531933012709, 51.0, 30.0, 7.0, 6.0, 0.0, 0.0,
     0.16863382173469108],
    [68.74744265572737, 37.0, 44.33580521344907, 781.0, 278.0, 503.0, 0.3559539052496799,
     -10.280346193553832, 41.46665612378939, 51.747002317343224, 107.0, 32.0, 11.0, 5.0, 0.0,
     0.0, 0.17944356593281038],
    [50.18704013646688, 29.0, 99.93916717621543, 318.0, 53.0, 265.0, 0.16666666666666666,
     13.67595659707355, 107.39596803432326, 93.72001143724971, 98.0, 14.0, 7.0, 4.0, 0.0, 0.0,
     0.08155750660727408]]
# km3io 1.2.6: usr(r.mc_trks[:, 0], name) on numucc.root
NUMUCC_MC_USR = {
    "bx": [0.249465, 0.204916, 0.576273, 0.374008, 0.274232, 0.615932, 0.080887, 0.097989,
           0.352419, 0.041472],
    "by": [0.19258, 0.491158, 0.298897, 0.515201, 0.258454, 0.224085, 0.158041, 0.220568,
           0.22255, 0.125637],
    "ichan": [-1.0] * 10,
    "cc": [2.0] * 10,
}
# km3io 1.2.6: r.mc_trks.usr[0][2] and [1][2] (name energy_lost_in_can) of numucc.root
NUMUCC_ENERGY_LOST = [184.10518244868277, 160.47918244868276]
DAT4340 = "offline/mcv5.0.DAT004340.propa.sirene.jte.jchain.aanet.4340.root"
# km3io 1.2.6: usr(r, name) on the DAT004340 file
DAT4340_USR = {"center_on_can_x": [147.36, -1.02, -321.6],
               "center_on_can_z": [828.6, 630.81, 570.26]}
AASHOWER = "offline/mcv5.1.genhen_anumuNC.sirene.jte.jchain.aashower.sample.root"


@pytest.mark.parametrize("step_size", [1, 2, 500])
def test_event_usr_equals_km3io(testdata, step_size):
    with OfflinePump(filename=testdata("offline/usr-sample.root"), step_size=step_size) as p:
        blobs = list(p)
    for blob, values in zip(blobs, USR_VALUES, strict=True):
        usr = blob["EventUsr"]
        assert usr.h5loc == "/event_usr" and list(usr.dtype.names) == USR_NAMES
        assert len(usr) == 1 and list(usr[0]) == values
    assert blobs[0]["EventUsr"].CoC[0] == 118.6302815337638
    assert "TracksUsr" not in blobs[0] and "McTracksUsr" not in blobs[0]  # none in this file


def test_mc_track_usr_equals_km3io(testdata):
    tables_ = read_offline(testdata("offline/numucc.root"), step_size=3)
    mc, usr = tables_["McTracks"], tables_["McTracksUsr"]
    assert usr.h5loc == "/mc_tracks_usr"
    assert list(usr.dtype.names) == ["bx", "by", "ichan", "cc", "energy_lost_in_can", "group_id"]
    assert len(usr) == len(mc) and np.array_equal(usr.group_id, mc.group_id)
    first = np.unique(mc.group_id, return_index=True)[1]  # the first MC track of each event
    for name, values in NUMUCC_MC_USR.items():
        assert usr[name][first].tolist() == values
    # the second track has no usr, the third only energy_lost_in_can
    assert np.isnan(list(usr[1])[:5]).all()
    assert usr.energy_lost_in_can[2] == NUMUCC_ENERGY_LOST[0]
    assert np.isnan(usr.bx[2])
    assert usr.energy_lost_in_can[first[1] + 2] == NUMUCC_ENERGY_LOST[1]


def test_event_and_mc_usr_of_an_older_file(testdata):
    tables_ = read_offline(testdata(DAT4340))
    for name, values in DAT4340_USR.items():
        assert tables_["EventUsr"][name].tolist() == values
    assert list(tables_["McTracksUsr"].dtype.names) == ["energy_lost_in_can", "group_id"]
    assert np.isfinite(tables_["McTracksUsr"].energy_lost_in_can).sum() > 0


def test_usr_off_and_collections(testdata):
    with OfflinePump(filename=testdata("offline/numucc.root"), usr=False) as p:
        assert not [k for k in p[0] if k.endswith("Usr")]
    with OfflinePump(filename=testdata("offline/numucc.root"), collections=["Hits"]) as p:
        assert set(p[0]) == {"EventInfo", "Hits", "Header"}  # MC track usr follows McTracks


def test_values_without_names_are_not_stored(testdata, caplog):
    caplog.set_level(logging.INFO, logger="km3flow.io.root.usr")
    with OfflinePump(filename=testdata(AASHOWER)) as p:
        blob = p[0]
    assert "TracksUsr" not in blob  # trks.usr has values but the file has no names for them
    assert "McTracksUsr" in blob
    assert any("values without a name are not stored" in r.getMessage() for r in caplog.records)


def test_usr_reader_pairs_names_and_values(testdata):
    """Mutated copies of the numucc MC-track usr: a repeated name, a value without a name."""
    import awkward as ak
    import uproot

    from km3flow.io.root.usr import UsrReader

    tree = uproot.open(testdata("offline/numucc.root"))["E"]
    names = ak.to_list(tree["Evt/mc_trks/mc_trks.usr_names"].array(entry_stop=2))
    values = ak.to_list(tree["Evt/mc_trks/mc_trks.usr"].array(entry_stop=2))
    names[0][0] = ["bx", "by", "bx"]  # bx twice (the first value wins), cc has no name
    n_tracks = sum(len(v) for v in values)
    reader = UsrReader("numucc.root", "McTracksUsr")
    table = reader.build(ak.Array(values), lambda: ak.Array(names), n_tracks)
    assert list(table.dtype.names) == ["bx", "by", "energy_lost_in_can", "ichan", "cc"]
    row = table[0]
    assert (row["bx"], row["by"]) == (0.249465, 0.19258)
    assert np.isnan(row["ichan"]) and np.isnan(row["cc"])
    assert table[len(values[0])]["cc"] == 2.0  # the next event's first track: all four
    # a later chunk with a name not seen first is dropped, the columns stay
    names[1][0] = ["bx", "by", "ichan", "new"]
    again = reader.build(ak.Array(values), lambda: ak.Array(names), n_tracks)
    assert again.dtype == table.dtype and np.isnan(again[len(values[0])]["cc"])


def test_convert_writes_usr_columns(testdata, tmp_path):
    out = tmp_path / "usr.h5"
    assert cli_main(["convert", testdata("offline/usr-sample.root"), "-o", str(out),
                     "--no-progress", "-q"]) == 0
    with tables.open_file(out) as h5:
        usr = h5.root.event_usr.read()
    assert usr["CoC"].tolist() == [v[2] for v in USR_VALUES]
    assert usr["ClassficationScore"].tolist() == [v[16] for v in USR_VALUES]
    assert usr["group_id"].tolist() == [0, 1, 2]
    with HDF5Pump(filename=str(out)) as pump:
        assert pump[2]["EventUsr"].NTrigHits[0] == 14.0


def test_files_with_other_usr_names_join_by_name(testdata, tmp_path, caplog):
    """numucc.root's MC tracks have bx/by/ichan/cc/energy_lost_in_can, DAT004340's only
    energy_lost_in_can: the mixed file's /mc_tracks_usr keeps the first file's columns,
    NaN where the second file lacks a name; --no-usr leaves usr out."""
    inputs = [testdata("offline/numucc.root"), testdata(DAT4340)]
    out = tmp_path / "mixed.h5"
    assert cli_main(["convert", *inputs, "-o", str(out), "--no-progress", "-q"]) == 0
    with tables.open_file(out) as h5:
        usr = h5.root.mc_tracks_usr[:]
        n_first = int(np.sum(h5.root.group_info.cols.group_id[:] < 10))
        assert len(h5.root.event_info) == 13 and n_first == 10
        gid = usr["group_id"]
        first, second = usr[gid < 10], usr[gid >= 10]
    assert {"bx", "by", "ichan", "cc", "energy_lost_in_can"} <= set(usr.dtype.names)
    assert np.isfinite(first["bx"]).any()
    assert len(second) and np.isnan(second["bx"]).all()  # DAT004340 has no bx
    assert np.isfinite(second["energy_lost_in_can"]).any()
    assert cli_main(["convert", *inputs, "-o", str(out), "--no-progress", "-q",
                     "--no-usr", "--overwrite"]) == 0
    with tables.open_file(out) as h5:
        assert "/mc_tracks_usr" not in h5 and "/event_usr" not in h5
        assert len(h5.root.event_info) == 13


V92 = ("offline/KM3NeT_00000049_00011291.mc.gsg_neutrinos.km3sim_sirene_merged.jterbr."
       "jppmuon_jppshower_static.offline.v9.2.sample.root")


@pytest.mark.parametrize("step_size", [1, 5, 500])
def test_usr_names_first_met_in_a_later_chunk(testdata, step_size):
    """In the v9.2 sample the MC tracks' usr values are mostly unnamed; the name
    ``energy_lost_in_can`` (the 4th of ``['', '', '', 'energy_lost_in_can']``) first
    appears in event 6. km3io 1.2.6: ``r.mc_trks.usr[6][2][3]`` = 74.25788005960408,
    ``r.mc_trks.usr[8][2][3]`` = 55.078377334642944."""
    path = testdata(V92)
    tables_ = read_offline(path, step_size=step_size)
    mc, usr = tables_["McTracks"], tables_["McTracksUsr"]
    assert list(usr.dtype.names) == ["energy_lost_in_can", "group_id"]
    assert len(usr) == len(mc) and np.array_equal(usr.group_id, mc.group_id)
    named = np.flatnonzero(np.isfinite(usr.energy_lost_in_can))
    assert usr.group_id[named].tolist()[:2] == [6, 8]
    start = {g: np.flatnonzero(mc.group_id == g)[0] for g in (6, 8)}
    assert usr.energy_lost_in_can[start[6] + 2] == 74.25788005960408
    assert usr.energy_lost_in_can[start[8] + 2] == 55.078377334642944
    with OfflinePump(filename=path, step_size=step_size) as pump:
        has_usr = ["McTracksUsr" in pump[i] for i in range(10)]
    first = 6 // step_size * step_size  # the chunk the name is first met in
    assert has_usr == [i >= first for i in range(10)]


def test_usr_names_the_first_file_lacks_are_dropped_with_a_warning(testdata, tmp_path, capsys):
    inputs = [testdata(DAT4340), testdata("offline/numucc.root")]
    out = tmp_path / "mixed.h5"
    assert cli_main(["convert", *inputs, "-o", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "/mc_tracks_usr: usr names bx, by, cc, ichan not in the first file's" in err
    assert err.count("usr names bx, by") == 1  # once, not per blob
    with tables.open_file(out) as h5:
        assert "bx" not in h5.root.mc_tracks_usr.dtype.names
        assert np.isfinite(h5.root.mc_tracks_usr.cols.energy_lost_in_can[:]).any()
