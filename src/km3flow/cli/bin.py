"""``km3flow bin CONFIG.toml INPUT… -o OUT.h5``: bin hits of KM3Pipe HDF5 files into images
(or write them as point clouds with ``binning.kind = "points"``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="bin config TOML ([binning], [[dimensions]], [labels])")
    parser.add_argument("inputs", nargs="+", help="KM3Pipe-layout HDF5 files with /hits")
    parser.add_argument("-o", "--output", required=True, help="training file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT if it exists (only once the binning completed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from ..parallel.options import add_parallel_arguments

    add_parallel_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..ml.binjob import bin_files
    from .convert import check_output

    check_output(args.output, args.overwrite)
    from ..parallel.options import executor_from_args

    with executor_from_args(args.workers, args.scheduler) as drain_kwargs:
        result = bin_files(args.config, args.inputs, args.output, drain_kwargs=drain_kwargs,
                           progress=not args.no_progress)
    from ..logger import say

    if "columns" in result:
        say(f"wrote {result['hits']} hits of {result['events']} events as points "
            f"({', '.join(result['columns'])}): {result['output']}")
    else:
        say(f"binned {result['events']} events into images of shape {result['shape']}: "
            f"{result['output']}")
    return 0
