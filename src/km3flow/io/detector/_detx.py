"""DETX text: parse into arrays (PMT blocks in bulk with ``np.loadtxt``) and write back.

Format summary (versions 1 to 5): an optional preamble of ``#`` comment lines, a header
(``det_id n_doms`` for v1; ``det_id vN``, validity, UTM reference and ``n_doms`` from v2
on), then per module a DOM line followed by its PMT lines. The channel id of a PMT is its
position within the DOM block.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...exceptions import FormatError
from ._checks import check_pmt_directions
from ._layout import Column, infer_columns, render_line, render_lines

_HEADER_V = re.compile(r"^[ \t]*([+-]?\d+)[ \t]+[vV](\d+)[ \t]*\r?$", re.MULTILINE)

MAX_VERSION = 5

# field kinds of the DOM and PMT lines per version
DOM_KINDS = {
    1: ["int"] * 4,
    2: ["int"] * 4,
    3: ["int"] * 4,
    4: ["int"] * 3 + ["float"] * 8 + ["int"],
    5: ["int"] * 3 + ["float"] * 8 + ["int", "int"],
}
PMT_KINDS = {v: ["int"] + ["float"] * 7 + (["int"] if v >= 3 else []) for v in range(1, 6)}
DOM_FIELDS_TEXT = {
    1: "dom_id du floor n_pmts",
    4: "dom_id du floor x y z qa qb qc qd t0 n_pmts",
    5: "dom_id du floor x y z qa qb qc qd t0 status n_pmts",
}


@dataclass
class DetxData:
    """Everything read from a DETX file, as plain values and arrays."""

    det_id: int
    version: int
    version_token: str = ""
    valid_from: float = float("nan")
    valid_until: float = float("nan")
    utm: tuple[str, str, str, float, float, float] | None = None
    preamble: list[str] = field(default_factory=list)
    doms: dict[str, np.ndarray] = field(default_factory=dict)
    file_floors: np.ndarray | None = None
    pmts: np.ndarray | None = None  # (n, n_fields) float64 of the PMT lines
    blank_after_module: bool = False
    # source lines, kept to infer the layout when writing back
    header_lines: list[str] = field(default_factory=list)
    dom_lines: list[str] = field(default_factory=list)
    pmt_lines: list[str] = field(default_factory=list)


def _err(path: Any, lineno: int, msg: str) -> FormatError:
    return FormatError(msg, path=path, line=lineno)


def _ints(tokens: list[str], path: Any, lineno: int, what: str) -> list[int]:
    try:
        return [int(t) for t in tokens]
    except ValueError:
        raise _err(path, lineno, f"expected integers ({what}), got {' '.join(tokens)!r}") from None


def _floats(tokens: list[str], path: Any, lineno: int, what: str) -> list[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise _err(path, lineno, f"expected numbers ({what}), got {' '.join(tokens)!r}") from None


def parse_detx(data: bytes, path: Any = None) -> DetxData:
    """Parse the bytes of a DETX file.

    Raises
    ------
    FormatError
        Naming the file, the line and what was expected there.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FormatError(f"expected UTF-8 text, got byte {data[err.start]:#04x}",
                          path=path, offset=err.start,
                          line=data.count(b"\n", 0, err.start) + 1) from None
    if "\x00" in text:
        nul = text.index("\x00")
        raise FormatError("expected text, found a NUL byte (a binary file? DATX files "
                          "need the .datx extension)", path=path, offset=nul,
                          line=text.count("\n", 0, nul) + 1)
    lines = text.split("\n")
    m = _HEADER_V.search(text)
    if m is not None:
        hdr = text.count("\n", 0, m.start())
        det_id, version = int(m.group(1)), int(m.group(2))
        token = lines[hdr].split()[1]
    else:
        first = next((i for i, s in enumerate(lines)
                      if s.strip() and not s.lstrip().startswith("#")), None)
        if first is None:
            raise FormatError("expected a DETX header ('det_id vN' or 'det_id n_doms'), "
                              "found no content", path=path, line=len(lines))
        hdr = first
        toks = lines[hdr].split()
        try:
            det_id, n_doms = (int(t) for t in toks)
        except ValueError:
            raise _err(path, hdr + 1, f"expected a DETX header ('det_id vN' or 'det_id "
                                      f"n_doms'), got {lines[hdr].strip()[:60]!r}") from None
        version, token = 1, ""
    if not 1 <= version <= MAX_VERSION:
        raise _err(path, hdr + 1, f"expected DETX version 1 to {MAX_VERSION}, got {version}")
    out = DetxData(det_id=det_id, version=version, version_token=token,
                   preamble=lines[:hdr], header_lines=[lines[hdr]])

    pos = hdr + 1

    def next_line(what: str) -> tuple[int, str]:
        nonlocal pos
        while pos < len(lines) and not lines[pos].strip():
            pos += 1
        if pos >= len(lines):
            raise _err(path, len(lines), f"file ends, expected {what}")
        pos += 1
        return pos, lines[pos - 1]

    if version >= 2:
        ln, s = next_line("the validity line 'valid_from valid_until'")
        toks = s.split()
        if len(toks) != 2:
            raise _err(path, ln, f"expected 'valid_from valid_until', got {s.strip()[:60]!r}")
        out.valid_from, out.valid_until = _floats(toks, path, ln, "valid_from valid_until")
        out.header_lines.append(s)
        ln, s = next_line("the UTM line 'UTM WGS84 zone east north z'")
        toks = s.split()
        if len(toks) != 6 or toks[0] != "UTM":
            raise _err(path, ln, f"expected 'UTM <ellipsoid> <zone> east north z', "
                                 f"got {s.strip()[:60]!r}")
        e, n, z = _floats(toks[3:], path, ln, "UTM east north z")
        out.utm = (toks[0], toks[1], toks[2], e, n, z)
        out.header_lines.append(s)
        ln, s = next_line("the number of DOMs")
        toks = s.split()
        if len(toks) != 1:
            raise _err(path, ln, f"expected the number of DOMs, got {s.strip()[:60]!r}")
        (n_doms,) = _ints(toks, path, ln, "n_doms")
        out.header_lines.append(s)
    if n_doms < 0:
        raise _err(path, pos, f"expected a number of DOMs >= 0, got {n_doms}")
    _parse_body(lines, pos, n_doms, out, path)
    return out


def _parse_body(lines: list[str], start: int, n_doms: int, out: DetxData, path: Any) -> None:
    version = out.version
    n_dom_fields = len(DOM_KINDS[version])
    n_pmt_fields = len(PMT_KINDS[version])
    dom_what = DOM_FIELDS_TEXT[min(version, 5) if version >= 4 else 1]
    content = [i for i in range(start, len(lines)) if lines[i].strip()]
    dom_rows: list[list[float | int]] = []
    pmt_idx: list[int] = []
    dom_line_idx: list[int] = []
    n_blank_after = 0
    j = 0
    nc = len(content)
    while j < nc:
        i = content[j]
        toks = lines[i].split()
        if len(toks) != n_dom_fields:
            raise _err(path, i + 1, f"expected a DOM line with {n_dom_fields} fields "
                                    f"({dom_what}), got {len(toks)}: {lines[i].strip()[:60]!r}")
        ints = _ints(toks[:3], path, i + 1, "dom_id du floor")
        if any(abs(v) >= 2**31 for v in ints):
            raise _err(path, i + 1, f"expected 32-bit integers (dom_id du floor), got {ints}")
        rest = _floats(toks[3:-1 if version < 5 else -2], path, i + 1, "x y z qa qb qc qd t0")
        tail = _ints(toks[len(toks) - (2 if version == 5 else 1):], path, i + 1,
                     "status n_pmts" if version == 5 else "n_pmts")
        n_pmts = tail[-1]
        if n_pmts < 0:
            raise _err(path, i + 1, f"expected a number of PMTs >= 0, got {n_pmts}")
        if j + n_pmts >= nc:
            raise _err(path, len(lines), f"file ends, expected {n_pmts} PMT lines for DOM "
                                         f"{ints[0]} (line {i + 1}), found {nc - j - 1}")
        dom_rows.append([*ints, *rest, *tail])
        dom_line_idx.append(i)
        block = content[j + 1:j + 1 + n_pmts]
        pmt_idx.extend(block)
        last = block[-1] if block else i
        if last + 1 < len(lines) and not lines[last + 1].strip() and last + 1 < len(lines) - 1:
            n_blank_after += 1
        j += 1 + n_pmts
    if len(dom_rows) != n_doms:
        raise _err(path, len(lines), f"expected {n_doms} DOMs as the header says, found "
                                     f"{len(dom_rows)}")
    out.blank_after_module = bool(dom_rows) and n_blank_after == len(dom_rows)
    out.dom_lines = [lines[i] for i in dom_line_idx]
    out.pmt_lines = [lines[i] for i in pmt_idx]
    out.pmts = _parse_pmt_lines(lines, pmt_idx, n_pmt_fields, version, path)

    nd = len(dom_rows)
    arr = np.array(dom_rows, dtype=np.float64).reshape(nd, n_dom_fields)
    doms: dict[str, np.ndarray] = {
        "dom_id": arr[:, 0].astype(np.int64),
        "du": arr[:, 1].astype(np.int64),
        "floor": arr[:, 2].astype(np.int64),
        "n_pmts": arr[:, -1].astype(np.int64),
    }
    nan = np.full(nd, np.nan)
    if version >= 4:
        for k, name in enumerate(("pos_x", "pos_y", "pos_z", "qa", "qb", "qc", "qd", "t0")):
            doms[name] = arr[:, 3 + k]
    else:
        for name in ("pos_x", "pos_y", "pos_z", "qa", "qb", "qc", "qd", "t0"):
            doms[name] = nan.copy()
    doms["status"] = arr[:, 11].astype(np.int64) if version == 5 else np.zeros(nd, np.int64)
    out.doms = doms


def _parse_pmt_lines(lines: list[str], idx: list[int], nf: int, version: int,
                     path: Any) -> np.ndarray:
    if not idx:
        return np.empty((0, nf))
    text = "\n".join(lines[i] for i in idx)
    try:
        arr = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        arr = None
    if arr is None or arr.shape[1] != nf:
        # find the first offending line to name it
        what = "pmt_id x y z dx dy dz t0" + (" status" if version >= 3 else "")
        for i in idx:
            toks = lines[i].split()
            if len(toks) != nf:
                raise _err(path, i + 1, f"expected a PMT line with {nf} fields ({what}), "
                                        f"got {len(toks)}: {lines[i].strip()[:60]!r}")
            _floats(toks, path, i + 1, what)
        raise _err(path, idx[0] + 1, f"expected PMT lines with {nf} fields ({what})")
    for col in [0] + ([8] if version >= 3 else []):
        bad = np.flatnonzero((arr[:, col] != np.round(arr[:, col]))
                             | (np.abs(arr[:, col]) >= 2**31))
        if bad.size:
            i = idx[int(bad[0])]
            raise _err(path, i + 1,
                       f"expected a 32-bit integer in field {col + 1} of the PMT line, "
                       f"got {lines[i].split()[col]!r}")
    check_pmt_directions(arr[:, 4:7], arr[:, 0], path, lines=np.asarray(idx) + 1)
    return arr


# -- writing ------------------------------------------------------------------------------

def _default_columns(version: int) -> tuple[list[Column], list[Column]]:
    """Jpp's layout (JDetector I/O), used when there is no source file to copy it from."""
    i, f3, f6 = "int", "fixed", "fixed"
    dom = [Column(i, 1, 10), Column(i, 1, 5), Column(i, 1, 3)]
    if version >= 4:
        dom += [Column(f3, 1, 10, 3, True)] * 3 + [Column(f6, 1, 10, 6, True)] * 4
        dom += [Column(f3, 1, 10, 3, True)]
        if version == 5:
            dom += [Column(i, 1, 0)]
    dom += [Column(i, 1, 0)]
    pmt = [Column(i, 1, 9)] + [Column(f3, 1, 10, 3, True)] * 3
    pmt += [Column(f6, 1, 10, 6, True)] * 3 + [Column(f3, 1, 10, 3, True)]
    if version >= 3:
        pmt += [Column(i, 1, 0)]
    return dom, pmt


def _header_columns(line: str, kinds: list[str]) -> list[Column]:
    return infer_columns([line], kinds)


def write_detx(det: Any, version: int | None = None) -> str:
    """Render a :class:`~km3flow.io.detector.Detector` as DETX text."""
    src: DetxData | None = det._detx_source
    version = det.version if version is None else int(version)
    if not 1 <= version <= MAX_VERSION:
        raise ValueError(f"DETX version must be 1 to {MAX_VERSION}, got {version}")
    # the layout to copy: the source file's, when it has the version written
    like = src if src is not None and src.version == version else None
    out: list[str] = []
    if src is not None:
        out.extend(src.preamble)
    else:
        out.extend(("# " + c) if c else "#" for c in det.comments)
    doms, pmts = det.doms, det.pmts
    n_doms = len(doms)
    if version == 1:
        cols = _header_columns(like.header_lines[0], ["int", "int"]) if like else \
            [Column("int", 0), Column("int", 1)]
        out.append(render_line(cols, [det.det_id, n_doms]))
    else:
        token = like.version_token if like else f"V{version}"
        hl = like.header_lines if like else None
        cols = _header_columns(hl[0], ["int", "str"]) if hl else [Column("int", 0),
                                                                  Column("str", 1)]
        out.append(render_line(cols, [det.det_id, token]))
        cols = _header_columns(hl[1], ["float", "float"]) if hl else \
            [Column("fixed", 1, 0, 1), Column("fixed", 2, 0, 1)]
        valid = [0.0 if np.isnan(det.valid_from) else det.valid_from,
                 9999999999.0 if np.isnan(det.valid_until) else det.valid_until]
        out.append(render_line(cols, valid))
        utm = det.utm if det.utm is not None else ("UTM", "WGS84", "32N", 0.0, 0.0, 0.0)
        cols = _header_columns(hl[2], ["str"] * 3 + ["float"] * 3) if hl else \
            [Column("str", 0), Column("str", 1), Column("str", 1),
             Column("fixed", 2, 0, 3, True), Column("fixed", 1, 0, 3, True),
             Column("fixed", 1, 0, 3, True)]
        out.append(render_line(cols, list(utm)))
        cols = _header_columns(hl[3], ["int"]) if hl else [Column("int", 0)]
        out.append(render_line(cols, [n_doms]))
    if version >= 4 and np.isnan(np.asarray(doms["pos_x"], dtype=float)).any():
        # going up from v1-3: DOM centres from the PMT axes, identity orientation, t0 0
        doms = doms.copy()
        pos = det.dom_positions
        for k, name in enumerate(("pos_x", "pos_y", "pos_z")):
            doms[name] = pos[:, k]
    dom_values = _dom_value_rows(doms, det._floors_for_writing(), version)
    pmt_values = _pmt_value_rows(pmts, version)
    if like:
        dom_lines = _render_like(like.dom_lines, DOM_KINDS[version], dom_values)
        pmt_lines = _render_like(like.pmt_lines, PMT_KINDS[version], pmt_values)
        blank = like.blank_after_module
    else:
        dcols, pcols = _default_columns(version)
        dom_lines = render_lines(dcols, dom_values)
        pmt_lines = render_lines(pcols, pmt_values)
        blank = version >= 3
    starts = np.concatenate([[0], np.cumsum(np.asarray(doms["n_pmts"]))]).tolist()
    for k in range(n_doms):
        out.append(dom_lines[k])
        out.extend(pmt_lines[starts[k]:starts[k + 1]])
        if blank:
            out.append("")
    return "\n".join(out) + "\n"


def _render_like(source: list[str], kinds: list[str], rows: list[Any]) -> list[str]:
    """Render rows in the layout of ``source`` lines.

    The layout is first inferred from a sample of the source lines; only when the result
    differs from the source (a rare wide value outside the sample, or changed values) is it
    inferred again from all lines.
    """
    step = max(1, len(source) // 1000)
    sample = source[:200] + source[200::step]
    lines = render_lines(infer_columns(sample, kinds), rows)
    if lines != source and len(sample) < len(source):
        lines = render_lines(infer_columns(source, kinds), rows)
    return lines


def _dom_value_rows(doms: Any, floors: np.ndarray, version: int) -> list[tuple[Any, ...]]:
    cols: list[Any] = [doms["dom_id"].tolist(), doms["du"].tolist(), floors.tolist()]
    if version >= 4:
        for name in ("pos_x", "pos_y", "pos_z", "qa", "qb", "qc", "qd", "t0"):
            vals = np.asarray(doms[name], dtype=float)
            if name == "qa":
                vals = np.where(np.isnan(vals), 1.0, vals)
            cols.append(np.nan_to_num(vals, nan=0.0).tolist())
        if version == 5:
            cols.append(doms["status"].tolist())
    cols.append(doms["n_pmts"].tolist())
    return list(zip(*cols))


def _pmt_value_rows(pmts: Any, version: int) -> list[tuple[Any, ...]]:
    names = ["pmt_id", "pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "t0"]
    if version >= 3:
        names.append("status")
    return list(zip(*[pmts[n].tolist() for n in names]))
