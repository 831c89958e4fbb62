"""``km3flow detx FILE``: summarise a detector file (DETX or DATX), optionally convert it."""

from __future__ import annotations

import argparse
import datetime
import math
from typing import Any

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a .detx or .datx detector file")
    parser.add_argument("--dus", action="store_true",
                        help="also list the DUs with their number of floors and DOMs")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-o", "--output", default=None,
                        help="write the detector to this file (.detx or .datx)")
    parser.add_argument("--detx-version", type=int, default=None, choices=range(1, 6),
                        metavar="{1..5}",
                        help="DETX version to write with -o (default: the file's own)")


def _utc(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds >= 9_999_999_999:
        return "open" if math.isfinite(seconds) else "-"
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def _du_rows(det: Any) -> list[dict[str, int]]:
    du = np.asarray(det.doms["du"])
    floor = np.asarray(det.doms["floor"])
    n_pmts = np.asarray(det.doms["n_pmts"])
    rows = []
    for d in det.dus.tolist():
        m = du == d
        rows.append({"du": int(d), "n_floors": len(np.unique(floor[m])),
                     "n_doms": int(m.sum()), "n_pmts": int(n_pmts[m].sum())})
    return rows


def _check_output(path: str) -> None:
    import os

    from ..exceptions import ConfigError

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"{path}: the directory '{directory}' does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"{path}: is a directory; -o names the file to write")


def run(args: argparse.Namespace) -> int:
    from ..io.detector import read_detector

    if args.output:
        _check_output(args.output)  # before any output, so an error is the only line
    det = read_detector(args.file)
    summary = det.summary()
    summary["file"] = args.file
    summary["format"] = "DATX" if args.file.lower().endswith(".datx") else "DETX"
    if args.dus:
        summary["dus"] = _du_rows(det)
    if args.json:
        from ._json import strict_dumps

        print(strict_dumps(summary, indent=2))
    else:
        print(f"{summary['file']}: {summary['format']} v{summary['version']}, "
              f"detector id {summary['det_id']}")
        print(f"  DUs: {summary['n_dus']}   floors: {summary['n_floors']}   "
              f"DOMs: {summary['n_doms']} ({summary['n_optical_doms']} optical, "
              f"{summary['n_base_modules']} base modules)   PMTs: {summary['n_pmts']}")
        if det.version >= 2:
            print(f"  valid: {_utc(det.valid_from)} .. {_utc(det.valid_until)}")
            print(f"  UTM reference: {summary['utm']}")
        if args.dus:
            print("  DU  floors  DOMs  PMTs")
            for row in summary["dus"]:
                print(f"  {row['du']:>3} {row['n_floors']:>6} {row['n_doms']:>5} "
                      f"{row['n_pmts']:>5}")
    if args.output:
        from ..logger import say

        det.write(args.output, version=args.detx_version)
        say(f"written: {args.output}")
    return 0
