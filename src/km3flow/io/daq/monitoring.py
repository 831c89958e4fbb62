"""CLB monitoring packets (TMCH) of IO_MONIT dumps: PMT rates, AHRS, temperature per DOM.

An IO_MONIT dump is a sequence of ``[u32 LE length][packet]`` records; each packet is the
raw UDP payload of a CLB monitoring channel, starts with ``b"TMCH"`` and is big-endian
throughout (unlike the Jpp frames). On a ControlHost dispatcher each IO_MONIT message is one
packet without the length (:func:`parse_packet`; KM3Pipe reads ``CHData`` the same way).
The structure version is in bits 1..3 of ``flags`` (000 → 1, 001 → 2, 011 → 3); version 2
adds the timeslice duration, version 3 the super-time FIFO sizes. All packets are decoded
with numpy at once. The packets of the real IO_MONIT.dat are version 2 and 244 bytes long:
the 240 of the layout plus 4 zero bytes; their ``ts_duration_ms`` (KM3Pipe's name) reads
100000, i.e. the 100 ms timeslice in µs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...core import Blob, Pump
from ...dataclasses import Table
from ...exceptions import FormatError
from .frames import Source, source_name
from .parse import _make_table

#: The fields every TMCH packet has (236 bytes, big-endian).
TMCH_DTYPE = np.dtype([
    ("magic", "S4"), ("run", ">u4"), ("udp_sequence_number", ">u4"), ("utc_seconds", ">u4"),
    ("ticks", ">u4"), ("dom_id", ">u4"), ("dom_status", ">u4", (4,)),
    ("pmt_counts", ">u4", (31,)), ("hrvbmp", ">u4"), ("flags", ">u4"),
    ("yaw", ">f4"), ("pitch", ">f4"), ("roll", ">f4"), ("A", ">f4", (3,)), ("G", ">f4", (3,)),
    ("H", ">f4", (3,)), ("temp", ">u2"), ("humidity", ">u2"), ("tdcfull", ">u4"),
    ("aesfull", ">u4"), ("flushc", ">u4"),
])
_V2_SIZE = TMCH_DTYPE.itemsize + 4  # + ts_duration_ms
_V3_SIZE = _V2_SIZE + 4  # + tdc/aes super-time FIFO sizes (u2 each)

MONITORING_DTYPE = np.dtype([
    ("dom_id", "<u4"), ("run", "<u4"), ("udp_sequence_number", "<u4"),
    ("utc_seconds", "<u4"), ("nanoseconds", "<u8"), ("version", "u1"),
    ("dom_status", "<u4", (4,)), ("pmt_rates", "<f8", (31,)), ("hrvbmp", "<u4"),
    ("flags", "<u4"), ("yaw", "<f4"), ("pitch", "<f4"), ("roll", "<f4"),
    ("A", "<f4", (3,)), ("G", "<f4", (3,)), ("H", "<f4", (3,)),
    ("temp", "<f8"), ("humidity", "<f8"), ("tdcfull", "<u4"), ("aesfull", "<u4"),
    ("flushc", "<u4"), ("ts_duration_ms", "<u4"), ("tdc_supertime_fifo_size", "<u2"),
    ("aes_supertime_fifo_size", "<u2"),
])
_LEN = struct.Struct("<I")


def index_packets(data: Any, path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Byte offsets and sizes of the TMCH packets of an IO_MONIT stream.

    Raises
    ------
    FormatError
        If a length prefix is truncated or runs past the end, a packet is shorter than
        the version-1 layout, or does not start with ``TMCH``.
    """
    view = memoryview(data).cast("B")
    size = len(view)
    offsets, sizes = [], []
    pos = 0
    while pos < size:
        if size - pos < 4:
            raise FormatError(f"truncated stream: {size - pos} trailing bytes, expected a "
                              "4-byte packet length", path=path, offset=pos)
        (length,) = _LEN.unpack_from(view, pos)
        if length < TMCH_DTYPE.itemsize or pos + 4 + length > size:
            raise FormatError(f"expected a TMCH packet length between {TMCH_DTYPE.itemsize} "
                              f"and the {size - pos - 4} remaining bytes, got {length}",
                              path=path, offset=pos)
        if bytes(view[pos + 4:pos + 8]) != b"TMCH":
            raise FormatError(f"expected the TMCH marker, got {bytes(view[pos + 4:pos + 8])!r}",
                              path=path, offset=pos + 4)
        offsets.append(pos + 4)
        sizes.append(length)
        pos += 4 + length
    return np.array(offsets, dtype=np.int64), np.array(sizes, dtype=np.int64)


def _read(source: Source) -> tuple[Any, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source, None
    if hasattr(source, "read"):
        return source.read(), source_name(source)
    with open(source, "rb") as fobj:
        return fobj.read(), source_name(source)


def decode_packets(data: Any, offsets: np.ndarray, sizes: np.ndarray) -> Table:
    """Decode the packets at ``offsets`` (with ``sizes``) into one monitoring Table."""
    raw = np.frombuffer(memoryview(data).cast("B"), np.uint8)
    n = len(offsets)
    windows = np.ndarray(shape=(max(len(raw) - TMCH_DTYPE.itemsize + 1, 0),),
                         dtype=f"V{TMCH_DTYPE.itemsize}", buffer=raw, strides=(1,))
    rec = windows[offsets].view(TMCH_DTYPE) if n else np.empty(0, TMCH_DTYPE)
    out = np.zeros(n, MONITORING_DTYPE)
    for name in ("dom_id", "run", "udp_sequence_number", "utc_seconds", "dom_status",
                 "hrvbmp", "flags", "yaw", "pitch", "roll", "A", "G", "H", "tdcfull",
                 "aesfull", "flushc"):
        out[name] = rec[name]
    out["nanoseconds"] = rec["ticks"].astype(np.uint64) * 16
    out["pmt_rates"] = rec["pmt_counts"] * 10.0  # counts per 100 ms → Hz
    out["temp"] = rec["temp"] / 100.0
    out["humidity"] = rec["humidity"] / 100.0
    code = (rec["flags"] >> 1) & 7
    version = np.select([code == 0, code == 1, code == 3], [1, 2, 3], default=0)
    out["version"] = version
    v2 = np.flatnonzero((version >= 2) & (sizes >= _V2_SIZE))
    if len(v2):
        start = offsets[v2] + TMCH_DTYPE.itemsize
        out["ts_duration_ms"][v2] = (raw[start[:, None] + np.arange(4)]
                                     .copy().view(">u4").ravel())
    v3 = np.flatnonzero((version >= 3) & (sizes >= _V3_SIZE))
    if len(v3):
        start = offsets[v3] + _V2_SIZE
        fifo = raw[start[:, None] + np.arange(4)].copy().view(">u2").reshape(-1, 2)
        out["tdc_supertime_fifo_size"][v3] = fifo[:, 0]
        out["aes_supertime_fifo_size"][v3] = fifo[:, 1]
    return _make_table(out, "/monitoring", "Monitoring")


def read_monitoring(source: Source) -> Table:
    """Read all TMCH packets of an IO_MONIT dump (file name, file object or bytes).

    Returns
    -------
    Table
        One row per packet (h5loc ``/monitoring``): dom_id, run, udp_sequence_number,
        utc_seconds, nanoseconds, version, dom_status (4 words), pmt_rates (31, Hz),
        hrvbmp, flags, yaw/pitch/roll, A/G/H (3 each: accelerometer, gyroscope,
        compass), temp (°C), humidity (%), tdcfull, aesfull, flushc and, for newer
        structure versions, ts_duration_ms and the super-time FIFO sizes (0 otherwise).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> mon = read_monitoring(data_path("daq/IO_MONIT.dat"))
    >>> len(mon), int(mon.dom_id[0]), float(mon.temp[0])
    (6, 806472270, 32.35)
    """
    data, path = _read(source)
    offsets, sizes = index_packets(data, path)
    return decode_packets(data, offsets, sizes)


def parse_packet(payload: Any, path: str | None = "ControlHost message") -> Table:
    """Decode one IO_MONIT message: a raw TMCH packet, or length-prefixed packets as in a dump.

    Returns
    -------
    Table
        The monitoring table of :func:`read_monitoring` (one row per packet).

    Raises
    ------
    FormatError
        If the payload is neither, or shorter than a TMCH packet (naming ``path``).

    Examples
    --------
    >>> from km3net_testdata import data_path
    >>> from pathlib import Path
    >>> packet = Path(data_path("daq/IO_MONIT.dat")).read_bytes()[4:248]
    >>> mon = parse_packet(packet)
    >>> int(mon.dom_id[0]), float(mon.humidity[0]), mon.pmt_rates.shape
    (806472270, 16.77, (1, 31))
    """
    view = memoryview(payload).cast("B")
    if bytes(view[:4]) == b"TMCH":
        if len(view) < TMCH_DTYPE.itemsize:
            raise FormatError(f"expected a TMCH packet of at least {TMCH_DTYPE.itemsize} "
                              f"bytes, got {len(view)}", path=path, offset=len(view))
        return decode_packets(view, np.zeros(1, dtype=np.int64),
                              np.array([len(view)], dtype=np.int64))
    if bytes(view[4:8]) != b"TMCH":
        raise FormatError(f"expected a TMCH monitoring packet, got {bytes(view[:8])!r}",
                          path=path, offset=0)
    offsets, sizes = index_packets(view, path)
    return decode_packets(view, offsets, sizes)


class TMCHPump(Pump):
    """Serve the TMCH packets of an IO_MONIT dump one per blob (key ``TMCHData``).

    Parameters
    ----------
    filename : str
        The IO_MONIT dump (or ``data=``: the bytes).
    """

    parallel_input = "filename"  # one file per parallel task; FilePump spreads many files

    def configure(self) -> None:
        filename, data = self.get("filename"), self.get("data")
        if (filename is None) == (data is None):
            raise TypeError("TMCHPump needs exactly one of filename= or data=")
        self.data, self.path = _read(filename if data is None else data)
        self.offsets, self.sizes = index_packets(self.data, self.path)
        self.table = decode_packets(self.data, self.offsets, self.sizes)

    def __len__(self) -> int:
        return len(self.offsets)

    def get_blob(self, index: int) -> Blob:
        blob = Blob()
        blob["TMCHData"] = self.table[index:index + 1]
        return blob

    def blob_generator(self) -> Iterator[Blob]:
        for index in range(len(self)):
            yield self.get_blob(index)
