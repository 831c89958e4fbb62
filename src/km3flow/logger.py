"""Logging for km3flow: the talk's ``LEVEL ++ name: message`` lines, coloured on terminals.

Two extra levels exist, ONCE (45) and DEPRECATION (46), reached through
``log.once(msg, identifier=…)`` and ``log.deprecation(msg)`` on the loggers handed out by
:func:`get_logger`. Only those loggers get km3flow's handler; other libraries' loggers
are left alone. The level of all km3flow loggers is set with :func:`set_level` or, for
loggers created later, the ``KM3FLOW_LOGLEVEL`` environment variable.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO, cast

ONCE = 45
DEPRECATION = 46
logging.addLevelName(ONCE, "ONCE")
logging.addLevelName(DEPRECATION, "DEPRECATION")

_RESET = "\x1b[0m"
_LEVEL_COLOURS = {
    "DEBUG": "\x1b[34m",
    "INFO": "\x1b[32m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",
    "ONCE": "\x1b[36m",
    "DEPRECATION": "\x1b[35m",
}
_NAME_COLOURS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96]

_lock = threading.Lock()
_loggers: dict[str, Km3Logger] = {}
_global_level: int | None = None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("NO_COLOR") is None
    except (AttributeError, ValueError):
        return False


def _name_colour(name: str) -> str:
    # A stable colour per logger name, so the same module always has the same symbol colour.
    digest = hashlib.md5(name.encode(), usedforsecurity=False).digest()
    return f"\x1b[{_NAME_COLOURS[digest[0] % len(_NAME_COLOURS)]}m"


class _Formatter(logging.Formatter):
    """``LEVEL ++ name: message``; colours only when the stream is a terminal."""

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = message + "\n" + self.formatException(record.exc_info)
        level, name = record.levelname, record.name
        if self.colour:
            level = f"{_LEVEL_COLOURS.get(level, '')}{level}{_RESET}"
            return f"{level} {_name_colour(name)}++{_RESET} {name}: {message}"
        return f"{level} ++ {name}: {message}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (pytest and notebooks swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it
        pass

    def format(self, record: logging.LogRecord) -> str:
        return _Formatter(_isatty(sys.stderr)).format(record)


_handler = _StderrHandler()


class Km3Logger(logging.Logger):
    """A :class:`logging.Logger` with ``once`` and ``deprecation``."""

    _once_seen: set[tuple[str, Any]] = set()

    def once(self, msg: str, *args: Any, identifier: Any = None, **kwargs: Any) -> None:
        """Log ``msg`` at level ONCE, only the first time for this ``identifier``.

        Without an identifier, the message text itself identifies it.
        """
        key = (self.name, msg if identifier is None else identifier)
        with _lock:
            if key in self._once_seen:
                return
            self._once_seen.add(key)
        if self.isEnabledFor(ONCE):
            self._log(ONCE, msg, args, **kwargs)

    def deprecation(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at level DEPRECATION."""
        if self.isEnabledFor(DEPRECATION):
            self._log(DEPRECATION, msg, args, **kwargs)


def _parse_level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(str(level).upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}")
    return value


def get_logger(name: str) -> Km3Logger:
    """Return the km3flow logger called ``name``, creating it with km3flow's handler."""
    with _lock:
        known = _loggers.get(name)
        if known is not None:
            return known
        logger: Km3Logger
        manager = logging.Logger.manager
        existing = manager.loggerDict.get(name)
        if isinstance(existing, logging.Logger):
            # Someone asked logging for this name first; upgrade it in place (we only add methods).
            existing.__class__ = Km3Logger
            logger = cast(Km3Logger, existing)
        else:
            previous = logging.getLoggerClass()
            logging.setLoggerClass(Km3Logger)
            try:
                # getLogger builds the class set above (a Km3Logger), typed as a Logger.
                logger = cast(Km3Logger, logging.getLogger(name))
            finally:
                logging.setLoggerClass(previous)
        logger.addHandler(_handler)
        logger.propagate = False
        level = _global_level
        if level is None and os.environ.get("KM3FLOW_LOGLEVEL"):
            level = _parse_level(os.environ["KM3FLOW_LOGLEVEL"])
        if level is not None:
            logger.setLevel(level)
        _loggers[name] = logger
        return logger


def set_level(level: int | str, name: str | None = None) -> None:
    """Set the level of one km3flow logger, or of all of them (and those made later)."""
    global _global_level
    value = _parse_level(level)
    if name is not None:
        get_logger(name).setLevel(value)
        return
    with _lock:
        _global_level = value
        loggers = list(_loggers.values())
    for logger in loggers:
        logger.setLevel(value)


def printing_enabled() -> bool:
    """True unless the km3flow level (``set_level``, ``KM3FLOW_LOGLEVEL``) is above INFO.

    Printers, the pipeline's initialisation line and its drain summary are INFO-level
    talk: ``km3flow -q`` (level ERROR) or ``--log-level WARNING`` silence them all, while
    by default (no level set) they print, as in the talk.
    """
    level = _global_level
    if level is None:
        env = os.environ.get("KM3FLOW_LOGLEVEL")
        if not env:
            return True
        try:
            level = _parse_level(env)
        except ValueError:
            return True
    return level <= logging.INFO


def say(text: str) -> None:
    """Write ``text`` and a newline to stdout, unless printing is off (see above)."""
    if printing_enabled():
        sys.stdout.write(f"{text}\n")


@contextlib.contextmanager
def level_scope(level: int | str | None) -> Iterator[None]:
    """Set the level of all km3flow loggers (if not ``None``) and restore it on exit.

    The CLI uses it so that ``main(["-q", …])`` called in a test leaves no trace. The
    level is also put in ``KM3FLOW_LOGLEVEL`` meanwhile, for worker processes.
    """
    global _global_level
    with _lock:
        saved_global = _global_level
        saved = {name: logger.level for name, logger in _loggers.items()}
    saved_env = os.environ.get("KM3FLOW_LOGLEVEL")
    try:
        if level is not None:
            set_level(level)
            os.environ["KM3FLOW_LOGLEVEL"] = logging.getLevelName(_parse_level(level))
        yield
    finally:
        if level is not None:
            if saved_env is None:
                os.environ.pop("KM3FLOW_LOGLEVEL", None)
            else:
                os.environ["KM3FLOW_LOGLEVEL"] = saved_env
        with _lock:
            _global_level = saved_global
            loggers = dict(_loggers)
        # loggers made meanwhile get what they would have got outside the scope
        fresh = saved_global
        if fresh is None and saved_env:
            try:
                fresh = _parse_level(saved_env)
            except ValueError:
                fresh = None
        for name, logger in loggers.items():
            logger.setLevel(saved.get(name, logging.NOTSET if fresh is None else fresh))


def get_printer(name: str) -> Callable[..., None]:
    """Return a ``print``-like function writing ``++ name: message`` to stdout.

    It prints nothing while :func:`printing_enabled` is false (``km3flow -q``).
    """

    def printer(*args: Any, sep: str = " ", end: str = "\n", flush: bool = False) -> None:
        if not printing_enabled():
            return
        text = sep.join(str(a) for a in args)
        stream = sys.stdout
        if _isatty(stream):
            stream.write(f"{_name_colour(name)}++{_RESET} {name}: {text}{end}")
        else:
            stream.write(f"++ {name}: {text}{end}")
        if flush:
            stream.flush()

    printer.__name__ = f"printer_{name}"
    return printer
