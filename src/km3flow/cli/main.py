"""Entry point of the ``km3flow`` command: dispatches to one module per subcommand.

Each subcommand module ``km3flow.cli.<name>`` defines ``add_arguments(parser)`` and
``run(args) -> int``; only this file turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "test": ("km3flow.cli.selftest", "run the installed km3flow test suite"),
    "info": ("km3flow.cli.info", "show what a KM3NeT file is and holds"),
    "h5info": ("km3flow.cli.h5info", "show provenance and nodes of a km3flow/KM3Pipe HDF5 file"),
    "detx": ("km3flow.cli.detx", "summarise a detector file (DETX/DATX)"),
    "convert": ("km3flow.cli.convert", "convert KM3NeT files to KM3Pipe-layout HDF5"),
    "ligier": ("km3flow.cli.ligier", "run a ControlHost dispatcher"),
    "ch-replay": ("km3flow.cli.ch_replay", "replay a DAQ file into a ControlHost dispatcher"),
    "bin": ("km3flow.cli.bin", "bin hits into images for deep learning"),
    "train": ("km3flow.cli.train", "train a model with the training organiser"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the ``selected`` subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="km3flow", description="km3flow: pipelines, data access and training for KM3NeT"
    )
    parser.add_argument("--version", action="version", version=f"km3flow {__version__}")
    parser.add_argument("--log-level", default=None,
                        help="log level of all km3flow loggers (DEBUG, INFO, WARNING, …)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (modname, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module = importlib.import_module(modname)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``km3flow`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    selected = next((a for a in argv if a in SUBCOMMANDS), None)
    parser = build_parser(selected)
    rest: list[str] = []
    if selected == "test" and not {"-h", "--help"} & set(argv):
        # Everything after 'test' belongs to pytest, verbatim.
        cut = argv.index("test") + 1
        argv, rest = argv[:cut], argv[cut:]
    args = parser.parse_args(argv)
    if selected == "test":
        args.pytest_args = list(args.pytest_args) + rest
    if args.log_level:
        from ..logger import set_level

        set_level(args.log_level)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    from ..exceptions import Km3flowError

    try:
        return int(args._run(args) or 0)
    except Km3flowError as err:
        print(f"km3flow {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"km3flow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
