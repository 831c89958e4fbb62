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


def _lazy_blob(calls):
    from km3flow.core.blob import LazyBlob, Pending

    def build(index):
        calls.append(index)
        return {"Header": {"run": index}, "Info": [index]}.items()

    marker = Pending((build, 7))
    return LazyBlob(Header=marker, Hits="hits", Info=marker)


def test_lazy_blob_builds_on_first_read_and_becomes_a_blob():
    calls = []
    blob = _lazy_blob(calls)
    assert isinstance(blob, kp.Blob) and type(blob) is not kp.Blob
    # keys, membership, length and the eager entries need no building
    assert list(blob) == ["Header", "Hits", "Info"] and "Info" in blob and len(blob) == 3
    assert blob["Hits"] == "hits" and blob.get("Hits") == "hits" and calls == []
    assert blob.get("nope", 5) == 5 and calls == []
    assert blob["Info"] == [7] and calls == [7]
    assert type(blob) is kp.Blob  # built: a plain Blob from now on
    assert blob == {"Header": {"run": 7}, "Hits": "hits", "Info": [7]}
    assert calls == [7]


def test_lazy_blob_never_shows_a_placeholder():
    import copy
    import json
    import pickle

    full = {"Header": {"run": 7}, "Hits": "hits", "Info": [7]}
    views = [
        dict, lambda b: {**b}, kp.Blob, lambda b: b.copy(), copy.copy, copy.deepcopy,
        lambda b: pickle.loads(pickle.dumps(b)), lambda b: dict(b.items()),
        lambda b: dict(zip(b, b.values())), lambda b: {} | b, lambda b: b | {},
        lambda b: (lambda **kw: kw)(**b), lambda b: json.loads(json.dumps(b)),
        lambda b: kp.Blob(x=1).update(b) or {k: b[k] for k in b},
        lambda b: {"Header": b.get("Header"), "Hits": b["Hits"], "Info": b.pop("Info")},
    ]
    for view in views:
        calls = []
        out = view(_lazy_blob(calls))
        assert out == full and calls == [7]
        if isinstance(out, kp.Blob):
            assert type(out) is kp.Blob
    calls = []
    assert _lazy_blob(calls) == full and full == _lazy_blob(calls) and calls == [7, 7]
    assert not (_lazy_blob([]) != full)
    assert repr(_lazy_blob([])) == repr(kp.Blob(full)) and str(_lazy_blob([])) == str(kp.Blob(full))
    blob = _lazy_blob([])
    assert blob.setdefault("Header") == {"run": 7}
    assert _lazy_blob([]).popitem() == ("Info", [7])


def test_lazy_blob_respects_replaced_and_deleted_entries():
    calls = []
    blob = _lazy_blob(calls)
    blob["Header"] = "mine"
    assert blob["Info"] == [7] and calls == [7]
    assert blob == {"Header": "mine", "Hits": "hits", "Info": [7]}
    blob = _lazy_blob(calls)
    blob["Header"] = "mine"
    del blob["Info"]
    # nothing pending is left: nothing to build
    assert dict(blob) == {"Header": "mine", "Hits": "hits"} and calls == [7]


def test_pipeline_hands_a_lazy_blob_on_unbuilt():
    from km3flow.core.blob import LazyBlob

    calls, seen = [], []

    class Source(kp.Module):
        def process(self, blob):
            return _lazy_blob(calls)

    class Look(kp.Module):
        def process(self, blob):
            seen.append((type(blob), blob["Hits"]))
            return blob

    pipe = kp.Pipeline()
    pipe.attach(Source)
    pipe.attach(Look)
    pipe.drain(2)
    assert seen == [(LazyBlob, "hits")] * 2 and calls == []


def test_lazy_blob_names_entries_its_builder_left_out():
    from km3flow.core.blob import LazyBlob, Pending
    from km3flow.exceptions import Km3flowError

    marker = Pending((lambda index: [("a", index)], 1))
    blob = LazyBlob(a=marker, b=marker)
    with pytest.raises(Km3flowError, match=r"did not build \['b'\]"):
        blob["a"]
