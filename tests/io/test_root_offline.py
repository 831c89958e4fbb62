"""OfflinePump on the offline ROOT files of km3net-testdata, checked against km3io.

Reference values were computed once with km3io 1.2.6 (uproot 5.7.7) in a separate venv
(/work/refvenv) with ``km3io.OfflineReader(path)``: ``ak.num(r.hits.t, axis=1)`` for the
counts per event and ``r[i].hits.t[0]``, ``r[i].trks.E[0]`` … for the values.
"""

from __future__ import annotations

import numpy as np
import pytest

from km3flow.core import Pipeline
from km3flow.io.root import FITINF_COLUMNS, AanetPump, OfflinePump, read_header

V92 = ("offline/KM3NeT_00000049_00011291.mc.gsg_neutrinos.km3sim_sirene_merged.jterbr."
       "jppmuon_jppshower_static.offline.v9.2.sample.root")
MCV6 = "offline/mcv6.0.gsg_muon_highE-CC_50-500GeV.km3sim.jterbr00008357.jorcarec.aanet.905.root"

# km3io: per-event counts of hits, mc_hits, trks, mc_trks
COUNTS = {
    "offline/km3net_offline.root": (
        [176, 125, 318, 157, 83, 60, 71, 84, 255, 105], [0] * 10,
        [56, 55, 56, 56, 56, 56, 56, 56, 54, 56], [0] * 10),
    "offline/numucc.root": (
        [4271, 4145, 3680, 3967, 4105, 4301, 3949, 4180, 4210, 4024],
        [58, 145, 28, 19, 78, 50, 58, 49, 35, 48],
        [68, 38, 38, 18, 0, 60, 59, 66, 38, 22],
        [11, 25, 12, 10, 10, 13, 11, 10, 13, 16]),
    "offline/usr-sample.root": ([51, 107, 98], [0, 0, 0], [1, 1, 1], [0, 0, 0]),
    "offline/multiHead.root": ([0] * 10, [0] * 10, [0] * 10, [5, 5, 5, 5, 7, 4, 6, 9, 16, 5]),
    V92: (
        [99, 171, 159, 86, 257, 84, 151, 98, 117, 54, 125, 88, 98, 392, 181, 110, 90, 138, 93,
         134, 178, 76, 87, 163, 200, 597, 119, 78, 210, 156],
        [162, 251, 394, 91, 441, 76, 118, 82, 89, 23, 114, 91, 136, 1037, 215, 136, 54, 220,
         61, 242, 301, 60, 35, 214, 318, 1540, 118, 22, 389, 245],
        [1035, 544, 881, 807, 889, 1018, 1017, 1025, 1036, 998, 1033, 1029, 1037, 718, 1039,
         674, 199, 1038, 1040, 1013, 1040, 1026, 1026, 1031, 1040, 1040, 1022, 1002, 574, 534],
        [10, 15, 18, 21, 21, 8, 9, 6, 3, 5, 13, 7, 3, 29, 26, 11, 4, 10, 12, 9, 15, 7, 18, 7,
         14, 20, 15, 4, 11, 14]),
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_per_event_match_km3io(testdata, name):
    hits, mc_hits, trks, mc_trks = COUNTS[name]
    with OfflinePump(filename=testdata(name), step_size=4) as pump:
        assert len(pump) == len(hits)
        got = [(len(b["Hits"]), len(b["McHits"]), len(b["Tracks"]), len(b["McTracks"]))
               for b in pump]
    assert got == list(zip(hits, mc_hits, trks, mc_trks))


def test_larger_file_totals_match_km3io(testdata):
    # km3io: 140 events; ak.sum of the counts: 17923 hits, 26817 mc_hits, 7196 trks,
    # 1306 mc_trks; hits of the first five events [64, 118, 165, 120, 119], last 176
    with OfflinePump(filename=testdata(MCV6), step_size=50) as pump:
        counts = np.array([[len(b[k]) for k in ("Hits", "McHits", "Tracks", "McTracks")]
                           for b in pump])
    assert len(counts) == 140
    assert counts.sum(axis=0).tolist() == [17923, 26817, 7196, 1306]
    assert counts[:5, 0].tolist() == [64, 118, 165, 120, 119]
    assert counts[-1, 0] == 176


def test_event_values_match_km3io_numucc(testdata):
    pump = OfflinePump(filename=testdata("offline/numucc.root"))
    first, last = pump[0], pump[-1]
    info = first["EventInfo"]
    assert (info.event_id[0], info.det_id[0], info.run_id[0], info.frame_index[0]) == (1, 20, 1, 40)
    assert (info.trigger_counter[0], info.trigger_mask[0]) == (0, 16)
    assert (info.utc_seconds[0], info.utc_nanoseconds[0]) == (3, 900000000)
    assert info.mc_t[0] == pytest.approx(3988493623.618087)
    assert info.weight_w1[0] == 8901000000.0 and info.weight_w3[0] == 9820000.0
    assert np.isnan(info.weight_w4[0])  # numucc has only three weights
    hits = first["Hits"]
    assert hits.time[0] == 88488178.0 and hits.time[-1] == 88499095.0
    assert hits.dom_id[0] == 102 and hits.dom_id[-1] == 11518
    assert hits.channel_id[0] == 21 and hits.tot[0] == 20
    assert hits.triggered.sum() == 24
    assert hits.h5loc == "/hits" and hits.split_h5
    mc_hits = first["McHits"]
    assert mc_hits.time[0] == pytest.approx(2128.702998731661)
    assert mc_hits.time[-1] == pytest.approx(458.5734164952344)
    assert (mc_hits.pmt_id[0], mc_hits.a[0], mc_hits.origin[0]) == (677, 1.0, 1)
    tracks = first["Tracks"]
    assert tracks.energy[0] == pytest.approx(117.28604237509933)
    assert tracks.energy[-1] == 0.0
    assert tracks.likelihood[0] == pytest.approx(92.7921433955364)
    assert tracks.rec_type[0] == 4000
    assert tracks.dir_z[0] == pytest.approx(0.2134671122882125)
    assert tracks.pos_x[0] == pytest.approx(-647.3963813597904)
    assert tracks.h5loc == "/reco/tracks"
    mc_tracks = first["McTracks"]
    assert mc_tracks.energy[0] == pytest.approx(228.197)
    assert mc_tracks.energy[-1] == pytest.approx(2.43995)
    assert (mc_tracks.type[0], mc_tracks.id[0]) == (14, 0)
    hits = last["Hits"]
    assert hits.time[0] == 31360630.0 and hits.time[-1] == 31359683.0
    assert last["EventInfo"].frame_index[0] == 525
    assert last["Tracks"].energy[0] == pytest.approx(0.00028016335410339786)
    assert last["McTracks"].energy[-1] == pytest.approx(0.00929246)


def test_rec_stages_and_fitinf_columns(testdata):
    with AanetPump(filename=testdata(V92)) as pump:
        tracks = pump[0]["Tracks"]
        last_event_tracks = pump[29]["Tracks"]
    first = tracks[0]
    # km3io: rec_stages [1, 2, 5, 3, 5, 4], 23 fitinf values
    assert first["n_rec_stages"] == 6
    assert [first[f"rec_stage_{k}"] for k in range(8)] == [1, 2, 5, 3, 5, 4, -1, -1]
    assert first["n_fitinf"] == 23
    assert first["jgandalf_beta0_rad"] == pytest.approx(0.07480783215196489)
    assert first["jgandalf_chi2"] == pytest.approx(-84.96231053004087)
    assert first["jenergy_energy"] == pytest.approx(5.604477839201844)
    assert first["jenergy_maximal_energy"] == pytest.approx(6.6116902624148155)
    assert first["jstart_npe_mip_missed"] == pytest.approx(20.504963396920417)
    assert np.isnan(first["jmuonfeatures_number_of_doms"])
    # last track of the event: rec_stages [101], 20 zeros of fit info
    assert tracks.n_rec_stages[-1] == 1 and tracks.rec_stage_0[-1] == 101
    assert tracks.n_fitinf[-1] == 20
    assert tracks.jenergy_energy[-1] == 0.0 and np.isnan(tracks.jenergy_maximal_energy[-1])
    assert last_event_tracks.energy[0] == pytest.approx(2019.1834654129668)
    assert last_event_tracks.jenergy_minimal_energy[0] == pytest.approx(1684.8548794358387)
    assert len(FITINF_COLUMNS) == 26


def test_calibrated_hits_have_positions(testdata):
    with OfflinePump(filename=testdata(V92)) as pump:
        assert pump.calibrated
        hits = pump[0]["Hits"]
        last = pump[29]
    # km3io: hits.pos_x[0] == 431.005, t first/last 68937265.771 / 68937150.286
    assert hits.pos_x[0] == pytest.approx(431.005)
    assert hits.time[0] == pytest.approx(68937265.771)
    assert hits.time[-1] == pytest.approx(68937150.286)
    assert (hits.dom_id[0], hits.dom_id[-1]) == (808969848, 808976219)
    assert last["Hits"].pos_x[0] == pytest.approx(431.081)
    assert last["McHits"].origin[0] == 4
    assert last["EventInfo"].trigger_counter[0] == 655
    with OfflinePump(filename=testdata("offline/numucc.root")) as pump:
        assert not pump.calibrated
        assert "pos_x" not in pump[0]["Hits"].dtype.names


def test_usr_sample_calibrated_and_small(testdata):
    with OfflinePump(filename=testdata("offline/usr-sample.root")) as pump:
        b = pump[0]
    # km3io: event id 991029, pos_x0 464.43319912912, trks lik0 85.45957235835593
    assert b["EventInfo"].event_id[0] == 991029
    assert b["Hits"].pos_x[0] == pytest.approx(464.43319912912)
    assert b["Tracks"].likelihood[0] == pytest.approx(85.45957235835593)
    assert b["Tracks"].n_fitinf[0] == 0 and b["Tracks"].rec_stage_2[0] == 3


def test_chunk_size_does_not_change_the_blobs(testdata):
    path = testdata("offline/numucc.root")
    with OfflinePump(filename=path, step_size=3) as small, \
            OfflinePump(filename=path, step_size=1000) as big:
        for i in [7, 2, 9, 0, 3, 3, -1]:  # random order, chunk reloads, repeat, negative
            a, b = small[i], big[i]
            for key in ("EventInfo", "Hits", "McHits", "Tracks", "McTracks"):
                assert a[key].dtype == b[key].dtype
                assert a[key].tobytes() == b[key].tobytes()  # NaN-safe, bit for bit


def test_blob_tables_are_views_of_the_chunk(testdata):
    with OfflinePump(filename=testdata("offline/km3net_offline.root")) as pump:
        b0, b1 = pump[0], pump[1]
        assert np.shares_memory(b0["Hits"], b1["Hits"]) is False
        assert b0["Hits"].base is not None  # a slice of the chunk table, not a copy
        assert b1["Hits"].name == "Hits" and b1["Tracks"].name == "Tracks"


def test_header(testdata):
    # km3io: can(zmin=0, zmax=1027, r=888.4), genvol(..., volume=2649000000.0,
    # numberOfEvents=100000), DAQ(livetime=394), start_run(run_id=1), 31 keys
    header = read_header(testdata("offline/numucc.root"))
    assert header.fields("can") == {"zmin": 0, "zmax": 1027, "r": 888.4}
    assert header["genvol"].volume == 2649000000.0
    assert header.genvol.numberOfEvents == 100000
    assert header.fields("DAQ") == {"livetime": 394}
    assert header["physics"].program == "GENHEN"
    assert len(header) == 31
    with OfflinePump(filename=testdata("offline/numucc.root")) as pump:
        blob = pump[0]
        assert blob["Header"] is pump.header and pump.header == header
        assert pump.services["offline_header"] == header
        # the event tree has no generation values: they come from the header
        info = blob["EventInfo"]
        assert (info.n_events_gen[0], info.n_files_gen[0], info.livetime_sec[0]) == (
            100000, 1, 394)
    table = header.to_table()
    assert table.h5singleton and table.h5loc == "/raw_header"
    rows = {p.decode(): (n.decode(), v.decode())
            for p, n, v in zip(table.parameter, table.field_names, table.field_values)}
    assert rows["can"] == ("zmin zmax r", "0 1027 888.4")
    # km3net_offline.root has only the old 'Header' object that km3io also cannot read
    assert read_header(testdata("offline/km3net_offline.root")) is None
    with OfflinePump(filename=testdata("offline/km3net_offline.root")) as pump:
        assert "Header" not in pump[0]


def test_empty_file(testdata):
    with OfflinePump(filename=testdata("offline/empty_events.root")) as pump:
        assert len(pump) == 0
        assert list(pump) == []
        with pytest.raises(IndexError):
            pump[0]


def test_in_a_pipeline(testdata):
    seen = []

    def collect(blob):
        seen.append((len(blob["Hits"]), int(blob["EventInfo"].event_id[0])))
        return blob

    pipe = Pipeline()
    pipe.attach(OfflinePump, filename=testdata("offline/km3net_offline.root"), step_size=4)
    pipe.attach(collect)
    pipe.drain()
    assert [n for n, _ in seen] == COUNTS["offline/km3net_offline.root"][0]
    assert [i for _, i in seen] == list(range(1, 11))  # km3io: ids 1..10


def test_lazy_import_of_km3flow_io():
    import subprocess
    import sys

    code = "import km3flow.io, sys; km3flow.io.OfflinePump; print('uproot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_only_some_collections(testdata):
    with OfflinePump(filename=testdata("offline/numucc.root"),
                     collections=["Hits", "Tracks"]) as pump:
        blob = pump[1]
        assert not any("mc_hits" in name for name in pump._leaves)
    assert sorted(blob) == ["EventInfo", "Header", "Hits", "Tracks"]
    assert (len(blob["Hits"]), len(blob["Tracks"])) == (4145, 38)  # km3io
    with pytest.raises(ValueError, match="unknown collections"):
        OfflinePump(filename=testdata("offline/numucc.root"), collections=["Hitz"])


def test_offline_to_hdf5_round_trip(testdata, tmp_path):
    from km3flow.io.hdf5 import HDF5Pump, HDF5Sink

    out = tmp_path / "numucc.h5"
    pipe = Pipeline()
    pipe.attach(OfflinePump, filename=testdata("offline/numucc.root"), step_size=4)
    pipe.attach(HDF5Sink, filename=str(out))
    pipe.drain()
    with HDF5Pump(filename=str(out)) as pump:
        assert len(pump) == 10
        blob = pump[1]
        # km3io: event 1 has 4145 hits, 145 mc_hits, 38 trks, 25 mc_trks
        assert [len(blob[k]) for k in ("Hits", "McHits", "Tracks", "McTracks")] == \
            [4145, 145, 38, 25]
        with OfflinePump(filename=testdata("offline/numucc.root")) as source:
            original = source[1]
        for key in ("Hits", "Tracks"):
            for column in original[key].dtype.names:
                np.testing.assert_array_equal(blob[key][column], original[key][column])
        assert blob["Header"].can.zmax == 1027  # the header came through /raw_header
