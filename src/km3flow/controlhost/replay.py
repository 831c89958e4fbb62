"""Replay a DAQ file's frames into a ControlHost dispatcher: the detector's local stand-in.

A Jpp DAQ file (IO_EVT, IO_SUM, IO_TSL*, …) is a sequence of frames, each starting with
an 8-byte preamble: the frame length in bytes *including* the preamble (int32 LE) and
the data type (int32 LE). Each frame is sent, preamble included, as one ControlHost
message, exactly as the DataFilter/DataWriter put them on the Ligier. An IO_MONIT dump
(``[u32 length][TMCH packet]`` records) is sent as one IO_MONIT message per packet, without
the length, as the CLB monitoring packets reach the Ligier.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator

from ..exceptions import FormatError
from ..logger import get_logger
from .client import Client

log = get_logger("CHReplay")

PREAMBLE = struct.Struct("<ii")

#: Jpp data type → the ControlHost tag it is streamed under.
TAG_OF_DATA_TYPE = {
    10001: "IO_EVT",
    2001: "IO_SUM",
    1001: "IO_TSL",
    1002: "IO_TSL0",
    1003: "IO_TSL1",
    1004: "IO_TSL2",
    1005: "IO_TSSN",
}


def iter_daq_frames(path: str | os.PathLike,
                    data: bytes | None = None) -> Iterator[tuple[int, int, memoryview]]:
    """Yield ``(offset, data_type, frame)`` for every frame of a DAQ file.

    ``frame`` is a view of the whole frame, preamble included.

    Raises
    ------
    FormatError
        If a preamble is truncated, or a length is below 8 or runs past the end of the
        file (naming the file and byte offset).
    """
    if data is None:
        with open(path, "rb") as f:
            data = f.read()
    view = memoryview(data)
    name = os.path.basename(os.fspath(path))
    offset = 0
    size = len(view)
    while offset < size:
        if size - offset < PREAMBLE.size:
            raise FormatError(f"expected an 8-byte frame preamble, only {size - offset} bytes "
                              f"left", path=name, offset=offset)
        length, data_type = PREAMBLE.unpack_from(view, offset)
        if length < PREAMBLE.size:
            raise FormatError(f"expected a frame length >= 8, got {length}", path=name,
                              offset=offset)
        if offset + length > size:
            raise FormatError(f"frame of {length} bytes (type {data_type}) runs past the end "
                              f"of the file ({size - offset} bytes left)", path=name,
                              offset=offset)
        yield offset, data_type, view[offset:offset + length]
        offset += length


def replay_file(path: str | os.PathLike, host: str = "127.0.0.1", port: int = 5553,
                tag: str | None = None, rate: float = 0.0, repeat: int = 1,
                client: Client | None = None) -> int:
    """Send every frame of ``path`` to the dispatcher, ``repeat`` times; return the count.

    Parameters
    ----------
    tag
        The tag to send under; by default the one of each frame's data type
        (:data:`TAG_OF_DATA_TYPE`).
    rate
        Messages per second (paced against a clock, so no drift builds up); 0 sends as
        fast as possible.
    repeat
        How often to send the file (0 or less: until interrupted).
    client
        A connected :class:`Client` to use (else one is made and closed).
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[4:8] == b"TMCH":  # an IO_MONIT dump
        from ..io.daq.monitoring import index_packets

        offsets, sizes = index_packets(data, os.fspath(path))  # checks the whole file
        view = memoryview(data)
        frames = [(int(o), 0, view[o:o + s]) for o, s in zip(offsets, sizes)]
        tags = [tag or "IO_MONIT"] * len(frames)
    else:
        frames = list(iter_daq_frames(path, data))  # checks the whole file before sending
        tags = []
        for offset, data_type, _ in frames:
            frame_tag = tag or TAG_OF_DATA_TYPE.get(data_type)
            if frame_tag is None:
                raise FormatError(f"unknown DAQ data type {data_type}; pass a tag",
                                  path=os.fspath(path), offset=offset)
            tags.append(frame_tag)
    if not frames:
        raise FormatError("no DAQ frames in file", path=os.fspath(path), offset=0)
    own = client is None
    ch = client or Client(host, port, reconnect=False, name="ch-replay")
    if ch.socket is None:
        ch.connect()
    period = 1.0 / rate if rate > 0 else 0.0
    sent = 0
    t0 = time.monotonic()
    try:
        round_ = 0
        while repeat <= 0 or round_ < repeat:
            for (_, _, frame), frame_tag in zip(frames, tags):
                if period:
                    wait = t0 + sent * period - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)  # pacing to the requested rate
                ch.put_message(frame_tag, frame)
                sent += 1
            round_ += 1
    finally:
        if own:
            ch.close()
    log.info("sent %d frames of %s in %.3f s", sent, os.fspath(path), time.monotonic() - t0)
    return sent
