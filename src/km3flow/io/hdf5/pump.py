"""HDF5Pump: reads KM3Pipe-layout HDF5 files back into one Blob per group (event).

Where each group's rows are is worked out once per location: from the ``_indices`` tables
of split groups and NDArrays, and from one pass over the ``group_id`` column of compound
tables. Sequential reading then fetches blocks of a few thousand groups per location in
one read and hands out slices of them, so iterating costs a slice per table per blob;
random access (``pump[i]``, shuffling) reads just the rows of the group asked for.
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


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


class _Location:
    """One readable location of a file: a table, split group, NDArray or singleton."""

    def __init__(self, node: Any, kind: str, key: str) -> None:
        self.node = node
        self.kind = kind  # "table", "split", "ndarray" or "singleton"
        self.h5loc = node._v_pathname
        self.key = key
        self.name = key
        self.title = attr_str(getattr(node, "title", getattr(node, "_v_title", ""))) or key
        self.starts: np.ndarray | None = None
        self.counts: np.ndarray | None = None
        self.perm: np.ndarray | None = None  # row order of an unsorted compound table
        self.columns: list[str] = []
        self.dtype: np.dtype | None = None
        if kind == "split":
            names = [n for n in node._v_children if n != "_indices"]
            wanted = getattr(node._v_attrs, COLUMNS_ATTR, None)
            if wanted is not None and sorted(wanted) == sorted(names):
                names = list(wanted)
            self.columns = names
            arrays = [node._v_children[n] for n in names]
            self.dtype = np.dtype([(n, a.dtype, a.shape[1:]) for n, a in zip(names, arrays)])

    @property
    def nrows(self) -> int:
        if self.kind == "split":
            return self.node._v_children[self.columns[0]].nrows if self.columns else 0
        return int(self.node.nrows)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        if self.kind == "split":
            out = np.empty(stop - start, dtype=self.dtype)
            for name in self.columns:
                out[name] = self.node._v_children[name].read(start, stop)
            return out
        if self.perm is not None:
            return self.read_coordinates(self.perm[start:stop])
        return self.node.read(start, stop)

    def read_coordinates(self, rows: np.ndarray) -> np.ndarray:
        if self.kind == "table":
            return self.node.read_coordinates(rows)
        if self.kind == "split":
            out = np.empty(len(rows), dtype=self.dtype)
            for name in self.columns:
                out[name] = self.node._v_children[name][rows] if len(rows) else []
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
        self.group_ids = np.zeros(0, dtype=np.int64)
        self._block: tuple[int, int, dict[str, Any]] | None = None
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

        if has_group_info:
            gi = h5.get_node("/group_info")
            if "group_id" not in gi.colnames:
                raise FormatError("/group_info has no group_id column", path=self.path)
            self.group_ids = np.asarray(gi.col("group_id"), dtype=np.int64)
        elif key_col is not None:
            keys = [np.unique(loc.node.col(key_col)) for loc in locations if loc.kind == "table"]
            self.group_ids = (np.unique(np.concatenate(keys)).astype(np.int64) if keys
                              else np.zeros(0, dtype=np.int64))
        else:
            self.group_ids = np.zeros(0, dtype=np.int64)

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

    # -- group → rows ----------------------------------------------------------------------
    @property
    def n_groups(self) -> int:
        return len(self.group_ids)

    def _ranges(self, loc: _Location) -> tuple[np.ndarray, np.ndarray]:
        if loc.starts is not None:
            assert loc.counts is not None  # set together with starts
            return loc.starts, loc.counts
        n = self.n_groups
        if loc.kind in ("split", "ndarray"):
            idx_path = loc.h5loc + "/_indices" if loc.kind == "split" else loc.h5loc + "_indices"
            assert self.h5 is not None  # called on an open file
            idx = self.h5.get_node(idx_path).read()
            starts = np.zeros(n, dtype=np.int64)
            counts = np.zeros(n, dtype=np.int64)
            m = min(n, len(idx))
            starts[:m] = idx["index"][:m]
            counts[:m] = idx["n_items"][:m]
            if m and (starts[:m] + counts[:m]).max(initial=0) > loc.nrows:
                raise FormatError(f"{idx_path} points past the {loc.nrows} rows of {loc.h5loc}",
                                  path=self.path)
        else:
            col = np.asarray(loc.node.col(self.key_col))
            if len(col) > 1 and not (col[1:] >= col[:-1]).all():
                loc.perm = np.argsort(col, kind="stable")
                col = col[loc.perm]
            if len(col):
                first = np.concatenate([[0], np.flatnonzero(col[1:] != col[:-1]) + 1])
                values = col[first]
                sizes = np.diff(np.concatenate([first, [len(col)]]))
                pos = np.minimum(np.searchsorted(values, self.group_ids), len(values) - 1)
                match = values[pos] == self.group_ids
                starts = np.where(match, first[pos], 0).astype(np.int64)
                counts = np.where(match, sizes[pos], 0).astype(np.int64)
            else:
                starts = np.zeros(n, dtype=np.int64)
                counts = np.zeros(n, dtype=np.int64)
        loc.starts, loc.counts = starts, counts
        return starts, counts

    def _block_size(self) -> int:
        per_group = max((loc.nrows for loc in self.locations if loc.kind != "singleton"),
                        default=0) / max(self.n_groups, 1)
        return int(max(1, min(_MAX_BLOCK_GROUPS, _BLOCK_ROWS // max(per_group, 1.0))))

    def _load_block(self, p0: int, p1: int) -> dict[str, Any]:
        block: dict[str, Any] = {}
        for loc in self.locations:
            if loc.kind == "singleton":
                continue
            try:
                starts, counts = self._ranges(loc)
                s, c = starts[p0:p1], counts[p0:p1]
                if not c.any():
                    data = loc.read_rows(0, 0)
                    local = np.zeros(len(c), dtype=np.int64)
                else:
                    nz = c > 0
                    r0, r1 = int(s[nz].min()), int((s + c)[nz].max())
                    if r1 - r0 == int(c.sum()):
                        data = loc.read_rows(r0, r1)
                        local = s - r0
                    else:  # rows of these groups are not one run: gather them
                        rows = np.concatenate([np.arange(a, a + b) for a, b in zip(s, c)])
                        if loc.perm is not None:
                            rows = loc.perm[rows]
                        data = loc.read_coordinates(rows)
                        local = np.concatenate([[0], np.cumsum(c)[:-1]])
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
            cached = self._block = (pos, p1, self._load_block(pos, p1))
        p0, _, block = cached
        i = pos - p0
        group_id = int(self.group_ids[pos]) + self.group_offset
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
                offset += int(reader.group_ids.max()) + 1
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
