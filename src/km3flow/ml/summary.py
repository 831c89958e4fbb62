"""The training summary: ``summary.txt`` in the talk's format, its parser and the plots.

``summary.txt`` holds one line per summary point (fractional epoch)::

    Epoch | LR       | train_loss | val_loss | train_acc | val_acc
    ------+----------+------------+----------+-----------+--------
    0.25  | 0.005    | 0.07776    | 0.05562  | 0.971     | 0.9808
    0.5   | 0.00465  | 0.05034    | nan      | 0.9822    | nan

``nan`` marks points without a validation. Every file is written to a temporary name and
renamed, so an interrupted training never leaves a half-written summary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import import_optional


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.4g}"


def format_summary(columns: Sequence[str], rows: Sequence[Sequence[float]]) -> str:
    """Render rows of floats under ``columns`` in the ``summary.txt`` format."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("-+-".join("-" * w for w in widths))
    for r in cells:
        lines.append(" | ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return "\n".join(lines) + "\n"


def parse_summary(path: str | os.PathLike) -> np.ndarray:
    """Read a ``summary.txt`` back into a structured array (one float field per column)."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        return np.zeros(0, dtype=[("Epoch", "f8")])
    columns = [c.strip() for c in lines[0].split("|")]
    dtype = np.dtype([(c, "f8") for c in columns])
    body = [ln for ln in lines[2:]]
    out = np.empty(len(body), dtype=dtype)
    for i, ln in enumerate(body):
        values = [float(v) for v in ln.split("|")]
        out[i] = tuple(values)
    return out


def quantities(columns: Sequence[str]) -> list[str]:
    """The plotted quantities: ``loss``, ``acc``, … (columns ``train_X``/``val_X``)."""
    return [c[len("train_"):] for c in columns if c.startswith("train_")]


def plot_summary(data: np.ndarray, pdf_path: str | os.PathLike,
                 png_path: str | os.PathLike | None = None) -> None:
    """Draw training/validation curves vs epoch into a PDF (one page each) and a PNG.

    Uses matplotlib's object API with the Agg canvas, so no global backend is changed.
    """
    import_optional("matplotlib", extra="ml")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    names = quantities(data.dtype.names or ())

    def draw(ax: Any, q: str) -> None:
        epoch = data["Epoch"]
        ax.plot(epoch, data[f"train_{q}"], "o-", ms=3, label=f"train {q}")
        if f"val_{q}" in (data.dtype.names or ()):
            ok = np.isfinite(data[f"val_{q}"])
            if ok.any():
                ax.plot(epoch[ok], data[f"val_{q}"][ok], "s--", ms=4, label=f"validation {q}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(q)
        ax.grid(alpha=0.3)
        ax.legend()

    pdf_path = Path(pdf_path)
    tmp = pdf_path.with_name(f".{pdf_path.name}.tmp{os.getpid()}")
    with PdfPages(tmp) as pdf:
        for q in names:
            fig = Figure(figsize=(7, 4.5))
            FigureCanvasAgg(fig)
            draw(fig.add_subplot(), q)
            fig.tight_layout()
            pdf.savefig(fig)
    os.replace(tmp, pdf_path)
    if png_path is not None:
        png_path = Path(png_path)
        fig = Figure(figsize=(6, 3.5 * len(names)))
        canvas = FigureCanvasAgg(fig)
        for i, q in enumerate(names):
            draw(fig.add_subplot(len(names), 1, i + 1), q)
        fig.tight_layout()
        tmp = png_path.with_name(f".{png_path.name}.tmp{os.getpid()}.png")
        canvas.print_png(str(tmp))
        os.replace(tmp, png_path)
