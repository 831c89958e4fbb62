"""FilePump: one pump over many files of any format km3flow reads, one after the other."""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from typing import Any

from ..core import Blob, Pump
from ..core.config import Parameter
from .detect import detect, reader_class


class FilePump(Pump):
    """Pump the blobs of several files in order, picking each file's reader from its content.

    Parameters
    ----------
    filenames
        The input files (a single path is accepted too, as ``filename``).
    reader_params
        Extra parameters passed to every file's pump (e.g. ``{"step_size": 100}``).
    conform : bool, optional
        Read HDF5 inputs with ``conform=True`` (:mod:`km3flow.io.hdf5.conform`): their
        EventInfo, Hits, McTracks … get the schema's columns and dtypes, as every other
        reader gives them, so that they can be written together. By default on when the
        inputs are not all HDF5 files; HDF5 inputs alone are read as written (extra
        columns kept; files of different layouts then need ``conform=True``). For a
        parallel drain pass it explicitly: each worker sees only some of the files.
    strict : bool, optional
        Passed on to the readers that check their input line by line (those declaring a
        ``strict`` parameter, e.g. :class:`~km3flow.io.evt.EvtPump`); ``False`` makes them
        drop malformed lines with one warning per file instead of stopping. Readers of
        binary formats have no lenient mode and ignore it.
    usr : bool, optional
        Passed on to the readers that declare a ``usr`` parameter (the offline ROOT
        reader): ``False`` leaves out the named usr values (``EventUsr``, ``TracksUsr``,
        ``McTracksUsr``), e.g. to join files whose usr names differ.

    Each blob gets ``blob["Filename"]``. ``len()`` and random access open every file once to
    learn its length; plain iteration opens one file at a time.
    """

    # For parallel draining: the parameters that may hold the input files.
    parallel_input = ("filenames", "filename")

    filenames = Parameter((list, tuple, str, os.PathLike), default=None,
                          help="the input files, read in this order")
    filename = Parameter((str, os.PathLike), default=None, help="a single input file")
    reader_params = Parameter(dict, default=None, help="extra parameters of every file's pump")
    conform = Parameter(bool, default=None,
                        help="HDF5 inputs get the schema's tables (default: when mixed)")
    strict = Parameter(bool, default=None,
                       help="False: readers with a lenient mode drop malformed lines, warning")
    usr = Parameter(bool, default=None, help="False: leave out offline files' usr tables")

    def configure(self) -> None:
        files = self.filenames if self.filenames is not None else self.filename
        if files is None:
            raise self.parameter_error("filenames", "give the input files ('filenames', or "
                                       "'filename' for one)")
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        self.filenames = [os.fspath(f) for f in files]
        if not self.filenames:
            raise self.parameter_error("filenames", "needs at least one file")
        self.reader_params = dict(self.reader_params or {})
        # Detected now, so that a bad file fails before the first blob.
        self.formats = [detect(f) for f in self.filenames]
        self.classes = [reader_class(spec, f) for spec, f in zip(self.formats, self.filenames)]
        if self.conform is None:
            self.conform = not all(getattr(c, "conformable", False) for c in self.classes)
        self._open: tuple[int, Pump] | None = None
        self._offsets: list[int] | None = None
        # (file, blobs served from it, its length or None) for input_progress()
        self._at: list[Any] = [0, 0, None]
        self._sizes: list[int] | None = None
        self.expose(self.input_progress, "input_progress")

    def _pump(self, k: int) -> Pump:
        if self._open is not None and self._open[0] == k:
            return self._open[1]
        self.close()
        params = dict(self.reader_params)
        if self.conform and getattr(self.classes[k], "conformable", False):
            params.setdefault("conform", True)
        if self.strict is not None and "strict" in getattr(self.classes[k],
                                                           "declared_parameters", {}):
            params.setdefault("strict", bool(self.strict))
        if self.usr is not None and "usr" in getattr(self.classes[k], "declared_parameters", {}):
            params.setdefault("usr", bool(self.usr))
        pump = self.classes[k](**{self.formats[k].input: self.filenames[k]}, **params)
        self._open = (k, pump)
        return pump

    def _lengths(self) -> list[int]:
        if self._offsets is None:
            offsets = [0]
            for k in range(len(self.filenames)):
                offsets.append(offsets[-1] + len(self._pump(k)))
            self._offsets = offsets
        return self._offsets

    def __len__(self) -> int:
        return self._lengths()[-1]

    def get_blob(self, index: int) -> Blob:
        offsets = self._lengths()
        k = bisect.bisect_right(offsets, index) - 1
        blob = self._pump(k).get_blob(index - offsets[k])
        blob["Filename"] = self.filenames[k]
        return blob

    def blob_generator(self) -> Iterator[Blob]:
        at = self._at
        for k, filename in enumerate(self.filenames):
            at[:] = [k, 0, None]
            for blob in self._pump(k):
                blob["Filename"] = filename
                at[1] += 1
                yield blob
        at[:] = [len(self.filenames), 0, None]

    def input_progress(self) -> tuple[int, int, int, int]:
        """Files done, files, bytes done and total bytes of the inputs, for a progress bar.

        The bytes of the open file count in proportion to its blobs served (its pump's
        length); iteration only (not random access).
        """
        from ..core.progress import file_sizes

        if self._sizes is None:
            self._sizes = file_sizes(self.filenames)
        k, served, length = self._at
        done = sum(self._sizes[:k])
        if k < len(self.filenames) and served:
            if length is None and self._open is not None and self._open[0] == k:
                try:
                    length = self._at[2] = len(self._open[1])
                except Exception:  # noqa: BLE001 - a pump without a length: whole files only
                    length = self._at[2] = 0
            if length:
                done += int(self._sizes[k] * min(served / length, 1.0))
        return k, len(self.filenames), done, sum(self._sizes)

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None
