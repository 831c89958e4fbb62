"""DATX: Jpp's binary detector format (little-endian), read with ``np.frombuffer`` and written back.

Layout (checked against km3net-testdata's two DATX files, which parse to the last byte):
comment records (``####``, u32 length, text) while the next four bytes are ``####``; det_id
i32; version string (u32 length + text, ``V5``); valid_from, valid_until f64; three strings
(``UTM``, ellipsoid, zone) and east, north, z f64; n_doms i32; per DOM an 84-byte record
(dom_id, du, floor i32; x, y, z, qa, qb, qc, qd, t0 f64; status, n_pmts i32) followed by
n_pmts 64-byte PMT records (pmt_id i32; x, y, z, dx, dy, dz, t0 f64; status i32).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ...exceptions import FormatError
from ._checks import check_pmt_directions

COMMENT_MAGIC = b"####"

DOM_RECORD = np.dtype([
    ("dom_id", "<i4"), ("du", "<i4"), ("floor", "<i4"),
    ("pos_x", "<f8"), ("pos_y", "<f8"), ("pos_z", "<f8"),
    ("qa", "<f8"), ("qb", "<f8"), ("qc", "<f8"), ("qd", "<f8"),
    ("t0", "<f8"), ("status", "<i4"), ("n_pmts", "<i4"),
])
PMT_RECORD = np.dtype([
    ("pmt_id", "<i4"),
    ("pos_x", "<f8"), ("pos_y", "<f8"), ("pos_z", "<f8"),
    ("dir_x", "<f8"), ("dir_y", "<f8"), ("dir_z", "<f8"),
    ("t0", "<f8"), ("status", "<i4"),
])
assert DOM_RECORD.itemsize == 84 and PMT_RECORD.itemsize == 64
_DIR_X_OFFSET: int = PMT_RECORD.fields["dir_x"][1]  # type: ignore[index]  # a structured dtype


class _Reader:
    def __init__(self, data: bytes, path: Any) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"file ends, expected {n} bytes of {what} "
                              f"({len(self.data) - self.pos} left)", path=self.path,
                              offset=self.pos)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def string(self, what: str, limit: int = 1 << 20) -> str:
        start = self.pos
        (n,) = self.unpack("<I", f"the length of {what}")
        if n > limit:
            raise FormatError(f"expected the length of {what} (<= {limit}), got {n}",
                              path=self.path, offset=start)
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"expected UTF-8 text for {what}", path=self.path,
                              offset=start + 4) from None


def parse_datx(data: bytes, path: Any = None) -> dict[str, Any]:
    """Parse DATX bytes into header values and DOM/PMT record arrays."""
    r = _Reader(data, path)
    comments = []
    while data[r.pos:r.pos + 4] == COMMENT_MAGIC:
        r.pos += 4
        comments.append(r.string("a comment record"))
    (det_id,) = r.unpack("<i", "det_id")
    vpos = r.pos
    token = r.string("the version string", limit=16)
    if len(token) < 2 or token[0] not in "vV" or not token[1:].isdigit():
        raise FormatError(f"expected a version string like 'V5', got {token!r}", path=path,
                          offset=vpos)
    version = int(token[1:])
    if version < 4:
        raise FormatError(f"expected DATX version >= 4 (DOM records with positions), got "
                          f"{version}", path=path, offset=vpos)
    valid_from, valid_until = r.unpack("<2d", "valid_from valid_until")
    utm_words = tuple(r.string(f"UTM word {k}", limit=64) for k in range(3))
    east, north, z = r.unpack("<3d", "UTM east north z")
    npos = r.pos
    (n_doms,) = r.unpack("<i", "n_doms")
    if n_doms < 0 or n_doms * DOM_RECORD.itemsize > len(data) - r.pos:
        raise FormatError(f"expected a number of DOMs that fits the file, got {n_doms}",
                          path=path, offset=npos)
    doms = np.empty(n_doms, DOM_RECORD)
    pmt_blocks = []
    pmt_starts = []
    for k in range(n_doms):
        dpos = r.pos
        rec = np.frombuffer(r.take(DOM_RECORD.itemsize, f"DOM record {k}"), DOM_RECORD)[0]
        n_pmts = int(rec["n_pmts"])
        if n_pmts < 0 or n_pmts * PMT_RECORD.itemsize > len(data) - r.pos:
            raise FormatError(f"expected the number of PMTs of DOM {int(rec['dom_id'])} to fit "
                              f"the file, got {n_pmts}", path=path,
                              offset=dpos + DOM_RECORD.itemsize - 4)
        doms[k] = rec
        pmt_starts.append(r.pos)
        pmt_blocks.append(np.frombuffer(r.take(n_pmts * PMT_RECORD.itemsize,
                                               f"the PMTs of DOM {k}"), PMT_RECORD))
    if r.pos != len(data):
        raise FormatError(f"expected the end of the file after {n_doms} DOMs, "
                          f"{len(data) - r.pos} bytes follow", path=path, offset=r.pos)
    pmts = np.concatenate(pmt_blocks) if pmt_blocks else np.empty(0, PMT_RECORD)
    if len(pmts):
        # byte offset of each PMT record's direction fields (after pmt_id and x, y, z)
        n = doms["n_pmts"].astype(np.int64)
        rank = np.arange(len(pmts)) - np.repeat(np.cumsum(n) - n, n)
        offsets = (np.repeat(np.asarray(pmt_starts, np.int64), n)
                   + rank * PMT_RECORD.itemsize + _DIR_X_OFFSET)
        dirs = np.column_stack([pmts["dir_x"], pmts["dir_y"], pmts["dir_z"]])
        check_pmt_directions(dirs, pmts["pmt_id"], path, offsets=offsets)
    return {
        "comments": comments, "det_id": det_id, "version": version, "version_token": token,
        "valid_from": valid_from, "valid_until": valid_until,
        "utm": (*utm_words, east, north, z), "doms": doms, "pmts": pmts,
    }


def _string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<I", len(raw)) + raw


def write_datx(det: Any) -> bytes:
    """Render a Detector as DATX bytes (version 5 records; v4 DOM status is written as 0)."""
    parts = [COMMENT_MAGIC + _string(c) for c in det.comments]
    token = det._version_token if det.version >= 4 and det._version_token else "V5"
    parts.append(struct.pack("<i", det.det_id) + _string(token))
    parts.append(struct.pack("<2d", det.valid_from, det.valid_until))
    utm = det.utm if det.utm is not None else ("UTM", "WGS84", "32N", 0.0, 0.0, 0.0)
    parts.append(b"".join(_string(w) for w in utm[:3]) + struct.pack("<3d", *utm[3:]))
    doms, pmts = det.doms, det.pmts
    parts.append(struct.pack("<i", len(doms)))
    drec = np.zeros(len(doms), DOM_RECORD)
    for name in DOM_RECORD.names or ():
        vals = np.asarray(doms[name])
        if name == "floor":
            vals = det._floors_for_writing()
        if vals.dtype.kind == "f":
            vals = np.nan_to_num(vals, nan=1.0 if name == "qa" else 0.0)
        drec[name] = vals
    prec = np.zeros(len(pmts), PMT_RECORD)
    for name in PMT_RECORD.names or ():
        prec[name] = np.asarray(pmts[name])
    starts = np.concatenate([[0], np.cumsum(drec["n_pmts"])])
    for k in range(len(doms)):
        parts.append(drec[k:k + 1].tobytes())
        parts.append(prec[starts[k]:starts[k + 1]].tobytes())
    return b"".join(parts)
