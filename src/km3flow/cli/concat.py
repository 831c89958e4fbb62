"""``km3flow concat A.h5 B.h5 … -o ALL.h5``: several files into one, group ids renumbered."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="KM3Pipe-layout files with the same layout")
    parser.add_argument("-o", "--output", required=True, help="file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    from ..logger import say
    from ..ml.concat import concat_files

    r = concat_files(args.inputs, args.output, overwrite=args.overwrite)
    say(f"concatenated {r['events']} events of {len(r['per_file'])} files: {r['output']}")
    return 0
