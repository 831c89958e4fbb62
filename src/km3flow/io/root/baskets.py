"""Zero-copy record views of unsplit branches: NumPy records laid over the decompressed basket
bytes.

When a branch stores each entry as one streamed object holding a packed array of fixed-size
records (e.g. Jpp's ``std::vector<JDAQSnapshotHit>`` in ``KM3NET_EVENT``), the bytes of a
basket, once decompressed, *are* the records, only interrupted by a small per-entry header
(ROOT byte count, class version, vector size).  ``np.frombuffer`` with an offset then gives
each entry as a view, without copying: aanet's ``numpyfi`` over the file's own bytes.

The byte order and layout must be given where the class has a custom streamer (the Jpp DAQ
hit classes list no members in the streamer info, and their ``time`` is stored
little-endian inside otherwise big-endian records); :func:`~km3flow.io.root.numpyfi.numpyfi`
passes ``dtype``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...core.module import resolve_index
from ...exceptions import FormatError, Km3flowError
from ._file import wrap_read_error


class BasketRecords:
    """Entries of an unsplit branch as zero-copy record views of its decompressed baskets.

    ``br[i]`` is a ``np.recarray`` viewing the bytes of entry ``i`` in its basket (no copy);
    ``br.counts`` are the records per entry; ``br.records`` concatenates all entries (this
    one needs a copy, as the entries are separated by their headers); ``br.offsets`` index it.
    """

    def __init__(self, baskets: list[tuple[int, np.ndarray, np.ndarray]], dtype: np.dtype,
                 header_bytes: int, path: str, branch: str, entry_start: int,
                 entry_stop: int) -> None:
        self.dtype = np.dtype(dtype)
        self.header_bytes = header_bytes
        self._path, self._branch = path, branch
        self._start, self._stop = entry_start, entry_stop
        # per entry (global index): basket number and byte offset of its first record
        firsts, datas, starts, counts = [], [], [], []
        for number, (first_entry, data, byte_offsets) in enumerate(baskets):
            sizes = np.diff(byte_offsets) - header_bytes
            bad = np.flatnonzero((sizes < 0) | (sizes % self.dtype.itemsize != 0))
            if len(bad):
                entry = first_entry + int(bad[0])
                raise FormatError(
                    f"branch '{branch}' entry {entry}: {int(sizes[bad[0]])} bytes after the "
                    f"{header_bytes}-byte header is not a whole number of "
                    f"{self.dtype.itemsize}-byte records",
                    path=path,
                )
            firsts.append(np.full(len(sizes), number))
            starts.append(byte_offsets[:-1] + header_bytes)
            counts.append(sizes // self.dtype.itemsize)
            datas.append(data)
        self._data = datas
        self._first_entry = baskets[0][0] if baskets else entry_start
        self._basket_of = np.concatenate(firsts) if firsts else np.zeros(0, int)
        self._starts = np.concatenate(starts) if starts else np.zeros(0, int)
        all_counts = np.concatenate(counts) if counts else np.zeros(0, int)
        lo, hi = entry_start - self._first_entry, entry_stop - self._first_entry
        self._basket_of = self._basket_of[lo:hi]
        self._starts = self._starts[lo:hi]
        self.counts = all_counts[lo:hi].astype(np.int64)
        self._check_vector_sizes()

    def _check_vector_sizes(self) -> None:
        """A 10-byte header ends with the vector size (big-endian): it must match the bytes."""
        if self.header_bytes != 10 or len(self.counts) == 0:
            return
        for number, data in enumerate(self._data):
            mine = self._basket_of == number
            if not mine.any():
                continue
            pos = self._starts[mine] - 4
            sizes = (data[pos[:, None] + np.arange(4)].astype(np.uint32)
                     * np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.uint32)).sum(axis=1)
            wrong = np.flatnonzero(sizes != self.counts[mine])
            if len(wrong):
                raise FormatError(
                    f"branch '{self._branch}': an entry's header says {int(sizes[wrong[0]])} "
                    f"records, its bytes hold {int(self.counts[mine][wrong[0]])}",
                    path=self._path,
                )

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def buffers(self) -> list[np.ndarray]:
        """The decompressed basket bytes the entries are views of."""
        return list(self._data)

    def __getitem__(self, index: int) -> np.recarray:
        i = resolve_index(index, len(self), self.__class__.__name__)
        data = self._data[self._basket_of[i]]
        view = np.frombuffer(data, dtype=self.dtype, count=int(self.counts[i]),
                             offset=int(self._starts[i]))
        return view.view(np.recarray)

    def __iter__(self) -> Iterator[np.recarray]:
        for i in range(len(self)):
            yield self[i]

    @property
    def offsets(self) -> np.ndarray:
        """Offsets of each entry's records in :attr:`records`."""
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    @property
    def records(self) -> np.recarray:
        """All records of all entries in one array (a copy: the headers are dropped)."""
        parts = []
        for number, data in enumerate(self._data):
            mine = self._basket_of == number
            if not mine.any():
                continue
            nbytes = self.counts[mine] * self.dtype.itemsize
            starts = self._starts[mine]
            # byte index of every record byte of these entries, in entry order
            lengths_cum = np.concatenate([[0], np.cumsum(nbytes)])
            idx = np.arange(lengths_cum[-1]) - np.repeat(lengths_cum[:-1] - starts, nbytes)
            parts.append(data[idx])
        raw = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        return raw.view(self.dtype).view(np.recarray)

    def __repr__(self) -> str:
        return (f"BasketRecords({len(self)} entries, {int(self.counts.sum())} records, "
                f"dtype={self.dtype})")


def read_baskets(branch: Any, path: str, name: str, entry_start: int, entry_stop: int
                 ) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(first entry, decompressed bytes, entry byte offsets) of the baskets covering the range."""
    edges = np.asarray(branch.entry_offsets, dtype=np.int64)
    out = []
    try:
        for number in range(branch.num_baskets):
            lo, hi = int(edges[number]), int(edges[number + 1])
            if hi <= entry_start or lo >= entry_stop:
                continue
            basket = branch.basket(number)
            byte_offsets = basket.byte_offsets
            if byte_offsets is None:
                raise FormatError(f"branch '{name}' stores fixed-size entries, not streamed "
                                  f"objects; read it with uproot directly", path=path)
            out.append((lo, np.asarray(basket.data), np.asarray(byte_offsets, dtype=np.int64)))
    except Km3flowError:
        raise
    except Exception as err:
        raise wrap_read_error(err, path, f"the baskets of '{name}'") from err
    return out
