"""``km3flow shuffle IN.h5 -o OUT.h5 [--seed N] [--memory-mb M]``: a shuffled copy."""

from __future__ import annotations

import argparse

from ._argtypes import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="KM3Pipe-layout file (images, point clouds, …)")
    parser.add_argument("-o", "--output", required=True, help="shuffled file to write")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--memory-mb", type=float, default=256.0,
                        help="event data mixed in memory at once (default 256 MB); a file "
                             "that fits is shuffled uniformly, a larger one window by window")
    parser.add_argument("--passes", type=positive_int, default=1,
                        help="shuffle this many times (mixes beyond one window; default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    from ..logger import say
    from ..ml.shuffle import shuffle_file

    r = shuffle_file(args.input, args.output, seed=args.seed, memory_mb=args.memory_mb,
                     passes=args.passes, overwrite=args.overwrite)
    say(f"shuffled {r['events']} events ({r['window']} mixed at once, {r['passes']} "
        f"pass{'es' if r['passes'] > 1 else ''}): {r['output']}")
    return 0
