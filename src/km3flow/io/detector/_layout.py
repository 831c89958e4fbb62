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
from dataclasses import dataclass
from typing import Sequence

_TOKEN = re.compile(r"(\s*)(\S+)")
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

    def render(self, value: object) -> str:
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


def render_line(columns: Sequence[Column], values: Sequence[object]) -> str:
    """Render one line from its column formats and values."""
    return "".join(c.render(v) for c, v in zip(columns, values))


def _number_format(tokens: Sequence[str], kind: str) -> tuple[str, int, bool]:
    """Infer (kind, decimals, plus) of a column from its tokens."""
    nonneg = [t for t in tokens if not t.startswith("-")]
    plus = bool(nonneg) and all(t.startswith("+") for t in nonneg)
    if not plus and any(t.startswith("+") for t in nonneg):
        plus = None  # mixed sign styles: no single format reproduces them
    if kind == "int":
        return "int", -1, bool(plus)
    decimals: set[int] = set()
    fixed = plus is not None
    if fixed:
        for t in tokens:
            m = _FIXED.match(t)
            if m is None:
                fixed = False
                break
            decimals.add(-1 if m.group(2) is None else len(m.group(3)))
            if len(decimals) > 1:
                fixed = False
                break
    if fixed and decimals:
        return "fixed", decimals.pop(), bool(plus)
    return "repr", -1, bool(plus)


def infer_columns(lines: Sequence[str], kinds: Sequence[str]) -> list[Column]:
    """Infer the column formats of lines that all have ``len(kinds)`` fields.

    ``kinds`` gives ``"int"``, ``"float"`` or ``"str"`` per field. Lines with another
    number of fields are ignored (the parser has rejected them already).
    """
    n = len(kinds)
    seps: list[list[int]] = [[] for _ in range(n)]
    lens: list[list[int]] = [[] for _ in range(n)]
    toks: list[list[str]] = [[] for _ in range(n)]
    for line in lines:
        pairs = _TOKEN.findall(line)
        if len(pairs) != n:
            continue
        for k, (ws, tok) in enumerate(pairs):
            seps[k].append(len(ws))
            lens[k].append(len(tok))
            toks[k].append(tok)
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
