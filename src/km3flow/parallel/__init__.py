"""Parallel pipelines: the same pipeline over many files, on all cores or a Dask cluster.

``pipe.drain(workers=N)`` runs one task per input file of the pump in ``N`` local
processes; ``pipe.drain(executor=client)`` sends the tasks to a ``dask.distributed``
cluster. Workers rebuild the module chain from the pipeline's specs; output modules write
part files that the parent merges. See docs/parallel.md.

Modules
-------
drain
    ``drain_parallel``: plan, run, check, merge, summarise.
plan
    Splitting a pipeline into tasks, merging outputs and finish() results.
worker
    What runs in a worker: ``run_task`` and its ``TaskReport``.
pool
    The local process pool (``concurrent.futures``).
dask
    The Dask backend (``dask.distributed`` imported lazily).
merge_hdf5
    ``merge_hdf5(part_paths, final_path)``: merging KM3Pipe-layout HDF5 part files
    (import it from the submodule; PyTables is loaded only then).
options
    ``--workers``/``--scheduler`` for command-line tools.
"""

from __future__ import annotations

from .drain import drain_parallel
from .errors import WorkerError, WorkerInterrupted, WorkerLost
from .options import DrainOptions, add_parallel_arguments, executor_from_args
from .plan import part_path
from .summary import ParallelSummary, WorkerReport
from .worker import TaskReport

__all__ = [
    "DrainOptions",
    "ParallelSummary",
    "TaskReport",
    "WorkerError",
    "WorkerInterrupted",
    "WorkerLost",
    "WorkerReport",
    "add_parallel_arguments",
    "drain_parallel",
    "executor_from_args",
    "part_path",
]
