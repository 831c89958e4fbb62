"""Node-by-node comparison of two HDF5 files (parallel drains, HDF5 merging)."""

from __future__ import annotations

import tables


def h5_content(path: str, provenance: bool = True) -> dict:
    """{node path: (title, user attrs, data)} of every node except PyTables' index groups
    (and without km3flow's provenance record if ``provenance`` is False)."""
    content = {}
    with tables.open_file(path) as f:
        for node in f.walk_nodes("/"):
            p = node._v_pathname
            if "/_i_" in p:
                continue
            attrs = node._v_attrs
            if not provenance and p == "/km3flow_provenance":
                continue
            skip = ("kid",) if provenance else ("kid", "km3flow_provenance")
            user = {k: attrs[k] for k in attrs._f_list("user") if k not in skip}
            data = None if isinstance(node, tables.Group) else node.read()
            content[p] = (str(node._v_title), user, data)
    return content


def assert_same_h5(a: str, b: str, provenance: bool = True) -> None:
    """Same nodes, titles, user attributes and data bytes (``kid`` aside; the provenance
    record aside too if ``provenance`` is False)."""
    ca, cb = h5_content(a, provenance), h5_content(b, provenance)
    assert sorted(ca) == sorted(cb)
    for path in ca:
        ta, ua, da = ca[path]
        tb, ub, db = cb[path]
        assert ta == tb, path
        assert ua == ub, path
        if da is None:
            assert db is None, path
        else:
            assert da.dtype == db.dtype, path
            assert da.shape == db.shape and da.tobytes() == db.tobytes(), path  # NaN-safe
