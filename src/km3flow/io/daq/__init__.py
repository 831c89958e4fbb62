"""Jpp DAQ binary streams: events, summary slices and timeslices as km3flow Tables.

Layers, from bytes up:

- :mod:`~km3flow.io.daq.format`: data-type codes, packed NumPy dtypes of the wire format
  (little-endian, with the big-endian TDC time in every hit), rate and status decoding.
- :mod:`~km3flow.io.daq.frames`: :func:`iter_frames` walks the frame preambles of a file or
  a byte stream (offset, length, data type) — the index behind random access, and the
  splitter a ControlHost replay tool uses.
- :mod:`~km3flow.io.daq.parse`: ``parse_event``, ``parse_summaryslice``,
  ``parse_timeslice`` decode one frame's bytes (also a ControlHost payload).
- :mod:`~km3flow.io.daq.bulk`: :func:`read_events`, :func:`read_summaryslices`,
  :func:`read_timeslices` decode all frames of a stream at once (flat Tables + offsets).
- :mod:`~km3flow.io.daq.pump`: :class:`DAQReader`/:class:`DAQPump`, :class:`TimeslicePump`,
  :class:`SummarysliceReader` — pipeline pumps with ``len()`` and ``reader[i]``.
- :mod:`~km3flow.io.daq.monitoring`: :func:`read_monitoring`, :class:`TMCHPump` for the CLB
  monitoring packets (TMCH) of IO_MONIT dumps, :func:`parse_packet` for one IO_MONIT message.
"""

from __future__ import annotations

from .format import (
    DATA_TYPES, RATE_TABLE, channel_flags, decode_rates, encode_rates, has_udp_trailer,
    max_sequence_number, number_of_udp_packets, white_rabbit_ok,
)
from .bulk import (
    EventBatch, SummarysliceBatch, TimesliceBatch, read_events, read_summaryslices,
    read_timeslices,
)
from .frames import FrameRef, index_frames, iter_frames
from .monitoring import TMCHPump, parse_packet, read_monitoring
from .parse import (
    DAQHeader, parse_event, parse_frame, parse_header, parse_summaryslice, parse_timeslice,
)
from .pump import DAQPump, DAQReader, SummarysliceReader, TimeslicePump

__all__ = [
    "DAQHeader", "DAQPump", "DAQReader", "DATA_TYPES", "EventBatch", "FrameRef", "RATE_TABLE",
    "SummarysliceBatch", "SummarysliceReader", "TMCHPump", "TimesliceBatch", "TimeslicePump",
    "channel_flags", "decode_rates", "encode_rates", "has_udp_trailer", "index_frames",
    "iter_frames", "max_sequence_number", "number_of_udp_packets", "parse_event", "parse_frame",
    "parse_header", "parse_packet", "parse_summaryslice", "parse_timeslice", "read_events",
    "read_monitoring", "read_summaryslices", "read_timeslices", "white_rabbit_ok",
]
