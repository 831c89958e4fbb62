"""Point-cloud test files: the testdata muons calibrated with a renumbered ORCA-115 detector.

The hits of ``hdf5/atmospheric_muons_sample.h5`` carry DOM ids ``100 * du + floor``; the
115-string ORCA detector of km3net-testdata numbers its DOMs 1..2070 with the same du and
floor layout, so its DOM ids are rewritten to match (inside the test session).
"""

from __future__ import annotations

from pathlib import Path

import tables
from km3net_testdata import data_path

from km3flow.io.detector import read_detector
from km3flow.ml.h5layout import TrainingFileWriter

COLUMNS = ["pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "time", "tot"]
DETX = "detx/orca_115strings_av20min17mhorizontal_18OMs_alt9mvertical_v2.detx"


def write_detector(path):
    det = read_detector(data_path(DETX))
    with det.edit():
        det.doms["dom_id"] = det.doms["du"] * 100 + det.doms["floor"]
        det.pmts["dom_id"] = det.pmts["du"] * 100 + det.pmts["floor"]
    det.write(path)
    return Path(path)


def points_config(detector, **points):
    return {"binning": {"kind": "points", "time_reference": "mean_triggered"},
            "points": {"columns": COLUMNS, "only_triggered": True, "max_hits": 48, "seed": 1,
                       "detector": str(detector), **points},
            "labels": {"columns": ["dir_x", "dir_y", "dir_z", "energy", "type", "is_cc"],
                       "event_info": ["event_id", "run_id"]}}


def read_points(path):
    """(points, index, labels) of a point file."""
    with tables.open_file(str(path)) as h5:
        return h5.root.x[:], h5.root.x_indices[:], h5.root.y[:]


def write_points_subset(source, target, events, labels=None):
    """Copy the events ``events`` (a slice) of a point file (optionally other labels)."""
    with tables.open_file(str(source)) as h5:
        idx = h5.root.x_indices[events]
        first, last = int(idx["index"][0]), int(idx["index"][-1] + idx["n_items"][-1])
        points = h5.root.x[first:last]
        y = h5.root.y[events] if labels is None else labels
        columns = [h5.root.x.attrs[f"hit_info_{i}"] for i in range(points.shape[1])]
    with TrainingFileWriter(target) as w:
        w.append_points("/x", points, idx["n_items"], [str(c) for c in columns],
                        tables={"/y": y})
    return Path(target)
