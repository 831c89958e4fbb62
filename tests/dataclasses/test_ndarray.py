"""Tests of km3flow.dataclasses.NDArray."""

from __future__ import annotations

import pickle

import numpy as np

from km3flow.dataclasses import NDArray


def test_talk_cell_repr():
    a = NDArray(np.arange(24.0).reshape(2, 3, 4) / 10, h5loc="/the_array", name="The Array")
    text = repr(a)
    assert text.startswith("NDArray([[[0. , 0.1, 0.2, 0.3],")
    assert (a.h5loc, a.name, a.title) == ("/the_array", "The Array", "The Array")


def test_metadata_through_numpy_operations():
    a = NDArray(np.arange(6.0).reshape(2, 3), h5loc="/x", title="X")
    for b in (a + 1, a[0], a[:, 1:], np.sqrt(a), a.sum(axis=0), a.T, a.reshape(3, 2)):
        assert isinstance(b, NDArray) and b.h5loc == "/x" and b.title == "X"
    assert type(a.sum()) is np.float64 and a.sum() == 15.0
    assert type(a.max()) is np.float64
    assert NDArray([1, 2]).h5loc == "/misc" and NDArray([1]).title == "Unnamed NDArray"
    a.name = "Y"
    assert a.title == "Y"


def test_pickle_keeps_metadata():
    a = NDArray(np.ones((2, 2)), h5loc="/p", title="P", group_id=3)
    b = pickle.loads(pickle.dumps(a))
    assert (b.h5loc, b.title, b.group_id) == ("/p", "P", 3) and b.sum() == 4.0
