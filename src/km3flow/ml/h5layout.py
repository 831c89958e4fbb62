"""Training files in the KM3Pipe HDF5 layout, read and written chunk-wise with PyTables.

A training file holds, per event (``group_id``), one image row in an EArray at ``/x``
(concatenated along axis 0, with the sibling index table ``/x_indices``), a label table at
``/y`` with a ``group_id`` column, and ``/group_info`` — exactly what KM3Pipe's HDF5Sink
writes for an NDArray and a Table per blob, so files from either writer can be read.

:class:`TrainingFileWriter` appends many events at a time (the binning CLI and
``Organizer.predict`` use it); it writes to a temporary name and renames on success.
:class:`EventSource` reads hits and MC tracks of a range of events from a KM3Pipe file
(split ``/hits`` group with ``_indices``) for binning.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import FormatError

FORMAT_VERSION = b"5.1"
INDEX_DTYPE = np.dtype([("index", "<i8"), ("n_items", "<i8")])
GROUP_INFO_DTYPE = np.dtype([("group_id", "<i8"), ("blob_length", "<i8")])


def _tables() -> Any:
    import tables  # PyTables is a core dependency, imported when files are touched

    return tables


def _filters(complib: str = "zlib", complevel: int = 5, fletcher32: bool = True) -> Any:
    tb = _tables()
    if complib == "none":
        complib, complevel = "zlib", 0
    # Byte shuffling makes sparse images (mostly zeros) compress worse and decompress
    # 2x slower with blosc; zlib keeps KM3Pipe's shuffle.
    shuffle = complevel > 0 and not complib.startswith("blosc")
    return tb.Filters(complevel=complevel, complib=complib, shuffle=shuffle,
                      fletcher32=fletcher32)


def _split_loc(h5loc: str) -> tuple[str, str]:
    parent, _, name = h5loc.rpartition("/")
    return parent or "/", name


class TrainingFileWriter:
    """Append images and label tables event-chunk by event-chunk to a KM3Pipe-layout file.

    Parameters
    ----------
    path
        Output file; written as ``path + ".part"`` and renamed in :meth:`close`.
    complib, complevel
        Compression (``zlib``/5 as KM3Pipe's default; ``blosc:lz4`` reads ~5x faster,
        ``none`` stores uncompressed).
    chunk_rows
        Rows per HDF5 chunk of the image arrays (default: about 256 KiB per compressed
        chunk, 1 MiB uncompressed).
    fletcher32
        Checksum every chunk (KM3Pipe's default). On uncompressed data it costs more than
        the read itself; on compressed chunks it is cheap.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = np.zeros((4, 31, 20), dtype=np.uint8)        # 4 events: 31 x 20 images
    >>> labels = np.zeros(4, dtype=[("dir_x", "f4"), ("dir_y", "f4"), ("dir_z", "f4")])
    >>> with TrainingFileWriter("train.h5") as w:
    ...     w.append(images={"/x": imgs}, tables={"/y": labels})
    >>> w.n_groups
    4
    """

    def __init__(self, path: str | os.PathLike, complib: str = "zlib", complevel: int = 5,
                 chunk_rows: int | None = None, attrs: Mapping[str, Any] | None = None,
                 fletcher32: bool = True) -> None:
        tb = _tables()
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.filters = _filters(complib, complevel, fletcher32)
        self.chunk_rows = chunk_rows
        self.attrs = dict(attrs or {})
        self.n_groups = 0
        self._file = tb.open_file(str(self.tmp), mode="w", title="KM3NeT")
        self._arrays: dict[str, Any] = {}
        self._tables: dict[str, Any] = {}
        self._group_info = self._file.create_table(
            "/", "group_info", description=GROUP_INFO_DTYPE, title="Group Info",
            filters=self.filters, expectedrows=10000,
        )
        self._group_info.attrs.datatype = "Group Info"

    def append(self, images: Mapping[str, np.ndarray] | None = None,
               tables: Mapping[str, np.ndarray] | None = None) -> None:
        """Append ``n`` events: image arrays ``(n, …)`` and structured label arrays ``(n,)``.

        All arrays must have the same first dimension (one image and one row per event).
        """
        images = dict(images or {})
        tables = dict(tables or {})
        lengths = {len(a) for a in list(images.values()) + list(tables.values())}
        if len(lengths) != 1:
            raise ValueError(f"all arrays must hold the same number of events, got {lengths}")
        n = lengths.pop()
        gids = np.arange(self.n_groups, self.n_groups + n, dtype=np.int64)
        for h5loc, arr in images.items():
            self._append_image(h5loc, np.ascontiguousarray(arr), gids)
        for h5loc, arr in tables.items():
            self._append_table(h5loc, np.asarray(arr), gids)
        info = np.empty(n, dtype=GROUP_INFO_DTYPE)
        info["group_id"] = gids
        info["blob_length"] = len(images) + len(tables)
        self._group_info.append(info)
        self.n_groups += n

    def append_points(self, h5loc: str, points: np.ndarray, counts: np.ndarray,
                      columns: list[str], tables: Mapping[str, np.ndarray] | None = None
                      ) -> None:
        """Append ``len(counts)`` events of a point cloud (``counts[i]`` rows each).

        ``points`` are the rows of all events, ``(counts.sum(), len(columns))``; the
        column names go to the ``hit_info_i`` attributes and the title of the array.
        """
        from .points import points_title

        tb = _tables()
        counts = np.asarray(counts, dtype=np.int64)
        tables = dict(tables or {})
        if any(len(t) != len(counts) for t in tables.values()):
            raise ValueError("every table must hold one row per event")
        if len(points) != int(counts.sum()) or points.ndim != 2 \
                or points.shape[1] != len(columns):
            raise ValueError(f"points of shape {points.shape} do not match {counts.sum()} "
                             f"hits of {len(columns)} columns")
        if h5loc not in self._arrays:
            parent, name = _split_loc(h5loc)
            row_bytes = points.dtype.itemsize * len(columns)
            chunk_rows = self.chunk_rows or max(1, (1 << 18) // row_bytes)
            earr = self._file.create_earray(
                parent, name, atom=tb.Atom.from_dtype(points.dtype), shape=(0, len(columns)),
                title=points_title(columns), filters=self.filters,
                chunkshape=(chunk_rows, len(columns)), createparents=True)
            for i, c in enumerate(columns):
                earr._v_attrs[f"hit_info_{i}"] = c
            earr._v_attrs["indexed"] = True
            idx = self._file.create_table(parent, name + "_indices", description=INDEX_DTYPE,
                                          title="Indices", filters=self.filters)
            self._arrays[h5loc] = (earr, idx)
        earr, idx = self._arrays[h5loc]
        n = len(counts)
        gids = np.arange(self.n_groups, self.n_groups + n, dtype=np.int64)
        rows = np.empty(n, dtype=INDEX_DTYPE)
        rows["index"] = earr.nrows + np.concatenate([[0], np.cumsum(counts)[:-1]])
        rows["n_items"] = counts
        earr.append(np.ascontiguousarray(points))
        idx.append(rows)
        for loc, arr in tables.items():
            self._append_table(loc, np.asarray(arr), gids)
        info = np.empty(n, dtype=GROUP_INFO_DTYPE)
        info["group_id"] = gids
        info["blob_length"] = 1 + len(tables)
        self._group_info.append(info)
        self.n_groups += n

    def _append_image(self, h5loc: str, arr: np.ndarray, gids: np.ndarray) -> None:
        tb = _tables()
        if h5loc not in self._arrays:
            parent, name = _split_loc(h5loc)
            row_bytes = max(1, arr[0].nbytes if len(arr) else 1)
            # compressed: small chunks stay in the CPU cache while decompressed;
            # uncompressed: bigger chunks mean fewer HDF5 calls
            target = 1 << 18 if self.filters.complevel else 1 << 20
            chunk_rows = self.chunk_rows or max(1, target // row_bytes)
            earr = self._file.create_earray(
                parent, name, atom=tb.Atom.from_dtype(arr.dtype), shape=(0,) + arr.shape[1:],
                title="Image", filters=self.filters, chunkshape=(chunk_rows,) + arr.shape[1:],
                createparents=True,
            )
            idx = self._file.create_table(parent, name + "_indices", description=INDEX_DTYPE,
                                          title="Indices", filters=self.filters)
            self._arrays[h5loc] = (earr, idx)
        earr, idx = self._arrays[h5loc]
        if arr.shape[1:] != earr.shape[1:]:
            raise ValueError(f"{h5loc}: image shape {arr.shape[1:]} differs from the "
                             f"earlier {earr.shape[1:]}")
        rows = np.empty(len(gids), dtype=INDEX_DTYPE)
        rows["index"] = earr.nrows + np.arange(len(gids))
        rows["n_items"] = 1
        earr.append(arr)
        idx.append(rows)

    def _append_table(self, h5loc: str, arr: np.ndarray, gids: np.ndarray) -> None:
        names = [n for n in (arr.dtype.names or ()) if n != "group_id"]
        dtype = np.dtype([(n, arr.dtype[n]) for n in names] + [("group_id", "<i8")])
        out = np.empty(len(arr), dtype=dtype)
        for n in names:
            out[n] = arr[n]
        out["group_id"] = gids
        if h5loc not in self._tables:
            parent, name = _split_loc(h5loc)
            tab = self._file.create_table(parent, name, description=dtype, title="Labels",
                                          filters=self.filters, createparents=True,
                                          expectedrows=10000)
            tab.attrs.datatype = "Labels"
            self._tables[h5loc] = tab
        self._tables[h5loc].append(out)

    def close(self) -> Path:
        """Write the file attributes, close and rename the file into place."""
        root = self._file.root._v_attrs
        root.format_version = FORMAT_VERSION
        root.km3flow = b"0.1.0"
        root.kid = str(uuid.uuid4()).encode()
        for key, value in self.attrs.items():
            setattr(root, key, value)
        self._file.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file."""
        if self._file.isopen:
            self._file.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> TrainingFileWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class EventSource:
    """Chunked reader of hits, MC tracks and event info from a KM3Pipe-layout HDF5 file.

    Parameters
    ----------
    path
        The file (e.g. km3net-testdata ``hdf5/atmospheric_muons_sample.h5``).
    hits_loc
        Split hits group with ``_indices`` (default ``/hits``).
    """

    def __init__(self, path: str | os.PathLike, hits_loc: str = "/hits",
                 tracks_loc: str = "/mc_tracks", info_loc: str = "/event_info") -> None:
        tb = _tables()
        self.path = Path(path)
        self._file = tb.open_file(str(path), mode="r")
        try:
            self.hits = self._file.get_node(hits_loc)
            self.index = self._file.get_node(hits_loc + "/_indices").read()
        except tb.NoSuchNodeError as err:
            self._file.close()
            raise FormatError(f"no split hits group {hits_loc} with _indices", path=path) from err
        self.columns = [n._v_name for n in self.hits._f_iter_nodes("Leaf")
                        if n._v_name != "_indices"]
        self.tracks = (self._file.get_node(tracks_loc).read()
                       if tracks_loc in self._file else None)
        self.info = self._file.get_node(info_loc).read() if info_loc in self._file else None

    def __len__(self) -> int:
        return len(self.index)

    def hit_columns(self, start: int, stop: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Hit columns of events ``start:stop`` and their offsets (length n+1)."""
        idx = self.index[start:stop]
        if len(idx) == 0:
            return {c: np.empty(0) for c in self.columns}, np.zeros(1, np.int64)
        first = int(idx["index"][0])
        last = int(idx["index"][-1] + idx["n_items"][-1])
        offsets = np.append(idx["index"], last) - first
        if np.any(np.diff(offsets) < 0):
            raise FormatError("hits _indices are not increasing", path=self.path, row=start)
        cols = {c: getattr(self.hits, c)[first:last] for c in self.columns}
        if any(len(v) != last - first for v in cols.values()):
            raise FormatError(f"hit columns end before row {last} named by _indices",
                              path=self.path, row=start)
        return cols, offsets

    def close(self) -> None:
        """Close the HDF5 file."""
        self._file.close()

    def __enter__(self) -> EventSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
