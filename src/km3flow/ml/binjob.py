"""Bin whole KM3Pipe-layout HDF5 files into a training file (``km3flow bin``).

The bin config TOML::

    [binning]
    hits = "/hits"                 # split hits group with _indices
    time_reference = "mean_triggered"
    weights = "tot"                # optional: sum a column instead of counting hits
    dtype = "uint8"                # default: uint8 for hit counts (saturating at 255, with a
                                   # warning), float32 when weights are summed
    chunk_events = 256             # events binned per vectorised call
    complib = "blosc:lz4"          # compression of the output; "zlib" is KM3Pipe's default
                                   # (readable without the blosc plugin, but reads 2-5x slower)

    [[dimensions]]
    column = "channel_id"
    categories = "auto"            # all values present in the inputs, or a list
    [[dimensions]]
    column = "time"
    range = [-500.0, 1500.0]
    bins = 20
    [[dimensions]]                 # bins from the detector geometry (calibrated hits)
    column = "pos_z"
    detector = "detector.detx"     # one bin per DOM height; also du, floor, dom_id, …

    [labels]
    columns = ["dir_x", "dir_y", "dir_z", "energy"]   # from /mc_tracks (default: all)
    track_row = 0                                     # which track of an event (primary)
    event_info = ["event_id", "run_id"]               # copied from /event_info

Events are read, binned and written chunk by chunk (one np.bincount per chunk).

Point clouds for graph networks (:mod:`km3flow.ml.points`) instead of images::

    [binning]
    kind = "points"                # default "image"
    time_reference = "mean_triggered"

    [points]
    columns = ["pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "time", "tot",
               "triggered"]      # per hit, in this order (time relative to the reference)
    time_window = [-500.0, 1500.0] # optional: ns after the reference, ends included
    only_triggered = false
    max_hits = 200                 # optional: a seeded random subset of larger events
    seed = 0
    detector = "detector.detx"     # optional: calibrate the hits first (adds pos/dir)

    [labels]                       # as for images
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigError, FormatError, Km3flowError
from ..logger import get_logger
from .binning import TIME_REFERENCES, Dimension, bin_hits, primary_labels
from .config import _read_toml, _unknown
from .h5layout import EventSource, TrainingFileWriter

log = get_logger("bin")

_BINNING_KEYS = {"kind", "hits", "time_reference", "weights", "dtype", "chunk_events", "complib",
                 "complevel", "image_h5loc", "label_h5loc"}
_LABEL_KEYS = {"columns", "track_row", "event_info", "tracks"}
_POINT_KEYS = {"columns", "time_window", "only_triggered", "max_hits", "seed", "detector"}
KINDS = ("image", "points")


def read_bin_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a bin config TOML (see the module docstring)."""
    p = Path(path)
    data = _read_toml(p, "bin config")
    _unknown(p, "", data, {"binning", "dimensions", "labels", "points"})
    binning = data.get("binning", {})
    _unknown(p, "binning.", binning, _BINNING_KEYS)
    labels = data.get("labels", {})
    _unknown(p, "labels.", labels, _LABEL_KEYS)
    kind = binning.get("kind", "image")
    if kind not in KINDS:
        raise ConfigError(f"{p}: binning.kind must be one of {KINDS}, got {kind!r}")
    points = data.get("points", {})
    _unknown(p, "points.", points, _POINT_KEYS)
    if kind == "points":
        if "dimensions" in data:
            raise ConfigError(f"{p}: [[dimensions]] are for images; binning.kind = 'points' "
                              "takes a [points] section")
        if "detector" in points and not Path(points["detector"]).is_absolute():
            points = {**points, "detector": str(p.parent / points["detector"])}
        return {"binning": binning, "points": points, "labels": labels, "source": str(p)}
    if points:
        raise ConfigError(f"{p}: a [points] section needs binning.kind = 'points'")
    dims = data.get("dimensions")
    if not dims:
        raise ConfigError(f"{p}: no [[dimensions]] given")
    if binning.get("time_reference", "mean_triggered") not in TIME_REFERENCES:
        raise ConfigError(f"{p}: binning.time_reference must be one of {TIME_REFERENCES}")
    return {"binning": binning, "dimensions": dims, "labels": labels, "source": str(p)}


def _dimensions(specs: Sequence[dict[str, Any]], inputs: Sequence[Path],
                hits_loc: str) -> list[Dimension]:
    import tables

    dims = []
    for spec in specs:
        if spec.get("categories") == "auto":
            column = spec["column"]
            values = []
            for path in inputs:
                with tables.open_file(str(path)) as h5:
                    loc = f"{hits_loc}/{column}"
                    if loc not in h5:
                        raise FormatError(f"no hit column {loc}", path=path)
                    values.append(np.unique(h5.get_node(loc).read()))
            spec = {**spec, "categories": np.unique(np.concatenate(values))}
        dims.append(Dimension.from_config(spec))
    return dims


def bin_files(config: dict[str, Any] | str | os.PathLike, inputs: Sequence[str | os.PathLike],
              output: str | os.PathLike, engine: str = "pipeline",
              drain_kwargs: dict[str, Any] | None = None,
              progress: bool = False) -> dict[str, Any]:
    """Bin the hits of all events of ``inputs`` into one training file ``output``.

    Parameters
    ----------
    config
        A bin config (dict or TOML path, see the module docstring).
    inputs
        KM3Pipe-layout HDF5 files with a split hits group.
    output
        The training file to write.
    engine
        ``"pipeline"`` (default): HDF5Pump → :class:`~km3flow.ml.binning.ImageBinner` →
        HDF5Sink, one blob per event. ``"chunked"``: reads and bins ``chunk_events`` events
        per vectorised call and writes with :class:`TrainingFileWriter` (several times faster
        on small events).
    drain_kwargs
        Passed to ``Pipeline.drain`` (``workers=N`` or ``executor=client``, see
        :mod:`km3flow.parallel`); pipeline engine only.
    progress
        Show a progress bar (input bytes, files and events done, rate, ETA; pipeline
        engine only), silent when printing is off.

    Returns
    -------
    dict
        ``events``, ``shape`` (image shape; for points ``(None, n_columns)``), ``output``
        and for points ``hits`` (rows written) and ``columns``.
    """
    if not isinstance(config, dict):
        config = read_bin_config(config)
    b, lab = config["binning"], config["labels"]
    hits_loc = b.get("hits", "/hits")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.is_file():
            raise FormatError("input file does not exist", path=p)
    if b.get("kind", "image") == "points":
        from .pointjob import bin_points

        return bin_points(config, paths, output, engine, drain_kwargs or {}, progress)
    dims = _dimensions(config["dimensions"], paths, hits_loc)
    dtype = np.dtype(b.get("dtype", "float32" if b.get("weights") else "uint8"))
    complib = b.get("complib", "blosc:lz4")
    complevel = int(b.get("complevel", 5))
    if engine == "pipeline":
        n_events = _bin_pipeline(b, lab, dims, dtype, paths, output, complib, complevel,
                                 drain_kwargs or {}, progress)
    elif drain_kwargs:
        raise ConfigError("workers/executor need engine='pipeline'")
    elif engine == "chunked":
        n_events = _bin_chunked(b, lab, dims, dtype, paths, output, complib, complevel)
    else:
        raise ConfigError(f"engine must be 'pipeline' or 'chunked', got {engine!r}")
    shape = tuple(d.size for d in dims)
    return {"events": n_events, "shape": shape, "output": Path(output)}


def _bin_pipeline(b: dict[str, Any], lab: dict[str, Any], dims: list[Dimension],
                  dtype: np.dtype, paths: list[Path], output: str | os.PathLike,
                  complib: str, complevel: int, drain_kwargs: dict[str, Any],
                  progress: bool = False) -> int:
    from ..core import Pipeline
    from ..io.hdf5 import HDF5Pump
    from .binning import ImageBinner

    hits_loc = b.get("hits", "/hits")
    tracks_loc = lab.get("tracks", "/mc_tracks")
    pipe = Pipeline()
    pipe.attach(HDF5Pump, filenames=[str(p) for p in paths],
                h5locs=[hits_loc, tracks_loc, "/event_info"])
    pipe.attach(ImageBinner, dimensions=dims, hits_key=_camel(hits_loc),
                tracks_key=_camel(tracks_loc), label_columns=lab.get("columns"),
                track_row=int(lab.get("track_row", 0)), info_columns=lab.get("event_info"),
                time_reference=b.get("time_reference", "mean_triggered"),
                weights=b.get("weights"), dtype=dtype,
                image_h5loc=b.get("image_h5loc", "/x"), label_h5loc=b.get("label_h5loc", "/y"),
                require_labels=True)
    # ImageBinner never drops a blob: cycles are events
    return drain_to_file(pipe, Path(output), ["Image", "Labels"], complib, complevel,
                         drain_kwargs, progress)


def drain_to_file(pipe: Any, output: Path, keys: list[str], complib: str, complevel: int,
                  drain_kwargs: dict[str, Any], progress: bool,
                  finalize: Callable[[Path], None] | None = None) -> int:
    """Attach the progress bar and the sink of a binning pipeline, drain it, and put the
    file under ``output`` only when it is complete; return the number of cycles.

    ``finalize(part)`` may add to the finished file before it takes the output's name.
    """
    from ..exceptions import ModuleError
    from ..io.hdf5 import HDF5Sink

    if progress and not drain_kwargs:
        from ..modules import ProgressBar

        pipe.attach(ProgressBar)
    elif progress:
        drain_kwargs = {**drain_kwargs, "progress": True}
    # The sink finishes its file even when a module failed; only a complete binning may
    # appear under the output name.
    part = output.with_name(f".{output.name}.binning.h5")
    pipe.attach(HDF5Sink, filename=str(part), keys=keys, complib=complib,
                complevel=complevel, shuffle=not complib.startswith("blosc"),
                keep_partial=False)
    try:
        pipe.drain(**drain_kwargs)
        if finalize is not None:
            finalize(part)
    except ModuleError as err:
        part.unlink(missing_ok=True)
        # the module's own km3flow error, as the user would get it without a pipeline
        raise err.__cause__ if isinstance(err.__cause__, Km3flowError) else err  # noqa: B904
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, output)
    return int(pipe.cycles)


def _camel(h5loc: str) -> str:
    return "".join(part.capitalize() for part in h5loc.strip("/").replace("/", "_").split("_"))


def _bin_chunked(b: dict[str, Any], lab: dict[str, Any], dims: list[Dimension],
                 dtype: np.dtype, paths: list[Path], output: str | os.PathLike,
                 complib: str, complevel: int) -> int:
    hits_loc = b.get("hits", "/hits")
    chunk = int(b.get("chunk_events", 256))
    n_events = 0
    with TrainingFileWriter(output, complib=complib, complevel=complevel) as writer:
        for path in paths:
            with EventSource(path, hits_loc=hits_loc,
                             tracks_loc=lab.get("tracks", "/mc_tracks")) as src:
                for start in range(0, len(src), chunk):
                    stop = min(start + chunk, len(src))
                    cols, offsets = src.hit_columns(start, stop)
                    images = bin_hits(cols, offsets, dims,
                                      b.get("time_reference", "mean_triggered"),
                                      b.get("weights"), dtype)
                    labels = _labels(src, lab, np.arange(start, stop))
                    writer.append(images={b.get("image_h5loc", "/x"): images},
                                  tables={b.get("label_h5loc", "/y"): labels})
                    n_events += stop - start
            log.info("binned %s", path)
    return n_events


def _labels(src: EventSource, spec: dict[str, Any], groups: np.ndarray) -> np.ndarray:
    parts = []
    if src.tracks is None:
        raise FormatError("no MC tracks table for the labels", path=src.path)
    try:
        parts.append(primary_labels(src.tracks, groups, spec.get("columns"),
                                    int(spec.get("track_row", 0))))
    except Exception as err:
        raise FormatError(str(err), path=src.path) from err
    info_cols = spec.get("event_info", [])
    if info_cols:
        if src.info is None:
            raise FormatError("no /event_info table for labels.event_info", path=src.path)
        missing = [c for c in info_cols if c not in src.info.dtype.names]
        if missing:
            raise FormatError(f"/event_info has no column(s) {missing}", path=src.path)
        info = src.info
        rows = groups
        if "group_id" in info.dtype.names:
            rows = np.minimum(np.searchsorted(info["group_id"], groups), len(info) - 1)
            if not np.array_equal(info["group_id"][rows], groups):
                raise FormatError("/event_info lacks rows for some events", path=src.path)
        elif len(info) <= int(groups.max()):
            raise FormatError(f"/event_info has {len(info)} rows, fewer than the events",
                              path=src.path)
        parts.append(info[rows][info_cols])
    names = [(n, p.dtype[n]) for p in parts for n in (p.dtype.names or ())]
    out = np.empty(len(groups), dtype=names)
    for p in parts:
        for n in p.dtype.names or ():
            out[n] = p[n]
    return out
