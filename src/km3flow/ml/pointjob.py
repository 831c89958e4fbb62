"""Write point-cloud training files from KM3Pipe-layout HDF5 files (``km3flow bin``, points).

Called by :func:`km3flow.ml.binjob.bin_files` when the bin config says
``binning.kind = "points"``; see :mod:`km3flow.ml.points` for the layout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigError
from ..logger import get_logger
from .h5layout import EventSource, TrainingFileWriter
from .points import DEFAULT_COLUMNS, select_points

log = get_logger("bin")


def _options(config: dict[str, Any]) -> dict[str, Any]:
    pts = config.get("points", {})
    window = pts.get("time_window")
    if window is not None and (len(window) != 2 or not float(window[0]) < float(window[1])):
        raise ConfigError(f"{config.get('source', 'bin config')}: points.time_window must be "
                          f"[lo, hi] with lo < hi, got {window}")
    max_hits = pts.get("max_hits")
    if max_hits is not None and int(max_hits) < 1:
        raise ConfigError(f"{config.get('source', 'bin config')}: points.max_hits must be "
                          f">= 1, got {max_hits}")
    return {"columns": list(pts.get("columns", DEFAULT_COLUMNS)),
            "time_window": None if window is None else [float(v) for v in window],
            "only_triggered": bool(pts.get("only_triggered", False)),
            "max_hits": None if max_hits is None else int(max_hits),
            "seed": int(pts.get("seed", 0)),
            "detector": pts.get("detector")}


def bin_points(config: dict[str, Any], paths: list[Path], output: str | os.PathLike,
               engine: str, drain_kwargs: dict[str, Any],
               progress: bool = False) -> dict[str, Any]:
    """Write the point clouds and labels of all events of ``paths`` into ``output``."""
    opts = _options(config)
    b, lab = config["binning"], config["labels"]
    complib = b.get("complib", "blosc:lz4")
    complevel = int(b.get("complevel", 5))
    if engine == "pipeline":
        n_events = _pipeline(b, lab, opts, paths, Path(output), complib, complevel,
                             drain_kwargs, progress)
    elif drain_kwargs:
        raise ConfigError("workers/executor need engine='pipeline'")
    elif engine == "chunked":
        n_events = _chunked(b, lab, opts, paths, Path(output), complib, complevel)
    else:
        raise ConfigError(f"engine must be 'pipeline' or 'chunked', got {engine!r}")
    import tables

    loc = b.get("image_h5loc", "/x")
    with tables.open_file(str(output)) as h5:
        n_hits = int(h5.get_node(loc).shape[0])
    return {"events": n_events, "shape": (None, len(opts["columns"])), "hits": n_hits,
            "columns": opts["columns"], "output": Path(output)}


def _pipeline(b: dict[str, Any], lab: dict[str, Any], opts: dict[str, Any],
              paths: list[Path], output: Path, complib: str, complevel: int,
              drain_kwargs: dict[str, Any], progress: bool) -> int:
    import tables

    from ..core import Pipeline
    from ..io.hdf5 import HDF5Pump
    from .binjob import _camel, drain_to_file
    from .points import PointCloudMaker

    hits_loc = b.get("hits", "/hits")
    tracks_loc = lab.get("tracks", "/mc_tracks")
    loc = b.get("image_h5loc", "/x")
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filenames=[str(p) for p in paths],
                h5locs=[hits_loc, tracks_loc, "/event_info"])
    pipe.attach(PointCloudMaker, hits_key=_camel(hits_loc), tracks_key=_camel(tracks_loc),
                label_columns=lab.get("columns"), track_row=int(lab.get("track_row", 0)),
                info_columns=lab.get("event_info"),
                time_reference=b.get("time_reference", "mean_triggered"),
                points_h5loc=loc, label_h5loc=b.get("label_h5loc", "/y"),
                require_labels=True, **opts)

    def column_attributes(part: Path) -> None:
        # OrcaSong's column attributes, so that its readers (and ours) know the columns
        with tables.open_file(str(part), mode="a") as h5:
            node = h5.get_node(loc)
            for i, c in enumerate(opts["columns"]):
                node._v_attrs[f"hit_info_{i}"] = c
            node._v_attrs["indexed"] = True

    return drain_to_file(pipe, output, ["Points", "Labels"], complib, complevel, drain_kwargs,
                         progress, finalize=column_attributes)


def _chunked(b: dict[str, Any], lab: dict[str, Any], opts: dict[str, Any],
             paths: list[Path], output: Path, complib: str, complevel: int) -> int:
    from .binjob import _labels

    detector = opts["detector"]
    if detector is not None:
        from ..calib import _as_detector, calibrate

        detector = _as_detector(detector)
    chunk = int(b.get("chunk_events", 256))
    n_events = 0
    with TrainingFileWriter(output, complib=complib, complevel=complevel) as writer:
        for path in paths:
            with EventSource(path, hits_loc=b.get("hits", "/hits"),
                             tracks_loc=lab.get("tracks", "/mc_tracks")) as src:
                for start in range(0, len(src), chunk):
                    stop = min(start + chunk, len(src))
                    cols: Any  # the hit columns: a dict, or the calibrated hits Table
                    cols, offsets = src.hit_columns(start, stop)
                    if detector is not None:
                        n = len(next(iter(cols.values())))
                        arr = np.empty(n, dtype=[(c, v.dtype) for c, v in cols.items()])
                        for c, v in cols.items():
                            arr[c] = v
                        cols = calibrate(arr, detector)
                    points, counts = select_points(
                        cols, offsets, opts["columns"],
                        b.get("time_reference", "mean_triggered"), opts["time_window"],
                        opts["only_triggered"], opts["max_hits"], opts["seed"])
                    labels = _labels(src, lab, np.arange(start, stop))
                    writer.append_points(b.get("image_h5loc", "/x"), points, counts,
                                         opts["columns"],
                                         tables={b.get("label_h5loc", "/y"): labels})
                    n_events += stop - start
            log.info("wrote the points of %s", path)
    return n_events
