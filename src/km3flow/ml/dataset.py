"""Batches of training samples read chunk-wise from km3flow/KM3Pipe HDF5 training files.

Samples are the rows of an image EArray (``/x``, one row per event, joined to the label
table ``/y`` by ``group_id`` through ``/x_indices``). Several inputs (the list file's
``[input xy]``, ``[input yz]``) are joined by event: the k-th file of every input must hold
the same events, and a batch carries one image array per input plus the labels.

Reading is done in *blocks* of several batches with one contiguous slice read per input
(HDF5 decompresses whole chunks, so reading row by row would be slow). Shuffling permutes
the order of the blocks and the samples inside each block, seeded by (seed, epoch): the same
seed gives the same batches, which is what makes resumed trainings identical.

Point-cloud files (:mod:`km3flow.ml.points`: one row per hit, ``/x_indices`` per event)
give variable-length samples: a batch holds them zero-padded to its largest event,
``(batch, max hits, columns)``, with a boolean mask ``(batch, max hits)`` in
``Batch.mask`` (True for real hits). The padding is one fancy-index assignment per batch,
computed from the index table, with no Python loop over hits or events.

This module needs numpy and PyTables only; :mod:`km3flow.ml.torchdata` wraps it for
``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import FormatError


def _tables() -> Any:
    import tables

    return tables


class TrainingFile:
    """One training file: image rows at ``x_loc`` and their labels at ``y_loc``.

    Parameters
    ----------
    path
        HDF5 file in the KM3Pipe layout (see :mod:`km3flow.ml.h5layout`).
    x_loc, y_loc
        Image EArray and label table locations (``/x``, ``/y``).
    need_labels
        When False a missing label table is allowed (prediction on unlabelled data).

    Raises
    ------
    FormatError
        Missing file or node, empty file, an event without a label row.
    """

    def __init__(self, path: str | os.PathLike, x_loc: str = "/x", y_loc: str = "/y",
                 need_labels: bool = True) -> None:
        tb = _tables()
        self.path = Path(path)
        self.x_loc = x_loc
        self.y_loc = y_loc
        if not self.path.is_file():
            raise FormatError("file does not exist", path=path)
        try:
            h5 = tb.open_file(str(self.path), mode="r")
        except Exception as err:  # PyTables raises HDF5ExtError/OSError for non-HDF5 files
            raise FormatError(f"not an HDF5 file ({err})", path=path) from err
        with h5:
            if x_loc not in h5:
                raise FormatError(f"no image array at {x_loc}", path=path)
            x = h5.get_node(x_loc)
            self.n_rows = int(x.shape[0])
            self.sample_shape = tuple(int(s) for s in x.shape[1:])
            self.dtype = x.dtype
            self.kind = "image"
            self.columns: list[str] | None = None
            self.hit_index: np.ndarray | None = None
            if self.n_rows == 0:
                raise FormatError(f"the image array {x_loc} is empty (no events)", path=path)
            index_loc = x_loc + "_indices"
            groups = None
            if index_loc in h5 and _is_points(x, h5.get_node(index_loc)):
                groups = self._read_points(x, h5.get_node(index_loc).read())
            elif index_loc in h5:
                idx = h5.get_node(index_loc).read()
                n_items = idx["n_items"]
                if np.any(n_items > 1):
                    g = int(np.flatnonzero(n_items > 1)[0])
                    raise FormatError(f"{index_loc}: event {g} has {int(n_items[g])} image "
                                      "rows, expected one image per event", path=path, row=g)
                has = np.flatnonzero(n_items == 1)
                if not np.array_equal(idx["index"][has], np.arange(has.size)):
                    raise FormatError(f"{index_loc}: image rows are not in event order",
                                      path=path)
                groups = has.astype(np.int64)
                if groups.size != self.n_rows:
                    raise FormatError(f"{index_loc} names {groups.size} image rows but "
                                      f"{x_loc} has {self.n_rows}", path=path)
            self.labels: np.ndarray | None = None
            if y_loc in h5:
                labels = h5.get_node(y_loc).read()
                self.labels = self._join_labels(labels, groups)
            elif need_labels:
                raise FormatError(f"no label table at {y_loc}", path=path)
            self.group_ids = groups if groups is not None else np.arange(self.n_rows)

    def _read_points(self, x: Any, idx: np.ndarray) -> np.ndarray:
        from .points import point_columns

        self.kind = "points"
        n_hits = self.n_rows
        if x.ndim != 2:
            raise FormatError(f"point array {self.x_loc} has shape {x.shape}, expected "
                              "(hits, columns)", path=self.path)
        starts = idx["index"].astype(np.int64)
        counts = idx["n_items"].astype(np.int64)
        expected = np.concatenate([[0], np.cumsum(counts)[:-1]]) + (starts[0] if len(starts)
                                                                    else 0)
        bad = np.flatnonzero(starts != expected)
        if bad.size:
            raise FormatError(f"{self.x_loc}_indices: the hits of event {int(bad[0])} do not "
                              f"follow those of the event before (index {int(starts[bad[0]])}, "
                              f"expected {int(expected[bad[0]])})", path=self.path,
                              row=int(bad[0]))
        if len(starts) and starts[-1] + counts[-1] > n_hits:
            raise FormatError(f"{self.x_loc}_indices names rows up to "
                              f"{int(starts[-1] + counts[-1])} but {self.x_loc} has "
                              f"{n_hits}", path=self.path)
        self.hit_index = np.stack([starts, counts], axis=1)
        self.columns = point_columns(x) or [f"f{i}" for i in range(x.shape[1])]
        self.n_rows = len(idx)
        self.n_hits = n_hits
        return np.arange(len(idx), dtype=np.int64)

    def _join_labels(self, labels: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        if labels.dtype.names is None:
            raise FormatError(f"{self.y_loc} is not a table with named columns", path=self.path)
        if groups is None or "group_id" not in labels.dtype.names:
            if len(labels) != self.n_rows:
                raise FormatError(f"{self.y_loc} has {len(labels)} rows but {self.x_loc} "
                                  f"has {self.n_rows}", path=self.path)
            return labels
        gid = labels["group_id"]
        if len(gid) == len(groups) and np.array_equal(gid, groups):
            return labels
        order = np.argsort(gid, kind="stable")
        pos = np.searchsorted(gid, groups, sorter=order)
        pos = np.minimum(pos, len(gid) - 1)
        rows = order[pos]
        bad = np.flatnonzero(gid[rows] != groups)
        if bad.size:
            raise FormatError(f"event (group_id {int(groups[bad[0]])}) has an image but no "
                              f"label row in {self.y_loc}", path=self.path)
        return labels[rows]

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        if self.kind == "points":
            return (f"TrainingFile('{self.path}', {self.n_rows} point clouds of columns "
                    f"{self.columns})")
        return f"TrainingFile('{self.path}', {self.n_rows} samples of {self.sample_shape})"


def _is_points(x: Any, index: Any) -> bool:
    """A point array: OrcaSong's ``indexed`` attribute, our title, or events of > 1 rows
    (an image file has one row per event, or none for an event without image)."""
    from .points import TITLE_PREFIX

    if x.ndim != 2:
        return False
    if bool(getattr(x._v_attrs, "indexed", False)):
        return True
    if str(getattr(x, "title", "")).startswith(TITLE_PREFIX):
        return True
    return bool(np.any(index.col("n_items") > 1))


def pad_points(rows: np.ndarray, starts: np.ndarray, counts: np.ndarray,
               min_length: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad variable-length events into ``(n, max count, columns)`` plus a mask.

    Parameters
    ----------
    rows
        ``(hits, columns)`` rows holding the events.
    starts, counts
        First row and number of rows of each event in ``rows``.
    min_length
        The padded length is at least this (an all-empty batch still has one column).

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.arange(10.0).reshape(5, 2)
    >>> x, mask = pad_points(rows, np.array([3, 0]), np.array([2, 1]))
    >>> x.tolist(), mask.tolist()
    ([[[6.0, 7.0], [8.0, 9.0]], [[0.0, 1.0], [0.0, 0.0]]], [[True, True], [True, False]])
    """
    n = len(counts)
    length = max(int(counts.max()) if n else 0, min_length)
    out = np.zeros((n, length) + rows.shape[1:], dtype=rows.dtype)
    mask = np.zeros((n, length), dtype=bool)
    counts = np.asarray(counts, dtype=np.int64)
    first = np.cumsum(counts) - counts       # where each event starts in the packed hits
    packed = np.arange(int(first[-1] + counts[-1]) if n else 0)
    # one repeat each: source row and flat destination slot of every hit
    src = np.repeat(np.asarray(starts, dtype=np.int64) - first, counts) + packed
    dst = np.repeat(np.arange(n) * length - first, counts) + packed
    out.reshape((n * length,) + rows.shape[1:])[dst] = rows[src]
    mask.reshape(-1)[dst] = True
    return out, mask


@dataclass
class Batch:
    """One batch: images per input, labels, and where they came from (for error messages)."""

    # x and mask hold numpy arrays; torch tensors once through km3flow.ml.torchdata's loader
    x: dict[str, Any]
    y: np.ndarray | None
    files: dict[str, str]
    rows: np.ndarray
    file_index: int = 0
    mask: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def where(self) -> str:
        """A human readable origin, e.g. ``train_1.h5 rows 64..95``."""
        files = ", ".join(sorted(set(self.files.values())))
        return f"{files} rows {int(self.rows.min())}..{int(self.rows.max())}"


class InputSet:
    """The files of all inputs for one purpose (training or validation), joined by event.

    Parameters
    ----------
    files
        ``{input_name: [path, …]}``; every input must list the same number of files and the
        k-th files of all inputs must hold the same events (checked on ``group_id``).
    """

    def __init__(self, files: Mapping[str, Sequence[str | os.PathLike]], x_loc: str = "/x",
                 y_loc: str = "/y", need_labels: bool = True) -> None:
        if not files:
            raise FormatError("no inputs given")
        self.names = list(files)
        counts = {name: len(paths) for name, paths in files.items()}
        if len(set(counts.values())) != 1:
            raise FormatError(f"inputs list different numbers of files: {counts}")
        self.files: list[dict[str, TrainingFile]] = []
        for k in range(next(iter(counts.values()))):
            row = {name: TrainingFile(paths[k], x_loc, y_loc, need_labels)
                   for name, paths in files.items()}
            first = row[self.names[0]]
            for name, tf in row.items():
                if len(tf) != len(first) or not np.array_equal(tf.group_ids, first.group_ids):
                    raise FormatError(
                        f"file of input '{name}' holds other events ({len(tf)}) than "
                        f"{first.path.name} of input '{self.names[0]}' ({len(first)})",
                        path=tf.path)
            self.files.append(row)
        for name in self.names:
            shapes = {tuple(f[name].sample_shape) for f in self.files}
            if len(shapes) > 1:
                odd = next(f[name] for f in self.files
                           if f[name].sample_shape != self.files[0][name].sample_shape)
                raise FormatError(f"input '{name}': sample shape {odd.sample_shape} differs "
                                  f"from {self.files[0][name].sample_shape} of "
                                  f"{self.files[0][name].path.name}", path=odd.path)

    @property
    def n_samples(self) -> int:
        """Events in all files of the set."""
        return sum(len(f[self.names[0]]) for f in self.files)

    @property
    def sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """Sample shape per input (``(n_columns,)`` for point clouds)."""
        return {n: self.files[0][n].sample_shape for n in self.names}

    @property
    def columns(self) -> dict[str, list[str] | None]:
        """Point columns per input (None for images)."""
        return {n: self.files[0][n].columns for n in self.names}

    def label_files(self) -> list[TrainingFile]:
        """The files whose labels are used (those of the first input)."""
        return [f[self.names[0]] for f in self.files]


class BatchReader:
    """Iterate over batches of an :class:`InputSet`, reading whole blocks per file slice.

    Parameters
    ----------
    inputs
        The files.
    batch_size
        Samples per batch (the last batch of a block may be smaller).
    shuffle
        Permute block order and samples inside each block, seeded by (seed, epoch).
    block_batches
        Batches per contiguous read.
    seed
        Base seed.
    rank, world_size
        Shard the blocks between distributed processes (``blocks[rank::world_size]``).
    """

    def __init__(self, inputs: InputSet, batch_size: int, shuffle: bool = False,
                 block_batches: int = 8, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.inputs = inputs
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.block_rows = int(batch_size) * max(1, int(block_batches))
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._open: dict[Path, Any] = {}
        self._buffers: dict[str, np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffling the next iteration uses."""
        self.epoch = int(epoch)

    def blocks(self, rank: int | None = None, worker: int = 0,
               n_workers: int = 1) -> list[tuple[int, int, int]]:
        """(file number, start, stop) of the blocks this rank/worker reads, in order."""
        rank = self.rank if rank is None else rank
        blocks = []
        for k, f in enumerate(self.inputs.files):
            n = len(f[self.inputs.names[0]])
            blocks += [(k, s, min(s + self.block_rows, n)) for s in range(0, n, self.block_rows)]
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        return blocks[rank::self.world_size][worker::n_workers]

    def _batches_in(self, blocks: list[tuple[int, int, int]]) -> int:
        return sum(-(-(stop - start) // self.batch_size) for _, start, stop in blocks)

    def __len__(self) -> int:
        """Batches per epoch; equal on every rank (the minimum over ranks) for DDP."""
        return min(self._batches_in(self.blocks(rank=r)) for r in range(self.world_size))

    def __iter__(self) -> Iterator[Batch]:
        return self.iterate()

    def iterate(self, worker: int = 0, n_workers: int = 1) -> Iterator[Batch]:
        """Yield the batches of the current epoch (of one data-loader worker)."""
        try:
            for k, start, stop in self.blocks(worker=worker, n_workers=n_workers):
                yield from self._read_block(k, start, stop)
        finally:
            self.close()

    def _node(self, path: Path, loc: str) -> Any:
        h5 = self._open.get(path)
        if h5 is None:
            h5 = self._open[path] = _tables().open_file(str(path), mode="r")
        return h5.get_node(loc)

    def _read_block(self, k: int, start: int, stop: int) -> Iterator[Batch]:
        files = self.inputs.files[k]
        n = stop - start
        xs = {}
        points = {}
        for name, tf in files.items():
            node = self._node(tf.path, tf.x_loc)
            if tf.kind == "points":
                assert tf.hit_index is not None  # read when a points file is opened
                # the hits of the whole block in one slice read; events index into it
                starts, counts = tf.hit_index[start:stop, 0], tf.hit_index[start:stop, 1]
                first = int(starts[0])
                rows = node.read(first, int(starts[-1] + counts[-1]))
                points[name] = (rows, starts - first, counts)
                continue
            # One reusable block buffer per input: a fresh 100 MB array per block costs
            # page faults that are as slow as the read itself.
            buf = self._buffers.get(name)
            if buf is None or buf.shape[1:] != node.shape[1:] or buf.dtype != node.dtype \
                    or len(buf) < self.block_rows:
                buf = self._buffers[name] = np.empty((self.block_rows,) + node.shape[1:],
                                                     dtype=node.dtype)
            node.read(start, stop, out=buf[:n])
            xs[name] = buf[:n]
        label_file = files[self.inputs.names[0]]
        ys = None if label_file.labels is None else label_file.labels[start:stop]
        order = np.arange(n)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, k, start]).permutation(n)
        names = {name: str(tf.path) for name, tf in files.items()}
        for s in range(0, n, self.batch_size):
            sel = order[s:s + self.batch_size]
            # fancy indexing copies, so the batch stays valid after the buffer is reused
            x = {name: a[sel] for name, a in xs.items()}
            masks = {}
            for name, (rows, starts, counts) in points.items():
                x[name], masks[name] = pad_points(rows, starts[sel], counts[sel])
            yield Batch({name: x[name] for name in files}, None if ys is None else ys[sel],
                        names, start + sel, k, masks)

    def close(self) -> None:
        """Close the files opened for reading."""
        for h5 in self._open.values():
            h5.close()
        self._open.clear()
        self._buffers.clear()

    def __getstate__(self) -> dict[str, Any]:
        # Open HDF5 handles cannot cross into data-loader worker processes.
        state = self.__dict__.copy()
        state["_open"] = {}
        state["_buffers"] = {}
        return state
