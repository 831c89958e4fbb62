"""Exception hierarchy of km3flow.

Every error km3flow raises on purpose derives from :class:`Km3flowError`; where the
meaning matches a builtin, the class also derives from it so ``except KeyError`` and
friends keep working.
"""

from __future__ import annotations

import os


class Km3flowError(Exception):
    """Base class of all km3flow errors."""


class FormatError(Km3flowError, ValueError):
    """A file or byte stream does not have the layout that was expected.

    The message names the source (file name), the position (byte offset, line or row)
    and what was expected there, e.g.
    ``IO_EVT.dat: at byte 1234: expected a frame length >= 8, got -3``.
    """

    def __init__(
        self,
        message: str,
        path: str | os.PathLike | None = None,
        offset: int | None = None,
        line: int | None = None,
        row: int | None = None,
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.offset = offset
        self.line = line
        self.row = row
        where = []
        if self.path is not None:
            where.append(self.path)
        if offset is not None:
            where.append(f"at byte {offset}")
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        self.reason = message
        super().__init__(": ".join(where + [message]))


class BlobKeyError(Km3flowError, KeyError):
    """A key is missing from a :class:`~km3flow.core.Blob`."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the plain message
        return str(self.args[0]) if self.args else ""


class ModuleError(Km3flowError):
    """A module failed while the pipeline was draining; names the module and the cycle."""

    def __init__(self, message: str, module: str | None = None, cycle: int | None = None):
        self.module = module
        self.cycle = cycle
        super().__init__(message)


class WorkerError(ModuleError):
    """A module failed inside a worker of a task drain; names worker, module, files, cycle.

    ``remote_traceback`` holds the worker's formatted traceback; ``__cause__`` is the
    original exception when it could be transported back.
    """

    def __init__(self, message: str, module: str | None = None, cycle: int | None = None,
                 worker: str | None = None, task: int | None = None,
                 input_files: list[str] | None = None, remote_traceback: str = "") -> None:
        super().__init__(message, module=module, cycle=cycle)
        self.worker = worker
        self.task = task
        self.input_files = list(input_files or [])
        self.remote_traceback = remote_traceback


class WorkerLost(Km3flowError):
    """A worker process died (killed, out of memory) while it processed a task."""

    def __init__(self, message: str, worker: str | None = None,
                 input_files: list[str] | None = None) -> None:
        super().__init__(message)
        self.worker = worker
        self.input_files = list(input_files or [])


class WorkerInterrupted(Km3flowError):
    """A worker was stopped by a signal before its input was exhausted."""


class ParameterError(Km3flowError, TypeError, ValueError):
    """A module parameter is missing, unknown, of the wrong type or has a bad value.

    One class for all of these, so ``except ParameterError`` catches every parameter
    problem; it derives from ``TypeError`` (as Python's own "unexpected keyword argument"
    and the talk's ``require``) and from ``ValueError`` (a bad value), so code catching
    either keeps working. ``module`` and ``parameter`` name what was wrong.
    """

    def __init__(self, message: str, module: str | None = None,
                 parameter: str | None = None) -> None:
        self.module = module
        self.parameter = parameter
        super().__init__(message)

    def __reduce__(self) -> tuple:  # survive pickling to and from worker processes
        return (type(self), (str(self), self.module, self.parameter))


class ServiceNotFound(Km3flowError, KeyError):
    """A service was asked for that no module exposes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(Km3flowError, ValueError):
    """A configuration file (pipeline or training TOML) is invalid."""


class OptionalDependencyMissing(Km3flowError, ImportError):
    """An optional dependency is needed for this feature but not installed."""


class ProtocolError(Km3flowError, ValueError):
    """A ControlHost peer sent bytes that break the protocol."""


class Km3flowDeprecationWarning(DeprecationWarning):
    """Warns about an API that goes away in a later release."""


class Interrupted(KeyboardInterrupt):
    """A drain (or a command) was stopped by a signal other than SIGINT, e.g. SIGTERM.

    A :class:`KeyboardInterrupt` (as Ctrl-C's), so ``except KeyboardInterrupt`` still
    catches it; the CLI exits with ``128 + signum`` (143 for SIGTERM; 130 for Ctrl-C).
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = int(signum)
        try:
            name = signal.Signals(self.signum).name
        except ValueError:
            name = f"signal {self.signum}"
        super().__init__(name)

    def __reduce__(self) -> tuple:  # pickles as Interrupted(signum), e.g. from a worker
        return (type(self), (self.signum,))
