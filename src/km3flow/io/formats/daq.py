"""The DAQ binary stream (Jpp ``JDAQ*`` frames: events, summary slices, timeslices)."""

from __future__ import annotations

import os
import struct

from ...exceptions import FormatError
from . import FormatSpec

# Data-type codes of the Jpp DAQ preamble that may start a stream file.
DAQ_TYPES = {1001, 1002, 1003, 1004, 1005, 2001, 10001}


def sniff(head: bytes, path: str) -> bool:
    """A DAQ file starts with a preamble: frame length and a known data type.

    Raises
    ------
    FormatError
        When the preamble announces a first frame longer than the file (a DAQ file cut
        short).
    """
    if len(head) < 8:
        return False
    length, dtype = struct.unpack("<ii", head[:8])
    if dtype not in DAQ_TYPES or length < 8:
        return False
    size = os.path.getsize(path)
    if length > size:
        raise FormatError(f"truncated DAQ file: the first frame (data type {dtype}) "
                          f"announces {length} bytes, but the file has only {size}",
                          path=path, offset=0)
    return True


FORMAT = FormatSpec("daq", sniff, pump="km3flow.io.daq.pump:DAQPump", order=60, family="daq",
                    description="DAQ binary file")
