"""Tests of km3flow.ml.binning on real MUPAGE events (km3net-testdata, KM3Pipe HDF5)."""

from __future__ import annotations

import numpy as np
import pytest
import tables
from ml_files import BIN_CONFIG, SOURCE, read_xy

from km3flow.core import Pipeline
from km3flow.dataclasses import NDArray, Table
from km3flow.exceptions import ConfigError, FormatError
from km3flow.io.hdf5 import HDF5Pump
from km3flow.ml.binjob import bin_files, read_bin_config
from km3flow.ml.binning import (
    BinningError,
    Dimension,
    ImageBinner,
    bin_hits,
    event_offsets,
    primary_labels,
    time_reference,
)
from km3flow.ml.h5layout import EventSource


def _event(path, i):
    with tables.open_file(path) as h5:
        idx = h5.root.hits._indices[i]
        sl = slice(int(idx["index"]), int(idx["index"] + idx["n_items"]))
        return {c: getattr(h5.root.hits, c)[sl] for c in ("channel_id", "time", "triggered")}


def test_bin_hits_equals_histogramdd_per_event(testdata):
    path = testdata(SOURCE)
    dims = [Dimension("channel_id", categories=np.arange(31)),
            Dimension("time", edges=np.linspace(-500, 1500, 21))]
    events = [_event(path, i) for i in (0, 1, 7, 499)]
    cols = {c: np.concatenate([e[c] for e in events]) for c in events[0]}
    offsets = event_offsets([len(e["time"]) for e in events])
    images = bin_hits(cols, offsets, dims, time_ref="mean_triggered")
    assert images.shape == (4, 31, 20) and images.dtype == np.float32
    for img, e in zip(images, events):
        # reference: numpy's histogramdd on one event, time relative to the triggered mean
        t = e["time"] - e["time"][e["triggered"] != 0].mean()
        ref, _ = np.histogramdd((e["channel_id"], t),
                                bins=(np.arange(-0.5, 31), np.linspace(-500, 1500, 21)))
        np.testing.assert_array_equal(img, ref)
        assert img.sum() > 0


def test_time_reference_modes():
    t = np.array([5.0, 1.0, 3.0, 10.0, 20.0])
    trig = np.array([0, 1, 1, 0, 0])
    off = np.array([0, 3, 5])
    np.testing.assert_allclose(time_reference(t, trig, off, "first_triggered"), [1.0, 10.0])
    np.testing.assert_allclose(time_reference(t, trig, off, "mean_triggered"), [2.0, 10.0])
    np.testing.assert_allclose(time_reference(t, trig, off, "first_hit"), [1.0, 10.0])
    with pytest.raises(ConfigError, match="time_reference"):
        time_reference(t, trig, off, "median")


def test_edges_last_inclusive_and_outside_dropped():
    dim = Dimension("time", edges=np.array([0.0, 1.0, 2.0]))
    img = bin_hits({"time": np.array([-0.1, 0.0, 1.0, 2.0, 2.1])}, [0, 5], [dim])
    np.testing.assert_array_equal(img, [[1, 2]])


def test_unknown_category_dropped_and_weights():
    dim = Dimension("dom_id", categories=[7, 3])
    cols = {"dom_id": np.array([3, 7, 7, 5]), "tot": np.array([1.0, 2.0, 3.0, 100.0])}
    np.testing.assert_array_equal(bin_hits(cols, [0, 4], [dim], weights="tot"), [[1.0, 5.0]])


def test_small_integer_images_saturate():
    dim = Dimension("time", edges=np.array([0.0, 1.0, 2.0]))
    cols = {"time": np.r_[np.full(300, 0.5), np.full(7, 1.5)]}
    img = bin_hits(cols, [0, 307], [dim], dtype=np.uint8)
    assert img.dtype == np.uint8
    np.testing.assert_array_equal(img, [[255, 7]])


def test_missing_column_names_it():
    with pytest.raises(BinningError, match="pos_x"):
        bin_hits({"time": np.zeros(3)}, [0, 3], [Dimension("pos_x", edges=[0, 1])])


@pytest.mark.parametrize("spec, match", [
    ({"column": "t", "edges": [1, 0]}, "increasing"),
    ({"column": "t"}, "edges, range"),
    ({"edges": [0, 1]}, "column"),
    ({"column": "t", "range": [0, 1], "binz": 3}, "binz"),
])
def test_dimension_config_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        Dimension.from_config(spec)


def test_primary_labels_pick_first_track(testdata):
    with EventSource(testdata(SOURCE)) as src:
        labels = primary_labels(src.tracks, np.array([0, 1, 2]), ["dir_z", "energy"])
    # first /mc_tracks rows of groups 0, 1, 2 (read with PyTables from the KM3Pipe file)
    np.testing.assert_allclose(labels["dir_z"], [-0.942941, -0.602281, -0.895916])
    np.testing.assert_allclose(labels["energy"], [17.72, 73.213, 1694.332])
    with pytest.raises(BinningError, match="group_id 5000"):
        primary_labels(src.tracks, np.array([5000]))


def test_image_binner_in_pipeline_matches_file_binning(testdata, binned):
    collected = []
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filename=testdata(SOURCE), h5locs=["/hits", "/mc_tracks"])
    pipe.attach(ImageBinner, dimensions=[
        {"column": "channel_id", "categories": list(range(31))},
        {"column": "time", "range": [-500.0, 1500.0], "bins": 20}],
        label_columns=["dir_x", "dir_y", "dir_z", "energy"])
    pipe.attach(lambda blob: collected.append(blob) or blob)
    pipe.drain(5)
    assert len(collected) == 5
    x, y = read_xy(binned)
    for i, blob in enumerate(collected):
        img, lab = blob["Image"], blob["Labels"]
        assert isinstance(img, NDArray) and img.h5loc == "/x" and img.shape == (1, 31, 20)
        assert isinstance(lab, Table) and lab.h5loc == "/y"
        np.testing.assert_array_equal(img[0], x[i])
        assert lab["energy"][0] == y["energy"][i]


def test_bin_files_writes_km3pipe_layout(binned):
    with tables.open_file(str(binned)) as h5:
        assert h5.root._v_attrs.format_version == b"5.1"
        assert h5.root.x.shape == (500, 31, 20)
        idx = h5.root.x_indices[:]
        np.testing.assert_array_equal(idx["index"], np.arange(500))
        np.testing.assert_array_equal(idx["n_items"], 1)
        y = h5.root.y[:]
        np.testing.assert_array_equal(y["group_id"], np.arange(500))
        # event_info of the source: event_id of the first three events are 2, 3, 5
        np.testing.assert_array_equal(y["event_id"][:3], [2, 3, 5])
        assert len(h5.root.group_info) == 500
        assert h5.root.x.filters.complib == "blosc:lz4"
        assert h5.root.x.dtype == np.uint8


def test_chunked_engine_writes_the_same_file(binned, tmp_path, testdata):
    out = tmp_path / "chunked.h5"
    info = bin_files(BIN_CONFIG, [testdata(SOURCE)], out, engine="chunked")
    assert info["events"] == 500
    x, y = read_xy(binned)
    xc, yc = read_xy(out)
    np.testing.assert_array_equal(x, xc)
    assert y.dtype == yc.dtype
    for name in y.dtype.names:
        np.testing.assert_array_equal(y[name], yc[name])


def test_events_without_tracks_are_an_error(tmp_path, testdata):
    # a copy of the real file without /mc_tracks
    src = tmp_path / "no_tracks.h5"
    with tables.open_file(testdata(SOURCE)) as h5:
        h5.copy_file(str(src))
    with tables.open_file(str(src), "a") as h5:
        h5.remove_node("/mc_tracks")
    with pytest.raises(BinningError, match="no MC tracks"):
        bin_files(BIN_CONFIG, [src], tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_bin_config_errors(tmp_path, testdata):
    cfg = tmp_path / "bin.toml"
    cfg.write_text("[binning]\nchunk_evnts = 3\n[[dimensions]]\ncolumn='time'\nbins=2\n"
                   "range=[0,1]\n")
    with pytest.raises(ConfigError, match="chunk_evnts.*chunk_events"):
        read_bin_config(cfg)
    with pytest.raises(FormatError, match="does not exist"):
        bin_files(BIN_CONFIG, [tmp_path / "nope.h5"], tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_bins_from_the_detector_geometry(testdata):
    from km3flow.io.detector import read_detector
    from km3flow.ml.binning import Dimension, geometry_dimension

    path = testdata("detx/km3net_offline.detx")
    det = read_detector(path)
    optical = det.doms["n_pmts"] > 0
    z = np.unique(np.round(np.asarray(det.dom_positions)[optical][:, 2], 1))
    dim = Dimension.from_config({"column": "pos_z", "detector": path})
    assert dim.edges.size == z.size + 1
    # every DOM height sits strictly inside its own bin
    assert np.array_equal(np.searchsorted(dim.edges, z) - 1, np.arange(z.size))
    assert np.allclose(dim.edges[1:-1], (z[1:] + z[:-1]) / 2)
    doms = geometry_dimension("dom_id", det)
    assert np.array_equal(doms.categories, np.unique(det.pmts["dom_id"]))
    with pytest.raises(ConfigError, match="bins from the detector exist for"):
        geometry_dimension("time", det)
