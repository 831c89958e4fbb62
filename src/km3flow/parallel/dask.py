"""Run tasks on a Dask cluster through a ``dask.distributed.Client``.

The client may talk to a ``LocalCluster``, to a scheduler started by hand or to a batch
farm through ``dask-jobqueue`` (see docs/parallel.md). Dask does the scheduling, data
transport and worker bookkeeping; km3flow only submits one task per input file (or chunk).
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
    """

    def __init__(self, client: Any) -> None:
        self.distributed = import_optional("dask.distributed", extra="dask")
        if not isinstance(client, self.distributed.Client):
            raise TypeError(f"executor must be a dask.distributed.Client, "
                            f"not {type(client).__name__}")
        self.client = client
        info = client.scheduler_info()
        self.n_workers = max(1, len(info.get("workers", {})))
        self.description = (f"a Dask cluster at {info.get('address', '?')} with "
                            f"{self.n_workers} workers")

    def run(self, tasks: Sequence[Task]) -> list[TaskReport]:
        """Run ``tasks``; after the first failed task, cancel all that did not finish.

        Tasks already running on a worker cannot be interrupted by Dask; they complete
        their file in the background (their part files are then left in place).
        """
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
