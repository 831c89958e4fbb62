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

Data are copied in chunks, so memory stays bounded whatever the file sizes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import tables

from ...exceptions import FormatError, Km3flowError
from .format import PROVENANCE_ATTR, PROVENANCE_NODE
from .provenance import read_provenance, utc_now, write_provenance
from ...logger import get_logger

log = get_logger("merge_hdf5")

_CHUNK_ROWS = 1 << 18


def merge_hdf5(part_paths: Sequence[str | os.PathLike], final_path: str | os.PathLike,
               chunk_rows: int = _CHUNK_ROWS) -> None:
    """Concatenate KM3Pipe-layout HDF5 files, renumbering ``group_id`` continuously.

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
    files: list[tables.File] = []
    try:
        for p in paths:
            files.append(tables.open_file(p, "r"))
        _Merger(files, paths, os.fspath(final_path), chunk_rows).run()
    finally:
        for f in files:
            f.close()


class _Merger:
    def __init__(self, files: list[tables.File], paths: list[str], final: str,
                 chunk_rows: int) -> None:
        self.files = files
        self.paths = paths
        self.final = final
        self.chunk = max(1, chunk_rows)
        for f, p in zip(files, paths):
            if "format_version" not in f.root._v_attrs._f_list("user"):
                raise FormatError("no format_version attribute at /: not a finished "
                                  "KM3Pipe-layout HDF5 file (its writer did not finish)", path=p)
        versions = {_text(f.root._v_attrs["format_version"]) for f in files}
        if len(versions) > 1:
            raise FormatError(f"parts have different format versions {sorted(versions)}",
                              path=paths[0])
        self.n_groups = [_n_groups(f) for f in files]
        self.offsets = np.concatenate([[0], np.cumsum(self.n_groups)[:-1]]).astype(np.int64)
        self.records = [read_provenance(f) for f in files]

    def run(self) -> None:
        layout = self._layout()
        self.dropped = self._dropped_singletons(layout)
        with tables.open_file(self.final, "w", title=self.files[0].title) as out:
            for path, kind in layout.items():
                if kind == "group":
                    self._group(out, path)
                elif kind == "singleton":
                    self._singleton(out, path)
                elif kind == "indices":
                    self._indices(out, path)
                else:
                    self._concatenate(out, path, kind)
            self._root_attrs(out)
        log.info("merged %d parts (%d groups) into '%s'", len(self.files),
                 sum(self.n_groups), self.final)

    # -- structure -----------------------------------------------------------------------
    def _layout(self) -> dict[str, str]:
        """Every node path of all parts in first-seen order, with how to merge it."""
        layout: dict[str, str] = {}
        for f in self.files:
            for node in f.walk_nodes("/"):
                path = node._v_pathname
                if (path == "/" or path in layout or _is_pytables_index(path)
                        or path == PROVENANCE_NODE):
                    continue
                layout[path] = self._kind(f, node)
        return layout

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

    def _dropped_singletons(self, layout: dict[str, str]) -> dict[int, np.ndarray]:
        """Per part, the (unshifted) group ids that counted a singleton which the merge
        drops because an earlier part has it (one entry per dropped singleton)."""
        dropped: dict[int, list[int]] = {}
        for path, kind in layout.items():
            if kind != "singleton":
                continue
            for k, _ in self._parts_with(path)[1:]:
                groups = (self.records[k] or {}).get("singleton_groups") or {}
                if path in groups:
                    dropped.setdefault(k, []).append(int(groups[path]))
        return {k: np.asarray(v, np.int64) for k, v in dropped.items()}

    def _parts_with(self, path: str) -> list[tuple[int, Any]]:
        return [(k, f.get_node(path)) for k, f in enumerate(self.files) if path in f]

    # -- node kinds ----------------------------------------------------------------------
    def _group(self, out: tables.File, path: str) -> None:
        _, node = self._parts_with(path)[0]
        group = _ensure_group(out, path)
        group._v_title = node._v_title
        _copy_user_attrs(node._v_attrs, group._v_attrs)

    def _singleton(self, out: tables.File, path: str) -> None:
        parts = self._parts_with(path)
        k, node = parts[0]
        where, name = os.path.split(path)
        node._f_copy(newparent=_ensure_group(out, where), newname=name)
        for j, other in parts[1:]:
            if not _same_content(node, other):
                log.warning("'%s' differs between parts ('%s' and '%s'); keeping the first",
                            path, self.paths[k], self.paths[j])

    def _concatenate(self, out: tables.File, path: str, kind: str) -> None:
        parts = self._parts_with(path)
        k0, first = parts[0]
        for k, node in parts[1:]:
            _check_same_type(first, node, path, self.paths[k0], self.paths[k])
        total = sum(n.nrows for _, n in parts)
        where, name = os.path.split(path)
        if kind == "table":
            new = out.create_table(where, name, description=first.dtype, title=first.title,
                                   filters=first.filters, expectedrows=max(total, 1),
                                   createparents=True)
        else:
            new = out.create_earray(where, name, atom=first.atom, shape=(0,) + first.shape[1:],
                                    title=first.title, filters=first.filters,
                                    expectedrows=max(total, 1), createparents=True)
        _copy_user_attrs(first.attrs, new.attrs)
        shift_group_id = kind == "table" or (kind == "column" and name == "group_id")
        for k, node in parts:
            for start in range(0, node.nrows, self.chunk):
                data = node.read(start, min(start + self.chunk, node.nrows))
                if path == "/group_info" and k in self.dropped:
                    _uncount(data, self.dropped[k])
                if shift_group_id and self.offsets[k]:
                    if kind == "table":
                        data["group_id"] += self.offsets[k]
                    else:
                        data += self.offsets[k]
                new.append(data)
        new.flush()
        if kind == "table":
            for col in first.colnames:
                if first.colindexed[col]:
                    new.cols._f_col(col).create_index()

    def _indices(self, out: tables.File, path: str) -> None:
        parts = dict(self._parts_with(path))
        first = next(iter(parts.values()))
        where, name = os.path.split(path)
        new = out.create_table(where, name, description=first.dtype, title=first.title,
                               filters=first.filters, expectedrows=max(sum(self.n_groups), 1),
                               createparents=True)
        _copy_user_attrs(first.attrs, new.attrs)
        rows_before = 0
        for k, f in enumerate(self.files):
            node = parts.get(k)
            rows = 0
            if node is not None:
                _check_same_type(first, node, path, self.paths[0], self.paths[k])
                data = node.read()
                if len(data) > self.n_groups[k]:
                    raise FormatError(f"'{path}' has {len(data)} rows but the file has "
                                      f"{self.n_groups[k]} groups", path=self.paths[k])
                data["index"] += rows_before
                new.append(data)
                rows = _data_rows(f, path)
            pad = self.n_groups[k] - (0 if node is None else node.nrows)
            if pad:
                # A group without this entry is an empty slice at the current end.
                fill = np.zeros(pad, dtype=first.dtype)
                fill["index"] = rows_before + rows
                new.append(fill)
            rows_before += rows
        new.flush()

    def _root_attrs(self, out: tables.File) -> None:
        attrs = self.files[0].root._v_attrs
        _copy_user_attrs(attrs, out.root._v_attrs, skip=(PROVENANCE_ATTR,))
        kid = str(uuid.uuid4())
        if "kid" in attrs._f_list("user"):
            out.root._v_attrs.kid = np.bytes_(kid.encode())
        records = self.records
        if any(r is not None for r in records):
            merged = _merged_provenance(records, self.paths, kid, sum(self.n_groups))
            # the singletons kept, with the merged group ids that count them
            kept: dict[str, int] = {}
            for k, r in enumerate(records):
                for path, group in ((r or {}).get("singleton_groups") or {}).items():
                    kept.setdefault(path, int(group) + int(self.offsets[k]))
            merged["singleton_groups"] = kept
            write_provenance(out, merged)


def _uncount(group_info: np.ndarray, groups: np.ndarray) -> None:
    """Subtract one from ``blob_length`` per entry of ``groups`` (a chunk of /group_info)."""
    if "blob_length" not in (group_info.dtype.names or ()):
        return
    for group in groups:
        group_info["blob_length"][group_info["group_id"] == group] -= 1


def _merged_provenance(records: list[dict[str, Any] | None], paths: list[str], kid: str,
                       n_groups: int) -> dict[str, Any]:
    """One record for the merged file: the first part's, with totals and the parts listed."""
    present = [r for r in records if r is not None]
    merged = dict(present[0])
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


def _check_same_type(a: Any, b: Any, path: str, path_a: str, path_b: str) -> None:
    if isinstance(a, tables.Table):
        same = isinstance(b, tables.Table) and a.dtype == b.dtype
        what_a, what_b = a.dtype, getattr(b, "dtype", type(b).__name__)
    else:
        same = (type(a) is type(b) and a.atom.dtype == b.atom.dtype
                and a.shape[1:] == b.shape[1:])
        what_a = f"{a.atom.dtype} {a.shape[1:]}"
        what_b = f"{getattr(getattr(b, 'atom', None), 'dtype', '?')} {b.shape[1:]}"
    if not same:
        raise FormatError(f"node '{path}' is {what_b} here but {what_a} in '{path_a}'; "
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
