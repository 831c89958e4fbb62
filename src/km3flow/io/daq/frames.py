"""Frame boundaries of a DAQ byte stream: the first pass that makes random access possible.

A Jpp DAQ stream (a ``.dat`` dump or one ControlHost payload after the other) is a plain
concatenation of self-delimiting frames, each starting with the 8-byte JDAQPreamble
``(length: i32 LE, data_type: i32 LE)`` where ``length`` counts the whole frame. Walking the
preambles costs one small ``struct`` read per frame and touches none of the payload.
"""

from __future__ import annotations

import array
import io
import mmap
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple, Union

import numpy as np

from ...exceptions import FormatError
from .format import DATA_TYPES, PREAMBLE_SIZE, TOP_LEVEL_TYPES

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]

_PREAMBLE = struct.Struct("<ii")
# Smallest legal top-level frame: preamble + header (+ version), well below any real frame;
# larger than 8 so a zero or tiny length can never make a reader loop in place.
_MIN_FRAME = PREAMBLE_SIZE + 20


class FrameRef(NamedTuple):
    """Where one frame lies in a stream: byte offset, total length and data-type code."""

    offset: int
    length: int
    data_type: int


def source_name(source: object) -> str | None:
    """A file name for error messages, or None for in-memory buffers."""
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.fspath(source))
    name = getattr(source, "name", None)
    return os.path.basename(name) if isinstance(name, str) else None


def check_preamble(
    length: int, data_type: int, offset: int, available: int, path: str | None,
    types: frozenset[int] = TOP_LEVEL_TYPES,
) -> None:
    """Raise :class:`FormatError` unless a preamble read at ``offset`` is plausible."""
    if data_type not in types:
        known = ", ".join(f"{c} ({DATA_TYPES[c]})" for c in sorted(types))
        raise FormatError(
            f"expected a DAQ frame preamble with a data type in {known}, got {data_type} "
            "(not a Jpp DAQ stream, or the previous frame's length is wrong)",
            path=path, offset=offset,
        )
    if length < _MIN_FRAME:
        raise FormatError(
            f"expected a frame length >= {_MIN_FRAME} in the preamble, got {length}",
            path=path, offset=offset,
        )
    if length > available:
        raise FormatError(
            f"truncated frame: the preamble announces {length} bytes "
            f"(data type {data_type}) but only {available} remain",
            path=path, offset=offset,
        )


def _truncated(size: int, offset: int, path: str | None) -> FormatError:
    return FormatError(
        f"truncated stream: {size - offset} trailing bytes, expected an "
        f"{PREAMBLE_SIZE}-byte frame preamble",
        path=path, offset=offset,
    )


def _walk(view: memoryview | mmap.mmap, size: int, path: str | None) -> Iterator[FrameRef]:
    offset = 0
    unpack = _PREAMBLE.unpack_from
    while offset < size:
        if size - offset < PREAMBLE_SIZE:
            raise _truncated(size, offset, path)
        length, data_type = unpack(view, offset)
        check_preamble(length, data_type, offset, size - offset, path)
        yield FrameRef(offset, length, data_type)
        offset += length


def iter_frames(source: Source) -> Iterator[FrameRef]:
    """Yield ``(offset, length, data_type)`` for every frame of a DAQ byte stream.

    Parameters
    ----------
    source
        A file name, an open binary file, or a bytes-like object holding the stream
        (e.g. the concatenated payloads of ControlHost messages).

    Yields
    ------
    FrameRef
        ``offset`` and ``length`` in bytes (the length includes the preamble) and the
        data-type code (see :data:`km3flow.io.daq.format.DATA_TYPES`).

    Raises
    ------
    FormatError
        At the first preamble that is truncated, has an unknown data type or a length
        that does not fit the remaining bytes; frames before it have been yielded.

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> [f.length for f in iter_frames(data_path("daq/IO_EVT.dat"))]
    [5724, 1950, 516]
    """
    path = source_name(source)
    if isinstance(source, mmap.mmap):
        # walked in place: an mmap has no fileno() and its read() would copy the file
        yield from _walk(source, len(source), path)
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        yield from _walk(view, len(view), path)
        return
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fobj:
            yield from _iter_file(fobj, path)
        return
    yield from _iter_file(source, path)


def _iter_file(fobj: BinaryIO, path: str | None) -> Iterator[FrameRef]:
    try:
        fileno = fobj.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fileno = None
    if fileno is not None:
        size = os.fstat(fileno).st_size
        if size == 0:
            return
        with mmap.mmap(fileno, 0, access=mmap.ACCESS_READ) as mm:
            yield from _walk(mm, size, path)
        return
    data = fobj.read()
    view = memoryview(data)
    yield from _walk(view, len(view), path)


def index_frames(source: Source) -> np.ndarray:
    """Return the frames of a stream as a structured array ``(offset, length, data_type)``.

    The whole stream is checked (see :func:`iter_frames`); an empty stream gives an empty
    array. The index costs 20 bytes per frame (no Python object per frame is kept), e.g.
    15 MB for a 2 GB file of IO_EVT-sized events.
    """
    offsets, lengths, types = array.array("q"), array.array("q"), array.array("i")
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        # in memory (the pumps' case): the walk without a generator and a FrameRef per frame
        view = source if isinstance(source, mmap.mmap) else memoryview(source).cast("B")
        _walk_into(offsets, lengths, types, view, len(view), source_name(source))
    else:
        for offset, length, data_type in iter_frames(source):
            offsets.append(offset)
            lengths.append(length)
            types.append(data_type)
    out = np.empty(len(offsets), dtype=[("offset", "<i8"), ("length", "<i8"),
                                        ("data_type", "<i4")])
    if len(offsets):
        out["offset"] = np.frombuffer(offsets, dtype=np.int64)
        out["length"] = np.frombuffer(lengths, dtype=np.int64)
        out["data_type"] = np.frombuffer(types, dtype=np.int32)
    return out


def _walk_into(offsets: array.array, lengths: array.array, types: array.array,
               view: memoryview | mmap.mmap, size: int, path: str | None) -> None:
    """:func:`_walk` appending to the index arrays (the same checks and errors)."""
    offset = 0
    unpack = _PREAMBLE.unpack_from
    add_offset, add_length, add_type = offsets.append, lengths.append, types.append
    while offset < size:
        if size - offset < PREAMBLE_SIZE:
            raise _truncated(size, offset, path)
        length, data_type = unpack(view, offset)
        if data_type not in TOP_LEVEL_TYPES or not _MIN_FRAME <= length <= size - offset:
            check_preamble(length, data_type, offset, size - offset, path)  # raises
        add_offset(offset)
        add_length(length)
        add_type(data_type)
        offset += length
