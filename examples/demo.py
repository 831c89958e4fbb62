"""The km3flow demo: real KM3NeT sample files through pipelines, into HDF5 and back.

1. ``km3flow convert`` an offline ROOT file (aanet format), calibrating its hits with the
   matching detector file on the way;
2. ``km3flow convert`` a raw DAQ event stream (as written by the detector's data writer);
3. read both HDF5 files back with HDF5Pump and show a preview, and the provenance record.

The sample files come from the PyPI package km3net-testdata. Run: ``./km3 demo``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from km3net_testdata import data_path

import km3flow as kp
from km3flow.cli.main import main as km3flow_cli


def banner(text: str) -> None:
    print(f"\n{'#' * 78}\n# {text}\n{'#' * 78}")


def preview(table: kp.Table, columns: list[str], rows: int = 5) -> None:
    cols = [c for c in columns if c in table.columns]
    print(f"{table.name} at {table.h5loc}: {len(table)} rows; first {min(rows, len(table))}:")
    print("  " + " ".join(f"{c:>12}" for c in cols))
    for row in np.asarray(table[:rows]):
        print("  " + " ".join(f"{row[c]:>12.5g}" if np.issubdtype(type(row[c]), np.floating)
                              else f"{row[c]:>12}" for c in cols))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outdir", default="demo-output")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    offline_h5 = os.path.join(args.outdir, "km3net_offline.h5")
    daq_h5 = os.path.join(args.outdir, "IO_EVT.h5")

    banner("1. offline ROOT (aanet) + detector calibration -> HDF5")
    rc = km3flow_cli(["convert", data_path("offline/km3net_offline.root"),
                      "--detector", data_path("detx/km3net_offline.detx"), "-o", offline_h5,
                      "--overwrite"])  # the demo's own folder: a second run replaces it
    if rc:
        return rc

    banner("2. DAQ binary event stream -> HDF5")
    rc = km3flow_cli(["convert", data_path("daq/IO_EVT.dat"), "-o", daq_h5, "--overwrite"])
    if rc:
        return rc

    banner("3. reading back with HDF5Pump")
    with kp.io.HDF5Pump(filename=offline_h5) as pump:
        blob = pump[0]
        print(blob)
        preview(blob["Hits"], ["dom_id", "channel_id", "time", "tot", "triggered",
                               "pos_x", "pos_y", "pos_z", "t0"])
        preview(blob["Tracks"], ["id", "energy", "likelihood", "dir_x", "dir_y", "dir_z"])
    with kp.io.HDF5Pump(filename=daq_h5) as pump:
        print(f"{daq_h5}: {len(pump)} events")
        preview(pump[0]["Hits"], ["dom_id", "channel_id", "time", "tot", "triggered"])

    banner("4. provenance and layout of the file (km3flow h5info)")
    return km3flow_cli(["h5info", offline_h5])


if __name__ == "__main__":
    raise SystemExit(main())
