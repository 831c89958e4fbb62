"""``km3flow convert INPUT… -o OUT.h5``: KM3NeT files to KM3Pipe-layout HDF5 via a pipeline."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="DAQ, EVT, offline/online ROOT or HDF5 files")
    parser.add_argument("-o", "--output", required=True, help="the HDF5 file to write")
    parser.add_argument("-n", "--n-events", type=int, default=None,
                        help="convert at most this many events (blobs)")
    parser.add_argument("--detector", default=None,
                        help="a DETX/DATX file to calibrate hits with on the way")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--conform", action="store_true",
                        help="give HDF5 inputs' tables km3flow's schema (docs/schema.md), e.g. "
                             "to join KM3Pipe files of different versions; automatic when the "
                             "inputs are not all HDF5")
    parser.add_argument("--lenient", action="store_true",
                        help="EVT: drop malformed lines with one warning per file instead of "
                             "stopping at the first (strict=False)")
    from ..parallel.options import add_parallel_arguments

    add_parallel_arguments(parser)


def build_pipeline(args: argparse.Namespace):
    """The conversion pipeline: FilePump → [Calibration] → [ProgressBar] → HDF5Sink."""
    from ..core import Pipeline
    from ..io.files import FilePump
    from ..io.hdf5 import HDF5Sink
    from ..modules import ProgressBar

    pipe = Pipeline()
    conform = bool(getattr(args, "conform", False))
    if not conform:
        from ..io.detect import detect_format

        # decided here over all inputs: a parallel drain gives each worker only some files
        conform = not all(detect_format(f) == "hdf5" for f in args.inputs)
    pipe.attach(FilePump, filenames=list(args.inputs), conform=conform,
                strict=not args.lenient)
    if args.detector:
        from ..calib import Calibration

        pipe.attach(Calibration, detector=args.detector)
    if not args.no_progress and not (args.workers or args.scheduler):
        pipe.attach(ProgressBar, total=args.n_events)
    pipe.attach(HDF5Sink, filename=args.output)
    return pipe


def run(args: argparse.Namespace) -> int:
    from ..exceptions import ConfigError
    from ..parallel.options import executor_from_args

    if args.n_events is not None and (args.workers or args.scheduler):
        raise ConfigError("--n-events limits a serial conversion; with --workers/--scheduler "
                          "every input file is converted whole")
    pipe = build_pipeline(args)
    with executor_from_args(args.workers, args.scheduler) as drain_kwargs:
        if drain_kwargs:
            pipe.drain(**drain_kwargs)
        else:
            pipe.drain(args.n_events)
    return 0
