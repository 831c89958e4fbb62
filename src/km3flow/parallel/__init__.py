"""Parallel pipelines: the same pipeline over many files, on all cores or a Dask cluster.

``pipe.drain(workers=N)`` runs one task per input file of the pump in ``N`` local
processes (:class:`PoolExecutor`); ``pipe.drain(executor=client)`` sends the tasks to a
``dask.distributed`` cluster (:class:`~km3flow.parallel.dask.DaskExecutor`). Planning the
tasks, merging outputs and the summary are the core's task drain
(:mod:`km3flow.core.tasks`); this package holds only executors, which implement
:class:`km3flow.core.executor.Executor`. See docs/parallel.md.

Modules
-------
pool
    ``PoolExecutor``: the local process pool (``concurrent.futures``).
dask
    ``DaskExecutor``: the Dask backend (``dask.distributed`` imported lazily).
worker
    What runs in a worker process around each task.
options
    ``--workers``/``--scheduler`` for command-line tools.
"""

from __future__ import annotations

from ..core.executor import Executor, SerialExecutor, TaskReport
from ..core.task_summary import ParallelSummary, WorkerReport
from ..core.tasks import part_path
from ..exceptions import WorkerError, WorkerInterrupted, WorkerLost
from .options import DrainOptions, add_parallel_arguments, executor_from_args
from .pool import PoolExecutor

__all__ = [
    "DrainOptions",
    "Executor",
    "ParallelSummary",
    "PoolExecutor",
    "SerialExecutor",
    "TaskReport",
    "WorkerError",
    "WorkerInterrupted",
    "WorkerLost",
    "WorkerReport",
    "add_parallel_arguments",
    "executor_from_args",
    "part_path",
]
