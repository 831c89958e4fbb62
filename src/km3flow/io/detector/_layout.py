"""Column layouts of DETX text: how each field of a line is spaced and how its number is written.

A DETX writer that only knows the values cannot reproduce a file byte for byte: Jpp writes
right-aligned fixed-width fields with explicit ``+`` signs, km3pipe wrote Python ``repr``
floats separated by single spaces, hand-made files use other widths again. This module infers,
per column, the smallest separator, the field width and the number format from the lines of a
file, and renders values with them. The model is per column, not per row, so it also formats
rows that were added or changed after reading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"(\s*)(\S+)")
_TOKEN_LINE = re.compile(r"([ \t]*)(\S+)")
_FIXED = re.compile(r"^([+-]?)\d+(?:(\.)(\d*))?$")


@dataclass(frozen=True)
class Column:
    """How one field is written.

    ``kind`` is ``"int"``, ``"fixed"`` (``decimals`` digits after the point; ``-1``: no
    point), ``"repr"`` (Python's shortest round-trip float) or ``"str"``. ``plus`` writes
    an explicit ``+`` on non-negative numbers. The field is ``sep`` spaces at least, right
    aligned so that separator and token together fill ``width`` characters.
    """

    kind: str
    sep: int = 1
    width: int = 0
    decimals: int = -1
    plus: bool = False

    def render(self, value: Any) -> str:
        if self.kind == "int":
            tok = f"{int(value):+d}" if self.plus else str(int(value))
        elif self.kind == "fixed":
            d = max(self.decimals, 0)
            tok = f"{float(value):+.{d}f}" if self.plus else f"{float(value):.{d}f}"
            if self.decimals == 0:
                tok += "."
        elif self.kind == "repr":
            tok = repr(float(value))
            if self.plus and not tok.startswith("-"):
                tok = "+" + tok
        else:
            tok = str(value)
        pad = max(self.sep, self.width - len(tok))
        return " " * pad + tok


    def percent(self) -> str | None:
        """The ``%``-format of this field (separator included), None if there is none."""
        w = max(self.width - self.sep, 0)
        flag = "+" if self.plus else ""
        if self.kind == "int":
            spec = f"%{flag}{w}d"
        elif self.kind == "fixed" and self.decimals != 0:
            spec = f"%{flag}{w}.{max(self.decimals, 0)}f"
        elif self.kind == "repr" and not self.plus:
            spec = f"%{w}r"
        elif self.kind == "str":
            spec = f"%{w}s"
        else:
            return None
        return " " * self.sep + spec


def render_line(columns: Sequence[Column], values: Sequence[Any]) -> str:
    """Render one line from its column formats and values."""
    return "".join(c.render(v) for c, v in zip(columns, values))


def render_lines(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Render many lines; one ``%`` format per line where the columns allow it."""
    specs = [c.percent() for c in columns]
    if any(s is None for s in specs):
        return [render_line(columns, r) for r in rows]
    fmt = "".join(s for s in specs if s is not None)  # all are, checked above
    if any(c.kind == "repr" for c in columns):
        kinds = [c.kind for c in columns]
        rows = [tuple(float(v) if k == "repr" else v for k, v in zip(kinds, r)) for r in rows]
    return [fmt % tuple(r) for r in rows]


def _number_format(tokens: Sequence[str], kind: str) -> tuple[str, int, bool]:
    """Infer (kind, decimals, plus) of a column from its tokens (regexes over the joined
    column, so a 60 000-row column costs a few C-level scans)."""
    joined = "\n".join(tokens)
    has_plus = re.search(r"^\+", joined, re.MULTILINE) is not None
    has_bare = re.search(r"^[^+-]", joined, re.MULTILINE) is not None
    plus = has_plus and not has_bare
    mixed_sign = has_plus and has_bare
    if kind == "int":
        return "int", -1, plus
    m = _FIXED.match(tokens[0]) if tokens else None
    if m is not None and not mixed_sign:
        decimals = -1 if m.group(2) is None else len(m.group(3))
        frac = "" if decimals < 0 else r"\." + r"\d" * decimals
        if re.fullmatch(rf"(?:[+-]?\d+{frac}\n)*[+-]?\d+{frac}", joined):
            return "fixed", decimals, plus
    return "repr", -1, plus


def infer_columns(lines: Sequence[str], kinds: Sequence[str]) -> list[Column]:
    """Infer the column formats of lines that all have ``len(kinds)`` fields.

    ``kinds`` gives ``"int"``, ``"float"`` or ``"str"`` per field. Lines with another
    number of fields are ignored (the parser has rejected them already).
    """
    n = len(kinds)
    pairs = _TOKEN_LINE.findall("\n".join(lines))
    if len(pairs) != n * len(lines):
        per_line = (_TOKEN.findall(line) for line in lines)
        pairs = [p for q in per_line if len(q) == n for p in q]
    seps = [[len(ws) for ws, _ in pairs[k::n]] for k in range(n)]
    toks = [[tok for _, tok in pairs[k::n]] for k in range(n)]
    lens = [[len(t) for t in col] for col in toks]
    columns = []
    for k, kind in enumerate(kinds):
        if not seps[k]:
            columns.append(Column("str" if kind == "str" else "repr", sep=int(k > 0)))
            continue
        sep = min(seps[k])
        padded = [s + t for s, t in zip(seps[k], lens[k]) if s > sep]
        width = max(padded) if padded else 0
        if kind == "str":
            columns.append(Column("str", sep=sep, width=width))
            continue
        fmt, decimals, plus = _number_format(toks[k], kind)
        columns.append(Column(fmt, sep=sep, width=width, decimals=decimals, plus=plus))
    return columns
