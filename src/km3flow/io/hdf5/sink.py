"""HDF5Sink: writes the Tables and NDArrays of each blob in KM3Pipe's HDF5 layout.

Rows are buffered per location and written in large appends (one per location per
flush), with the ``group_id`` column filled vectorised at flush time. The file is
written under a temporary name next to the target and renamed into place in
``finish()``, so the target path only ever holds a complete file.

Outputs are never clobbered by an incomplete run: when the drain failed or was
interrupted (the pipeline's ``drain_status`` service says so), the file goes to a side
name, ``out.partial.h5`` for ``out.h5`` (see :func:`partial_path`), and a file already at
``out.h5`` is left as it was (an older ``out.partial.h5`` is replaced); with no blob
written there is no file at all. A killed
process (SIGKILL, power cut) leaves its temporary file ``.out.h5.<8 hex>.tmp``;
:func:`find_leftovers` finds those, and the next sink for ``out.h5`` names them in a
warning (it never deletes them: another run may still be writing one).
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import tables as tb

from ...core import Blob, Module
from ...core.config import Parameter
from ...dataclasses import Header, NDArray, Table
from ...dataclasses.schema import USR_LOCATIONS
from ...exceptions import ConfigError, Km3flowError
from ...logger import get_logger
from .format import (
    CHUNK_CACHE_SIZE,
    COLUMNS_ATTR,
    FORMAT_VERSION,
    GROUP_INFO_DTYPE,
    INDEX_DTYPE,
    TITLE,
    make_filters,
)
from .provenance import environment, resolve_service, utc_now, write_provenance

if TYPE_CHECKING:
    from .merge import PartMerger

log = get_logger("HDF5Sink")


class HDF5WriteError(Km3flowError, ValueError):
    """A blob entry cannot be written where it should go (dtype clash, unicode …)."""


_HDF5_EXTENSIONS = (".h5", ".hdf5", ".hdf", ".he5")


def partial_path(path: str | os.PathLike) -> str:
    """Where the output of an incomplete run goes: ``out.h5`` → ``out.partial.h5``.

    Names without an HDF5 extension get ``.partial`` appended (``out.h5.part-3`` →
    ``out.h5.part-3.partial``).
    """
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    if ext.lower() in _HDF5_EXTENSIONS:
        return f"{root}.partial{ext}"
    return f"{path}.partial"


def find_leftovers(path: str | os.PathLike) -> list[str]:
    """Temporary files that writers of ``path`` left behind when they were killed.

    These are HDF5Sink's ``.<name>.<8 hex>.tmp`` (also of the parts of a parallel drain,
    ``.<name>.part-<k>.<8 hex>.tmp``) and a parallel merge's ``.<name>.merging-<pid>``,
    in the directory of ``path``, sorted by name.
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    pattern = re.compile(re.escape(f".{name}.")
                         + r"(?:(?:part-\d+\.)?[0-9a-f]{8}\.tmp|merging-\d+)$")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(os.path.join(os.path.dirname(path), n) for n in names if pattern.match(n))


def _check_dtype(h5loc: str, dtype: np.dtype) -> None:
    for name in dtype.names or ():
        kind = dtype[name].base.kind
        if kind == "U":
            raise HDF5WriteError(
                f"column '{name}' of {h5loc} holds unicode strings ({dtype[name]}); HDF5 "
                "tables store fixed-size byte strings: use an 'S' dtype (bytes)"
            )
        if kind in "OV":
            raise HDF5WriteError(
                f"column '{name}' of {h5loc} has dtype {dtype[name]}, which HDF5 tables "
                "cannot store"
            )


def _split_parent(h5loc: str) -> tuple[str, str]:
    parent, name = h5loc.rsplit("/", 1)
    return parent or "/", name


class _IndexRecorder:
    """``index``/``n_items`` rows (one per blob) of a split group or an NDArray."""

    def __init__(self) -> None:
        self.table: Any = None
        self.rows_written = 0  # blob rows already in the file
        self.next_start = 0  # first data row of the next blob

    def write(self, h5: tb.File, where: str, name: str, filters: tb.Filters,
              positions: list[int], lengths: list[int], n_blobs: int) -> None:
        n_new = n_blobs - self.rows_written
        if n_new <= 0:
            return
        n_items = np.zeros(n_new, dtype=np.int64)
        if positions:
            np.add.at(n_items, np.asarray(positions) - self.rows_written, lengths)
        out = np.empty(n_new, dtype=INDEX_DTYPE)
        out["n_items"] = n_items
        ends = np.cumsum(n_items) + self.next_start
        out["index"] = ends - n_items
        if self.table is None:
            self.table = h5.create_table(where, name, description=INDEX_DTYPE, title="Indices",
                                         filters=filters, createparents=True,
                                         expectedrows=max(n_blobs, 1000))
            self.table._v_attrs.datatype = "Indices"
        self.table.append(out)
        self.rows_written = n_blobs
        self.next_start = int(ends[-1])


def _lossless(h5loc: str, column: str, values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` as ``dtype`` (the dtype the location was created with), if nothing is lost.

    A later blob may bring a column in another dtype (``Table({'energy': 0})`` first, floats
    later); a silent cast would truncate, so values that do not survive it are an error.
    """
    values = np.asarray(values)
    if values.dtype == dtype or np.can_cast(values.dtype, dtype, "safe"):
        return np.array(values, dtype=dtype, copy=True)
    with np.errstate(all="ignore"):
        converted = values.astype(dtype)
        if values.dtype.kind in "iub" and np.dtype(dtype).kind in "iu":
            # a round trip hides wrapped signs (-1 -> 2**64-1 -> -1): compare the range
            info = np.iinfo(dtype)
            same = values.size == 0 or (int(values.min()) >= info.min
                                        and int(values.max()) <= info.max)
        else:
            try:
                same = np.array_equal(converted.astype(values.dtype), values, equal_nan=True)
            except TypeError:  # equal_nan is undefined for non-numeric dtypes
                same = np.array_equal(converted.astype(values.dtype), values)
    if not same:
        raise HDF5WriteError(
            f"column '{column}' at {h5loc} was created as {dtype} by an earlier blob; this "
            f"blob's {values.dtype} values do not fit it without loss. Give the Table an "
            f"explicit dtype so every blob agrees"
        )
    return converted


def _mismatch(h5loc: str, new: np.dtype, old: np.dtype) -> str:
    """Name the columns (and dtypes) by which a table differs from the earlier ones."""
    def cols(names: list[str]) -> str:
        return ", ".join(f"'{n}'" for n in names)

    new_names, old_names = new.names or (), old.names or ()
    only_new = [n for n in new_names if n not in old_names]
    only_old = [n for n in old_names if n not in new_names]
    parts = []
    if only_new:
        parts.append(f"column{'s' if len(only_new) > 1 else ''} {cols(only_new)} only in the "
                     "new table")
    if only_old:
        parts.append(f"column{'s' if len(only_old) > 1 else ''} {cols(only_old)} only in the "
                     "earlier ones")
    parts += [f"'{n}' is {new[n].str} here but {old[n].str} before"
              for n in new_names if n in old_names and new[n] != old[n]]
    return (f"table at {h5loc} cannot be joined to the earlier tables there: "
            f"{'; '.join(parts)} (km3flow's readers give the same columns: see docs/schema.md)")


class _Writer:
    """Buffers the rows of one location and appends them to the file on flush."""

    def __init__(self, sink: HDF5Sink, h5loc: str, kind: str, title: str) -> None:
        self.sink = sink
        self.h5loc = h5loc
        self.kind = kind  # "table", "split", "singleton" or "ndarray"
        self.title = title
        self.in_dtype: np.dtype | None = None
        self.item_shape: tuple[int, ...] = ()
        self.pieces: list[np.ndarray] = []
        self.gids: list[int] = []
        self.positions: list[int] = []
        self.nbytes = 0
        self.node: Any = None
        self.columns: dict[str, Any] = {}
        self.index = _IndexRecorder() if kind in ("split", "ndarray") else None
        self.dropped: set[str] = set()  # usr names not written (logged once)

    def conform(self, arr: np.ndarray) -> np.ndarray:
        """Check ``arr`` fits this location; return it as a private copy to buffer."""
        if self.kind == "ndarray":
            if arr.ndim == 0:
                raise HDF5WriteError(f"a 0-d NDArray cannot be stored at {self.h5loc}; "
                                     "give it at least one dimension")
            if self.in_dtype is None:
                self.in_dtype, self.item_shape = arr.dtype, arr.shape[1:]
                _check_dtype(self.h5loc, np.dtype([("value", arr.dtype)]))
            elif arr.shape[1:] != self.item_shape:
                raise HDF5WriteError(
                    f"NDArray at {self.h5loc} has shape {arr.shape}; earlier arrays there "
                    f"had (n,) + {self.item_shape}: only the first axis may vary"
                )
            return _lossless(self.h5loc, "values", arr, self.in_dtype)
        if self.in_dtype is None:
            _check_dtype(self.h5loc, arr.dtype)
            self.in_dtype = arr.dtype
            return arr.copy()
        if arr.dtype == self.in_dtype:
            return arr.copy()
        if set(arr.dtype.names or ()) != set(self.in_dtype.names or ()):
            if self.h5loc in USR_LOCATIONS:
                return self._join_by_name(arr)
            raise HDF5WriteError(_mismatch(self.h5loc, arr.dtype, self.in_dtype))
        out = np.empty(len(arr), dtype=self.in_dtype)
        for name in self.in_dtype.names or ():
            out[name] = _lossless(self.h5loc, name, arr[name], self.in_dtype[name])
        return out

    def _join_by_name(self, arr: np.ndarray) -> np.ndarray:
        """A usr table of another file: its columns by name, NaN for the names it lacks.

        usr names vary from file to file (:data:`~km3flow.dataclasses.schema.USR_LOCATIONS`);
        the first table fixed the columns, so names it did not have are dropped, once logged.
        """
        in_dtype = self.in_dtype
        assert in_dtype is not None  # fixed by the first table
        names = arr.dtype.names or ()
        out = np.empty(len(arr), dtype=in_dtype)
        for name in in_dtype.names or ():
            if name in names:
                out[name] = _lossless(self.h5loc, name, arr[name], in_dtype[name])
            else:
                out[name] = np.nan if out.dtype[name].kind == "f" else -1
        dropped = sorted(set(names) - set(in_dtype.names or ()) - self.dropped)
        if dropped:
            self.dropped.update(dropped)
            log.warning("%s: usr name%s %s not in the first file's usr table, not written",
                        self.h5loc, "s" if len(dropped) > 1 else "", ", ".join(dropped))
        return out

    def add(self, arr: np.ndarray, gid: int, position: int) -> None:
        self.pieces.append(arr)
        self.gids.append(gid)
        self.positions.append(position)
        self.nbytes += arr.nbytes

    # -- flushing ------------------------------------------------------------------------
    def flush(self, h5: tb.File, n_blobs: int) -> None:
        lengths = [len(p) for p in self.pieces]
        if self.kind == "ndarray":
            self._flush_ndarray(h5, lengths)
        elif self.pieces:
            data = self._records(lengths)
            if self.kind == "split":
                self._flush_split(h5, data)
            else:
                self._flush_table(h5, data)
        if self.index is not None and self.in_dtype is not None:
            where = self.h5loc if self.kind == "split" else _split_parent(self.h5loc)[0]
            name = "_indices" if self.kind == "split" else _split_parent(self.h5loc)[1] + "_indices"
            self.index.write(h5, where, name, self.sink.filters, self.positions, lengths,
                             n_blobs)
        self.pieces, self.gids, self.positions, self.nbytes = [], [], [], 0

    def _records(self, lengths: list[int]) -> np.ndarray:
        """All buffered rows as one array with the ``group_id`` column (one allocation)."""
        data = np.concatenate(self.pieces) if len(self.pieces) > 1 else self.pieces[0]
        if self.kind == "singleton":
            return data
        gid = np.repeat(np.asarray(self.gids, dtype=np.int64), lengths)
        if "group_id" in (data.dtype.names or ()):
            if self.sink.reset_group_id:
                data["group_id"] = gid
            return data
        out = np.empty(len(data), dtype=data.dtype.descr + [("group_id", "<i8")])
        for name in data.dtype.names or ():
            out[name] = data[name]
        out["group_id"] = gid
        return out

    def _flush_table(self, h5: tb.File, data: np.ndarray) -> None:
        if self.node is None:
            where, name = _split_parent(self.h5loc)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tb.NaturalNameWarning)
                self.node = h5.create_table(
                    where, name, description=data.dtype, title=self.title,
                    filters=self.sink.filters, createparents=True,
                    expectedrows=self.sink.n_rows_expected, chunkshape=self.sink.chunkshape,
                )
            self.node._v_attrs.datatype = self.title
        self.node.append(data)

    def _flush_split(self, h5: tb.File, data: np.ndarray) -> None:
        if self.node is None:
            where, name = _split_parent(self.h5loc)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tb.NaturalNameWarning)
                self.node = h5.create_group(where, name, title=self.title, createparents=True)
            self.node._v_attrs.datatype = self.title
            self.node._v_attrs[COLUMNS_ATTR] = list(data.dtype.names or ())
        for name in data.dtype.names or ():
            arr = self.columns.get(name)
            col = data[name]
            if arr is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", tb.NaturalNameWarning)
                    arr = h5.create_earray(
                        self.node, name, tb.Atom.from_dtype(col.dtype.base),
                        (0,) + col.shape[1:], name.capitalize(), filters=self.sink.filters,
                        expectedrows=self.sink.n_rows_expected,
                    )
                self.columns[name] = arr
            arr.append(col)

    def _flush_ndarray(self, h5: tb.File, lengths: list[int]) -> None:
        if self.in_dtype is None:
            return
        if self.node is None:
            where, name = _split_parent(self.h5loc)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tb.NaturalNameWarning)
                chunkshape = None
                if self.sink.chunksize is not None:
                    chunkshape = (int(self.sink.chunksize),) + self.item_shape
                self.node = h5.create_earray(
                    where, name, tb.Atom.from_dtype(self.in_dtype), (0,) + self.item_shape,
                    title=self.title, filters=self.sink.filters, createparents=True,
                    chunkshape=chunkshape, expectedrows=self.sink.n_rows_expected,
                )
        if self.pieces:
            self.node.append(np.concatenate(self.pieces) if len(self.pieces) > 1
                             else self.pieces[0])


class HDF5Sink(Module):
    """Write the Tables and NDArrays of every blob to an HDF5 file in KM3Pipe's layout.

    Every non-singleton Table goes to its ``h5loc`` with a ``group_id`` column (the
    sink's blob counter); ``/group_info`` gets ``(blob_length, group_id)`` per blob;
    ``split_h5`` tables become a group of one array per column with ``_indices``;
    NDArrays are concatenated along their first axis with an ``<h5loc>_indices`` table.
    The MC header (a :class:`~km3flow.dataclasses.Header`, blob key ``Header`` of every
    reader) is written once, as the singleton table ``/raw_header`` in KM3Pipe's layout.

    Parameters
    ----------
    filename : str
        The output file (``dump.h5`` by default). Written as a temporary file in the same
        directory and renamed into place by ``finish()`` when the drain completed; after
        an error or an interrupt it goes to :func:`partial_path` instead.
    overwrite : bool
        Replace an existing ``filename`` when the run completes (True, as KM3Pipe did).
        With False an existing file is an error at once (``km3flow convert`` refuses
        an existing output unless ``--overwrite``).
    keep_partial : bool
        After a failed or interrupted drain, keep what was written under
        :func:`partial_path` (True), or delete it (False: a caller that writes to a
        private name and cleans up itself).
    keys : list of str, optional
        Write only these blob keys.
    complib, complevel, shuffle, fletcher32
        PyTables filters; KM3Pipe's defaults ``zlib``, 5, True, True.
    chunksize : int, optional
        Chunk length (rows) of tables and NDArrays; PyTables chooses by default.
    n_rows_expected : int
        Expected rows per table, a PyTables chunking hint (10000).
    buffer_size : int
        Bytes buffered in memory before the buffered rows are written (16 MiB).
    flush_frequency : int, optional
        Also write the buffers every this many blobs.
    reset_group_id : bool
        Overwrite an existing ``group_id`` column with the sink's counter (True).

    Attributes
    ----------
    written_to : str or None
        After ``finish()``: where the file went (``filename``, or its partial name), or
        None when nothing was written.
    complete : bool or None
        After ``finish()``: whether the drain completed (False: a partial file or none).

    Notes
    -----
    Provenance (see :mod:`km3flow.io.hdf5.provenance`) is read from the services
    ``pipeline_description`` and ``input_files``; root attributes from the service
    ``HDF5MetaData`` (a dict), as in KM3Pipe.
    """

    parallel_output = "filename"  # parallel drains write <filename>.part-<k>, then merge

    @classmethod
    def merge_outputs(cls, part_paths: list[str], final_path: str) -> None:
        """Merge part files of a parallel drain (see :mod:`km3flow.io.hdf5.merge`)."""
        from .merge import merge_hdf5

        merge_hdf5(part_paths, final_path)

    @classmethod
    def part_parameters(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Parts of a parallel drain are written uncompressed; the merge compresses once.

        A part is read back by the parent right after it is written, so compressing it
        in the worker and decompressing it in the parent only costs CPU; the merged file
        gets the filters the sink was given.
        """
        return {**params, "deferred_compression": True}

    @classmethod
    def part_merger(cls, final_path: str, n_parts: int) -> PartMerger:
        """Merge the parts one by one as the tasks finish (see :class:`.merge.PartMerger`)."""
        from .merge import PartMerger

        return PartMerger(final_path, n_parts)

    filename = Parameter((str, os.PathLike), default="dump.h5", check=os.fspath,
                         help="the output file")
    keys = Parameter((list, tuple), default=None, help="write only these blob keys")
    complib = Parameter(str, default="zlib", help="PyTables compression library")
    complevel = Parameter(int, default=5, help="compression level, 0-9")
    shuffle = Parameter(bool, default=True, help="PyTables shuffle filter")
    fletcher32 = Parameter(bool, default=True, help="PyTables Fletcher32 checksums")
    chunksize = Parameter(int, default=None, help="chunk length (rows) of tables and arrays")
    n_rows_expected = Parameter(int, default=10000, help="expected rows per table (a hint)")
    buffer_size = Parameter(int, default=16 * 2**20,
                            help="bytes buffered in memory before rows are written")
    flush_frequency = Parameter(int, default=None, help="also write every this many blobs")
    reset_group_id = Parameter(bool, default=True,
                               help="overwrite an existing group_id column")
    overwrite = Parameter(bool, default=True,
                          help="replace an existing file (only when the run completes)")
    keep_partial = Parameter(bool, default=True,
                             help="keep what a failed/interrupted run wrote as <name>.partial.h5")
    deferred_compression = Parameter(
        bool, default=False,
        help="write uncompressed, without checksums, and leave complib/complevel/shuffle/"
             "fletcher32 to the merge of this file (parallel drains set it for their parts)")

    def configure(self) -> None:
        self.chunkshape = None if self.chunksize is None else (self.chunksize,)
        try:
            self.filters = make_filters(self.complib, self.complevel, self.shuffle,
                                        self.fletcher32)
            if self.deferred_compression:
                # the settings were checked above; the merge applies them (recorded in
                # the provenance's "sink" entry), so the part is written as fast as can be
                self.filters = make_filters(self.complib, 0, False, False)
        except (ValueError, tb.FiltersWarning) as err:
            raise self.parameter_error("complib", f"bad compression settings (complib "
                                       f"{self.complib!r}, complevel {self.complevel}): "
                                       f"{err}") from err
        directory = os.path.dirname(os.path.abspath(self.filename))
        if not os.path.isdir(directory):
            raise self.parameter_error("filename", f"'{self.filename}': the directory "
                                       f"does not exist")
        if os.path.isdir(self.filename):
            raise ConfigError(f"HDF5Sink: '{self.filename}' is a directory, expected a file "
                              "name to write")
        if not self.overwrite and os.path.lexists(self.filename):
            raise ConfigError(f"HDF5Sink: '{self.filename}' exists already; pass "
                              "overwrite=True (km3flow: --overwrite) to replace it")
        leftovers = find_leftovers(self.filename)
        if leftovers:
            self.log.warning(
                "temporary file%s of an earlier run that was killed: %s; delete %s once no "
                "other run is writing '%s'", "s" if len(leftovers) > 1 else "",
                ", ".join(leftovers), "them" if len(leftovers) > 1 else "it", self.filename)
        self.tmp_filename = os.path.join(
            directory, f".{os.path.basename(self.filename)}.{uuid.uuid4().hex[:8]}.tmp")
        self.kid = str(uuid.uuid4())
        self.index = 0
        self.h5file: tb.File | None = None
        self._writers: dict[str, _Writer] = {}
        self._group_info: list[tuple[int, int]] = []
        self._group_info_writer: _Writer | None = None
        self._singletons_written: set[str] = set()
        # h5loc -> group whose blob_length counts the singleton (kept in the provenance, so
        # that merging parts, each with its own copy, can count it once as a serial run does)
        self._singleton_groups: dict[str, int] = {}
        self._buffered = 0
        self._since_flush = 0
        self._input_files: dict[str, None] = {}
        self._started = utc_now()
        self._finished = False
        self._closed = False
        #: Where finish() put the file (the output, or its partial name), None if nowhere.
        self.written_to: str | None = None
        #: Whether the run that wrote it completed (False: a partial file, or none).
        self.complete: bool | None = None

    # -- per blob ------------------------------------------------------------------------
    def _open(self) -> tb.File:
        if self.h5file is None:
            if self._closed:
                raise Km3flowError(f"HDF5Sink for '{self.filename}' is finished already")
            self.h5file = tb.open_file(self.tmp_filename, mode="w", title=TITLE,
                                        chunk_cache_size=CHUNK_CACHE_SIZE)
        return self.h5file

    def _writer(self, h5loc: str, kind: str, title: str) -> _Writer:
        writer = self._writers.get(h5loc)
        if writer is None:
            if not isinstance(h5loc, str) or not h5loc.startswith("/") or h5loc == "/" \
                    or "//" in h5loc or h5loc.endswith("/"):
                raise HDF5WriteError(f"bad h5loc {h5loc!r}: expected an absolute HDF5 path "
                                     "below the root, like '/hits' or '/reco/tracks'")
            clash = [w for w in self._writers
                     if w.startswith(h5loc + "/") or h5loc.startswith(w + "/")]
            if clash:
                raise HDF5WriteError(f"{h5loc} collides with the location {clash[0]}: one "
                                     "cannot hold the other")
            writer = self._writers[h5loc] = _Writer(self, h5loc, kind, title)
        elif writer.kind != kind:
            raise HDF5WriteError(
                f"{h5loc} was written as {writer.kind}, now a {kind} entry goes there"
            )
        return writer

    def process(self, blob: Blob) -> Blob:
        self._open()
        position = self.index
        staged = []
        has_group_info = False
        for key, entry in blob.items():
            if isinstance(entry, Header):  # the MC header, once to /raw_header
                entry = entry.to_table()
            if isinstance(entry, Table):
                h5loc = entry.h5loc
                if self.keys is not None and key not in self.keys:
                    continue
                if entry.h5singleton:
                    if h5loc in self._singletons_written:
                        continue
                    kind = "singleton"
                else:
                    kind = "split" if entry.split_h5 else "table"
                if h5loc == "/group_info":
                    has_group_info = True
                writer = self._writer(h5loc, kind, entry.name)
                staged.append((writer, writer.conform(np.asarray(entry))))
            elif isinstance(entry, NDArray):
                if self.keys is not None and key not in self.keys:
                    continue
                writer = self._writer(entry.h5loc, "ndarray", entry.title)
                staged.append((writer, writer.conform(np.asarray(entry))))
            elif key in ("Filename", "filename") and isinstance(entry, str):
                self._input_files.setdefault(entry, None)
        # Everything of this blob fitted: commit it (a failing blob adds nothing).
        nbytes = 0
        for writer, arr in staged:
            writer.add(arr, position, position)
            nbytes += arr.nbytes
            if writer.kind == "singleton":
                self._singletons_written.add(writer.h5loc)
                if not has_group_info:
                    self._singleton_groups[writer.h5loc] = position
        if not has_group_info:
            self._group_info.append((len(staged), position))
        self.index += 1
        self._buffered += nbytes
        self._since_flush += 1
        if self._buffered >= self.buffer_size or (
            self.flush_frequency and self._since_flush >= self.flush_frequency
        ):
            self.flush()
        return blob

    def flush(self) -> None:
        """Write all buffered rows to the (temporary) file."""
        h5 = self._open()
        for writer in self._writers.values():
            writer.flush(h5, self.index)
        if self._group_info:
            info = np.array(self._group_info, dtype=GROUP_INFO_DTYPE)
            self._group_info = []
            own = self._writers.get("/group_info")
            if own is not None:  # blobs brought their own GroupInfo tables (e.g. from a pump)
                own.node.append(own.conform(info))
            else:
                if self._group_info_writer is None:
                    self._group_info_writer = _Writer(self, "/group_info", "table", "Group Info")
                self._group_info_writer._flush_table(h5, info)
        h5.flush()
        self._buffered = 0
        self._since_flush = 0

    # -- the end -------------------------------------------------------------------------
    def _provenance(self) -> dict[str, Any]:
        services = self.services
        pipeline = services.get("pipeline_description")
        inputs = dict(self._input_files)
        service_inputs = services.get("input_files")
        if service_inputs is not None:
            for name in resolve_service(service_inputs) or ():
                inputs.setdefault(os.fspath(name), None)
        status = services.get("drain_status")
        record = {
            "writer": "km3flow.io.hdf5.HDF5Sink",
            # complete: False when the drain was interrupted or failed; the file then holds
            # every blob processed before that.
            "drain": None if status is None else resolve_service(status),
            "format_version": FORMAT_VERSION,
            "kid": self.kid,
            "filename": os.path.basename(self.filename),
            "start_time": self._started,
            "end_time": utc_now(),
            "n_groups": self.index,
            "singleton_groups": dict(self._singleton_groups),
            **environment(),
            "input_files": list(inputs),
            "pipeline": None if pipeline is None else resolve_service(pipeline),
            "sink": {"complib": self.complib, "complevel": self.complevel,
                     "shuffle": self.shuffle, "fletcher32": self.fletcher32,
                     "reset_group_id": self.reset_group_id,
                     "deferred_compression": self.deferred_compression},
        }
        return record

    def _write_attrs(self, h5: tb.File) -> None:
        from ... import __version__

        attrs = h5.root._v_attrs
        attrs.format_version = np.bytes_(FORMAT_VERSION)
        attrs.km3flow = np.bytes_(__version__)
        attrs.pytables = np.bytes_(tb.__version__)
        attrs.kid = np.bytes_(self.kid)
        metadata = self.services.get("HDF5MetaData")
        if metadata:
            for name, value in dict(metadata).items():
                attrs[name] = value
        write_provenance(h5, self._provenance())

    def _drain_outcome(self) -> tuple[bool, str]:
        """(complete, why not) of the drain, from the pipeline's ``drain_status``."""
        status = self.services.get("drain_status")
        status = None if status is None else resolve_service(status)
        if not isinstance(status, dict) or status.get("complete", True):
            return True, ""
        if status.get("interrupted"):
            return False, "was interrupted"
        return False, "failed"

    def finish(self) -> None:
        """Write what is buffered, the attributes and indices; move the file into place.

        After a failed or interrupted drain the file goes to :func:`partial_path` (an
        ERROR log line says so, with its blob count), or nowhere when no blob came.
        """
        if self._finished:
            return
        self._finished = True
        complete, why = self._drain_outcome()
        self.complete = complete
        existed = os.path.lexists(self.filename)
        if not complete and (self.index == 0 or not self.keep_partial):
            self._closed = True
            self._discard()
            self.log.error("the run %s%s: nothing written, %s", why,
                           " before any blob reached the sink" if self.index == 0 else "",
                           f"'{self.filename}' left as it was" if existed
                           else f"no file at '{self.filename}'")
            return
        target = self.filename if complete else partial_path(self.filename)
        try:
            h5 = self._open()
            self.flush()
            self._write_attrs(h5)
            h5.close()
            self.h5file = None
            with open(self.tmp_filename, "rb+") as fh:
                os.fsync(fh.fileno())
            if complete and not self.overwrite and os.path.lexists(self.filename):
                target = partial_path(self.filename)
                os.replace(self.tmp_filename, target)
                self.written_to = target
                raise HDF5WriteError(f"'{self.filename}' appeared while writing it and "
                                     f"overwrite is off; this run's file is kept as '{target}'")
            os.replace(self.tmp_filename, target)
            self.written_to = target
            self._closed = True
        except BaseException:
            self._closed = True
            self._discard()
            raise
        if complete:
            self.print(f"HDF5 file written to: {self.filename}")
        else:
            self.log.error("the run %s: PARTIAL file with %d blob%s written to '%s'; %s", why,
                           self.index, "" if self.index == 1 else "s", target,
                           f"'{self.filename}' left as it was" if existed
                           else f"no file at '{self.filename}'")

    def _discard(self) -> None:
        if self.h5file is not None:
            try:
                self.h5file.close()
            except Exception as err:  # noqa: BLE001 - already failing; the temp file goes anyway
                self.log.debug("closing the temporary file failed too: %s", err)
            self.h5file = None
        if os.path.exists(self.tmp_filename):
            os.remove(self.tmp_filename)
