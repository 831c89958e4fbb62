"""Entry point of the ``km3flow`` command: dispatches to one module per subcommand.

Each subcommand module ``km3flow.cli.<name>`` defines ``add_arguments(parser)`` and
``run(args) -> int``; only this file turns errors into exit codes:

- 0 success; 2 a km3flow error, a file that cannot be read, or a bad option (one line
  ``km3flow <command>: error: …`` on stderr, never a traceback); 1 an unexpected
  error (a bug: one line, and the traceback with ``-v``);
- ``128 + signal``: 130 after Ctrl-C (SIGINT), 143 after SIGTERM.

The global options ``-q/--quiet`` (errors only), ``-v/--verbose`` (DEBUG) and
``--log-level LEVEL`` are accepted before or after the subcommand (``km3flow -q info F``
and ``km3flow info -q F``), except after ``test``, whose arguments all go to pytest.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

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
    "split": ("km3flow.cli.split", "train/validation/test list files from training files"),
    "shuffle": ("km3flow.cli.shuffle", "a shuffled copy of a training file, in bounded memory"),
    "concat": ("km3flow.cli.concat", "join training files into one, group ids renumbered"),
    "summarize": ("km3flow.cli.summarize", "plot the summaries of several trainings together"),
    "predict": ("km3flow.cli.predict", "write a trained model's predictions for whole files"),
    "monitor": ("km3flow.cli.monitor", "live DOM rates, triggers and events in the browser"),
}

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _level(value: str) -> str:
    level = value.upper()
    if level not in LEVELS:
        raise argparse.ArgumentTypeError(
            f"unknown log level '{value}'; use one of {', '.join(LEVELS)}")
    return level


def _add_global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    # Below a subcommand the defaults are SUPPRESS, so they do not undo the options
    # given before it.
    default: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("output")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="print errors only (same as --log-level ERROR)",
                       **({"default": False} if top else default))
    group.add_argument("-v", "--verbose", action="store_true",
                       help="print debugging messages too (same as --log-level DEBUG)",
                       **({"default": False} if top else default))
    group.add_argument("--log-level", type=_level, metavar="LEVEL",
                       help=f"level of all km3flow messages: {', '.join(LEVELS)}; at "
                            "WARNING and above nothing but warnings and errors is printed",
                       **({"default": None} if top else default))


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the ``selected`` subcommand's module is imported."""
    parser = _Parser(
        prog="km3flow", description="km3flow: pipelines, data access and training for KM3NeT"
    )
    parser.add_argument("--version", action="version", version=f"km3flow {__version__}")
    _add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (modname, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module = importlib.import_module(modname)
            module.add_arguments(p)
            if name != "test":
                _add_global_options(p, top=False)
            p.set_defaults(_run=module.run)
    return parser


def _chosen_level(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    given = [opt for opt, on in (("-q", args.quiet), ("-v", args.verbose),
                                 ("--log-level", args.log_level is not None)) if on]
    if len(given) > 1:
        parser.error(f"{' and '.join(given)} contradict each other: give one of them")
    if args.quiet:
        return "ERROR"
    if args.verbose:
        return "DEBUG"
    return args.log_level


def _one_line(err: BaseException) -> str:
    """The error's message and notes as one line."""
    parts = [str(err) or type(err).__name__, *getattr(err, "__notes__", ())]
    text = "; ".join(parts)
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _os_error(err: OSError) -> str:
    what = err.strerror or str(err)
    if isinstance(err, IsADirectoryError):
        what = "is a directory, expected a file"
    elif isinstance(err, FileNotFoundError):
        what = "no such file"
    name = err.filename if err.filename is not None else ""
    return f"{name}: {what}" if name else what


def _no_restore() -> None:
    """Nothing to restore (no handler was installed)."""


def _sigterm_interrupts() -> Callable[[], None]:
    """Let SIGTERM raise Interrupted for the whole command, so every output is tidied."""
    from ..exceptions import Interrupted

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _selected_command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (not a ``--log-level`` value such as 'info')."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--log-level":
            skip = True
        elif arg in SUBCOMMANDS:
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the ``km3flow`` command; returns the exit code.

    Bad options raise ``SystemExit(2)`` after a one-line message, ``--help`` and
    ``--version`` ``SystemExit(0)`` (argparse's way).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    env_level = os.environ.get("KM3FLOW_LOGLEVEL")
    if env_level and env_level.upper() not in LEVELS + ("NOTSET",):
        # checked before any km3flow logger exists (they read it when created)
        print(f"km3flow: error: KM3FLOW_LOGLEVEL={env_level!r} is not a log level; use one "
              f"of {', '.join(LEVELS)}", file=sys.stderr)
        return 2
    selected = _selected_command(argv)
    parser = build_parser(selected)
    rest: list[str] = []
    if selected == "test" and not {"-h", "--help"} & set(argv):
        # Everything after 'test' belongs to pytest, verbatim.
        cut = argv.index("test") + 1
        argv, rest = argv[:cut], argv[cut:]
    args = parser.parse_args(argv)
    if selected == "test":
        args.pytest_args = list(args.pytest_args) + rest
    level = _chosen_level(parser if selected is None else _subparser(parser, selected), args)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    from ..exceptions import Km3flowError
    from ..logger import level_scope

    prefix = f"km3flow {args.command}"
    # `km3flow test` runs pytest in this process: its tests install and check handlers
    restore = _no_restore if selected == "test" else _sigterm_interrupts()
    try:
        with level_scope(level):
            return int(args._run(args) or 0)
    except Km3flowError as err:
        print(f"{prefix}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (km3flow info F | head): not an error worth a word
        try:  # and Python's final flush of stdout must not complain either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except OSError as err:
        print(f"{prefix}: error: {_os_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", signal.SIGINT)
        note = "; ".join(getattr(err, "__notes__", ()))
        print(f"{prefix}: interrupted by {signal.Signals(signum).name}"
              f"{'; ' + note if note else ''}", file=sys.stderr)
        return 128 + signum
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback with -v
        if level == "DEBUG":
            import traceback

            traceback.print_exc()
        print(f"{prefix}: error: unexpected {type(err).__name__}: {_one_line(err)} (a bug in "
              f"km3flow? rerun with -v for the traceback)", file=sys.stderr)
        return 1
    finally:
        restore()


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    return parser  # pragma: no cover - every km3flow parser has subcommands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
