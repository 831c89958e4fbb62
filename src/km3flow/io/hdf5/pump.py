"""HDF5Pump: reads KM3Pipe-layout HDF5 files back into one Blob per group (event).

Where each group's rows are is worked out per block of groups, so that memory does not
grow with the file (issue 16): the groups are the rows of ``/group_info``, read per block;
split groups and NDArrays say where a group's rows are in the block's rows of their
``_indices`` tables; compound tables are written in ``group_id`` order (KM3Pipe and
km3flow both do), so one pass over their ``group_id`` column checks that order and keeps
every ``_MARK_ROWS``-th value, and a block's rows are then found by a binary search in
those marks and one read. Files that are not in that order (or have no ``/group_info``)
fall back to maps of the whole file, worked out once. Sequential reading fetches blocks of
a few thousand groups per location in one read and hands out slices of them, so iterating
costs a slice per table per blob; random access (``pump[i]``, shuffling) reads just the
rows of the group asked for (and, for a compound table, at most ``2 * _MARK_ROWS`` more).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tables as tb

from ...core import Blob, Pump
from ...dataclasses import HEADER_KEY, Header, NDArray, Table
from ...exceptions import ConfigError, FormatError
from .format import COLUMNS_ATTR, PROVENANCE_NODE, attr_str, camelise, open_km3_file
from .conform import conform_table

_BLOCK_ROWS = 2**18  # rows per location and read block: bounds memory, amortises calls
_MAX_BLOCK_GROUPS = 4096
_MARK_ROWS = 256  # rows between two remembered group_id values of a sorted table
_SCAN_BYTES = 2**20  # bytes of rows per read of a group_id column scan
_PAGE_GROUPS = 4096  # rows of /group_info and _indices kept for random access


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _read_column(node: Any, start: int, stop: int, col: str) -> np.ndarray:
    """Rows start..stop-1 of a table's column ``col``, as int64.

    Whole rows are read and the column taken from them: that is what PyTables does for
    ``read(field=…)`` too, but through a row buffer it keeps of up to 16 MiB per table.
    """
    return node.read(start, stop)[col].astype(np.int64)


def _scan_keys(node: Any, col: str) -> np.ndarray | None:
    """The values at every ``_MARK_ROWS``-th row of the table's column ``col`` if they never
    decrease down the table, else None; read ``_SCAN_BYTES`` of rows at a time."""
    marks = []
    last = None
    n = int(node.nrows)
    step = max(1, _SCAN_BYTES // max(int(node.rowsize), 1) // _MARK_ROWS) * _MARK_ROWS
    for start in range(0, n, step):
        keys = _read_column(node, start, min(start + step, n), col)
        if (keys[1:] < keys[:-1]).any() or last is not None and keys[0] < last:
            return None
        last = keys[-1]
        marks.append(keys[::_MARK_ROWS].copy())  # a view would keep all of keys
    return np.concatenate(marks) if marks else np.zeros(0, dtype=np.int64)


class _Location:
    """One readable location of a file: a table, split group, NDArray or singleton."""

    def __init__(self, node: Any, kind: str, key: str) -> None:
        self._arrays: list[Any] | None = None  # a split group's column arrays, by column
        self.node = node
        self.kind = kind  # "table", "split", "ndarray" or "singleton"
        self.h5loc = node._v_pathname
        self.key = key
        self.name = key
        self.title = attr_str(getattr(node, "title", getattr(node, "_v_title", ""))) or key
        # a compound table in group_id order: the group_id of every _MARK_ROWS-th row
        self.marks: np.ndarray | None = None
        # otherwise (the fallback), the rows of every group of the file, and the row order
        self.starts: np.ndarray | None = None
        self.counts: np.ndarray | None = None
        self.perm: np.ndarray | None = None  # row order of an unsorted compound table
        self.columns: list[str] = []
        self.dtype: np.dtype | None = None
        self._nrows: int | None = None
        if kind == "split":
            names = [n for n in node._v_children if n != "_indices"]
            wanted = getattr(node._v_attrs, COLUMNS_ATTR, None)
            if wanted is not None and sorted(wanted) == sorted(names):
                names = list(wanted)
            self.columns = names
            arrays = [node._v_children[n] for n in names]
            self.dtype = np.dtype([(n, a.dtype, a.shape[1:]) for n, a in zip(names, arrays)])

    @property
    def node(self) -> Any:
        return self._node

    @node.setter
    def node(self, node: Any) -> None:  # set again when the file is reopened
        self._node = node
        self._arrays = None

    @property
    def arrays(self) -> list[Any]:
        # looked up once per opening: a lookup by name costs as much as a small read
        if self._arrays is None:
            self._arrays = [self._node._v_children[n] for n in self.columns]
        return self._arrays

    @property
    def nrows(self) -> int:
        if self._nrows is None:  # files are read, never changed: count once
            if self.kind == "split":
                self._nrows = int(self.arrays[0].nrows) if self.columns else 0
            else:
                self._nrows = int(self.node.nrows)
        return self._nrows

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        if self.kind == "split":
            out = np.empty(stop - start, dtype=self.dtype)
            for name, array in zip(self.columns, self.arrays):
                out[name] = array.read(start, stop)
            return out
        if self.perm is not None:
            return self.read_coordinates(self.perm[start:stop])
        return self.node.read(start, stop)

    def read_coordinates(self, rows: np.ndarray) -> np.ndarray:
        if self.kind == "table":
            return self.node.read_coordinates(rows)
        if self.kind == "split":
            out = np.empty(len(rows), dtype=self.dtype)
            for name, array in zip(self.columns, self.arrays):
                out[name] = array[rows] if len(rows) else []
            return out
        return self.node[rows] if len(rows) else self.node[0:0]


class _FileReader:
    """The locations and group → rows maps of one file; opened on demand."""

    def __init__(self, path: str, h5locs: Sequence[str] | None, group_offset: int = 0,
                 conform: bool = False, log: Any = None) -> None:
        self.path = path
        self.conform = conform
        self.log = log
        self.noted: set[str] = set()  # h5locs whose conformance was logged
        self.h5locs = None if h5locs is None else [loc.rstrip("/") or "/" for loc in h5locs]
        self.group_offset = group_offset
        self.h5: tb.File | None = None
        self.locations: list[_Location] = []
        self.singletons: dict[str, Table] = {}
        self.header: Header | None = None
        self.n_groups = 0
        self.max_group_id = -1
        # All group ids, in position order: only where they cannot be read per block (no
        # /group_info, or one not in group_id order); None while they are read per block.
        self.group_ids: np.ndarray | None = None
        self._ordered = True  # group ids never decrease with the position
        self._groups_known = False  # worked out at the first opening, kept when reopened
        self._block: tuple[int, int, dict[str, Any], np.ndarray] | None = None
        self._pages: dict[str, tuple[int, np.ndarray]] = {}  # node path → (page, its rows)
        self._nodes: dict[str, Any] = {}  # per-group tables of the open file, by path
        self.open()

    # -- opening ---------------------------------------------------------------------------
    def _wanted(self, path: str) -> bool:
        if self.h5locs is None:
            return True
        return any(path == loc or path.startswith(loc + "/") or loc == "/"
                   for loc in self.h5locs)

    def open(self) -> None:
        if self.h5 is not None:
            return
        self.h5 = open_km3_file(self.path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tb.NaturalNameWarning)
                # PyTables only warns about a leaf it cannot load; that is a damaged file.
                warnings.filterwarnings("error", message="problems loading leaf")
                self._discover()
        except FormatError:
            self.close()
            raise
        except Exception as err:
            self.close()
            raise FormatError(f"cannot read the file's structure: {_first_line(err)}",
                              path=self.path) from err

    def close(self) -> None:
        if self.h5 is not None:
            self.h5.close()
            self.h5 = None
            self._block = None
            self._pages = {}
            self._nodes = {}

    def _discover(self) -> None:
        h5 = self.h5
        assert h5 is not None  # called on an open file
        has_group_info = "/group_info" in h5
        tables_ = [n for n in h5.walk_nodes("/", classname="Table")]
        key_col: str | None = "group_id"
        if not has_group_info and not any("group_id" in t.colnames for t in tables_):
            # Format 4.x files key their rows by event_id and have no /group_info.
            key_col = "event_id" if any("event_id" in t.colnames for t in tables_) else None
        self.key_col = key_col
        old_locations = {loc.h5loc: loc for loc in self.locations}
        locations: list[_Location] = []
        split_groups: set[str] = set()
        taken: set[str] = set()

        def add(node: Any, kind: str) -> None:
            path = node._v_pathname
            if path in old_locations:  # reopened: keep the row maps worked out before
                loc = old_locations[path]
                loc.node = node
                locations.append(loc)
                taken.add(loc.key)
                return
            key = camelise(node._v_name)
            if key in taken:
                key = camelise(path.strip("/").replace("/", "_"))
            taken.add(key)
            locations.append(_Location(node, kind, key))

        for node in h5.walk_nodes("/"):
            path = node._v_pathname
            parent = node._v_parent._v_pathname if path != "/" else ""
            if parent in split_groups or not self._wanted(path) and not isinstance(node, tb.Group):
                continue
            name = node._v_name
            if isinstance(node, tb.Group):
                # PyTables' children dict loads lazily: .get() would miss unloaded nodes.
                idx = node._v_children["_indices"] if "_indices" in node._v_children else None  # noqa: SIM401
                if idx is not None and isinstance(idx, tb.Table) and self._wanted(path):
                    split_groups.add(path)
                    add(node, "split")
                continue
            if isinstance(node, tb.Table):
                if name == "_indices" or path == PROVENANCE_NODE:
                    continue
                if name.endswith("_indices") and path[: -len("_indices")] in h5 and isinstance(
                        h5.get_node(path[: -len("_indices")]), tb.Array):
                    continue
                if key_col is not None and key_col in node.colnames:
                    add(node, "table")
                else:
                    add(node, "singleton")
            elif isinstance(node, tb.Array) and path + "_indices" in h5:
                add(node, "ndarray")
        self.locations = locations

        if not self._groups_known:
            self._find_groups(has_group_info)
            self._groups_known = True

        for loc in locations:
            if loc.kind == "singleton" and loc.h5loc not in self.singletons:
                self.singletons[loc.h5loc] = Table._wrap(loc.node.read(), loc.h5loc, loc.name,
                                                        h5singleton=True)
        if "/raw_header" in h5 and self.header is None:
            try:
                self.header = Header.from_table(h5.get_node("/raw_header"))
            except (FormatError, ValueError, TypeError) as err:
                # the table still comes through as it is (a singleton), but not parsed
                if self.log is not None:
                    self.log.warning("%s: /raw_header cannot be read as a header (%s); it is "
                                     "passed on as a table", self.path, _first_line(err))
                self.header = None

    def _find_groups(self, has_group_info: bool) -> None:
        """The number of groups, the largest group id and whether ids are read per block."""
        h5 = self.h5
        assert h5 is not None  # called on an open file
        if has_group_info:
            gi = h5.get_node("/group_info")
            if "group_id" not in gi.colnames:
                raise FormatError("/group_info has no group_id column", path=self.path)
            self.n_groups = int(gi.nrows)
            if _scan_keys(gi, "group_id") is not None:
                if self.n_groups:
                    self.max_group_id = int(_read_column(gi, self.n_groups - 1,
                                                         self.n_groups, "group_id")[0])
                return
            self.group_ids = np.asarray(gi.col("group_id"), dtype=np.int64)
            self._ordered = False  # rows of a block of groups may lie anywhere in a table
        elif self.key_col is not None:
            # Format 4.x: the groups are the key values found in any table (whole columns).
            keys = [np.unique(loc.node.col(self.key_col)) for loc in self.locations
                    if loc.kind == "table"]
            self.group_ids = (np.unique(np.concatenate(keys)).astype(np.int64) if keys
                              else np.zeros(0, dtype=np.int64))
        else:
            self.group_ids = np.zeros(0, dtype=np.int64)
        self.n_groups = len(self.group_ids)
        self.max_group_id = int(self.group_ids.max()) if self.n_groups else -1

    # -- group → rows ----------------------------------------------------------------------
    def _group_ids(self, p0: int, p1: int) -> np.ndarray:
        """The group ids at positions p0..p1-1."""
        if self.group_ids is not None:
            return self.group_ids[p0:p1]
        return self._per_group_rows("/group_info", p0, p1)["group_id"].astype(np.int64)

    def _node(self, path: str) -> Any:
        node = self._nodes.get(path)
        if node is None:
            assert self.h5 is not None  # called on an open file
            node = self._nodes[path] = self.h5.get_node(path)
        return node

    def _per_group_rows(self, path: str, p0: int, p1: int) -> np.ndarray:
        """Rows p0..p1-1 of a table with a row per group (/group_info, ``_indices``).

        A single row (random access) comes from a page of ``_PAGE_GROUPS`` rows around it,
        kept until the next page of that table is needed: one read serves many accesses
        to a small file or to nearby groups.
        """
        node = self._node(path)
        if p1 - p0 != 1:
            return node.read(p0, p1)
        page = p0 // _PAGE_GROUPS
        cached = self._pages.get(path)
        if cached is None or cached[0] != page:
            q0 = page * _PAGE_GROUPS
            cached = self._pages[path] = (page, node.read(q0, q0 + _PAGE_GROUPS))
        return cached[1][p0 % _PAGE_GROUPS:p0 % _PAGE_GROUPS + 1]

    def _indexed_rows(self, loc: _Location, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray]:
        """Row starts and counts of groups p0..p1-1 of a split group or NDArray."""
        idx_path = loc.h5loc + "/_indices" if loc.kind == "split" else loc.h5loc + "_indices"
        n_idx = int(self._node(idx_path).nrows)
        starts = np.zeros(p1 - p0, dtype=np.int64)
        counts = np.zeros(p1 - p0, dtype=np.int64)
        m = max(0, min(p1, n_idx) - p0)  # groups past its end have no rows
        if m:
            rows = self._per_group_rows(idx_path, p0, p0 + m)
            starts[:m] = rows["index"]
            counts[:m] = rows["n_items"]
            past = np.flatnonzero(starts[:m] + counts[:m] > loc.nrows)
            if len(past):
                raise FormatError(f"row {p0 + int(past[0])} of {idx_path} points past the "
                                  f"{loc.nrows} rows of {loc.h5loc}", path=self.path)
        return starts, counts

    def _whole_map(self, loc: _Location) -> tuple[np.ndarray, np.ndarray]:
        """Row starts and counts of every group of a compound table (the fallback)."""
        if loc.starts is not None:
            assert loc.counts is not None  # set together with starts
            return loc.starts, loc.counts
        if self.group_ids is None:
            self.group_ids = self._group_ids(0, self.n_groups)
        group_ids = self.group_ids
        col = np.asarray(loc.node.col(self.key_col))
        if len(col) > 1 and not (col[1:] >= col[:-1]).all():
            loc.perm = np.argsort(col, kind="stable")
            col = col[loc.perm]
        if len(col):
            first = np.concatenate([[0], np.flatnonzero(col[1:] != col[:-1]) + 1])
            values = col[first]
            sizes = np.diff(np.concatenate([first, [len(col)]]))
            pos = np.minimum(np.searchsorted(values, group_ids), len(values) - 1)
            match = values[pos] == group_ids
            starts = np.where(match, first[pos], 0).astype(np.int64)
            counts = np.where(match, sizes[pos], 0).astype(np.int64)
        else:
            starts = np.zeros(len(group_ids), dtype=np.int64)
            counts = np.zeros(len(group_ids), dtype=np.int64)
        loc.starts, loc.counts = starts, counts
        return starts, counts

    def _sorted_rows(self, loc: _Location, gids: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(rows, local starts, counts) of groups ``gids`` of a compound table in group_id
        order, read in one go; None where the table is not in that order."""
        key = self.key_col
        assert key is not None  # compound tables are those with the key column
        if loc.marks is None and loc.starts is None and self._ordered:
            loc.marks = _scan_keys(loc.node, key)
            if loc.marks is None and self.log is not None:
                self.log.debug("%s: %s is not in %s order; its rows are mapped for the whole "
                               "file", self.path, loc.h5loc, key)
        marks = loc.marks
        if marks is None or not self._ordered:
            return None
        # Rows before mark j0 - 1 hold smaller ids and rows from mark j1 on bigger ones, so
        # the groups' rows lie in that window of at most len(their rows) + 2 * _MARK_ROWS.
        j0 = int(np.searchsorted(marks, gids[0], side="left"))
        j1 = int(np.searchsorted(marks, gids[-1], side="right"))
        w0, w1 = max(0, (j0 - 1) * _MARK_ROWS), min(loc.nrows, j1 * _MARK_ROWS)
        data = loc.read_rows(w0, max(w0, w1))
        keys = data[key]
        first = np.searchsorted(keys, gids, side="left")
        stop = np.searchsorted(keys, gids, side="right")
        r0, r1 = int(first[0]), int(stop[-1])
        return data[r0:r1], (first - r0).astype(np.int64), (stop - first).astype(np.int64)

    def _block_size(self) -> int:
        per_group = max((loc.nrows for loc in self.locations if loc.kind != "singleton"),
                        default=0) / max(self.n_groups, 1)
        return int(max(1, min(_MAX_BLOCK_GROUPS, _BLOCK_ROWS // max(per_group, 1.0))))

    @staticmethod
    def _read_ranges(loc: _Location, s: np.ndarray, c: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``s[i]..s[i] + c[i] - 1`` of every group i, and where each starts."""
        if not c.any():
            return loc.read_rows(0, 0), np.zeros(len(c), dtype=np.int64)
        nz = c > 0
        r0, r1 = int(s[nz].min()), int((s + c)[nz].max())
        if r1 - r0 == int(c.sum()):
            return loc.read_rows(r0, r1), s - r0
        # rows of these groups are not one run: gather them
        rows = np.concatenate([np.arange(a, a + b) for a, b in zip(s, c)])
        if loc.perm is not None:
            rows = loc.perm[rows]
        return loc.read_coordinates(rows), np.concatenate([[0], np.cumsum(c)[:-1]])

    def _load_block(self, p0: int, p1: int, gids: np.ndarray) -> dict[str, Any]:
        block: dict[str, Any] = {}
        for loc in self.locations:
            if loc.kind == "singleton":
                continue
            try:
                found = self._sorted_rows(loc, gids) if loc.kind == "table" else None
                if found is not None:
                    data, local, c = found
                else:
                    if loc.kind == "table":
                        starts, counts = self._whole_map(loc)
                        s, c = starts[p0:p1], counts[p0:p1]
                    else:
                        s, c = self._indexed_rows(loc, p0, p1)
                    data, local = self._read_ranges(loc, s, c)
            except FormatError:
                raise
            except Exception as err:
                raise FormatError(f"cannot read {loc.h5loc} for groups {p0}..{p1 - 1}: "
                                  f"{_first_line(err)}", path=self.path) from err
            if self.group_offset and data.dtype.names and "group_id" in data.dtype.names:
                data["group_id"] += self.group_offset
            name, split = loc.name, loc.kind == "split"
            if self.conform and loc.kind in ("table", "split"):
                conformed = conform_table(data, loc.h5loc, self.path, self.log, self.noted,
                                          f"the rows of groups {p0}..{p1 - 1}")
                if conformed is not None:
                    data, schema = conformed
                    name, split = schema.name, schema.split_h5
            if loc.kind != "ndarray":
                data = Table._wrap(data, loc.h5loc, name, split_h5=split)
            block[loc.key] = (loc, data, local, c)
        return block

    def blob(self, pos: int, sequential: bool) -> Blob:
        cached = self._block
        if cached is None or not cached[0] <= pos < cached[1]:
            p1 = min(self.n_groups, pos + (self._block_size() if sequential else 1))
            gids = self._group_ids(pos, p1)
            cached = self._block = (pos, p1, self._load_block(pos, p1, gids), gids)
        p0, _, block, gids = cached
        i = pos - p0
        group_id = int(gids[i]) + self.group_offset
        blob = Blob()
        for loc in self.locations:
            if loc.kind == "singleton":
                if loc.h5loc == "/raw_header" and self.header is not None:
                    continue  # the header's one blob key is HEADER_KEY
                blob[loc.key] = self.singletons[loc.h5loc]
                continue
            if self.conform and loc.h5loc == "/group_info":
                continue  # the writer numbers the groups of a conversion anew
            _, data, local, counts = block[loc.key]
            n = int(counts[i])
            if loc.kind == "table" and n == 0:
                continue  # as KM3Pipe: no rows of this table in this group
            start = int(local[i])
            if loc.kind == "ndarray":
                blob[loc.key] = NDArray(data[start:start + n], h5loc=loc.h5loc, title=loc.title,
                                        group_id=group_id)
            else:
                blob[loc.key] = data[start:start + n]
        if self.header is not None:
            blob[HEADER_KEY] = self.header
        return blob


class HDF5Pump(Pump):
    """Read KM3Pipe-layout HDF5 files, one blob per group (event).

    Parameters
    ----------
    filename : str
        The file to read; or give ``filenames``.
    filenames : list of str
        Several files, read one after the other; ``group_id`` values continue across
        files (each file's are shifted by the number of group ids before it).
    h5locs : list of str, optional
        Read only these locations (and what lies below them); all by default.
    shuffle : bool
        Yield the groups of all files in a random order (for training).
    seed : int, optional
        Seed of the shuffling.
    conform : bool
        Give the tables at the locations of km3flow's schema (/event_info, /hits,
        /mc_tracks …) the schema's columns and dtypes, mapping KM3Pipe's older names, and
        leave out ``GroupInfo`` (see :mod:`km3flow.io.hdf5.conform`); for converting HDF5
        files together with other formats. Off by default: a file reads back as written.

    Notes
    -----
    Tables come back under the camel-cased name of their location (``/event_info`` →
    ``'EventInfo'``, ``/group_info`` → ``'GroupInfo'``), as in KM3Pipe; tables without
    rows in a group are left out of that blob; split tables and NDArrays are always
    present (possibly empty). Tables without a ``group_id`` are singletons, in every blob.
    A ``/raw_header`` gives ``blob['Header']``, a :class:`~km3flow.dataclasses.Header`, and
    is not passed on as a table too (KM3Pipe also gave it as ``RawHeader``; the sink writes
    the Header back to ``/raw_header``; ``h5singleton("/raw_header")`` gives the table).
    Provides the service ``h5singleton(h5loc)``; the pipeline's ``input_files`` service
    lists its files.

    Memory does not grow with the file where its ``/group_info`` and compound tables are
    in ``group_id`` order, as KM3Pipe and km3flow write them: rows are found per block of
    groups. Other files (no ``/group_info``, as format 4.x; rows out of order) are read
    through maps of all their groups (some 16 bytes per group and table).
    """

    parallel_input = ("filenames", "filename")  # what km3flow.parallel splits over
    conformable = True  # FilePump may ask for conform=True (mixed-format conversion)

    def configure(self) -> None:
        filename = self.get("filename", default=None)
        filenames = self.get("filenames", default=None)
        if (filename is None) == (filenames is None):
            raise ConfigError("HDF5Pump needs either 'filename' or 'filenames'")
        names = [filename] if filename is not None else list(filenames)
        if not names:
            raise ConfigError("HDF5Pump: 'filenames' is empty")
        self.filenames = [os.fspath(n) for n in names]
        self.h5locs = self.get("h5locs", default=None)
        if isinstance(self.h5locs, str):
            self.h5locs = [self.h5locs]
        self.shuffle = bool(self.get("shuffle", default=False))
        self.seed = self.get("seed", default=None)
        self.conform = bool(self.get("conform", default=False))
        self._readers: list[_FileReader] = []
        offset = 0
        for name in self.filenames:
            self.print(f"Opening {name}")
            reader = _FileReader(name, self.h5locs, group_offset=offset, conform=self.conform,
                                 log=self.log)
            if reader.n_groups:
                offset += reader.max_group_id + 1
            reader.close()
            self._readers.append(reader)
        self._bounds = np.cumsum([0] + [r.n_groups for r in self._readers])
        self._order = None
        if self.shuffle:
            self._order = np.random.default_rng(self.seed).permutation(int(self._bounds[-1]))
        self._current: _FileReader | None = None
        self._last = -2
        self.expose(self.h5singleton, "h5singleton")
        self._sizes: list[int] | None = None
        self.expose(self.input_progress, "input_progress")

    def __len__(self) -> int:
        return int(self._bounds[-1])

    def input_progress(self) -> tuple[int, int, int, int]:
        """Files done, files, bytes done and total bytes, for a progress bar (the open
        file's bytes count in proportion to its groups read; sequential reading)."""
        from ...core.progress import file_sizes

        if self._sizes is None:
            self._sizes = file_sizes(self.filenames)
        done_groups = self._last + 1
        k = int(np.searchsorted(self._bounds, done_groups, side="right")) - 1
        k = min(k, len(self.filenames))
        done = sum(self._sizes[:k])
        if k < len(self.filenames):
            n = int(self._bounds[k + 1] - self._bounds[k])
            if n:
                done += int(self._sizes[k] * (done_groups - int(self._bounds[k])) / n)
        return k, len(self.filenames), done, sum(self._sizes)

    def _reader(self, k: int) -> _FileReader:
        reader = self._readers[k]
        if self._current is not reader:
            if self._current is not None:
                self._current.close()
            reader.open()
            self._current = reader
        return reader

    def get_blob(self, index: int) -> Blob:
        sequential = index == self._last + 1 and self._order is None
        self._last = index
        if self._order is not None:
            index = int(self._order[index])
        k = int(np.searchsorted(self._bounds, index, side="right")) - 1
        return self._reader(k).blob(index - int(self._bounds[k]), sequential)

    def blob_generator(self) -> Iterator[Blob]:
        for index in range(len(self)):
            yield self.get_blob(index)
        self.close()  # read to the end: release the file (it reopens on demand)

    def h5singleton(self, h5loc: str) -> Table:
        """The singleton table at ``h5loc`` of the file read last."""
        reader = self._current or self._readers[0]
        try:
            return reader.singletons[h5loc]
        except KeyError:
            raise KeyError(f"no singleton table at {h5loc}; singletons: "
                           f"{', '.join(reader.singletons) or 'none'}") from None

    @property
    def header(self) -> Header | None:
        """The ``/raw_header`` of the file read last (or the first file)."""
        return (self._current or self._readers[0]).header

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
