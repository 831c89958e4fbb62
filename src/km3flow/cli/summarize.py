"""``km3flow summarize RUN1 RUN2 … -o compare.pdf``: several trainings in one figure."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="training output folders (with summary.txt)")
    parser.add_argument("-o", "--output", default="summary_comparison.pdf",
                        help="figure to write: .pdf, .png or .svg "
                             "(default summary_comparison.pdf)")
    parser.add_argument("--labels", nargs="+", metavar="LABEL",
                        help="legend entry per run (default: the folder names)")
    parser.add_argument("--metric", nargs="+", dest="metrics", metavar="NAME",
                        help="quantities to plot (default: all, e.g. loss mae)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    from ..logger import say
    from ..ml.compare import plot_runs
    from ..ml.h5events import check_output

    check_output(args.output, args.overwrite)
    for r in plot_runs(args.runs, args.output, args.labels, args.metrics):
        best = (f"best val_loss {r.best_val_loss:.4g} at epoch {r.best_epoch:.4g}"
                if r.best_val_loss == r.best_val_loss else "no validation")
        say(f"{r.label}: {len(r.data)} summary points, last epoch "
            f"{r.data['Epoch'][-1] if len(r.data) else 0:.4g}, {best}")
    say(f"figure: {args.output}")
    return 0
