"""Tests of km3flow.dataclasses.Table: the talk's cells and what KM3Pipe users rely on."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from km3flow.dataclasses import TEMPLATES, Table, TableError


@pytest.fixture
def tab():
    return Table(
        {"a": np.array([0.5, 0.25, 0.125, 1.0, 2.0]), "b": True, "c": [1, 1, 2, 3, 5]},
        h5loc="/the_data", split_h5=False, name="The Awesome Data",
    )


def test_talk_cells(tab):
    assert repr(tab) == "The Awesome Data <class 'km3flow.dataclasses.Table'> (rows: 5)"
    assert (tab.h5loc, tab.split_h5, tab.name) == ("/the_data", False, "The Awesome Data")
    lines = str(tab).splitlines()
    assert lines[0] == "The Awesome Data <class 'km3flow.dataclasses.Table'>"
    assert lines[1] == "HDF5 location: /the_data (no split)"
    assert lines[2] == "<f8 (dtype: a) = [0.5   0.25  0.125 1.    2.   ]"
    assert lines[3] == "|b1 (dtype: b) = [ True  True  True  True  True]"
    assert lines[4] == "<i8 (dtype: c) = [1 1 2 3 5]"
    arr = np.array(tab)
    assert "dtype=(numpy.record, [('a', '<f8'), ('b', '?'), ('c', '<i8')])" in repr(arr)
    assert type(arr) is np.ndarray
    assert repr((tab.c, tab["c"])) == "(array([1, 1, 2, 3, 5]), array([1, 1, 2, 3, 5]))"
    assert repr(tab[2:]) == "The Awesome Data <class 'km3flow.dataclasses.Table'> (rows: 3)"


def test_split_str():
    t = Table({"x": [1]}, h5loc="/s", split_h5=True)
    assert str(t).splitlines()[1] == "HDF5 location: /s (split)"
    assert t.name == "Generic Table"


def test_slicing_and_fancy_indexing_keep_metadata(tab):
    for sub in (tab[1:3], tab[[0, 4]], tab[tab.c > 1], tab.sorted("a"), tab[::-1]):
        assert isinstance(sub, Table)
        assert (sub.h5loc, sub.name, sub.split_h5) == ("/the_data", "The Awesome Data", False)
    assert list(tab[tab.c > 1].c) == [2, 3, 5]
    row = tab[1]
    assert isinstance(row, np.record) and row.c == 1
    assert list(tab[["a", "c"]].dtype.names) == ["a", "c"]


def test_len_and_iteration(tab):
    assert len(tab) == 5
    rows = list(tab)
    assert [r.c for r in rows] == [1, 1, 2, 3, 5]


def test_construction_from_structured_array_rows_columns():
    dt = np.dtype([("x", "<i4"), ("y", "<f8")])
    arr = np.array([(1, 2.0), (3, 4.0)], dtype=dt)
    assert Table(arr).x.tolist() == [1, 3]
    assert Table.from_rows([(1, 2.0), (3, 4.0)], dtype=dt).y.tolist() == [2.0, 4.0]
    t = Table.from_rows([(1, 2.5)], colnames=["x", "y"])
    assert t.dtype.names == ("x", "y") and t.y[0] == 2.5
    assert Table.from_columns([[1, 3], [2.0, 4.0]], dtype=dt).x.tolist() == [1, 3]
    assert Table.from_columns([[1, 3], [2.0, 4.0]], colnames=["p", "q"]).q.tolist() == [2, 4]
    assert Table([(5, 6.0)], dtype=dt).x.tolist() == [5]
    assert len(Table.from_rows([], dtype=dt)) == 0
    assert len(Table(np.zeros(0), dtype=dt)) == 0
    single = Table(arr[0])
    assert len(single) == 1 and single.y[0] == 2.0


def test_dtype_given_reorders_by_name():
    arr = np.array([(1, 2.0)], dtype=[("x", "<i4"), ("y", "<f8")])
    t = Table(arr, dtype=[("y", "<f4"), ("x", "<i8")])
    assert t.dtype.names == ("y", "x") and t.x[0] == 1 and t.y[0] == 2.0
    with pytest.raises(TableError, match="cannot convert columns"):
        Table(arr, dtype=[("z", "<f8"), ("x", "<i8")])


def test_scalar_broadcast_and_dict_with_dtype():
    t = Table({"a": [1, 2, 3], "b": 7.5})
    assert t.b.tolist() == [7.5, 7.5, 7.5]
    assert len(Table({"a": 1, "b": 2})) == 1
    t = Table({"y": 1, "x": [1, 2]}, dtype=[("x", "<i2"), ("y", "<f4")])
    assert t.dtype["x"] == np.dtype("<i2") and t.y.tolist() == [1.0, 1.0]


def test_errors_are_clear(tab):
    with pytest.raises(TableError, match=r"ragged columns.*a: 2, b: 3"):
        Table({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(AttributeError, match="no column or attribute 'd'; columns: a, b, c"):
        _ = tab.d
    with pytest.raises(KeyError, match="no column 'd'; columns: a, b, c"):
        tab["d"]
    with pytest.raises(KeyError, match=r"no columns \['zz'\]"):
        tab[["a", "zz"]]
    for bad in ("relative", "/double//slash", "/trailing/", 3):
        with pytest.raises(TableError, match="bad h5loc"):
            Table({"a": 1}, h5loc=bad)
    with pytest.raises(TableError, match="pass a dtype"):
        Table([(1, 2)])
    with pytest.raises(TableError, match=r"columns \['z'\] of the dtype are not in the data"):
        Table({"a": 1}, dtype=[("a", "i4"), ("z", "f8")])
    with pytest.raises(TableError, match="no template 'Nope'; available: "):
        Table.from_template({}, "Nope")
    with pytest.raises(TypeError, match="unexpected keyword"):
        Table({"a": 1}, colour="red")


def test_contains_columns(tab):
    assert "a" in tab and "group_id" not in tab
    assert tab.columns == ("a", "b", "c")


def test_append_and_drop_columns(tab):
    t = tab.append_columns("d", 3)
    assert t.d.tolist() == [3] * 5 and t.name == tab.name and t.h5loc == tab.h5loc
    t = tab.append_columns(["e", "f"], [np.arange(5), np.ones(5)])
    assert t.columns == ("a", "b", "c", "e", "f") and t.e.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(TableError, match="already exist"):
        tab.append_columns("a", 1)
    with pytest.raises(TableError, match="has 2 rows, the table 5"):
        tab.append_columns("g", [1, 2])
    d = tab.drop_columns("b")
    assert d.columns == ("a", "c") and d.h5loc == "/the_data"
    assert tab.drop_columns(["a", "b"]).columns == ("c",)
    with pytest.raises(TableError, match=r"no columns \['x'\]; columns: a, b, c"):
        tab.drop_columns("x")


def test_sorted(tab):
    t = Table({"k": [2, 1, 2, 1], "v": [4.0, 3.0, 1.0, 2.0]})
    assert t.sorted("v").v.tolist() == [1, 2, 3, 4]
    s = t.sorted(["k", "v"])
    assert s.k.tolist() == [1, 1, 2, 2] and s.v.tolist() == [2, 3, 1, 4]
    with pytest.raises(TableError, match="no columns"):
        t.sorted("zz")


def test_merge_many_and_add():
    parts = [Table({"a": np.arange(i), "b": float(i)}, h5loc="/m", name="M") for i in range(50)]
    m = Table.merge(parts)
    assert len(m) == sum(range(50)) and m.h5loc == "/m" and m.name == "M"
    assert m.a.tolist() == [x for i in range(50) for x in range(i)]
    reordered = Table({"b": [9.0], "a": [7]})
    m2 = Table.merge([parts[3], reordered], name="Other")
    assert m2.a.tolist() == [0, 1, 2, 7] and m2.b.tolist() == [3, 3, 3, 9] and m2.name == "Other"
    assert (parts[2] + parts[3]).a.tolist() == [0, 1, 0, 1, 2]
    with pytest.raises(TableError, match="cannot merge tables"):
        Table.merge([parts[1], Table({"a": [1]})])
    filled = Table.merge([parts[1], Table({"a": [1]})], fillna=True)
    assert np.isnan(filled.b[-1]) and filled.b[0] == 1.0
    with pytest.raises(TableError, match="non-float"):
        Table.merge([Table({"a": [1], "i": 2}), Table({"a": [1]})], fillna=True)
    with pytest.raises(TableError, match="nothing to merge"):
        Table.merge([])
    assert Table.concatenate(parts[:3]).a.tolist() == [0, 0, 1]


def test_dataframe_round_trip(tab):
    df = tab.to_dataframe()
    assert list(df.columns) == ["a", "b", "c"] and df.c.tolist() == [1, 1, 2, 3, 5]
    back = Table.from_dataframe(df, h5loc="/x", name="X")
    assert back.c.tolist() == [1, 1, 2, 3, 5] and back.h5loc == "/x"
    assert Table(pd.DataFrame({"q": [1.5]})).q[0] == 1.5


def test_templates():
    assert set(Table({"a": 1}).templates_avail) == set(TEMPLATES)
    hits = Table.from_template(
        {"channel_id": [1, 2], "dom_id": 5, "time": [1.0, 2.0], "tot": 3, "triggered": True},
        "Hits")
    assert hits.h5loc == "/hits" and hits.split_h5 and hits.name == "Hits"
    assert hits.dtype["dom_id"] == np.dtype("<u4") and hits.dtype["channel_id"] == np.dtype("u1")
    for name, tmpl in TEMPLATES.items():
        t = Table.from_template({n: np.zeros(2, tmpl["dtype"][n]) for n in tmpl["dtype"].names},
                                name)
        assert t.dtype.names == tmpl["dtype"].names and t.h5loc == tmpl["h5loc"]
    custom = Table.from_template({"x": 1}, {"dtype": [("x", "f4")], "h5loc": "/c",
                                            "split_h5": False, "h5singleton": True})
    assert custom.h5singleton and custom.h5loc == "/c"


def test_pos_dir_views_and_setters():
    dt = TEMPLATES["CalibHits"]["dtype"]
    t = Table.from_template({n: np.arange(3).astype(dt[n]) for n in dt.names}, "CalibHits")
    pos = t.pos
    assert pos.shape == (3, 3) and np.shares_memory(pos, t)
    pos[1, 2] = 42.0
    assert t.pos_z[1] == 42.0
    t.dir = np.tile([0.0, 0.6, 0.8], (3, 1))
    assert t.dir_y.tolist() == [0.6] * 3 and t.dir.shape == (3, 3)
    # Not adjacent: a copy with the same values.
    u = Table({"pos_x": [1.0], "q": [0], "pos_y": [2.0], "pos_z": [3.0]})
    assert u.pos.tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(AttributeError, match=r"no columns \['dir_x', 'dir_y', 'dir_z'\]"):
        _ = u.dir
    with pytest.raises(TableError, match="needs shape"):
        u.pos = [1, 2]


def test_triggered_rows():
    t = Table({"triggered": [0, 1, 2, 0], "v": [1, 2, 3, 4]})
    assert t.triggered_rows.v.tolist() == [2, 3]
    with pytest.raises(TableError, match="no 'triggered' column"):
        _ = Table({"v": [1]}).triggered_rows


def test_pickle_keeps_metadata(tab):
    back = pickle.loads(pickle.dumps(tab))
    assert (back.h5loc, back.name, back.split_h5) == (tab.h5loc, tab.name, tab.split_h5)
    assert back.c.tolist() == tab.c.tolist()


def test_column_assignment(tab):
    tab.c = 7
    assert tab.c.tolist() == [7] * 5
    tab["a"] = 0.0
    assert tab.a.sum() == 0.0


def test_merge_promotes_column_dtypes():
    merged = Table.merge([Table({"x": [1, 2]}), Table({"x": [1.5]})])
    assert merged.dtype["x"] == np.float64
    assert merged.x.tolist() == [1.0, 2.0, 1.5]


def test_column_access_keeps_recarray_precedence():
    # Class attributes and metadata win over columns of the same name, as in np.recarray;
    # every other column is reachable by attribute, as a plain ndarray view.
    arr = np.zeros(3, dtype=[("size", "i4"), ("name", "f8"), ("time", "f8")])
    tab = Table(arr, h5loc="/x", name="X")
    rec = arr.view(np.recarray)
    assert tab.size == rec.size == 3
    assert tab.name == "X"
    np.testing.assert_array_equal(tab["name"], np.zeros(3))
    tab.time = [1.0, 2.0, 3.0]  # assigning a column by attribute writes the table
    assert type(tab.time) is np.ndarray
    assert tab.time.base is not None and tab.time.flags.writeable
    tab.time[0] = 7.0
    assert tab[0].time == 7.0
    tab.extra = 5  # not a column: an ordinary attribute
    assert tab.extra == 5
    with pytest.raises(AttributeError, match="no column or attribute 'nope'"):
        _ = tab.nope


def test_nested_record_columns_stay_records():
    dt = np.dtype([("vtx", [("x", "f8"), ("y", "f8")]), ("t", "f8")])
    tab = Table(np.ones(2, dtype=dt))
    assert tab.vtx.x.tolist() == [1.0, 1.0]
    assert tab["vtx"]["y"].tolist() == [1.0, 1.0]


def test_dict_dtypes_follow_the_columns_each_time():
    # The dtype built from a dict is cached by column names, types and shapes: a
    # different type or cell shape under the same names gives a different dtype.
    a = Table({"x": np.arange(3, dtype="i4"), "y": 1.5})
    b = Table({"x": np.arange(3, dtype="f4"), "y": 1.5})
    c = Table({"x": np.zeros((3, 2)), "y": 1.5})
    assert a.dtype["x"] == np.dtype("i4") and b.dtype["x"] == np.dtype("f4")
    assert c.dtype["x"].shape == (2,)
    assert a.y.tolist() == [1.5] * 3
    with pytest.raises(TableError, match="ragged columns.*x: 3, y: 2"):
        Table({"x": [1, 2, 3], "y": [1, 2]})
    with pytest.raises(TableError, match="ragged columns"):
        Table({"x": [1, 2, 3], "y": [1]})
    with pytest.raises(TableError, match=r"columns \['z'\] of the dtype are not in the data"):
        Table({"x": [1, 2]}, dtype=[("x", "i4"), ("z", "f8")])


def test_pickle_with_a_column_named_like_metadata():
    tab = Table({"name": np.arange(2.0)}, h5loc="/a", name="N")
    back = pickle.loads(pickle.dumps(tab))
    assert back.name == "N" and back.h5loc == "/a"
    assert back["name"].tolist() == [0.0, 1.0]


def test_split_cuts_tables_like_wrap_without_finalize():
    rng = np.random.default_rng(13)
    arr = np.zeros(10, dtype=[("a", "<i4"), ("b", "<f8")])
    arr["a"] = rng.integers(0, 100, 10)
    arr["b"] = rng.random(10)
    offsets = [0, 3, 3, 10]
    parts = Table._split(arr, offsets, "/hits", "Hits", True)
    assert [len(p) for p in parts] == [3, 0, 7]
    for part, (a, b) in zip(parts, zip(offsets, offsets[1:])):
        ref = Table._wrap(arr[a:b], "/hits", "Hits", True)
        assert type(part) is Table
        assert part.dtype == ref.dtype and part.tobytes() == ref.tobytes()
        assert (part.h5loc, part.name, part.split_h5, part.h5singleton) == (
            "/hits", "Hits", True, False)
        assert repr(part) == repr(ref)
    part = parts[2]
    # views of the cut tables are ordinary Tables with the metadata
    sub = part[1:4]
    assert type(sub) is Table and sub.h5loc == "/hits" and list(sub.a) == list(arr["a"][4:7])
    assert type(part.base) is Table and part.base.h5loc == "/hits" and len(part.base) == 10
    back = pickle.loads(pickle.dumps(part))
    assert type(back) is Table and back.name == "Hits" and back.tobytes() == part.tobytes()
    part.a[0] = -1  # a view: writes reach the decoded array
    assert arr["a"][3] == -1
    assert Table._split(arr, [], "/x", "X") == []
