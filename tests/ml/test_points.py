"""Point clouds: selection of hits, `km3flow bin` with kind = "points", padded batches."""

from __future__ import annotations

import numpy as np
import pytest
import tables
from ml_files import SOURCE
from points_files import COLUMNS, points_config, read_points, write_points_subset

from km3flow.cli.main import main as cli_main
from km3flow.core import Pipeline
from km3flow.exceptions import ConfigError, FormatError
from km3flow.io.hdf5 import HDF5Pump, HDF5Sink
from km3flow.ml.binjob import bin_files
from km3flow.ml.binning import time_reference
from km3flow.ml.dataset import BatchReader, InputSet, TrainingFile, pad_points
from km3flow.ml.h5layout import EventSource
from km3flow.ml.points import PointCloudMaker, select_points


@pytest.fixture(scope="module")
def hits(testdata):
    """Hit columns and offsets of the first 40 sample events."""
    with EventSource(testdata(SOURCE)) as src:
        return src.hit_columns(0, 40)


def test_select_points_options_on_real_hits(hits):
    cols, offsets = hits
    counts = np.diff(offsets)
    trig = cols["triggered"] != 0
    pts, n = select_points(cols, offsets, ["time", "tot", "triggered", "dom_id"],
                           "first_triggered", time_window=[0.0, 400.0], only_triggered=True)
    event = np.repeat(np.arange(40), counts)
    ref = time_reference(cols["time"].astype(float), cols["triggered"], offsets,
                         "first_triggered")
    rel = cols["time"] - ref[event]
    expected = trig & (rel >= 0) & (rel <= 400)
    assert n.tolist() == np.bincount(event[expected], minlength=40).tolist()
    np.testing.assert_array_equal(pts[:, 0], rel[expected].astype(np.float32))
    np.testing.assert_array_equal(pts[:, 1], cols["tot"][expected])
    assert np.all(pts[:, 2] == 1)
    assert pts.dtype == np.float32 and pts.shape == (expected.sum(), 4)


def test_max_hits_keeps_a_seeded_subset_in_hit_order(hits):
    cols, offsets = hits
    full, n_full = select_points(cols, offsets, ["time", "channel_id", "dom_id"], "none")
    pts, n = select_points(cols, offsets, ["time", "channel_id", "dom_id"], "none",
                           max_hits=30, seed=5)
    assert n.tolist() == np.minimum(n_full, 30).tolist()
    again, _ = select_points(cols, offsets, ["time", "channel_id", "dom_id"], "none",
                             max_hits=30, seed=5)
    other, _ = select_points(cols, offsets, ["time", "channel_id", "dom_id"], "none",
                             max_hits=30, seed=6)
    np.testing.assert_array_equal(pts, again)
    assert not np.array_equal(pts, other)
    starts = np.concatenate([[0], np.cumsum(n_full)])
    kept = np.concatenate([[0], np.cumsum(n)])
    for e in range(40):
        ev_full = [tuple(r) for r in full[starts[e]:starts[e + 1]]]
        ev = [tuple(r) for r in pts[kept[e]:kept[e + 1]]]
        positions = [ev_full.index(r) for r in ev]   # hits are unique (time, pmt)
        assert positions == sorted(positions)
    # the subset of an event does not depend on the other events of the chunk
    one, _ = select_points(cols, offsets[3:5], ["time", "channel_id", "dom_id"], "none",
                           max_hits=30, seed=5)
    np.testing.assert_array_equal(one, pts[kept[3]:kept[4]])


def test_bin_points_engines_agree_and_write_orcasong_layout(orca_detector, tmp_path,
                                                           testdata, points_file):
    cfg = points_config(orca_detector)
    info = bin_files(cfg, [testdata(SOURCE)], tmp_path / "pipe.h5")   # pipeline engine
    assert info["events"] == 500 and info["columns"] == COLUMNS
    a, b = read_points(tmp_path / "pipe.h5"), read_points(points_file)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    points, index, labels = a
    assert len(index) == len(labels) == 500 and info["hits"] == len(points)
    assert index["n_items"].max() == 48 and index["n_items"].min() > 0
    np.testing.assert_array_equal(index["index"][1:], np.cumsum(index["n_items"])[:-1])
    with tables.open_file(str(tmp_path / "pipe.h5")) as h5:
        assert [h5.root.x.attrs[f"hit_info_{i}"] for i in range(8)] == COLUMNS
        assert bool(h5.root.x.attrs.indexed)
    # positions come from the detector: DOM coordinates of ORCA-115 (metres)
    assert np.abs(points[:, 0]).max() < 300 and np.all(np.abs(points[:, 3:6]) <= 1.0001)
    # labels: the primary muon of each event, as for images
    with tables.open_file(testdata(SOURCE)) as h5:
        tracks = h5.root.mc_tracks.read()
    first = np.searchsorted(tracks["group_id"], np.arange(500))
    np.testing.assert_array_equal(labels["energy"], tracks["energy"][first])


def test_km3flow_bin_points_from_toml(orca_detector, tmp_path, testdata):
    (tmp_path / "bin.toml").write_text("""
[binning]
kind = "points"
time_reference = "none"
[points]
columns = ["time", "tot", "triggered"]
time_window = [0.0, 1e12]
max_hits = 20
[labels]
columns = ["energy"]
""")
    out = tmp_path / "p.h5"
    assert cli_main(["bin", str(tmp_path / "bin.toml"), testdata(SOURCE), "-o", str(out)]) == 0
    points, index, labels = read_points(out)
    assert points.shape[1] == 3 and index["n_items"].max() == 20 and len(labels) == 500
    # worker processes keep the same random hits (the cut hashes seed, event and hit)
    parallel = tmp_path / "parallel.h5"
    assert cli_main(["bin", str(tmp_path / "bin.toml"), testdata(SOURCE), "-o", str(parallel),
                     "--workers", "2"]) == 0
    for a, b in zip(read_points(out), read_points(parallel)):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "bad.toml").write_text(
        '[binning]\nkind = "points"\n[points]\nmax_hit = 3\n')
    with pytest.raises(ConfigError, match="points.max_hit'.*did you mean 'max_hits'"):
        bin_files(tmp_path / "bad.toml", [testdata(SOURCE)], tmp_path / "q.h5")
    (tmp_path / "dims.toml").write_text(
        '[binning]\nkind = "points"\n[[dimensions]]\ncolumn = "time"\nbins = 2\n'
        'range = [0, 1]\n')
    with pytest.raises(ConfigError, match="dimensions.*are for images"):
        bin_files(tmp_path / "dims.toml", [testdata(SOURCE)], tmp_path / "q.h5")


def test_point_cloud_maker_in_a_pipeline(tmp_path, testdata):
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filenames=[testdata(SOURCE)], h5locs=["/hits", "/mc_tracks"])
    got = []
    pipe.attach(PointCloudMaker, columns=["time", "tot"], only_triggered=True,
                time_reference="none")
    pipe.attach(lambda blob: got.append((blob["Points"], blob["Labels"])) or blob)
    pipe.attach(HDF5Sink, filename=str(tmp_path / "plain.h5"), keys=["Points", "Labels"])
    pipe.drain(3)
    # a plain pipeline's file: the columns come from the array title
    tf = TrainingFile(tmp_path / "plain.h5")
    assert tf.kind == "points" and tf.columns == ["time", "tot"] and len(tf) == 3
    with EventSource(testdata(SOURCE)) as src:
        cols, offsets = src.hit_columns(0, 3)
    for e, (pts, labels) in enumerate(got):
        sel = slice(offsets[e], offsets[e + 1])
        trig = cols["triggered"][sel] != 0
        # absolute times in float32 (without a time reference they lose the last digit)
        np.testing.assert_array_equal(pts[:, 0], cols["time"][sel][trig].astype(np.float32))
        assert pts.h5loc == "/x" and pts.title == "Points: time,tot" and len(labels) == 1


def test_batches_are_padded_with_a_mask(points_file, tmp_path):
    points, index, labels = read_points(points_file)
    tf = TrainingFile(points_file)
    assert tf.kind == "points" and len(tf) == 500 and tf.columns == COLUMNS
    assert tf.sample_shape == (8,)
    reader = BatchReader(InputSet({"p": [points_file]}), 32, shuffle=True, block_batches=3,
                         seed=4)
    seen = []
    for batch in reader:
        x, mask = batch.x["p"], batch.mask["p"]
        counts = index["n_items"][batch.rows]
        assert x.shape == (len(batch), counts.max(), 8) and mask.sum(1).tolist() == counts.tolist()
        for i, row in enumerate(batch.rows[:3]):
            start = index["index"][row]
            np.testing.assert_array_equal(x[i, :counts[i]], points[start:start + counts[i]])
            assert not x[i, counts[i]:].any()
        np.testing.assert_array_equal(batch.y["event_id"], labels["event_id"][batch.rows])
        seen += batch.rows.tolist()
    assert sorted(seen) == list(range(500))
    # an empty event pads to one masked row
    x, mask = pad_points(points, np.array([0]), np.array([0]))
    assert x.shape == (1, 1, 8) and not mask.any()


def test_non_contiguous_index_is_an_error_naming_the_event(points_file, tmp_path):
    bad = write_points_subset(points_file, tmp_path / "bad.h5", slice(0, 20))
    with tables.open_file(str(bad), "a") as h5:
        idx = h5.root.x_indices
        row = idx[7]
        row["index"] += 1
        idx[7] = [tuple(row)]
    with pytest.raises(FormatError, match="event 7 do not follow") as err:
        TrainingFile(bad)
    assert "bad.h5" in str(err.value)


def test_sample_points_config_of_the_examples(tmp_path, testdata):
    from pathlib import Path

    from km3flow.ml.binjob import read_bin_config

    config = read_bin_config(Path(__file__).parents[2] / "examples" / "points.toml")
    info = bin_files(config, [testdata(SOURCE)], tmp_path / "p.h5", engine="chunked")
    points, index, labels = read_points(tmp_path / "p.h5")
    assert info["columns"] == ["dom_id", "channel_id", "time", "tot", "triggered"]
    assert index["n_items"].max() == 200 and len(labels) == 500
    assert points[:, 2].min() >= -500 and points[:, 2].max() <= 1500


def test_bin_points_shows_the_progress_bar_like_images(orca_detector, tmp_path, testdata,
                                                       points_file, capsys):
    """`km3flow bin` draws its bar for point clouds too (the sink/progress code is shared)."""
    info = bin_files(points_config(orca_detector), [testdata(SOURCE)], tmp_path / "bar.h5",
                     progress=True)
    err = capsys.readouterr().err
    assert info["events"] == 500
    assert "500/500" in err or "100%" in err
    for x, y in zip(read_points(tmp_path / "bar.h5"), read_points(points_file)):
        np.testing.assert_array_equal(x, y)
