"""Run tasks on a Dask cluster through a ``dask.distributed.Client``.

The client may talk to a ``LocalCluster``, to a scheduler started by hand or to a batch
farm through ``dask-jobqueue`` (see docs/parallel.md). Dask does the scheduling, data
transport and worker bookkeeping; km3flow only submits one task per input file (or chunk).

During a run the workers' statistical profiler (the dashboard's "Profile" page) is paused:
it samples the stack of the running task every 10 ms, and on km3flow's Python-heavy tasks
that cost 12 % of the workers' CPU (benchmarks/scale.py, BENCHMARKS.md). It is restarted
when the run ends; ``DaskExecutor(client, pause_profiler=False)`` keeps it running.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from .._optional import import_optional
from ..core.executor import Task, TaskReport, report_done
from ..exceptions import WorkerLost
from ..logger import get_logger
from .worker import run_task

log = get_logger("DaskExecutor")


class DaskExecutor:
    """An :class:`~km3flow.core.executor.Executor` running tasks through a Dask client.

    ``pipe.drain(executor=client)`` wraps a ``dask.distributed.Client`` in one.

    Parameters
    ----------
    client
        A ``dask.distributed.Client``.
    pause_profiler
        Pause the workers' statistical profiler while the tasks run (restarted after).
    """

    def __init__(self, client: Any, pause_profiler: bool = True) -> None:
        self.distributed = import_optional("dask.distributed", extra="dask")
        if not isinstance(client, self.distributed.Client):
            raise TypeError(f"executor must be a dask.distributed.Client, "
                            f"not {type(client).__name__}")
        self.client = client
        self.pause_profiler = pause_profiler
        info = client.scheduler_info()
        self.n_workers = max(1, len(info.get("workers", {})))
        self.description = (f"a Dask cluster at {info.get('address', '?')} with "
                            f"{self.n_workers} workers")

    def run(self, tasks: Sequence[Task]) -> list[TaskReport]:
        """Run ``tasks``; after the first failed task, cancel all that did not finish.

        Tasks already running on a worker cannot be interrupted by Dask; they complete
        their file in the background (their part files are then left in place).
        """
        paused = self._pause_profilers() if self.pause_profiler else {}
        try:
            return self._run(tasks)
        finally:
            self._resume_profilers(paused)

    def _pause_profilers(self) -> dict[str, list[str]]:
        try:
            return dict(self.client.run(_stop_profiler))
        except Exception as err:  # an optimisation only: the run goes on without it
            log.info("could not pause the Dask workers' profiler: %s", err)
            return {}

    def _resume_profilers(self, paused: dict[str, list[str]]) -> None:
        for address, names in paused.items():
            if names:
                try:
                    self.client.run(_start_profiler, names, workers=[address])
                except Exception as err:  # e.g. the worker is gone
                    log.info("could not restart the profiler of Dask worker %s: %s",
                             address, err)

    def _run(self, tasks: Sequence[Task]) -> list[TaskReport]:
        distributed = self.distributed
        run_id = uuid.uuid4().hex[:12]
        futures = [self.client.submit(run_task, task, key=f"km3flow-task-{run_id}-{task.index}",
                                      pure=False, retries=0)
                   for task in tasks]
        by_key = {f.key: t for f, t in zip(futures, tasks)}
        reports: list[TaskReport] = []
        try:
            for future in distributed.as_completed(futures):
                if future.cancelled():
                    continue
                try:
                    report = future.result()
                except distributed.KilledWorker as err:
                    task = by_key[future.key]
                    self.client.cancel(futures)
                    raise WorkerLost(
                        f"the Dask worker running {', '.join(repr(f) for f in task.input_files)}"
                        f" (task {task.index}) died: {err}; the run was stopped and no output "
                        f"was merged (part files are left named '<output>.part-<task>')",
                        input_files=task.input_files) from err
                reports.append(report)
                report_done(self, report)
                if report.status in ("failed", "interrupted"):
                    self.client.cancel([f for f in futures if not f.done()])
                    break
        except KeyboardInterrupt:
            log.warning("interrupted: cancelling %d Dask tasks", len(futures))
            self.client.cancel(futures)
            raise
        return reports


_PROFILER_CALLBACKS = ("profile", "profile-cycle")  # distributed.Worker.periodic_callbacks


def _stop_profiler(dask_worker: Any) -> list[str]:
    """Stop a Dask worker's profiler callbacks; the names of those that were running."""
    stopped = []
    for name in _PROFILER_CALLBACKS:
        callback = dask_worker.periodic_callbacks.get(name)
        if callback is not None and callback.is_running():
            callback.stop()
            stopped.append(name)
    return stopped


def _start_profiler(names: list[str], dask_worker: Any) -> None:
    """Restart the profiler callbacks :func:`_stop_profiler` stopped."""
    for name in names:
        callback = dask_worker.periodic_callbacks.get(name)
        if callback is not None and not callback.is_running():
            callback.start()
