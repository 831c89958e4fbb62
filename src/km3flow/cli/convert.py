"""``km3flow convert INPUT… -o OUT.h5``: KM3NeT files to KM3Pipe-layout HDF5 via a pipeline.

An existing ``OUT.h5`` is refused unless ``--overwrite``; it is replaced only when the
conversion completes. A failed or interrupted conversion leaves ``OUT.h5`` as it was and
keeps what it wrote in ``OUT.partial.h5`` (see :func:`km3flow.io.hdf5.sink.partial_path`);
the error line names that file and its blob count.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Pipeline
    from ..io.hdf5.sink import HDF5Sink


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="DAQ, EVT, offline/online ROOT or HDF5 files")
    parser.add_argument("-o", "--output", required=True, help="the HDF5 file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT if it exists (only once the conversion completed)")
    from ._argtypes import positive_int

    parser.add_argument("-n", "--n-events", type=positive_int, default=None,
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
    parser.add_argument("--no-usr", action="store_true",
                        help="offline ROOT: leave out the named usr values (/event_usr, "
                             "/reco/tracks_usr, /mc_tracks_usr), e.g. to join files whose "
                             "usr names differ")
    from ..parallel.options import add_parallel_arguments

    add_parallel_arguments(parser)
    from ..calib import Calibration
    from ..io.files import FilePump
    from ..io.hdf5 import HDF5Sink
    from ..modules import ProgressBar
    from ._modules_help import add_modules_epilog

    add_modules_epilog(parser, [FilePump, Calibration, ProgressBar, HDF5Sink])


def build_pipeline(args: argparse.Namespace) -> Pipeline:
    """The conversion pipeline: FilePump → [Calibration] → [ProgressBar] → HDF5Sink."""
    from ..core import Pipeline
    from ..io.files import FilePump
    from ..io.hdf5 import HDF5Sink
    from ..modules import ProgressBar

    pipe = Pipeline()
    conform = bool(getattr(args, "conform", False))
    if not conform:
        from ..io.detect import pump_class

        # decided here over all inputs (as FilePump does over its files): a parallel drain
        # gives each worker only some files
        conform = not all(getattr(pump_class(f), "conformable", False) for f in args.inputs)
    pipe.attach(FilePump, filenames=list(args.inputs), conform=conform,
                strict=not args.lenient, usr=not getattr(args, "no_usr", False))
    if args.detector:
        from ..calib import Calibration

        pipe.attach(Calibration, detector=args.detector)
    if not args.no_progress and not (args.workers or args.scheduler):
        pipe.attach(ProgressBar, total=args.n_events)
    pipe.attach(HDF5Sink, filename=args.output, overwrite=args.overwrite)
    return pipe


def check_output(path: str, overwrite: bool) -> None:
    """Refuse an existing output unless ``overwrite``; name leftovers of killed runs."""
    import os

    from ..exceptions import ConfigError

    if os.path.isdir(path):
        raise ConfigError(f"{path}: is a directory; -o names the file to write")
    if os.path.lexists(path) and not overwrite:
        raise ConfigError(f"{path}: exists already; pass --overwrite to replace it")


def outcome_note(sink: HDF5Sink | None) -> str:
    """What an incomplete run left: the partial file and its blob count, or nothing."""
    import os

    if sink is None or sink.complete is not False:
        return ""
    kept = (f"'{sink.filename}' left as it was" if os.path.lexists(sink.filename)
            else f"no file at '{sink.filename}'")
    if sink.written_to is None:
        return f"nothing written, {kept}"
    return (f"partial output with {sink.index} blob{'s' if sink.index != 1 else ''} kept in "
            f"'{sink.written_to}', {kept}")


def run(args: argparse.Namespace) -> int:
    from ..exceptions import ConfigError
    from ..parallel.options import executor_from_args

    if args.n_events is not None and (args.workers or args.scheduler):
        raise ConfigError("--n-events limits a serial conversion; with --workers/--scheduler "
                          "every input file is converted whole")
    check_output(args.output, args.overwrite)
    pipe = build_pipeline(args)
    try:
        with executor_from_args(args.workers, args.scheduler) as drain_kwargs:
            if drain_kwargs:
                pipe.drain(**drain_kwargs, progress=not args.no_progress)
            else:
                pipe.drain(args.n_events)
    except BaseException as err:
        from ..io.hdf5 import HDF5Sink

        sink = next((m for m in pipe.modules if isinstance(m, HDF5Sink)), None)
        note = outcome_note(sink)
        if note:
            from ._notes import add_note

            add_note(err, note)
        raise
    return 0
