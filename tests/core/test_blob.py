import logging

import pytest

import km3flow as kp


def test_blob_str_as_in_the_talk():
    blob = kp.Blob({"a": 1, "b": "foo"})
    assert str(blob) == "Blob (2 entries):\n  'a' => 1\n  'b' => 'foo'"
    assert isinstance(blob, dict)


def test_blob_str_aligns_keys_and_shows_tables():
    import numpy as np

    tab = kp.Table({"x": np.arange(3)}, h5loc="/foo", name="Foo")
    blob = kp.Blob({"Foo": tab, "GroupInfo": 1})
    lines = str(blob).splitlines()
    assert lines[0] == "Blob (2 entries):"
    assert lines[1] == "  'Foo'       => Foo <class 'km3flow.dataclasses.Table'> (rows: 3)"
    assert lines[2] == "  'GroupInfo' => 1"


def test_missing_key_raises_keyerror_and_logs_available_keys(capsys):
    blob = kp.Blob({"a": 1, "b": 2})
    with pytest.raises(KeyError) as err:
        blob["c"]
    assert err.value.args == ("c",)
    assert "ERROR ++ Blob: No key named 'c' found in Blob. \nAvailable keys: a, b" in (
        capsys.readouterr().err
    )


def test_get_and_in_do_not_log(capsys):
    blob = kp.Blob({"a": 1})
    assert blob.get("c") is None
    assert "c" not in blob
    assert capsys.readouterr().err == ""


def test_repr_and_copy():
    assert repr(kp.Blob()) == "Blob()"
    blob = kp.Blob({"a": 1})
    assert repr(blob) == "Blob({'a': 1})"
    copied = blob.copy()
    assert isinstance(copied, kp.Blob) and copied == blob and copied is not blob
    assert logging.getLogger("Blob").name == "Blob"
