"""The data tools on real files: shuffle, split and concat (functions and subcommands).

Image files are binned from km3net-testdata's ``hdf5/atmospheric_muons_sample.h5`` (the
``binned`` fixture); the muon file itself stands for the point layout (a split ``/hits``
group with ``_indices``, several ``/mc_tracks`` rows per event, singletons).
"""

from __future__ import annotations

import numpy as np
import pytest
import tables
from ml_files import SOURCE, read_xy, write_subset

from km3flow.cli.main import main
from km3flow.exceptions import ConfigError, FormatError
from km3flow.ml.concat import concat_files
from km3flow.ml.config import read_list_file
from km3flow.ml.dataset import TrainingFile
from km3flow.ml.h5events import GroupedFile, GroupedWriter, take
from km3flow.ml.shuffle import shuffle_file
from km3flow.ml.split import split_files


def _event_keys(path):
    """One hashable key per event: its image bytes and its label row (without group_id)."""
    x, y = read_xy(path)
    names = [n for n in y.dtype.names if n != "group_id"]
    return [(x[i].tobytes(), tuple(y[n][i] for n in names)) for i in range(len(x))]


def _check_indices(path, loc="/x"):
    with tables.open_file(str(path)) as h5:
        idx = h5.get_node(loc + "_indices")[:]
        n = h5.get_node(loc).shape[0]
        gid = h5.root.y.col("group_id")
        info = h5.root.group_info.col("group_id")
    assert np.array_equal(idx["index"], np.arange(n)) and np.all(idx["n_items"] == 1)
    assert np.array_equal(gid, np.arange(n)) and np.array_equal(info, np.arange(n))


@pytest.fixture(scope="module")
def muons(testdata, tmp_path_factory):
    """The first 80 events of the muon file (all its nodes), to keep the tests quick."""
    out = tmp_path_factory.mktemp("muons") / "muons80.h5"
    with GroupedFile(testdata(SOURCE)) as src, GroupedWriter(out, src) as w:
        w.append(src.read(0, 50))
        w.append(src.read(50, 80))
    return out


# -- shuffle -----------------------------------------------------------------------------
def test_shuffled_image_file_has_the_same_events_in_another_order(binned, tmp_path):
    out = tmp_path / "shuffled.h5"
    result = shuffle_file(binned, out, seed=3)
    assert result["events"] == 500 and result["window"] == 500  # fits: one uniform window
    before, after = _event_keys(binned), _event_keys(out)
    assert sorted(before) == sorted(after)          # the same multiset of events
    assert before != after                          # in another order
    moved = np.mean([a != b for a, b in zip(before, after)])
    assert moved > 0.9
    _check_indices(out)
    assert len(TrainingFile(out)) == 500            # the Organizer reads it
    # seeded: the same seed gives the same order, another seed another one
    shuffle_file(binned, tmp_path / "again.h5", seed=3)
    shuffle_file(binned, tmp_path / "other.h5", seed=4)
    assert _event_keys(tmp_path / "again.h5") == after
    assert _event_keys(tmp_path / "other.h5") != after


def test_shuffle_of_hits_and_tracks_in_small_windows(muons, tmp_path):
    src = str(muons)
    out = tmp_path / "muons_shuffled.h5"
    result = shuffle_file(src, out, seed=1, memory_mb=2)
    assert result["events"] == 80 and result["window"] < 20
    with tables.open_file(src) as a, tables.open_file(str(out)) as b:
        ea, eb = a.root.event_info[:], b.root.event_info[:]
        assert sorted(ea["event_id"]) == sorted(eb["event_id"])
        assert not np.array_equal(ea["event_id"], eb["event_id"])
        assert np.array_equal(eb["group_id"], np.arange(80))
        where = {int(e): g for g, e in enumerate(ea["event_id"])}
        ia, ib = a.root.hits._indices[:], b.root.hits._indices[:]
        ta, tb = a.root.mc_tracks[:], b.root.mc_tracks[:]
        assert len(ta) == len(tb) and b.root.hits.time.nrows == a.root.hits.time.nrows
        for g_new in range(80):
            g_old = where[int(eb["event_id"][g_new])]
            ra = slice(ia["index"][g_old], ia["index"][g_old] + ia["n_items"][g_old])
            rb = slice(ib["index"][g_new], ib["index"][g_new] + ib["n_items"][g_new])
            for col in ("time", "dom_id", "channel_id", "tot", "triggered"):
                assert np.array_equal(getattr(a.root.hits, col)[ra],
                                      getattr(b.root.hits, col)[rb])
            assert np.all(b.root.hits.group_id[rb] == g_new)
            old, new = ta[ta["group_id"] == g_old], tb[tb["group_id"] == g_new]
            cols = [c for c in ta.dtype.names if c != "group_id"]
            assert np.array_equal(old[cols], new[cols])
        assert len(ta) > 5 * 80                     # several track rows per event
        assert np.array_equal(a.root.raw_header[:], b.root.raw_header[:])
        assert b.root._v_attrs.format_version == a.root._v_attrs.format_version


def test_shuffle_never_clobbers(binned, tmp_path):
    out = tmp_path / "out.h5"
    out.write_bytes(b"keep me")
    with pytest.raises(ConfigError, match="exists already"):
        shuffle_file(binned, out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(ConfigError, match="is also an input"):
        shuffle_file(binned, binned, overwrite=True)
    with pytest.raises(FormatError, match="not an HDF5 file"):
        shuffle_file(out, tmp_path / "x.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]  # no leftovers
    shuffle_file(binned, out, overwrite=True)
    assert len(TrainingFile(out)) == 500


@pytest.mark.parametrize("where", ["first pass", "second pass"])
def test_interrupted_shuffle_leaves_the_old_output(muons, tmp_path, monkeypatch, where):
    import km3flow.ml.shuffle as shuffle_module

    calls, stop = [], [0]

    def interrupting_take(chunk, order):  # Ctrl-C while window number `stop` is mixed
        calls.append(1)
        if len(calls) == stop[0]:
            raise KeyboardInterrupt
        return take(chunk, order)

    monkeypatch.setattr(shuffle_module, "take", interrupting_take)
    shuffle_file(muons, tmp_path / "counted.h5", memory_mb=2, passes=2)
    windows = len(calls) // 2
    (tmp_path / "counted.h5").unlink()
    calls.clear()
    stop[0] = 2 if where == "first pass" else windows + 2
    out = tmp_path / "out.h5"
    out.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        shuffle_file(muons, out, memory_mb=2, passes=2, overwrite=True)
    assert len(calls) == stop[0] and windows > 2
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]  # no temporaries


# -- split -------------------------------------------------------------------------------
@pytest.fixture
def many_files(binned, tmp_path):
    """The 500 binned events cut into 10 files of 20 to 80 events."""
    x, y = read_xy(binned)
    sizes = [20, 80, 35, 65, 50, 50, 40, 60, 25, 75]
    edges = np.concatenate([[0], np.cumsum(sizes)])
    return [write_subset(tmp_path / f"part{k}.h5", x[a:b], y[a:b])
            for k, (a, b) in enumerate(zip(edges[:-1], edges[1:]))], sizes


def test_split_by_files_holds_the_fractions_to_one_file(many_files, tmp_path):
    paths, sizes = many_files
    size_of = {p.name: s for p, s in zip(paths, sizes)}
    (tmp_path / "lists").mkdir()  # the list file names the inputs relative to its folder
    result = split_files(paths, tmp_path / "lists" / "split.toml",
                         fractions=[0.6, 0.2, 0.2], seed=5)
    inputs = read_list_file(tmp_path / "lists" / "split.toml")
    files = inputs["xy"]
    named = [p.name for p in files.train_files + files.validation_files + files.test_files]
    assert sorted(named) == sorted(size_of)        # every file once
    for which, fraction in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        n = sum(size_of[p.name] for p in getattr(files, f"{which}_files"))
        assert n == result["events"][which]
        assert abs(n - fraction * 500) <= max(sizes)
    # another seed, another assignment; the same seed, the same one
    again = split_files(paths, tmp_path / "again.toml", [0.6, 0.2, 0.2], seed=5)
    other = split_files(paths, tmp_path / "other.toml", [0.6, 0.2, 0.2], seed=6)
    assert again["files"] == result["files"] and other["files"] != result["files"]


def test_split_by_events_balanced_by_class(binned, tmp_path):
    x, y = read_xy(binned)
    # a class column with 30 % / 70 % of the events
    cut = np.quantile(y["energy"], 0.7)
    labelled = np.empty(len(y), dtype=y.dtype.descr + [("high", "<i8")])
    for n in y.dtype.names:
        labelled[n] = y[n]
    labelled["high"] = y["energy"] > cut
    src = write_subset(tmp_path / "classes.h5", x, labelled)
    n_high = int(labelled["high"].sum())
    result = split_files([src], tmp_path / "bal.toml", [0.5, 0.25, 0.25], by="events",
                         balance="high", seed=2)
    assert sum(result["events"].values()) == 2 * n_high
    seen = []
    for which, fraction in (("train", 0.5), ("validation", 0.25), ("test", 0.25)):
        (path,) = result["files"][which]
        assert path.name == f"bal_{which}.h5"
        xs, ys = read_xy(path)
        # balanced, and each class split by the fractions to one event
        assert np.sum(ys["high"] == 1) == np.sum(ys["high"] == 0)
        assert abs(np.sum(ys["high"] == 1) - fraction * n_high) <= 1
        _check_indices(path)
        keys = _event_keys(path)
        seen += keys
    assert len(set(seen)) == len(seen)              # no event in two sets
    assert set(seen) <= set(_event_keys(src))
    lists = read_list_file(tmp_path / "bal.toml")["xy"]
    assert [p.name for p in lists.test_files] == ["bal_test.h5"]


def test_split_refuses_bad_requests(many_files, tmp_path):
    paths, _ = many_files
    with pytest.raises(ConfigError, match="add up to 1"):
        split_files(paths, tmp_path / "a.toml", [0.5, 0.2])
    with pytest.raises(ConfigError, match="needs by='events'"):
        split_files(paths, tmp_path / "a.toml", balance="energy")
    with pytest.raises(FormatError, match="no column 'nope'"):
        split_files(paths, tmp_path / "a.toml", by="events", balance="nope")
    assert not (tmp_path / "a.toml").exists()


# -- concat ------------------------------------------------------------------------------
def test_concat_keeps_every_event_and_renumbers(many_files, tmp_path):
    paths, sizes = many_files
    out = tmp_path / "all.h5"
    result = concat_files(paths[:4], out)
    assert result["events"] == sum(sizes[:4]) and result["per_file"] == sizes[:4]
    expected = sum((_event_keys(p) for p in paths[:4]), [])
    assert _event_keys(out) == expected            # every event, in input order
    _check_indices(out)


def test_concat_of_point_layout_and_mismatch(muons, binned, tmp_path):
    src = str(muons)
    out = tmp_path / "twice.h5"
    concat_files([src, src], out)
    with tables.open_file(str(out)) as h5, tables.open_file(src) as one:
        assert h5.root.hits._indices.nrows == 160
        assert np.array_equal(h5.root.hits._indices[80:]["index"],
                              one.root.hits._indices[:]["index"] + one.root.hits.time.nrows)
        assert np.array_equal(h5.root.hits.time[:], np.tile(one.root.hits.time[:], 2))
        assert h5.root.mc_tracks.col("group_id")[-1] == 159
        assert h5.root.raw_header.nrows == one.root.raw_header.nrows
    with pytest.raises(FormatError, match="same layout") as err:
        concat_files([binned, src], tmp_path / "mixed.h5")
    assert str(src) in str(err.value)
    assert not (tmp_path / "mixed.h5").exists()


# -- the subcommands -----------------------------------------------------------------------
def test_subcommands(many_files, binned, tmp_path, capsys):
    paths, _ = many_files
    p = [str(q) for q in paths]
    assert main(["split", *p, "-o", str(tmp_path / "s.toml"), "--fractions", "0.8", "0.2",
                 "--seed", "1"]) == 0
    assert "train 4" in capsys.readouterr().out
    assert main(["shuffle", str(binned), "-o", str(tmp_path / "sh.h5")]) == 0
    assert "shuffled 500 events" in capsys.readouterr().out
    assert main(["-q", "concat", p[0], p[1], "-o", str(tmp_path / "c.h5")]) == 0
    assert capsys.readouterr().out == ""
    assert len(TrainingFile(tmp_path / "c.h5")) == 100
    # an existing output: one line, exit 2
    assert main(["concat", p[0], "-o", str(tmp_path / "c.h5")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("km3flow concat: error:") and "--overwrite" in err
    assert "\n" not in err
    assert main(["split", p[0], "-o", str(tmp_path / "t.toml"), "--fractions", "2"]) == 2
    assert "add up to 1" in capsys.readouterr().err
