"""Run tasks in a local pool of worker processes (``concurrent.futures``).

Workers are started with the ``forkserver`` method where available (``spawn``
elsewhere), so no live state of the parent (open files, threads) leaks into them. They
ignore SIGINT: Ctrl-C is handled by the parent, which stops the workers with SIGTERM (a
draining pipeline turns it into a clean stop that finishes every module) and kills any
that do not exit.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..logger import get_logger
from .errors import WorkerLost
from .worker import Task, TaskReport, _init_pool_worker, run_task

log = get_logger("ProcessPool")

_STOP_TIMEOUT = 10.0


def default_start_method() -> str:
    """``forkserver`` where the platform has it, else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class PoolBackend:
    """Runs tasks on ``workers`` local processes."""

    def __init__(self, workers: int, start_method: str | None = None) -> None:
        self.workers = workers
        self.start_method = start_method or default_start_method()
        self.n_workers = workers
        self.description = f"a process pool ({self.start_method}) of {workers} workers"

    def run(self, tasks: list[Task]) -> list[TaskReport]:
        """Run ``tasks``; stop after the first failed task, once running ones are done.

        Returns the reports in completion order. Raises :class:`WorkerLost` when a worker
        process dies, and re-raises ``KeyboardInterrupt`` after stopping all workers.
        """
        ctx = multiprocessing.get_context(self.start_method)
        events = ctx.SimpleQueue()
        abort = ctx.Event()
        n = min(self.workers, len(tasks))
        self.n_workers = n
        executor = ProcessPoolExecutor(max_workers=n, mp_context=ctx,
                                       initializer=_init_pool_worker, initargs=(events, abort))
        reports: list[TaskReport] = []
        futures: dict[Future, Task] = {}
        processes: dict[int, Any] = {}
        progress: dict[int, tuple[str, int]] = {}
        try:
            for task in tasks:
                futures[executor.submit(run_task, task)] = task
                processes.update(getattr(executor, "_processes", None) or {})
            for future in as_completed(futures):
                processes.update(getattr(executor, "_processes", None) or {})
                _read_events(events, progress)
                try:
                    report = future.result()
                except CancelledError:
                    continue
                except BrokenProcessPool as err:
                    raise _lost_error(tasks, events, progress, processes) from err
                reports.append(report)
                if report.status in ("failed", "interrupted") and not abort.is_set():
                    # Queued tasks are skipped; running ones finish their file.
                    abort.set()
                    for f in futures:
                        f.cancel()
        except KeyboardInterrupt:
            log.warning("interrupted: stopping %d worker processes", len(processes))
            abort.set()
            for f in futures:
                f.cancel()
            _stop_processes(list(processes.values()))
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        except BaseException:
            abort.set()
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        executor.shutdown(wait=True, cancel_futures=True)
        return reports


def _read_events(events: Any, progress: dict[int, tuple[str, int]]) -> None:
    while not events.empty():
        kind, index, pid = events.get()
        progress[index] = (kind, pid)


def _lost_error(tasks: list[Task], events: Any, progress: dict[int, tuple[str, int]],
                processes: dict[int, Any]) -> WorkerLost:
    running = {i for i, (kind, _) in progress.items() if kind == "start"}
    # The pool terminates the other workers once one died; a worker stopped while it
    # drained still finishes its modules and reports the end of its task. Wait for them
    # so that only the tasks that never ended are named.
    for proc in processes.values():
        proc.join(timeout=_STOP_TIMEOUT)
    _read_events(events, progress)
    lost = sorted(i for i, (kind, _) in progress.items() if kind == "start")
    if not lost:
        return WorkerLost("a worker process died before it reported which task it ran")
    parts = []
    files: list[str] = []
    for index in lost:
        pid = progress[index][1]
        proc = processes.get(pid)
        code = None if proc is None else proc.exitcode
        how = ""
        if code is not None and code < 0:
            how = f" (killed by {signal.Signals(-code).name})"
        elif code is not None:
            how = f" (exit code {code})"
        task_files = tasks[index].input_files
        files.extend(task_files)
        parts.append(f"worker process {pid} died{how} while processing "
                     f"{', '.join(repr(f) for f in task_files)} (task {index})")
    stopped = sorted(running - set(lost))
    message = "; ".join(parts) + "; the run was stopped"
    if stopped:
        message += f", tasks {stopped} were interrupted"
    message += (" and no output was merged (part files are left named "
                "'<output>.part-<task>')")
    return WorkerLost(message, worker=str(progress[lost[0]][1]), input_files=files)


def _stop_processes(processes: list[Any]) -> None:
    """SIGTERM every live worker, wait, then SIGKILL those still alive: no orphans."""
    for proc in processes:
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in processes:
        proc.join(timeout=_STOP_TIMEOUT)
        if proc.is_alive():
            log.warning("worker process %d did not stop; killing it", proc.pid)
            proc.kill()
            proc.join(timeout=_STOP_TIMEOUT)
