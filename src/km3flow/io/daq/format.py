"""Byte layouts of the Jpp DAQ binary stream: type codes, NumPy dtypes, rate and status decoding.

Everything here is pure layout knowledge (no I/O): the structured dtypes describe the packed
records exactly as they are on the wire (little-endian integers, except the big-endian TDC
time inside every hit, which is copied raw from the CLB UDP packet), so that
``np.frombuffer(buf, dtype)`` decodes a whole block of records in one call.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ...dataclasses.schema import SCHEMAS

#: Data-type codes of the JDAQPreamble (``data_type`` field) and the Jpp class they announce.
DATA_TYPES: dict[int, str] = {
    101: "DAQSuperFrame",
    201: "DAQSummaryFrame",
    1001: "DAQTimeslice",
    1002: "DAQTimesliceL0",
    1003: "DAQTimesliceL1",
    1004: "DAQTimesliceL2",
    1005: "DAQTimesliceSN",
    2001: "DAQSummaryslice",
    10001: "DAQEvent",
}
#: The codes that may appear as top-level frames of a stream.
TOP_LEVEL_TYPES = frozenset((1001, 1002, 1003, 1004, 1005, 2001, 10001))
TIMESLICE_TYPES = frozenset((1001, 1002, 1003, 1004, 1005))
SUMMARYSLICE_TYPE = 2001
EVENT_TYPE = 10001
SUPERFRAME_TYPE = 101

#: Timeslice stream name per data type (the ControlHost tags are IO_TSL0, IO_TSL1, ...).
TIMESLICE_STREAMS: dict[int, str] = {1001: "", 1002: "L0", 1003: "L1", 1004: "L2", 1005: "SN"}

#: Class versions written by Jpp v13+ right after the preamble (absent in legacy streams).
CLASS_VERSIONS: dict[int, int] = {10001: 4, 2001: 6, 1001: 1, 1002: 1, 1003: 1, 1004: 1, 1005: 1}

PREAMBLE_SIZE = 8
HEADER_SIZE = 20  # detector_id, run, frame_index, UTC seconds, UTC 16 ns cycles

PREAMBLE_DTYPE = np.dtype([("length", "<i4"), ("data_type", "<i4")])
HEADER_DTYPE = np.dtype([
    ("detector_id", "<i4"), ("run", "<i4"), ("frame_index", "<i4"),
    ("utc_seconds", "<u4"), ("utc_16ns_cycles", "<u4"),
])

#: Snapshot hit as on the wire (10 bytes, packed).
SNAPSHOT_HIT_DTYPE = np.dtype([
    ("dom_id", "<i4"), ("channel_id", "u1"), ("time", ">u4"), ("tot", "u1"),
])
#: Triggered hit as on the wire (18 bytes, packed): a snapshot hit plus its trigger mask.
TRIGGERED_HIT_DTYPE = np.dtype([
    ("dom_id", "<i4"), ("channel_id", "u1"), ("time", ">u4"), ("tot", "u1"),
    ("trigger_mask", "<u8"),
])
#: Hit of a timeslice super frame (6 bytes, packed); the DOM id is in the frame header.
FRAME_HIT_DTYPE = np.dtype([("channel_id", "u1"), ("time", ">u4"), ("tot", "u1")])

#: The fixed part of a JDAQSuperFrame (56 bytes), including its own preamble.
SUPERFRAME_HEADER_DTYPE = np.dtype([
    ("length", "<i4"), ("data_type", "<i4"),
    ("detector_id", "<i4"), ("run", "<i4"), ("frame_index", "<i4"),
    ("utc_seconds", "<u4"), ("utc_16ns_cycles", "<u4"),
    ("dom_id", "<i4"), ("dq_status", "<u4"), ("hrv", "<u4"), ("fifo", "<u4"),
    ("status3", "<u4"), ("status4", "<u4"), ("n_hits", "<i4"),
])
#: JDAQSummaryFrame of Jpp v13+ (55 bytes): status words and 31 log-compressed rates.
SUMMARY_FRAME_DTYPE = np.dtype([
    ("dom_id", "<i4"), ("dq_status", "<u4"), ("hrv", "<u4"), ("fifo", "<u4"),
    ("status3", "<u4"), ("status4", "<u4"), ("rates", "u1", (31,)),
])
#: JDAQSummaryFrame of legacy (pre-v13) streams (39 bytes): a single status word.
#: Checked on IO_SUM_legacy.dat: every frame is 32 + 39·n bytes long.
SUMMARY_FRAME_LEGACY_DTYPE = np.dtype([
    ("dom_id", "<i4"), ("status", "<u4"), ("rates", "u1", (31,)),
])

N_CHANNELS = 31
MINIMAL_RATE_HZ = 2.0e3
MAXIMAL_RATE_HZ = 2.0e6
RATE_FACTOR = np.log(MAXIMAL_RATE_HZ / MINIMAL_RATE_HZ) / 255

#: Rate in Hz for every possible byte value (0 means "no rate", not 2 kHz).
RATE_TABLE: npt.NDArray[np.float64] = np.concatenate(
    [[0.0], MINIMAL_RATE_HZ * np.exp(np.arange(1, 256) * RATE_FACTOR)]
)

# Output dtypes (native byte order, ready for numba/arrow/HDF5).
#: The decoded tables' dtypes are those of km3flow.dataclasses.schema.
SUMMARY_DTYPE = SCHEMAS["Summaryslice"].dtype
FRAME_INFO_DTYPE = SCHEMAS["TimesliceFrameInfo"].dtype
TRIGGERED_HITS_DTYPE = SCHEMAS["TriggeredHits"].dtype


def decode_rates(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Decode log-compressed summary-slice rate bytes into rates in Hz.

    Byte ``v`` in 1..255 means ``2 kHz · exp(v · ln(1000)/255)`` (log-uniform between
    about 2.05 kHz and 2 MHz); 0 means no rate. Values are read as unsigned bytes.

    Examples
    --------
    >>> [int(r) for r in decode_rates([0, 1, 123, 255])]
    [0, 2054, 55987, 1999999]
    """
    return RATE_TABLE[np.asarray(values).astype(np.uint8, copy=False)]


def encode_rates(rates_hz: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Encode rates in Hz into summary-slice bytes (the inverse of :func:`decode_rates`).

    Rates <= 0 become 0; others are rounded to the nearest step and clipped to 1..255.
    """
    rates = np.asarray(rates_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.rint(np.log(rates / MINIMAL_RATE_HZ) / RATE_FACTOR)
    out = np.clip(np.nan_to_num(steps, nan=1.0, neginf=1.0), 1, 255).astype(np.uint8)
    out[~(rates > 0)] = 0
    return out


def channel_flags(words: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return the per-PMT flags (bits 0..30) of status words, shape ``(..., 31)``.

    Used for the high-rate-veto word (``hrv``) and the FIFO word (``fifo``); bit 31 is a
    separate flag (White Rabbit resp. UDP trailer) and is not part of the result.
    """
    w = np.asarray(words).astype(np.uint32, copy=False)
    return ((w[..., None] >> np.arange(N_CHANNELS, dtype=np.uint32)) & 1).astype(bool)


def number_of_udp_packets(dq_status: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    """Number of received UDP packets: the low bits of ``dq_status`` (km3io masks 0x7FFF)."""
    return np.asarray(dq_status).astype(np.uint32, copy=False) & np.uint32(0x7FFF)


def max_sequence_number(dq_status: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    """Highest UDP sequence number received, the high 16 bits of the ``dq_status`` word."""
    return np.asarray(dq_status).astype(np.uint32, copy=False) >> np.uint32(16)


def has_udp_trailer(fifo: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether the UDP trailer was received: bit 31 of the ``fifo`` word."""
    return (np.asarray(fifo).astype(np.uint32, copy=False) >> np.uint32(31)).astype(bool)


def white_rabbit_ok(status: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """White Rabbit status: bit 31 of the ``hrv`` status word (or of a header's UTC seconds)."""
    return (np.asarray(status).astype(np.uint32, copy=False) >> np.uint32(31)).astype(bool)
