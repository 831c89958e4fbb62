"""``km3flow split INPUT… -o LIST.toml --fractions 0.7 0.2 0.1``: train/validation/test lists."""

from __future__ import annotations

import argparse

from ._argtypes import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="training files (images or point clouds)")
    parser.add_argument("-o", "--output", required=True,
                        help="list file to write ([input NAME] with train/validation/test_files)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.8, 0.2, 0.0],
                        metavar="F", help="shares of train, validation, test (default 0.8 0.2 0)")
    parser.add_argument("--by", choices=("files", "events"), default="files",
                        help="assign whole files (default; nothing copied) or single events "
                             "(exact fractions; writes LIST_train.h5 … next to the list file)")
    parser.add_argument("--balance", metavar="COLUMN",
                        help="label column whose classes get equal counts (needs --by events)")
    parser.add_argument("--name", default="xy", help="input name of the section (default xy)")
    parser.add_argument("--y-loc", default="/y", help="label table (default /y)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--chunk-events", type=positive_int, default=4096,
                        help="events read at once with --by events (default 4096)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def run(args: argparse.Namespace) -> int:
    from ..logger import say
    from ..ml.split import split_files

    result = split_files(args.inputs, args.output, args.fractions, by=args.by,
                         balance=args.balance, name=args.name, y_loc=args.y_loc,
                         seed=args.seed, chunk_events=args.chunk_events,
                         overwrite=args.overwrite)
    total = max(1, sum(result["events"].values()))
    parts = ", ".join(f"{s} {n} events ({n / total:.1%}, {len(result['files'][s])} files)"
                      for s, n in result["events"].items())
    say(f"{result['list_file']}: {parts}")
    return 0
