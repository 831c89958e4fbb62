"""Round trips through HDF5Sink and HDF5Pump: the talk's example, dtypes, layouts, options."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import tables as tb

import km3flow as kp
from km3flow.core import Blob, Module, Pipeline
from km3flow.dataclasses import NDArray, Table
from km3flow.exceptions import ModuleError
from km3flow.io.hdf5 import HDF5Pump, HDF5Sink, HDF5WriteError, read_provenance


def write(path, blobs, **params):
    sink = HDF5Sink(filename=str(path), **params)
    for blob in blobs:
        sink.process(Blob(blob))
    sink.finish()
    return path


def read_all(path, **params):
    with HDF5Pump(filename=str(path), **params) as pump:
        return list(pump)


class ThePump(Module):
    """The talk's module: blob i holds a table of i+1 rows at /foo."""

    def configure(self):
        self.index = 1
        self.rng = np.random.default_rng(42)

    def process(self, blob):
        blob["Foo"] = kp.dataclasses.Table(
            {"a": self.rng.random(self.index), "b": np.arange(self.index)}, h5loc="/foo")
        self.index += 1
        return blob


def test_talk_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    pipe = Pipeline()
    pipe.attach(ThePump)
    pipe.attach(kp.io.HDF5Sink, filename="output.h5")
    pipe.drain(3)
    assert "++ HDF5Sink: HDF5 file written to: output.h5" in capsys.readouterr().out
    with tb.open_file("output.h5") as h5:
        assert h5.title == "KM3NeT"
        assert [n._v_pathname for n in h5.root] == ["/foo", "/group_info"]
        foo, gi = h5.root.foo, h5.root.group_info
        assert (foo.nrows, foo.title, gi.nrows, gi.title) == (6, "Generic Table", 3, "Group Info")
        for node in (foo, gi):
            f = node.filters
            assert (f.complib, f.complevel, f.shuffle, f.fletcher32) == ("zlib", 5, True, True)
        attrs = h5.root._v_attrs
        assert attrs.format_version == b"5.1" and attrs.km3flow == kp.__version__.encode()
        assert len(attrs.kid) == 36
    df = pd.read_hdf("output.h5", "/foo")
    assert list(df.columns) == ["a", "b", "group_id"]
    assert df.b.tolist() == [0, 0, 1, 0, 1, 2] and df.group_id.tolist() == [0, 1, 1, 2, 2, 2]

    seen = []
    pipe = Pipeline()
    pipe.attach(kp.io.HDF5Pump, filename="output.h5")
    pipe.attach(lambda blob: seen.append(str(blob)) or blob, name="printer")
    pipe.drain()
    out = capsys.readouterr().out
    assert "++ HDF5Pump: Opening output.h5" in out
    assert len(seen) == 3
    for i, text in enumerate(seen):
        assert text.splitlines() == [
            "Blob (2 entries):",
            f"  'Foo'       => Foo <class 'km3flow.dataclasses.Table'> (rows: {i + 1})",
            "  'GroupInfo' => GroupInfo <class 'km3flow.dataclasses.Table'> (rows: 1)",
        ]


ALL_DTYPES = [("i1", "<i1"), ("i2", "<i2"), ("i4", "<i4"), ("i8", "<i8"), ("u1", "u1"),
              ("u2", "<u2"), ("u4", "<u4"), ("u8", "<u8"), ("f4", "<f4"), ("f8", "<f8"),
              ("flag", "?"), ("label", "S7"), ("vec", "<f8", (3,))]


def _random_table(rng, n, h5loc, split):
    arr = np.zeros(n, dtype=ALL_DTYPES)
    for name in arr.dtype.names:
        kind = arr.dtype[name].base.kind
        if kind in "iu":
            info = np.iinfo(arr.dtype[name])
            arr[name] = rng.integers(info.min, info.max, n, dtype=arr.dtype[name], endpoint=True)
        elif kind == "f":
            arr[name] = rng.normal(size=arr[name].shape)
        elif kind == "b":
            arr[name] = rng.random(n) > 0.5
        else:
            arr[name] = [bytes(rng.integers(97, 123, rng.integers(0, 8))) for _ in range(n)]
    return Table(arr, h5loc=h5loc, split_h5=split, name="All")


@pytest.mark.parametrize("split", [False, True])
def test_all_dtypes_round_trip(tmp_path, split):
    rng = np.random.default_rng(7)
    tables = [_random_table(rng, n, "/all/of_them", split) for n in (3, 0, 5, 1, 0, 8)]
    path = write(tmp_path / "d.h5", [{"All": t} for t in tables])
    blobs = read_all(path)
    assert len(blobs) == len(tables)
    for gid, (t, blob) in enumerate(zip(tables, blobs)):
        if len(t) == 0 and not split:
            assert "OfThem" not in blob  # compound tables: no rows, no entry (as KM3Pipe)
            continue
        got = blob["OfThem"]
        assert isinstance(got, Table) and got.h5loc == "/all/of_them" and got.split_h5 == split
        assert got.dtype.names == t.dtype.names + ("group_id",)
        for name in t.dtype.names:
            assert got.dtype[name] == t.dtype[name]
            np.testing.assert_array_equal(got[name], t[name])
        assert (got.group_id == gid).all()
        assert blob["GroupInfo"].blob_length[0] == 1


def test_tables_in_only_some_cycles_and_ndarrays_of_varying_shape(tmp_path):
    blobs = []
    for i in range(7):
        blob = {"Ev": Table({"i": i}, h5loc="/ev")}
        if i % 3 == 0:
            blob["Rare"] = Table({"x": np.arange(i + 1) * 1.5}, h5loc="/rare", name="Rare")
        if i % 2:
            blob["Hits"] = Table({"t": np.arange(i, dtype="<f4")}, h5loc="/hits", split_h5=True)
        if i != 4:
            blob["Img"] = NDArray(np.full((i, 2, 3), i, dtype="<i2"), h5loc="/img", title="Img")
        blobs.append(blob)
    path = write(tmp_path / "s.h5", blobs)
    with tb.open_file(path) as h5:
        idx = h5.root.img_indices.read()
        assert idx["n_items"].tolist() == [0, 1, 2, 3, 0, 5, 6]
        assert idx["index"].tolist() == [0, 0, 1, 3, 6, 6, 11]
        hidx = h5.get_node("/hits/_indices").read()
        assert hidx["n_items"].tolist() == [0, 1, 0, 3, 0, 5, 0]
        assert h5.root.group_info.col("blob_length").tolist() == [3, 3, 2, 4, 1, 3, 3]
    out = read_all(path)
    for i, blob in enumerate(out):
        assert blob["Ev"].i.tolist() == [i]
        assert ("Rare" in blob) == (i % 3 == 0)
        if i % 3 == 0:
            assert blob["Rare"].x.tolist() == list(np.arange(i + 1) * 1.5)
        assert blob["Hits"].t.tolist() == (list(range(i)) if i % 2 else [])
        img = blob["Img"]
        assert isinstance(img, NDArray) and img.h5loc == "/img" and img.title == "Img"
        assert img.dtype == np.dtype("<i2") and img.group_id == i
        assert img.shape == ((0 if i == 4 else i), 2, 3) and (img == i).all()


def test_many_files_random_access_and_shuffle(tmp_path):
    paths = []
    for k in range(3):
        blobs = [{"T": Table({"f": k, "i": np.arange(j + 1)}, h5loc="/t"),
                  "H": Table({"v": np.full(j, k * 10 + j)}, h5loc="/h", split_h5=True)}
                 for j in range(4 + k)]
        paths.append(str(write(tmp_path / f"f{k}.h5", blobs)))
    pump = HDF5Pump(filenames=paths)
    assert len(pump) == 4 + 5 + 6
    blobs = list(pump)
    gids = [int(b["GroupInfo"].group_id[0]) for b in blobs]
    assert gids == list(range(15))
    assert [int(b["T"].f[0]) for b in blobs] == [0] * 4 + [1] * 5 + [2] * 6
    assert all((b["T"].group_id == g).all() and (b["H"].group_id == g).all()
               for g, b in zip(gids, blobs))
    for i in (14, 0, 7, -1, 9, 3):
        b = pump[i]
        ref = blobs[i]
        assert b["T"].i.tolist() == ref["T"].i.tolist() and b["H"].v.tolist() == ref["H"].v.tolist()
    with pytest.raises(IndexError):
        pump[15]
    pump.close()
    with HDF5Pump(filenames=paths, shuffle=True, seed=3) as shuffling:
        shuffled = list(shuffling)
    order = [int(b["GroupInfo"].group_id[0]) for b in shuffled]
    assert sorted(order) == gids and order != gids
    with HDF5Pump(filenames=paths, shuffle=True, seed=3) as again:
        assert order == [int(b["GroupInfo"].group_id[0]) for b in again]
    for b in shuffled:
        g = int(b["GroupInfo"].group_id[0])
        assert b["H"].v.tolist() == blobs[g]["H"].v.tolist()


def test_h5locs_selection(tmp_path):
    path = write(tmp_path / "h.h5", [{"A": Table({"a": 1}, h5loc="/a"),
                                      "B": Table({"b": [1, 2]}, h5loc="/reco/b"),
                                      "C": Table({"c": 3}, h5loc="/reco/c")}] * 2)
    blobs = read_all(path, h5locs=["/reco"])
    assert [sorted(b) for b in blobs] == [["B", "C"]] * 2
    assert sorted(read_all(path, h5locs="/a")[1]) == ["A"]


def test_sequential_and_random_access_agree_across_blocks(tmp_path, monkeypatch):
    from km3flow.io.hdf5 import pump as pump_module

    monkeypatch.setattr(pump_module, "_BLOCK_ROWS", 64)  # many small read blocks
    rng = np.random.default_rng(0)
    ns = rng.integers(0, 40, 200)
    path = write(tmp_path / "b.h5", [
        {"H": Table({"x": rng.random(n)}, h5loc="/h", split_h5=True),
         "C": Table({"y": np.arange(n)}, h5loc="/c")} for n in ns], buffer_size=2048)
    pump = HDF5Pump(filename=str(path))
    seq = [(b["H"].x.copy(), b["C"].y.tolist() if "C" in b else []) for b in pump]
    assert [len(x) for x, _ in seq] == ns.tolist()
    for i in rng.permutation(200)[:40]:
        b = pump[int(i)]
        np.testing.assert_array_equal(b["H"].x, seq[i][0])
        assert (b["C"].y.tolist() if "C" in b else []) == seq[i][1]
    pump.close()


def test_small_buffer_gives_the_same_file_content(tmp_path):
    rng = np.random.default_rng(5)
    blobs = [{"H": Table({"x": rng.random(n)}, h5loc="/h", split_h5=True),
              "E": Table({"n": n}, h5loc="/e"),
              "A": NDArray(rng.random((n, 2)), h5loc="/a")} for n in rng.integers(0, 30, 100)]
    big = write(tmp_path / "big.h5", blobs)
    small = write(tmp_path / "small.h5", blobs, buffer_size=1000, flush_frequency=7)
    with tb.open_file(big) as f1, tb.open_file(small) as f2:
        for node in ("/h/x", "/h/group_id", "/h/_indices", "/e", "/a", "/a_indices",
                     "/group_info"):
            np.testing.assert_array_equal(f1.get_node(node).read(), f2.get_node(node).read())


def test_options_filters_keys_reset_group_id_metadata(tmp_path):
    blobs = [{"T": Table({"group_id": [100 + i], "v": i}, h5loc="/t"),
              "U": Table({"u": i}, h5loc="/u")} for i in range(3)]
    path = write(tmp_path / "o.h5", blobs, complib="blosc", complevel=9, fletcher32=False,
                 shuffle=False, keys=["T"], reset_group_id=False, chunksize=16)
    with tb.open_file(path) as h5:
        f = h5.root.t.filters
        assert (f.complib, f.complevel, f.fletcher32, f.shuffle) == ("blosc", 9, False, False)
        assert h5.root.t.chunkshape == (16,)
        assert "/u" not in h5
        assert h5.root.t.col("group_id").tolist() == [100, 101, 102]
    path = write(tmp_path / "r.h5", blobs)
    with tb.open_file(path) as h5:
        assert h5.root.t.col("group_id").tolist() == [0, 1, 2]


def test_singletons_and_metadata_service(tmp_path):
    class Meta(Module):
        def configure(self):
            self.expose({"origin": "unit test", "n": 3}, "HDF5MetaData")

    header = Table({"parameter": [b"can"], "field_names": [b"zmin r zmax"],
                    "field_values": [b"0 888.4 1027"], "dtype": [b"f4 f4 f4"]},
                   h5loc="/raw_header", name="RawHeader", h5singleton=True)
    pipe = Pipeline()
    pipe.attach(Meta)
    pipe.attach(lambda blob: Blob(Header=header, E=Table({"e": 1.0}, h5loc="/e")), name="src")
    pipe.attach(HDF5Sink, filename=str(tmp_path / "m.h5"))
    pipe.drain(4)
    with tb.open_file(tmp_path / "m.h5") as h5:
        assert h5.root.raw_header.nrows == 1 and "group_id" not in h5.root.raw_header.colnames
        assert h5.root._v_attrs.origin == "unit test" and h5.root._v_attrs.n == 3
    blobs = read_all(tmp_path / "m.h5")
    assert len(blobs) == 4
    # the header's one blob key: a Header, the same object in every blob
    assert all(b["Header"] is blobs[0]["Header"] and "RawHeader" not in b for b in blobs)
    assert blobs[2]["Header"].can.zmax == 1027


def test_provenance_recorded(tmp_path):
    first = write(tmp_path / "in.h5", [{"E": Table({"e": i}, h5loc="/e")} for i in range(3)])

    holder = {}

    class Describe(Module):
        """Exposes the pipeline description, as the lead's Pipeline is to do."""

        def configure(self):
            self.expose(functools.partial(holder["pipe"].describe, fmt="json"),
                        "pipeline_description")

    pipe = holder["pipe"] = Pipeline()
    pipe.attach(HDF5Pump, filename=str(first))
    pipe.attach(Describe)
    pipe.attach(HDF5Sink, filename=str(tmp_path / "out.h5"), complevel=3)
    pipe.drain()
    with tb.open_file(tmp_path / "out.h5") as h5:
        prov = read_provenance(h5)
    assert prov["km3flow"] == kp.__version__ and prov["n_groups"] == 3
    assert prov["input_files"] == [str(first)]
    assert prov["tables"] == tb.__version__ and prov["numpy"] == np.__version__
    assert prov["start_time"] <= prov["end_time"] and prov["host"]
    modules = prov["pipeline"]["modules"]
    assert [m["name"] for m in modules] == ["HDF5Pump", "Describe", "HDF5Sink"]
    assert modules[2]["params"]["complevel"] == 3
    # Blobs' "filename" strings are recorded too.
    path = write(tmp_path / "fn.h5", [{"filename": "run_1.root"}, {"filename": "run_2.root"},
                                      {"filename": "run_1.root"}])
    with tb.open_file(path) as h5:
        assert read_provenance(h5)["input_files"] == ["run_1.root", "run_2.root"]
        assert read_provenance(h5)["pipeline"] is None


def test_pump_to_sink_copy_of_km3pipe_file(tmp_path, testdata):
    src = testdata("online/events_sample.h5")
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filename=src)
    pipe.attach(HDF5Sink, filename=str(tmp_path / "copy.h5"))
    pipe.drain()
    orig, copy = read_all(src), read_all(tmp_path / "copy.h5")
    assert len(copy) == len(orig) == 10
    for a, b in zip(orig, copy):
        assert sorted(a) == sorted(b)
        for key in a:
            if isinstance(a[key], Table):
                assert a[key].dtype == b[key].dtype
                for col in a[key].dtype.names:
                    np.testing.assert_array_equal(a[key][col], b[key][col])


def test_write_errors(tmp_path):
    sink = HDF5Sink(filename=str(tmp_path / "u.h5"))
    with pytest.raises(HDF5WriteError, match=r"column 'name' of /u holds unicode"):
        sink.process(Blob(U=Table({"name": ["abc"]}, h5loc="/u")))
    sink.finish()
    assert read_all(tmp_path / "u.h5") == []
    sink = HDF5Sink(filename=str(tmp_path / "c.h5"))
    sink.process(Blob(T=Table({"a": 1}, h5loc="/t")))
    with pytest.raises(HDF5WriteError,
                       match=r"column 'b' only in the new table; column 'a' only in the earlier"):
        sink.process(Blob(T=Table({"b": 1}, h5loc="/t")))
    with pytest.raises(HDF5WriteError, match="only the first axis may vary"):
        sink.process(Blob(A=NDArray(np.ones((1, 2)), h5loc="/n")))
        sink.process(Blob(A=NDArray(np.ones((1, 3)), h5loc="/n")))
    with pytest.raises(HDF5WriteError, match="was written as table, now a split"):
        sink.process(Blob(T=Table({"a": 1}, h5loc="/t", split_h5=True)))
    with pytest.raises(HDF5WriteError, match="bad h5loc 'rel'"):
        sink.process(Blob(A=NDArray(np.ones(2), h5loc="rel")))
    with pytest.raises(HDF5WriteError, match="bad h5loc '/'"):
        sink.process(Blob(T=Table({"a": 1}, h5loc="/")))
    with pytest.raises(HDF5WriteError, match="collides"):
        sink.process(Blob(T=Table({"a": 1}, h5loc="/t/x")))
    sink.process(Blob(T=Table({"a": 2}, h5loc="/t")))
    sink.finish()
    blobs = read_all(tmp_path / "c.h5")
    assert len(blobs) == 3 and "T" not in blobs[1] and blobs[1]["N"].shape == (1, 2)
    assert [b["T"].a.tolist() for b in blobs if "T" in b] == [[1], [2]]


def test_failing_blob_adds_nothing_and_error_is_wrapped(tmp_path):
    pipe = Pipeline()
    state = {"i": 0}

    def src(blob):
        state["i"] += 1
        name = "a" if state["i"] != 3 else "b"
        return Blob(T=Table({name: state["i"]}, h5loc="/t"), E=Table({"e": 1}, h5loc="/e"))

    pipe.attach(src)
    pipe.attach(HDF5Sink, filename=str(tmp_path / "f.h5"))
    with pytest.raises(ModuleError) as info:
        pipe.drain(5)
    assert isinstance(info.value.__cause__, HDF5WriteError)
    blobs = read_all(tmp_path / "f.partial.h5")  # a failed run: the partial name
    assert [b["T"].a.tolist() for b in blobs] == [[1], [2]]
    assert [b["E"].e.tolist() for b in blobs] == [[1], [1]]


def test_configuration_errors(tmp_path):
    from km3flow.exceptions import ConfigError, ParameterError

    with pytest.raises(ParameterError, match="parameter 'filename': .*does not exist"):
        HDF5Sink(filename=str(tmp_path / "no" / "such" / "dir.h5"))
    with pytest.raises(ParameterError, match="bad compression settings"):
        HDF5Sink(filename=str(tmp_path / "x.h5"), complib="nonsense")
    with pytest.raises(ParameterError, match="'HDF5Sink': parameter 'complevel': expected int"):
        HDF5Sink(filename=str(tmp_path / "x.h5"), complevel="5")
    with pytest.raises(ConfigError, match="either 'filename' or 'filenames'"):
        HDF5Pump()
    with pytest.raises(ConfigError, match="either 'filename' or 'filenames'"):
        HDF5Pump(filename="a.h5", filenames=["b.h5"])
    with pytest.raises(ConfigError, match="'filenames' is empty"):
        HDF5Pump(filenames=[])
