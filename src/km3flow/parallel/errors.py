"""Errors of parallel draining: a worker that failed, and a worker that was lost."""

from __future__ import annotations

from ..exceptions import Km3flowError, ModuleError


class WorkerError(ModuleError):
    """A module failed inside a worker; names the worker, module, input files and cycle.

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
