"""Several trainings compared in one figure (OrcaNet's ``Summarizer``).

``km3flow summarize RUN1 RUN2 … -o compare.pdf`` reads every run folder's ``summary.txt``
and draws one panel per quantity (``loss``, ``mae``, …; the union over the runs), one
colour per run: the training curve as a thin line, the validation points as markers on a
dashed line. It also reports each run's best validation point. matplotlib is imported
when a figure is drawn, with the Agg canvas (no global backend is changed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import import_optional
from ..exceptions import ConfigError, FormatError
from .summary import parse_summary, quantities


@dataclass
class RunSummary:
    """One training's summary rows and its best validation point."""

    folder: Path
    label: str
    data: np.ndarray
    best_epoch: float
    best_val_loss: float


def read_run(folder: str | os.PathLike, label: str | None = None) -> RunSummary:
    """Read ``folder/summary.txt``.

    Raises
    ------
    FormatError
        No ``summary.txt`` in ``folder`` (not a training output folder), or one that
        cannot be read.
    """
    folder = Path(folder)
    path = folder / "summary.txt"
    if not path.is_file():
        raise FormatError("no summary.txt: not the output folder of a training", path=folder)
    try:
        data = parse_summary(path)
    except (ValueError, IndexError) as err:
        raise FormatError(f"not a summary table ({err})", path=path) from err
    if data.dtype.names is None or "Epoch" not in data.dtype.names:
        raise FormatError("no Epoch column", path=path)
    best_epoch, best = float("nan"), float("nan")
    if "val_loss" in data.dtype.names and np.isfinite(data["val_loss"]).any():
        k = int(np.nanargmin(data["val_loss"]))
        best_epoch, best = float(data["Epoch"][k]), float(data["val_loss"][k])
    return RunSummary(folder, label or folder.name, data, best_epoch, best)


def plot_runs(folders: Sequence[str | os.PathLike], output: str | os.PathLike,
              labels: Sequence[str] | None = None,
              metrics: Sequence[str] | None = None) -> list[RunSummary]:
    """Plot the summaries of the trainings in ``folders`` into one figure ``output``.

    Parameters
    ----------
    folders
        Training output folders (each with ``summary.txt``).
    output
        The figure: ``.pdf``, ``.png`` or ``.svg`` (written through a temporary name).
    labels
        Legend entries (default: the folder names).
    metrics
        Quantities to draw (default: all, e.g. ``loss`` and ``mae``).

    Returns
    -------
    list of RunSummary
        The runs as read, with their best validation loss.

    Raises
    ------
    ConfigError
        No folders, a label count unlike the folder count, an unknown output suffix or a
        metric no run has.
    FormatError
        A folder without a readable ``summary.txt``.
    """
    if not folders:
        raise ConfigError("summarize needs at least one training folder")
    if labels is not None and len(labels) != len(folders):
        raise ConfigError(f"{len(labels)} labels for {len(folders)} training folders")
    output = Path(output)
    if output.suffix.lower() not in (".pdf", ".png", ".svg"):
        raise ConfigError(f"{output}: the figure must end in .pdf, .png or .svg")
    runs = [read_run(f, labels[i] if labels else None) for i, f in enumerate(folders)]
    names: list[str] = []
    for r in runs:
        names += [q for q in quantities(r.data.dtype.names or ()) if q not in names]
    if metrics:
        unknown = [m for m in metrics if m not in names]
        if unknown:
            raise ConfigError(f"no run has the quantity '{unknown[0]}'; present: "
                              f"{', '.join(names)}")
        names = list(metrics)
    if not names:
        raise FormatError("no train_* column in any summary", path=runs[0].folder)
    _draw(runs, names, output)
    return runs


def _draw(runs: list[RunSummary], names: list[str], output: Path) -> None:
    import_optional("matplotlib", extra="ml")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2 * len(names)))
    FigureCanvasAgg(fig)
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for i, q in enumerate(names):
        ax: Any = fig.add_subplot(len(names), 1, i + 1)
        for run, colour in zip(runs, colours):
            cols = run.data.dtype.names or ()
            epoch = run.data["Epoch"]
            if f"train_{q}" in cols:
                ax.plot(epoch, run.data[f"train_{q}"], "-", color=colour, lw=1, alpha=0.6,
                        label=f"{run.label} (train)")
            if f"val_{q}" in cols:
                ok = np.isfinite(run.data[f"val_{q}"])
                if ok.any():
                    ax.plot(epoch[ok], run.data[f"val_{q}"][ok], "o--", color=colour, ms=4,
                            label=f"{run.label} (validation)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(q)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    tmp = output.with_name(f".{output.stem}.tmp{os.getpid()}{output.suffix}")
    try:
        fig.savefig(str(tmp))
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
