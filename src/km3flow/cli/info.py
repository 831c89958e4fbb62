"""``km3flow info FILE…``: what a KM3NeT file is and what it holds."""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from typing import Any

import numpy as np

from ..io.detect import detect, reader_class

_YEAR_2000 = 946684800  # UTC seconds; no KM3NeT data is older
_TIME_COLUMNS = (("utc_seconds", "EventInfo"), ("timestamp", "SummarysliceInfo"),
                 ("timestamp", "TimesliceInfo"))
# What one entry of a ROOT tree is, by tree name (online trees by prefix).
_TREE_ITEMS = {"E": "offline events", "KM3NET_EVENT": "events",
               "KM3NET_SUMMARYSLICE": "summary slices", "KM3NET_TIMESLICE": "timeslices"}


def _tree_items(name: str) -> str:
    if name in _TREE_ITEMS:
        return _TREE_ITEMS[name]
    if name.startswith("KM3NET_TIMESLICE_"):
        return f"timeslices ({name.rsplit('_', 1)[1]})"
    return "entries"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE")
    from ._argtypes import count

    parser.add_argument("--max-blobs", type=count, default=None,
                        help="look at most at this many blobs per file (default: all)")
    parser.add_argument("--lenient", action="store_true",
                        help="EVT: drop malformed lines with one warning per file instead of "
                             "stopping at the first (strict=False)")


def describe_file(path: str, max_blobs: int | None = None,
                  lenient: bool = False) -> dict[str, Any]:
    """Collect format, counts, time range and detector id of one file (``lenient``: read
    EVT files with ``strict=False``)."""
    spec = detect(path)
    info: dict[str, Any] = {"file": path, "format": spec.name,
                            "size_bytes": os.path.getsize(path)}
    if spec.family == "detector":
        from ..io.detector import read_detector

        det = read_detector(path)
        info.update(det_id=det.det_id, n_doms=len(det.dom_ids), n_pmts=len(det.pmts))
        return info
    if spec.family == "root":
        from ..io.root._file import top_trees

        info["trees"] = top_trees(path)
    rows: dict[str, int] = defaultdict(int)
    det_ids: set[int] = set()
    t_min, t_max = np.inf, -np.inf
    cls = reader_class(spec, path)
    lenient_params: dict[str, Any] = (
        {"strict": False} if lenient and "strict" in cls.declared_parameters else {})
    with cls(**{spec.input: path}, **lenient_params) as pump:
        try:
            info["blobs"] = len(pump)
        except TypeError:
            info["blobs"] = None
        n = 0
        for blob in pump:
            if max_blobs is not None and n >= max_blobs:
                break
            n += 1
            for key, value in blob.items():
                if not isinstance(value, np.ndarray) or value.ndim == 0:
                    continue
                if getattr(value, "h5singleton", False):
                    rows[key] = len(value)  # the same table (a header) in every blob
                    continue
                rows[key] += len(value)
                names = value.dtype.names or ()
                if "det_id" in names and len(value):
                    # 0 means "no detector" (simulation without one), -1 "not in the format"
                    det_ids.update(int(d) for d in np.unique(value["det_id"]) if d > 0)
                for column, table in _TIME_COLUMNS:
                    if key == table and column in names and len(value):
                        times = np.asarray(value[column])
                        # Simulations count seconds from 0; only real stamps make a range.
                        # The schema fills unsigned columns a format lacks with their maximum.
                        times = times[(times >= _YEAR_2000) & (times < np.iinfo(np.uint32).max)]
                        if times.size:
                            t_min = min(t_min, float(times.min()))
                            t_max = max(t_max, float(times.max()))
        info["blobs_read"] = n
    info["rows"] = dict(rows)
    info["det_ids"] = sorted(det_ids)
    if np.isfinite(t_min):
        info["utc_seconds"] = (int(t_min), int(t_max))
    return info


def run(args: argparse.Namespace) -> int:
    import datetime as dt

    for path in args.files:
        info = describe_file(path, args.max_blobs, args.lenient)
        print(f"{info['file']}")
        print(f"  format: {info['format']} ({info['size_bytes']} bytes)")
        if "n_doms" in info:
            print(f"  detector {info['det_id']}: {info['n_doms']} DOMs, {info['n_pmts']} PMTs")
            continue
        total = info["blobs"] if info["blobs"] is not None else "unknown"
        print(f"  blobs: {total} (read {info['blobs_read']})")
        if info["det_ids"]:
            print(f"  detector id: {', '.join(str(d) for d in info['det_ids'])}")
        if "utc_seconds" in info:
            lo, hi = (dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()
                      for t in info["utc_seconds"])
            print(f"  time range (UTC): {lo} .. {hi}")
        for key, n in sorted(info["rows"].items()):
            print(f"  {key}: {n} rows")
        if info.get("trees"):
            print("  trees:")
            width = max(len(name) for name in info["trees"])
            for name, n in info["trees"].items():
                print(f"    {name:<{width}} {n} {_tree_items(name)}")
    return 0
