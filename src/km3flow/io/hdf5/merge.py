"""Merge KM3Pipe-layout HDF5 files (the part files of a parallel run) into one file.

The layout is the one HDF5Sink writes (docs: /group_info, tables with a ``group_id``
column, split groups of column arrays with ``<group>/_indices``, NDArrays with a sibling
``<h5loc>_indices``, singleton tables). Merging concatenates every node in part order and
keeps the file self-consistent:

* ``group_id`` (in tables and split-group columns) continues across parts: part *k*'s
  ids are shifted by the number of groups in parts 0..k-1;
* index tables (``index``, ``n_items``) are shifted by the rows of earlier parts, and a
  part that lacks a ragged node gets ``n_items = 0`` rows for each of its groups, so every
  index table keeps one row per group;
* singletons (tables without ``group_id``, plain arrays) are taken from the first part
  that has them; where a later part wrote its own copy, the ``/group_info.blob_length`` of
  the group that counted it (``singleton_groups`` in the part's provenance) loses one, so
  the merged file counts each singleton once, as a serial run writes it;
* root attributes come from the first part with a new ``kid``; the km3flow provenance
  records of the parts are combined into one (all input files, total groups, earliest
  start, latest end) that lists the parts under ``"parts"``.

Data are copied in chunks, part after part (each part open only while it is copied), so
memory stays bounded whatever the file sizes and their number.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import tables

from ...exceptions import FormatError, Km3flowError
from ...logger import get_logger
from .format import CHUNK_CACHE_SIZE, PROVENANCE_ATTR, PROVENANCE_NODE, make_filters
from .provenance import read_provenance, utc_now, write_provenance

log = get_logger("merge_hdf5")

_CHUNK_ROWS = 1 << 18


def merge_hdf5(part_paths: Sequence[str | os.PathLike], final_path: str | os.PathLike,
               chunk_rows: int = _CHUNK_ROWS) -> None:
    """Concatenate KM3Pipe-layout HDF5 files, renumbering ``group_id`` continuously.

    One pass over the parts, each opened once and closed before the next: the time is
    linear in the total size and the memory bounded by ``chunk_rows`` and the write
    buffers (1 MiB per node), whatever the number of parts. :class:`PartMerger` does the
    same one part at a time, for callers that get their parts one by one.

    Parameters
    ----------
    part_paths
        The files in the order their groups should appear.
    final_path
        The file to write (overwritten). Callers wanting atomicity pass a temporary
        name and rename it.
    chunk_rows
        Rows copied at once per node.

    Raises
    ------
    FormatError
        A part is not a finished KM3Pipe-layout file (no ``format_version``), or a node
        has a different dtype or shape in two parts.
    """
    paths = [os.fspath(p) for p in part_paths]
    if not paths:
        raise Km3flowError("merge_hdf5 needs at least one part file")
    merger = PartMerger(final_path, n_parts=len(paths), chunk_rows=chunk_rows)
    try:
        for path in paths:
            merger.add(path)
    except BaseException:
        merger.abort()
        raise
    merger.close()


class PartMerger:
    """Merge KM3Pipe-layout HDF5 files into one, handed over one part at a time.

    The incremental form of :func:`merge_hdf5` (which uses it), with the same output: a
    parallel drain adds each task's part as soon as it is written, so the merge runs
    while the other tasks still do. Only the output file is held open between calls.

    Parameters
    ----------
    final_path
        The file to write (overwritten).
    n_parts
        How many parts will be added (a hint for the chunk sizes of the output nodes;
        with the true number the file is laid out as :func:`merge_hdf5` lays it out).
    chunk_rows
        Rows copied at once per node.

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> merger = PartMerger("merged.h5", n_parts=2)
    >>> for part in [data_path("online/events_sample.h5")] * 2:  # e.g. as tasks finish
    ...     merger.add(part)
    >>> merger.close()
    >>> with tables.open_file("merged.h5") as f:
    ...     print(f.root.group_info.nrows, f.root.group_info.col("group_id")[-1])
    20 19
    """

    def __init__(self, final_path: str | os.PathLike, n_parts: int,
                 chunk_rows: int = _CHUNK_ROWS) -> None:
        self._merger = _Merger(os.fspath(final_path), max(1, n_parts), chunk_rows)

    def add(self, part_path: str | os.PathLike) -> None:
        """Append the groups of ``part_path`` after those of the parts added before.

        Raises
        ------
        FormatError
            The part is not a finished KM3Pipe-layout file, or its layout differs from
            the earlier parts'.
        """
        self._merger.add(os.fspath(part_path))

    def close(self) -> None:
        """Finish the merged file (column indexes, root attributes, provenance), close it."""
        if not self._merger.paths:
            self._merger.abort()
            raise Km3flowError(f"no part was added to '{self._merger.final}'")
        self._merger.close()

    def abort(self) -> None:
        """Close the output without finishing it (the caller removes the file)."""
        self._merger.abort()


# Rows read from the parts are gathered per output node and appended in blocks of about
# this size: a thousand parts of ten events would otherwise cost a thousand tiny HDF5
# appends per node.
_BUFFER_BYTES = 1 << 20


def _open_part(path: str) -> tables.File:
    return tables.open_file(path, "r", chunk_cache_size=CHUNK_CACHE_SIZE)


class _Out:
    """One node of the merged file: the node, its first part's type, pending rows."""

    def __init__(self, node: Any, kind: str, first: _NodeType, first_path: str) -> None:
        self.node = node
        self.kind = kind
        self.first = first  # (dtype or atom dtype, shape[1:]) of the first part's node
        self.first_path = first_path
        self.pending: list[np.ndarray] = []
        self.nbytes = 0
        self.rows = 0  # data rows written or pending (index tables: rows pointed into)
        self.indexed: list[str] = []

    def add(self, data: np.ndarray) -> None:
        self.pending.append(data)
        self.nbytes += data.nbytes
        if self.nbytes >= _BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.node.append(np.concatenate(self.pending) if len(self.pending) > 1
                             else self.pending[0])
        self.pending, self.nbytes = [], 0


class _Merger:
    def __init__(self, final: str, n_parts: int, chunk_rows: int) -> None:
        self.paths: list[str] = []  # the parts added so far
        self.n_parts = n_parts
        self.final = final
        self.chunk = max(1, chunk_rows)
        self.n_groups: list[int] = []
        self.records: list[dict[str, Any] | None] = []
        self.version: str | None = None
        self.outs: dict[str, _Out] = {}
        self.singletons: dict[str, tuple[int, Any]] = {}  # path -> (part, node in output)
        self.groups_before = 0
        # the output's filters when the parts were written with deferred compression
        # (HDF5Sink's parallel parts); otherwise each node keeps its first part's filters
        self.filters: tables.Filters | None = None
        self.out: tables.File | None = tables.open_file(final, "w",
                                                        chunk_cache_size=CHUNK_CACHE_SIZE)

    def add(self, path: str) -> None:
        out = self.out
        if out is None:
            raise Km3flowError(f"'{self.final}' is closed; no more parts can be added")
        k = len(self.paths)
        self.paths.append(path)
        f = _open_part(path)
        try:
            self._check_part(f, path)
            if k == 0:
                out.title = f.title
                _copy_user_attrs(f.root._v_attrs, out.root._v_attrs, skip=(PROVENANCE_ATTR,))
            self._part(out, f, k)
        finally:
            f.close()

    def close(self) -> None:
        out = self.out
        if out is None:
            return
        try:
            for o in self.outs.values():
                o.flush()
                o.node.flush()
                for col in o.indexed:
                    o.node.cols._f_col(col).create_index()
            self._root_attrs(out)
        finally:
            self.abort()
        log.info("merged %d parts (%d groups) into '%s'", len(self.paths),
                 self.groups_before, self.final)

    def abort(self) -> None:
        if self.out is None:
            return
        # output nodes must not outlive their file (PyTables flushes them on __del__)
        self.outs.clear()
        self.singletons.clear()
        out, self.out = self.out, None
        out.close()

    def _check_part(self, f: tables.File, path: str) -> None:
        if "format_version" not in f.root._v_attrs._f_list("user"):
            raise FormatError("no format_version attribute at /: not a finished "
                              "KM3Pipe-layout HDF5 file (its writer did not finish)", path=path)
        version = _text(f.root._v_attrs["format_version"])
        if self.version is None:
            self.version = version
        elif version != self.version:
            raise FormatError(f"parts have different format versions "
                              f"{sorted({version, self.version})}", path=path)

    # -- one part ------------------------------------------------------------------------
    def _part(self, out: tables.File, f: tables.File, k: int) -> None:
        n_groups = _n_groups(f)
        record = read_provenance(f)
        if k == 0:
            self.filters = _deferred_filters(record, self.paths[k])
        self.n_groups.append(n_groups)
        self.records.append(record)
        nodes = []
        for node in f.walk_nodes("/"):
            path = node._v_pathname
            if path == "/" or _is_pytables_index(path) or path == PROVENANCE_NODE:
                continue
            nodes.append((path, node, self._kind(f, node)))
        # singletons an earlier part brought already: dropped, and their count with them
        own = (record or {}).get("singleton_groups") or {}
        dropped = np.asarray([int(own[p]) for p, _, kind in nodes
                              if kind == "singleton" and p in self.singletons and p in own],
                             np.int64)
        for path, node, kind in nodes:
            if kind == "group":
                if path not in out:
                    group = _ensure_group(out, path)
                    group._v_title = node._v_title
                    _copy_user_attrs(node._v_attrs, group._v_attrs)
            elif kind == "singleton":
                self._singleton(out, path, node, k)
            elif kind == "indices":
                self._indices(out, f, path, node, k, n_groups)
            else:
                self._concatenate(out, path, node, kind, k, dropped)
        for o in self.outs.values():  # index tables of ragged nodes this part lacks
            if o.kind == "indices" and o.node.nrows + _pending_rows(o) < \
                    self.groups_before + n_groups:
                self._pad(o, self.groups_before + n_groups - o.node.nrows - _pending_rows(o))
        self.groups_before += n_groups

    @staticmethod
    def _kind(f: tables.File, node: Any) -> str:
        if isinstance(node, tables.Group):
            return "group"
        parent = node._v_parent
        if isinstance(node, tables.Table):
            if _is_index_table(f, node):
                return "indices"
            if "group_id" in node.colnames:
                return "table"
            return "singleton"
        if isinstance(node, tables.EArray):
            if "_indices" in parent._v_children:
                return "column"
            if f.__contains__(node._v_pathname + "_indices"):
                return "ndarray"
        return "singleton"

    def _out(self, out: tables.File, path: str, node: Any, kind: str, k: int) -> _Out:
        o = self.outs.get(path)
        if o is not None:
            if o.kind != kind:
                raise FormatError(f"node '{path}' is a {kind} here but a {o.kind} in "
                                  f"'{o.first_path}'; parts to merge must have the same "
                                  "layout", path=self.paths[k])
            _check_same_type(o.first, node, path, o.first_path, self.paths[k])
            return o
        where, name = os.path.split(path)
        # a chunking hint: as many parts again as are left, of this one's size
        expected = max(node.nrows * (max(self.n_parts, k + 1) - k), 1)
        if isinstance(node, tables.Table):
            new = out.create_table(where, name, description=node.dtype, title=node.title,
                                   filters=self.filters or node.filters, expectedrows=expected,
                                   createparents=True)
        else:
            new = out.create_earray(where, name, atom=node.atom, shape=(0,) + node.shape[1:],
                                    title=node.title, filters=self.filters or node.filters,
                                    expectedrows=expected, createparents=True)
        _copy_user_attrs(node.attrs, new.attrs)
        o = self.outs[path] = _Out(new, kind, _NodeType(node), self.paths[k])
        if kind == "table":
            o.indexed = [c for c in node.colnames if node.colindexed[c]]
        return o

    def _singleton(self, out: tables.File, path: str, node: Any, k: int) -> None:
        if path not in self.singletons:
            where, name = os.path.split(path)
            extra = {} if self.filters is None else {"filters": self.filters}
            copy = node._f_copy(newparent=_ensure_group(out, where), newname=name, **extra)
            self.singletons[path] = (k, copy)
            return
        j, kept = self.singletons[path]
        if not _same_content(kept, node):
            log.warning("'%s' differs between parts ('%s' and '%s'); keeping the first",
                        path, self.paths[j], self.paths[k])

    def _concatenate(self, out: tables.File, path: str, node: Any, kind: str, k: int,
                     dropped: np.ndarray) -> None:
        o = self._out(out, path, node, kind, k)
        shift = self.groups_before
        shift_group_id = kind == "table" or (kind == "column" and path.endswith("/group_id"))
        for start in range(0, node.nrows, self.chunk):
            data = node.read(start, min(start + self.chunk, node.nrows))
            if path == "/group_info" and len(dropped):
                _uncount(data, dropped)
            if shift_group_id and shift:
                if kind == "table":
                    data["group_id"] += shift
                else:
                    data += shift
            o.add(data)
        o.rows += node.nrows

    def _indices(self, out: tables.File, f: tables.File, path: str, node: Any, k: int,
                 n_groups: int) -> None:
        o = self._out(out, path, node, "indices", k)
        have = o.node.nrows + _pending_rows(o)
        if have < self.groups_before:  # the parts before this one lacked the node
            self._pad(o, self.groups_before - have)
        data = node.read()
        if len(data) > n_groups:
            raise FormatError(f"'{path}' has {len(data)} rows but the file has "
                              f"{n_groups} groups", path=self.paths[k])
        data["index"] += o.rows
        o.add(data)
        o.rows += _data_rows(f, path)

    @staticmethod
    def _pad(o: _Out, n: int) -> None:
        """``n`` groups without this ragged entry: empty slices at the current end."""
        fill = np.zeros(n, dtype=o.node.dtype)
        fill["index"] = o.rows
        o.add(fill)

    def _root_attrs(self, out: tables.File) -> None:
        kid = str(uuid.uuid4())
        if "kid" in out.root._v_attrs._f_list("user"):
            out.root._v_attrs.kid = np.bytes_(kid.encode())
        records = self.records
        if any(r is not None for r in records):
            merged = _merged_provenance(records, self.paths, kid, sum(self.n_groups))
            # the singletons kept, with the merged group ids that count them
            offsets = np.concatenate([[0], np.cumsum(self.n_groups)[:-1]]).astype(np.int64)
            kept: dict[str, int] = {}
            for k, r in enumerate(records):
                for path, group in ((r or {}).get("singleton_groups") or {}).items():
                    kept.setdefault(path, int(group) + int(offsets[k]))
            merged["singleton_groups"] = kept
            write_provenance(out, merged)


def _pending_rows(o: _Out) -> int:
    return sum(len(p) for p in o.pending)


def _uncount(group_info: np.ndarray, groups: np.ndarray) -> None:
    """Subtract one from ``blob_length`` per entry of ``groups`` (a chunk of /group_info)."""
    if "blob_length" not in (group_info.dtype.names or ()):
        return
    for group in groups:
        group_info["blob_length"][group_info["group_id"] == group] -= 1


def _deferred_filters(record: dict[str, Any] | None, path: str) -> tables.Filters | None:
    """The filters a part written with ``deferred_compression`` asks the merge to apply."""
    sink = (record or {}).get("sink")
    if not isinstance(sink, dict) or not sink.get("deferred_compression"):
        return None
    try:
        return make_filters(sink["complib"], sink["complevel"], sink["shuffle"],
                            sink["fletcher32"])
    except (KeyError, TypeError, ValueError) as err:
        raise FormatError(f"the provenance asks for deferred compression but its sink "
                          f"settings are unusable: {sink!r} ({err})", path=path) from err


def _merged_provenance(records: list[dict[str, Any] | None], paths: list[str], kid: str,
                       n_groups: int) -> dict[str, Any]:
    """One record for the merged file: the first part's, with totals and the parts listed."""
    present = [r for r in records if r is not None]
    merged = dict(present[0])
    if isinstance(merged.get("sink"), dict):  # the merged file has the filters applied
        merged["sink"] = {**merged["sink"], "deferred_compression": False}
    inputs: dict[str, None] = {}
    for r in present:
        for name in r.get("input_files") or ():
            inputs.setdefault(str(name), None)
    starts = [r["start_time"] for r in present if r.get("start_time")]
    ends = [r["end_time"] for r in present if r.get("end_time")]
    names = {_strip_part(str(r.get("filename", ""))) for r in present}
    merged.update({
        "kid": kid,
        "n_groups": n_groups,
        "input_files": list(inputs),
        "start_time": min(starts) if starts else merged.get("start_time"),
        "end_time": max(ends) if ends else merged.get("end_time"),
        "merged_time": utc_now(),
        "parts": [{"filename": os.path.basename(p), **{
            k: (r or {}).get(k) for k in ("kid", "host", "n_groups", "input_files",
                                          "start_time", "end_time")}}
            for p, r in zip(paths, records)],
    })
    if len(names) == 1:
        merged["filename"] = names.pop()
    return merged


def _strip_part(name: str) -> str:
    stem, sep, index = name.rpartition(".part-")
    return stem if sep and index.isdigit() else name


def _ensure_group(out: tables.File, path: str) -> tables.Group:
    if path in out:
        return out.get_node(path)
    where, name = os.path.split(path)
    return out.create_group(where, name, createparents=True)


def _n_groups(f: tables.File) -> int:
    if "/group_info" in f:
        return int(f.get_node("/group_info").nrows)
    n = 0
    for node in f.walk_nodes("/", classname="Table"):
        if _is_index_table(f, node):
            n = max(n, node.nrows)
        elif "group_id" in node.colnames and node.nrows:
            n = max(n, int(node.col("group_id").max()) + 1)
    return n


def _is_index_table(f: tables.File, node: Any) -> bool:
    if not isinstance(node, tables.Table) or not node.name.endswith("_indices"):
        return False
    if set(node.colnames) != {"index", "n_items"}:
        return False
    return node.name == "_indices" or node._v_pathname[:-len("_indices")] in f


def _data_rows(f: tables.File, index_path: str) -> int:
    """Rows of the ragged data an index table points into."""
    where, name = os.path.split(index_path)
    if name == "_indices":
        group = f.get_node(where)
        arrays = [c for c in group._v_children.values() if isinstance(c, tables.EArray)]
        return arrays[0].nrows if arrays else 0
    return f.get_node(index_path[:-len("_indices")]).nrows


def _is_pytables_index(path: str) -> bool:
    # PyTables keeps column indexes in hidden groups (_i_<table>); they are rebuilt.
    return any(part.startswith("_i_") for part in path.split("/"))


class _NodeType:
    """What must agree between the parts of one node: table dtype, or atom and row shape
    (kept apart from the node, whose file is closed after its part is copied)."""

    def __init__(self, node: Any) -> None:
        self.table = isinstance(node, tables.Table)
        self.kind = type(node).__name__
        if self.table:
            self.dtype, self.text = node.dtype, str(node.dtype)
        else:
            atom = getattr(node, "atom", None)
            self.dtype = getattr(atom, "dtype", None)
            self.shape = tuple(node.shape[1:])
            self.text = f"{self.dtype if self.dtype is not None else '?'} {self.shape}"

    def same(self, other: _NodeType) -> bool:
        if self.table or other.table:
            return self.table and other.table and self.dtype == other.dtype
        return (self.kind == other.kind and self.dtype == other.dtype
                and self.shape == other.shape)


def _check_same_type(a: _NodeType, b: Any, path: str, path_a: str, path_b: str) -> None:
    other = _NodeType(b)
    if not a.same(other):
        raise FormatError(f"node '{path}' is {other.text} here but {a.text} in '{path_a}'; "
                          f"parts to merge must have the same layout", path=path_b)


def _same_content(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(a.read(), b.read()))
    except Exception:  # noqa: BLE001 - incomparable content counts as different
        return False


def _copy_user_attrs(src: Any, dst: Any, skip: tuple[str, ...] = ()) -> None:
    for name in src._f_list("user"):
        if name not in skip:
            dst[name] = src[name]


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
