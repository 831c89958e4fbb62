"""``drain_parallel``: drain a pipeline over its pump's files on many cores or a cluster."""

from __future__ import annotations

import os
import time
from typing import Any

from ..core.blob import Blob
from ..core.module import Pump
from ..core.pipeline import Pipeline
from ..core.timing import peak_memory_mb
from ..exceptions import ConfigError, Km3flowError
from ..logger import get_logger, say
from .errors import WorkerError, WorkerInterrupted
from .plan import (
    check_picklable,
    combine_results,
    keep_parts,
    merge_outputs,
    plan_tasks,
    remove_stale_parts,
)
from .summary import ParallelSummary
from .worker import TaskReport

log = get_logger("ParallelPipeline")


def drain_parallel(pipe: Pipeline, cycles: int | None = None, workers: int | None = None,
                   executor: Any = None, ordered: bool = True, files_per_task: int = 1,
                   start_method: str | None = None, merge: bool = True) -> Blob:
    """Drain ``pipe`` with one task per input file, in worker processes or on Dask.

    Called by ``Pipeline.drain(workers=…)`` / ``drain(executor=…)``. Every task rebuilds
    the module chain from the pipeline's specs with the pump's ``parallel_input``
    parameter set to its file(s); output modules with ``parallel_output`` write
    ``<path>.part-<k>`` files that are merged into ``<path>`` once all tasks succeeded.

    Parameters
    ----------
    pipe
        The pipeline; its pump must be attached as a class that declares
        ``parallel_input``. Its own (parent) module instances are never drained.
    cycles
        Not supported in parallel (a cycle limit has no per-file meaning); must be None.
    workers
        Number of local worker processes (default: the number of CPUs).
    executor
        A ``dask.distributed.Client``: run the tasks on its cluster instead.
    ordered
        Merge output parts and list finish() results in input order (the serial run's
        order). ``False`` uses the order in which tasks completed.
    files_per_task
        How many input files one task handles (for pumps taking a list of files).
    start_method
        ``"forkserver"`` (default where available) or ``"spawn"`` for local workers.
    merge
        Merge the output parts into the output path (default). ``False`` keeps one output
        per task instead, renamed from ``out.h5.part-3`` to ``out.0003.h5`` (listed in
        ``pipe.parallel_summary.outputs``): for very large runs, where one process
        rewriting all data would be the bottleneck.

    Returns
    -------
    Blob
        The finish() results by module name: combined with the module class's ``merge``
        classmethod where it has one, else a list with one entry per task.

    Raises
    ------
    WorkerError
        A module failed in a worker; names worker, module, cycle and input file(s).
    WorkerLost
        A worker process died (e.g. SIGKILL); names the file it was processing.
    KeyboardInterrupt
        After Ctrl-C, once all workers are stopped.
    """
    if cycles is not None:
        raise ConfigError("cycles= cannot be combined with workers=/executor=: a cycle limit "
                          "has no meaning per input file; limit the input files instead")
    if workers is not None and executor is not None:
        raise ConfigError("give either workers= (local processes) or executor= (a Dask "
                          "client), not both")
    if pipe.finished:
        raise Km3flowError("this pipeline has been drained and finished already; "
                           "build a new one to run again")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tasks, outputs = plan_tasks(pipe, files_per_task=files_per_task)
    if executor is not None:
        from .dask import DaskBackend

        backend: Any = DaskBackend(executor)
    else:
        from .pool import PoolBackend

        n = (os.cpu_count() or 1) if workers is None else workers
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        check_picklable(tasks[0])
        backend = PoolBackend(min(n, len(tasks)), start_method=start_method)
    # The parent's own modules are never drained: release what the pumps opened.
    for module in pipe.modules:
        if isinstance(module, Pump):
            module.close()
    remove_stale_parts(outputs)
    pipe._finished = True
    say(f"Draining {len(tasks)} tasks over {sum(len(t.input_files) for t in tasks)} input "
        f"files with {backend.description}.")
    reports = backend.run(tasks)
    by_task = sorted(reports, key=lambda r: r.index)
    _raise_for_failures(by_task, len(tasks))
    ordered_reports = by_task if ordered else reports
    merge0 = time.perf_counter()
    if merge:
        merge_outputs(outputs, ordered_reports)
        kept = {o.module: [o.path] for o in outputs}
    else:
        kept = keep_parts(outputs, by_task)
    merge_wall = time.perf_counter() - merge0
    results = combine_results(pipe.specs, ordered_reports)
    summary = ParallelSummary(
        executor=backend.description, n_workers=backend.n_workers, tasks=by_task,
        wall=time.perf_counter() - wall0, parent_cpu=time.process_time() - cpu0,
        merge_wall=merge_wall, parent_peak_mb=peak_memory_mb(), outputs=kept)
    _update_pipeline(pipe, summary)
    say(summary.text())
    pipe.finish_results.update(results)
    return pipe.finish_results


def _raise_for_failures(reports: list[TaskReport], n_tasks: int) -> None:
    failed = [r for r in reports if r.status == "failed"]
    interrupted = [r for r in reports if r.status == "interrupted"]
    done = [r for r in reports if r.status == "done"]
    if not failed and not interrupted and len(done) == n_tasks:
        return
    parts_note = ("no output was merged; part files of tasks that ran are left named "
                  "'<output>.part-<task>' ('<output>.part-<task>.partial' when incomplete)")
    if failed:
        first = min(failed, key=lambda r: r.ended)
        err = first.error
        assert err is not None
        files = ", ".join(repr(f) for f in first.input_files)
        # A ModuleError's message names the module and cycle already.
        where = "" if err.module else " while building the pipeline"
        message = (f"worker {first.worker} failed on {files} (task {first.index}){where}: "
                   f"{err.message}; {len(done)} of {n_tasks} tasks completed, {parts_note}")
        error = WorkerError(message, module=err.module, cycle=err.cycle, worker=first.worker,
                            task=first.index, input_files=first.input_files,
                            remote_traceback=err.traceback)
        if err.exception is not None:
            raise error from err.exception
        raise error
    if interrupted:
        first = interrupted[0]
        raise WorkerInterrupted(
            f"worker {first.worker} was stopped by a signal while processing "
            f"{', '.join(repr(f) for f in first.input_files)} (task {first.index}); "
            f"{parts_note}")
    raise Km3flowError(f"only {len(done)} of {n_tasks} tasks completed; {parts_note}")


def _update_pipeline(pipe: Pipeline, summary: ParallelSummary) -> None:
    """Fold the workers' statistics into the parent pipeline, as if it had drained."""
    pipe.cycles = summary.cycles
    pipe.cycle_times.wall_stats.merge(summary.cycle_wall)
    pipe.cycle_times.cpu_stats.merge(summary.cycle_cpu)
    for name, timer in pipe.module_timers.items():
        stats = summary.modules.get(name)
        if stats is not None:
            timer.wall_stats.merge(stats.wall)
            timer.cpu_stats.merge(stats.cpu)
            timer.finish_wall += stats.finish_wall
            timer.finish_cpu += stats.finish_cpu
    pipe.parallel_summary = summary
