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
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Sequence
from typing import Any

from ..core.executor import Task, TaskReport, report_done
from ..core.tasks import check_picklable
from ..exceptions import ConfigError, WorkerLost
from ..logger import get_logger
from .worker import _init_pool_worker, run_task

log = get_logger("ProcessPool")

_STOP_TIMEOUT = 10.0


def default_start_method() -> str:
    """``forkserver`` where the platform has it, else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class PoolExecutor:
    """An :class:`~km3flow.core.executor.Executor` running tasks on local worker processes.

    ``pipe.drain(workers=N)`` uses ``PoolExecutor(workers=N)``; pass one yourself to
    choose the start method: ``pipe.drain(executor=PoolExecutor(8, start_method="spawn"))``.

    Parameters
    ----------
    workers
        The number of worker processes (default: the number of CPUs); never more than
        there are tasks.
    start_method
        ``"forkserver"`` (default where available) or ``"spawn"``.

    Raises
    ------
    ConfigError
        ``workers`` is not a positive integer.
    """

    def __init__(self, workers: int | None = None, start_method: str | None = None) -> None:
        n = (os.cpu_count() or 1) if workers is None else workers
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        self.workers = n
        self.start_method = start_method or default_start_method()
        self.n_workers = n
        self.description = f"a process pool ({self.start_method}) of {n} workers"

    def run(self, tasks: Sequence[Task]) -> list[TaskReport]:
        """Run ``tasks``; stop after the first failed task, once running ones are done.

        Returns the reports in completion order. Raises :class:`WorkerLost` when a worker
        process dies, and re-raises ``KeyboardInterrupt`` after stopping all workers.
        """
        if not tasks:
            return []
        check_picklable(tasks[0])
        n = min(self.workers, len(tasks))
        self.description = f"a process pool ({self.start_method}) of {n} workers"
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            # Modules imported once in the fork server are inherited by every worker
            # (numpy, PyTables, km3flow): worker start-up then costs a fork, not imports.
            # Only takes effect when this process starts its fork server.
            named = (getattr(s.factory, "__module__", None) for s in tasks[0].specs)
            modules = ["__main__", "km3flow.parallel.worker"] + sorted(
                {m for m in named if m is not None})
            ctx.set_forkserver_preload([m for m in modules if m != "__main__"] + ["__main__"])
        events = ctx.SimpleQueue()
        abort = ctx.Event()
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
                report_done(self, report)
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
            _stop_processes(list(processes.values()), events, progress)
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        except BaseException:
            abort.set()
            _stop_processes(list(processes.values()), events, progress)
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        executor.shutdown(wait=True, cancel_futures=True)
        return reports


def _read_events(events: Any, progress: dict[int, tuple[str, int]]) -> None:
    while not events.empty():
        kind, index, pid = events.get()
        progress[index] = (kind, pid)


def _lost_error(tasks: Sequence[Task], events: Any, progress: dict[int, tuple[str, int]],
                processes: dict[int, Any]) -> WorkerLost:
    running = {i for i, (kind, _) in progress.items() if kind == "start"}
    # The pool terminates the other workers once one died; a worker stopped while it
    # drained still finishes its modules and reports the end of its task. Wait for those
    # reports (not for the processes: their results are no longer read, so they may
    # block), then kill whatever is left, so that only tasks that never ended are named.
    deadline = time.monotonic() + _STOP_TIMEOUT
    while time.monotonic() < deadline:
        _read_events(events, progress)
        pending = [i for i, (kind, _) in progress.items() if kind == "start"]
        alive = {progress[i][1] for i in pending} & {
            pid for pid, p in processes.items() if p.is_alive()}
        if not alive:
            break
        time.sleep(0.05)
    _read_events(events, progress)
    _kill_processes(list(processes.values()))
    lost = sorted(i for i, (kind, _) in progress.items() if kind == "start")
    if not lost:
        return WorkerLost("a worker process died before it reported which task it ran")
    def describe(index: int) -> tuple[str, int | None]:
        pid = progress[index][1]
        proc = processes.get(pid)
        code = None if proc is None else proc.exitcode
        how = ""
        if code is not None and code < 0:
            how = f" (killed by {signal.Signals(-code).name})"
        elif code is not None:
            how = f" (exit code {code})"
        files = ", ".join(repr(f) for f in tasks[index].input_files)
        return f"worker process {pid} died{how} while processing {files} (task {index})", code

    described = [(i, *describe(i)) for i in lost]
    # Workers the pool itself terminated (SIGTERM) after the first death are collateral.
    culprits = [d for d in described if d[2] != -signal.SIGTERM] or described
    collateral = [d for d in described if d not in culprits]
    files = [f for i, _, _ in culprits for f in tasks[i].input_files]
    message = "; ".join(text for _, text, _ in culprits) + "; the run was stopped"
    stopped = sorted(running - set(lost))
    if collateral:
        message += (", tasks " + str([i for i, _, _ in collateral]) +
                    " were terminated by the pool before they could finish")
    if stopped:
        message += f", tasks {stopped} were interrupted"
    message += (" and no output was merged (part files are left named "
                "'<output>.part-<task>')")
    first_pid = progress[culprits[0][0]][1]
    return WorkerLost(message, worker=str(first_pid), input_files=files)


def _kill_processes(processes: list[Any]) -> None:
    for proc in processes:
        if proc.is_alive():
            proc.kill()
    for proc in processes:
        proc.join(timeout=_STOP_TIMEOUT)


def _stop_processes(processes: list[Any], events: Any,
                    progress: dict[int, tuple[str, int]]) -> None:
    """Stop every worker, no orphans: SIGTERM, let running tasks finish their modules, kill.

    A draining worker turns SIGTERM into a clean stop of its pipeline (all modules
    finish) and reports the end of its task; a worker without a task in progress has
    nothing to finish and is killed at once; any left after the grace time is killed.
    """
    for proc in processes:
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + _STOP_TIMEOUT
    while True:
        _read_events(events, progress)
        busy = {pid for kind, pid in progress.values() if kind == "start"}
        alive = [p for p in processes if p.is_alive()]
        for proc in alive:
            if proc.pid not in busy:
                proc.kill()
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for proc in processes:
        if proc.is_alive():
            log.warning("worker process %d did not stop; killing it", proc.pid)
            proc.kill()
        proc.join(timeout=_STOP_TIMEOUT)
