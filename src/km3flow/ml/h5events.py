"""Event-wise reading and writing of KM3Pipe-layout HDF5 files, for the data tools.

A KM3Pipe-layout file (images from ``km3flow bin``, point clouds, files from HDF5Sink)
holds per event (``group_id``) rows in several nodes; :class:`GroupedFile` reads *all* of
them for a range of events, :func:`take` reorders or selects events of what was read, and
:class:`GroupedWriter` appends events to a new file with fresh, continuous group ids:

* NDArrays (an EArray ``/x`` with a sibling index table ``/x_indices``) and split groups
  (column EArrays with ``<group>/_indices``): rows per event from the index table, which is
  rewritten (``index`` running, ``n_items`` kept);
* tables with a ``group_id`` column (``/y``, ``/mc_tracks``): the rows of each event, found
  through the ``group_id`` column (any number of rows per event), ``group_id`` rewritten;
  a ``group_id`` column array inside a split group is rewritten too;
* ``/group_info``: rewritten with the events' ``blob_length``;
* singletons (tables without ``group_id``, other arrays) are copied once from the first
  input file; the km3flow provenance record is not carried over.

Memory: what one :meth:`GroupedFile.read` returns, plus, per table with ``group_id``, its
``group_id`` column held for the look-up (8 bytes per row; 16 when the column is unsorted),
plus PyTables' chunk cache of every dataset touched (up to 16 MB each, whatever the file
size: shuffling the 12 MB muon sample peaks at 315 MB RSS with 8 MB windows, 500 MB with
the whole file in one window).
Outputs are written to a hidden temporary name in the target folder and renamed when
complete, so a failed or interrupted run leaves no output and never touches an existing one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigError, FormatError

INDEX_NAMES = {"index", "n_items"}
_PROVENANCE_NODE = "/km3flow_provenance"
_PROVENANCE_ATTR = "km3flow_provenance"


def _tables() -> Any:
    import tables

    return tables


def check_output(path: str | os.PathLike, overwrite: bool,
                 inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """Refuse an existing ``path`` unless ``overwrite``, and an output that is an input.

    Raises
    ------
    ConfigError
        ``path`` exists (and not ``overwrite``), is a folder, or is one of ``inputs``.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; name the file to write")
    if path.exists():
        if any(Path(i).exists() and path.samefile(i) for i in inputs):
            raise ConfigError(f"{path}: is also an input; write to another file")
        if not overwrite:
            raise ConfigError(f"{path}: exists already; pass overwrite=True (--overwrite) "
                              "to replace it")
    return path


@dataclass
class Ragged:
    """Rows of one node for ``len(counts)`` events: event ``i`` owns ``counts[i]`` rows."""

    data: Any  # ndarray (NDArray, table) or {column: ndarray} (split group)
    counts: np.ndarray

    def offsets(self) -> np.ndarray:
        """Start of every event's rows, and the total at the end (``len(counts) + 1`` values)."""
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)


@dataclass
class EventChunk:
    """All per-event data of some events: ``nodes[loc]`` and ``blob_length``."""

    n: int
    nodes: dict[str, Ragged] = field(default_factory=dict)
    blob_length: np.ndarray | None = None


def _rows_of(offsets: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Row numbers of events ``order`` (in that order), given per-event ``offsets``."""
    counts = offsets[1:][order] - offsets[:-1][order]
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    starts = offsets[:-1][order]
    # row k of the result: start of its event + its position inside the event
    first = np.cumsum(counts) - counts
    return np.repeat(starts - first, counts) + np.arange(total)


def _take_data(data: Any, rows: np.ndarray) -> Any:
    if isinstance(data, Mapping):
        return {k: v[rows] for k, v in data.items()}
    return data[rows]


def take(chunk: EventChunk, order: Sequence[int] | np.ndarray) -> EventChunk:
    """The events ``order`` of ``chunk`` (a selection, a permutation or both)."""
    order = np.asarray(order, dtype=np.int64)
    out = EventChunk(len(order))
    for loc, r in chunk.nodes.items():
        rows = _rows_of(r.offsets(), order)
        out.nodes[loc] = Ragged(_take_data(r.data, rows), r.counts[order])
    if chunk.blob_length is not None:
        out.blob_length = chunk.blob_length[order]
    return out


def concatenate(chunks: Sequence[EventChunk]) -> EventChunk:
    """One chunk holding the events of ``chunks`` one after the other."""
    chunks = [c for c in chunks if c.n] or list(chunks[:1])
    if len(chunks) == 1:
        return chunks[0]
    out = EventChunk(sum(c.n for c in chunks))
    for loc in chunks[0].nodes:
        parts = [c.nodes[loc] for c in chunks]
        first = parts[0].data
        if isinstance(first, Mapping):
            data: Any = {k: np.concatenate([p.data[k] for p in parts]) for k in first}
        else:
            data = np.concatenate([p.data for p in parts])
        out.nodes[loc] = Ragged(data, np.concatenate([p.counts for p in parts]))
    if chunks[0].blob_length is not None:
        out.blob_length = np.concatenate([c.blob_length for c in chunks])
    return out


class GroupedFile:
    """A KM3Pipe-layout file read by ranges of events (see the module docstring).

    Parameters
    ----------
    path
        The file.

    Raises
    ------
    FormatError
        Not an HDF5 file, an index table with the wrong number of rows, or a table whose
        ``group_id`` names an event beyond the file's events.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        tb = _tables()
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError("file does not exist", path=path)
        try:
            self.h5 = tb.open_file(str(self.path), mode="r")
        except Exception as err:  # PyTables raises HDF5ExtError/OSError for non-HDF5 files
            raise FormatError(f"not an HDF5 file ({err})", path=path) from err
        try:
            self._classify()
        except BaseException:
            self.h5.close()
            raise

    # -- layout ------------------------------------------------------------------------
    def _classify(self) -> None:
        tb = _tables()
        h5 = self.h5
        self.ragged: dict[str, tuple[str, Any, np.ndarray]] = {}  # loc -> (kind, node, offsets)
        self.grouped: dict[str, tuple[Any, np.ndarray | None, np.ndarray]] = {}
        self.singletons: list[str] = []
        self.group_info = h5.get_node("/group_info") if "/group_info" in h5 else None
        index_of: dict[str, Any] = {}
        for node in h5.walk_nodes("/", classname="Table"):
            if set(node.colnames) == INDEX_NAMES and node.name.endswith("_indices"):
                owner = (node._v_parent._v_pathname if node.name == "_indices"
                         else node._v_pathname[:-len("_indices")])
                if owner in h5:
                    index_of[owner] = node
        sizes = [n.nrows for n in index_of.values()]
        if self.group_info is not None:
            self.n_groups = int(self.group_info.nrows)
        elif sizes:
            self.n_groups = max(sizes)
        else:
            raise FormatError("no /group_info and no index table: not a KM3Pipe-layout "
                              "file with events", path=self.path)
        for owner, idx in index_of.items():
            offsets = self._offsets(idx)
            node = h5.get_node(owner)
            if isinstance(node, tb.Group):
                cols = {c._v_name: c for c in node._f_iter_nodes("Leaf")
                        if c._v_name != "_indices"}
                self.ragged[owner] = ("split", cols, offsets)
            else:
                self.ragged[owner] = ("ndarray", node, offsets)
        skip = set(index_of) | {n._v_pathname for n in index_of.values()}
        for node in h5.walk_nodes("/", classname="Leaf"):
            loc = node._v_pathname
            if (loc in skip or node._v_parent._v_pathname in index_of or loc == "/group_info"
                    or loc == _PROVENANCE_NODE or "/_i_" in loc):
                continue
            if isinstance(node, tb.Table) and "group_id" in node.colnames:
                self.grouped[loc] = self._group_lookup(node)
            else:
                self.singletons.append(loc)

    def _offsets(self, idx: Any) -> np.ndarray:
        rows = idx.read()
        loc = idx._v_pathname
        if len(rows) != self.n_groups:
            raise FormatError(f"{loc} has {len(rows)} rows but the file has {self.n_groups} "
                              "events (one row per event expected)", path=self.path)
        index, n = rows["index"].astype(np.int64), rows["n_items"].astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(n)])
        # KM3Pipe writes the rows of the events one after the other
        if not np.array_equal(index, offsets[:-1] + (index[0] if len(index) else 0)):
            bad = int(np.flatnonzero(index != offsets[:-1] + index[0])[0])
            raise FormatError(f"{loc}: the rows of event {bad} do not follow those of the "
                              "event before", path=self.path, row=bad)
        return offsets + (int(index[0]) if len(index) else 0)

    def _group_lookup(self, node: Any) -> tuple[Any, np.ndarray | None, np.ndarray]:
        gid = node.col("group_id").astype(np.int64)
        order = None
        if len(gid) > 1 and np.any(np.diff(gid) < 0):
            order = np.argsort(gid, kind="stable")
            gid = gid[order]
        if len(gid) and (gid[0] < 0 or gid[-1] >= self.n_groups):
            raise FormatError(f"{node._v_pathname}: group_id {int(gid[-1])} is not one of "
                              f"the file's {self.n_groups} events", path=self.path)
        bounds = np.searchsorted(gid, np.arange(self.n_groups + 1), side="left")
        return node, order, bounds.astype(np.int64)

    def __len__(self) -> int:
        return self.n_groups

    def layout(self) -> dict[str, str]:
        """Node location -> kind and dtype, to check that files can be written together."""
        out = {}
        for loc, (kind, node, _) in self.ragged.items():
            if kind == "split":
                out[loc] = "split " + ", ".join(f"{k}:{v.atom.dtype}"
                                                for k, v in sorted(node.items()))
            else:
                out[loc] = f"ndarray {node.atom.dtype}{tuple(node.shape[1:])}"
        for loc, (node, _, _) in self.grouped.items():
            out[loc] = f"table {node.dtype}"
        return out

    def check_same_layout(self, other: GroupedFile) -> None:
        """Raise FormatError naming ``other`` when its events are stored unlike ours."""
        mine, theirs = self.layout(), other.layout()
        for loc in sorted(set(mine) | set(theirs)):
            if mine.get(loc) != theirs.get(loc):
                raise FormatError(f"{loc} is {theirs.get(loc, 'missing')} here but "
                                  f"{mine.get(loc, 'missing')} in {self.path}; the files "
                                  "must have the same layout", path=other.path)

    def event_bytes(self) -> float:
        """Mean bytes per event of all per-event nodes (uncompressed)."""
        total = 0
        for kind, node, offsets in self.ragged.values():
            leaves = node.values() if kind == "split" else [node]
            total += sum(int(np.prod(leaf.shape[1:], dtype=np.int64)) * leaf.atom.itemsize
                         for leaf in leaves) * int(offsets[-1] - offsets[0])
        for node, _, _ in self.grouped.values():
            total += node.nrows * node.dtype.itemsize
        return total / max(1, self.n_groups)

    # -- reading -----------------------------------------------------------------------
    def read(self, start: int, stop: int) -> EventChunk:
        """Everything of the events ``start:stop``."""
        stop = min(stop, self.n_groups)
        chunk = EventChunk(max(0, stop - start))
        for loc, (kind, node, offsets) in self.ragged.items():
            a, b = int(offsets[start]), int(offsets[stop])
            counts = np.diff(offsets[start:stop + 1])
            if kind == "split":
                data: Any = {name: col[a:b] for name, col in node.items()}
                short = [n for n, v in data.items() if len(v) != b - a]
            else:
                data = node[a:b]
                short = [loc] if len(data) != b - a else []
            if short:
                raise FormatError(f"{loc}: {short[0]} ends before row {b} named by its "
                                  "index table", path=self.path, row=start)
            chunk.nodes[loc] = Ragged(data, counts)
        for loc, (node, order, bounds) in self.grouped.items():
            a, b = int(bounds[start]), int(bounds[stop])
            if order is None:
                rows = node.read(a, b)
            else:
                rows = node.read_coordinates(np.sort(order[a:b]))
                rows = rows[np.argsort(rows["group_id"], kind="stable")]
            chunk.nodes[loc] = Ragged(rows, np.diff(bounds[start:stop + 1]))
        if self.group_info is not None:
            info = self.group_info.read(start, stop)
            names = info.dtype.names
            col = "blob_length" if "blob_length" in names else names[-1]
            chunk.blob_length = info[col].astype(np.int64)
        return chunk

    def column(self, loc: str, name: str) -> np.ndarray:
        """One value per event of column ``name`` of the table ``loc`` (its first row).

        Raises
        ------
        FormatError
            No such table or column, or an event without a row in it.
        """
        if loc not in self.grouped:
            raise FormatError(f"no table {loc} with a group_id column", path=self.path)
        node, order, bounds = self.grouped[loc]
        if name not in node.colnames:
            raise FormatError(f"{loc} has no column '{name}'; present: "
                              f"{', '.join(node.colnames)}", path=self.path)
        missing = np.flatnonzero(np.diff(bounds) == 0)
        if missing.size:
            raise FormatError(f"event (group_id {int(missing[0])}) has no row in {loc}",
                              path=self.path, row=int(missing[0]))
        values = node.col(name)
        if order is not None:
            values = values[order]
        return values[bounds[:-1]]

    def close(self) -> None:
        """Close the file (dropping its node objects first)."""
        # drop the node objects first: PyTables would touch the closed file when they go
        self.ragged, self.grouped, self.group_info = {}, {}, None
        if self.h5.isopen:
            self.h5.close()

    def __enter__(self) -> GroupedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GroupedWriter:
    """Write events read by :class:`GroupedFile` into a new file with the same layout.

    Parameters
    ----------
    path
        The output; written as a hidden temporary file next to it, renamed by :meth:`close`.
    template
        An open input whose node types, titles, filters, attributes and singletons are used.
    """

    def __init__(self, path: str | os.PathLike, template: GroupedFile) -> None:
        tb = _tables()
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self.template = template
        self.n_groups = 0
        self.h5 = tb.open_file(str(self.tmp), mode="w", title=template.h5.title)
        self._nodes: dict[str, Any] = {}
        self._index: dict[str, Any] = {}

    def _create(self, loc: str) -> None:
        _tables()
        src = self.template.h5
        parent, name = os.path.split(loc)
        if loc in self.template.ragged:
            kind, node, _ = self.template.ragged[loc]
            if kind == "split":
                g = src.get_node(loc)
                group = self.h5.create_group(parent, name, title=g._v_title,
                                             createparents=True)
                _copy_attrs(g._v_attrs, group._v_attrs)
                cols = {}
                for cname, col in node.items():
                    cols[cname] = self.h5.create_earray(
                        group, cname, atom=col.atom, shape=(0,) + col.shape[1:],
                        title=col.title, filters=col.filters)
                    _copy_attrs(col.attrs, cols[cname].attrs)
                idx_src = src.get_node(loc + "/_indices")
                self._index[loc] = self.h5.create_table(group, "_indices", description=
                                                        idx_src.dtype, title=idx_src.title,
                                                        filters=idx_src.filters)
                self._nodes[loc] = cols
            else:
                kwargs = {"chunkshape": node.chunkshape} if node.chunkshape else {}
                arr = self.h5.create_earray(parent, name, atom=node.atom,
                                            shape=(0,) + node.shape[1:], title=node.title,
                                            filters=node.filters, createparents=True, **kwargs)
                _copy_attrs(node.attrs, arr.attrs)
                idx_src = src.get_node(loc + "_indices")
                self._index[loc] = self.h5.create_table(parent, name + "_indices",
                                                        description=idx_src.dtype,
                                                        title=idx_src.title,
                                                        filters=idx_src.filters)
                self._nodes[loc] = arr
        else:
            node = self.template.grouped[loc][0]
            tab = self.h5.create_table(parent, name, description=node.dtype, title=node.title,
                                       filters=node.filters, createparents=True,
                                       expectedrows=max(node.nrows, 1))
            _copy_attrs(node.attrs, tab.attrs)
            self._nodes[loc] = tab

    def append(self, chunk: EventChunk) -> None:
        """Append the events of ``chunk`` (group ids continue from the events before)."""
        gids = np.arange(self.n_groups, self.n_groups + chunk.n, dtype=np.int64)
        for loc, r in chunk.nodes.items():
            if loc not in self._nodes:
                self._create(loc)
            node = self._nodes[loc]
            if loc in self._index:
                first = (next(iter(node.values())) if isinstance(node, dict) else node).nrows
                rows = np.empty(chunk.n, dtype=self._index[loc].dtype)
                rows["index"] = first + np.cumsum(r.counts) - r.counts
                rows["n_items"] = r.counts
                if isinstance(node, dict):
                    for cname, col in node.items():
                        data = r.data[cname]
                        if cname == "group_id":
                            data = np.repeat(gids, r.counts).astype(col.atom.dtype)
                        if len(data):
                            col.append(data)
                elif len(r.data):
                    node.append(r.data)
                self._index[loc].append(rows)
            else:
                data = np.array(r.data, copy=True)
                data["group_id"] = np.repeat(gids, r.counts)
                if len(data):
                    node.append(data)
        if self.template.group_info is not None:
            if "/group_info" not in self._nodes:
                src = self.template.group_info
                self._nodes["/group_info"] = self.h5.create_table(
                    "/", "group_info", description=src.dtype, title=src.title,
                    filters=src.filters, expectedrows=max(src.nrows, 1))
                _copy_attrs(src.attrs, self._nodes["/group_info"].attrs)
            tab = self._nodes["/group_info"]
            info = np.zeros(chunk.n, dtype=tab.dtype)
            info["group_id"] = gids
            other = [n for n in tab.dtype.names if n != "group_id"]
            if other and chunk.blob_length is not None:
                info[other[0]] = chunk.blob_length
            tab.append(info)
        self.n_groups += chunk.n

    def close(self) -> Path:
        """Copy singletons and root attributes, close, and rename into place."""
        src = self.template.h5
        for loc in self.template.singletons:
            if loc in self.h5:
                continue
            parent, name = os.path.split(loc)
            if parent not in self.h5:
                self.h5.create_group(os.path.dirname(parent), os.path.basename(parent),
                                     createparents=True)
            src.get_node(loc)._f_copy(newparent=self.h5.get_node(parent), newname=name)
        for loc, node in self._nodes.items():
            if hasattr(node, "colindexed"):
                for col in node.colnames:
                    if self._template_node(loc).colindexed.get(col):
                        node.cols._f_col(col).create_index()
        _copy_attrs(src.root._v_attrs, self.h5.root._v_attrs, skip=(_PROVENANCE_ATTR,))
        if "kid" in src.root._v_attrs._f_list("user"):
            self.h5.root._v_attrs.kid = str(uuid.uuid4()).encode()
        self._nodes, self._index = {}, {}
        self.h5.close()
        os.replace(self.tmp, self.path)
        return self.path

    def _template_node(self, loc: str) -> Any:
        return self.template.h5.get_node(loc)

    def abort(self) -> None:
        """Close and delete the temporary file."""
        self._nodes, self._index = {}, {}
        if self.h5.isopen:
            self.h5.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> GroupedWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _copy_attrs(src: Any, dst: Any, skip: tuple[str, ...] = ()) -> None:
    for name in src._f_list("user"):
        if name not in skip:
            dst[name] = src[name]
