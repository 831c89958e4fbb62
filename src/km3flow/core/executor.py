"""Executors: what runs the tasks of a task drain (``Pipeline.drain(executor=…)``).

A task drain splits a pipeline over its pump's input files (:mod:`km3flow.core.tasks`):
each :class:`Task` is the whole module chain over one file (or a chunk of files), and
:func:`run_task` drains it and returns a :class:`TaskReport`. An :class:`Executor` is
anything with ``run(tasks) -> reports``: :class:`SerialExecutor` here runs them one after
the other in this process; the process pool and Dask executors live in
:mod:`km3flow.parallel`, and third parties add their own without touching this package.

Executors are chosen explicitly, ``drain(executor=obj)`` or ``drain(workers=N)``;
:func:`resolve_executor` turns that into an executor object, looking up registered names
(:func:`register_executor`, or the ``km3flow.executors`` entry-point group). The core
names the built-in executors of :mod:`km3flow.parallel` only as data ("module:attribute"
strings, like entry points), so it imports nothing of the higher layers.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..exceptions import ConfigError, ModuleError
from ..logger import get_logger
from .timing import RunningStats, peak_memory_mb

log = get_logger("Executor")


@dataclass
class Task:
    """One unit of work: the module specs with input (and output part) parameters set.

    Attributes
    ----------
    index, n_tasks
        The task's position and the number of tasks of the drain.
    specs
        The :class:`~km3flow.core.pipeline.ModuleSpec`\\ s to rebuild the chain from.
    timeit
        Record per-module timing (the parent pipeline's ``timeit``).
    input_files
        The files this task's pump reads.
    outputs
        The part file each output module writes, by module name.
    """

    index: int
    n_tasks: int
    specs: list[Any]
    timeit: bool
    input_files: list[str]
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class ModuleStats:
    """Timing of one module in one task (or merged over tasks)."""

    wall: RunningStats
    cpu: RunningStats
    finish_wall: float = 0.0
    finish_cpu: float = 0.0


@dataclass
class TaskError:
    """A failure inside a task, in a form that survives any serialisation."""

    type: str
    message: str
    module: str | None
    cycle: int | None
    traceback: str
    exception: BaseException | None = None


@dataclass
class TaskReport:
    """What a task sends back: status, statistics, finish() results and any error.

    ``status`` is ``"done"``, ``"failed"``, ``"interrupted"`` (stopped by a signal before
    its input was exhausted) or ``"skipped"`` (not started because the run was stopping).
    """

    index: int
    input_files: list[str]
    worker: str
    host: str
    pid: int
    status: str = "done"
    cycles: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    results: dict[str, Any] = field(default_factory=dict)
    cycle_wall: RunningStats | None = None
    cycle_cpu: RunningStats | None = None
    modules: dict[str, ModuleStats] = field(default_factory=dict)
    stdout: str = ""
    error: TaskError | None = None


@runtime_checkable
class Executor(Protocol):
    """Runs the tasks of a task drain and returns one report per task it ran.

    ``run`` returns the reports in completion order; after the first task that failed or
    was interrupted it may stop starting new ones (the drain then reports that task).
    Module errors are in the reports, never raised; an executor raises only for its own
    failures (e.g. :class:`~km3flow.exceptions.WorkerLost`) and re-raises
    ``KeyboardInterrupt`` once its workers are stopped.
    """

    description: str
    """What runs the tasks, for the drain's summary, e.g. ``"2 local processes"``."""
    n_workers: int
    """How many tasks run at once."""

    def run(self, tasks: Sequence[Task]) -> list[TaskReport]:
        """Run ``tasks``; return their reports."""


class SerialExecutor:
    """Runs the tasks one after the other in this process.

    The same drain as with a process pool (outputs written in parts and merged, finish()
    results combined), without any worker: for debugging a parallel setup, and as the
    reference the other executors are compared with.
    """

    description = "this process (serial)"
    n_workers = 1

    def run(self, tasks: Sequence[Task]) -> list[TaskReport]:
        """Run ``tasks`` in order; stop after the first that fails or is interrupted."""
        reports = []
        for task in tasks:
            report = run_task(task)
            reports.append(report)
            report_done(self, report)
            if report.status == "interrupted":
                raise KeyboardInterrupt(f"task {task.index} was interrupted")
            if report.status != "done":
                break
        return reports


def report_done(executor: Any, report: TaskReport) -> None:
    """Hand a finished task's report to ``executor.on_report``, when one is set.

    Task drains set it to move their progress bar (``drain(progress=True)``) and to merge
    each task's output parts while the other tasks run; executors call this once per
    report as it arrives, from the thread that runs ``run``. It is optional: an executor
    that never calls it still works, its bar then moves, and its parts are merged, only
    at the end.
    """
    callback = getattr(executor, "on_report", None)
    if callback is not None:
        callback(report)


# -- running one task ---------------------------------------------------------------------
def run_task(task: Task, worker: str | None = None) -> TaskReport:
    """Run one task in this process and report on it; module errors are reported, not raised.

    Parameters
    ----------
    task
        The task, with module specs whose input/output parameters are already set.
    worker
        The name of the worker in reports (default ``host:pid``).
    """
    import socket  # only task drains need it; keeps `import km3flow.core` light

    from .pipeline import Pipeline  # the pipeline module imports this one

    main_thread = threading.current_thread() is threading.main_thread()
    # In threaded workers (Dask with processes=False) process_time would count the other
    # threads' work too.
    cpu_clock = time.process_time if main_thread else time.thread_time
    report = TaskReport(index=task.index, input_files=list(task.input_files),
                        worker=worker or f"{socket.gethostname()}:{os.getpid()}",
                        host=socket.gethostname(), pid=os.getpid(), started=time.time())
    wall0, cpu0 = time.perf_counter(), cpu_clock()
    out = io.StringIO()
    # Capturing stdout keeps the parent's terminal readable; only possible where this task
    # owns the process (redirect_stdout swaps sys.stdout for all threads).
    capture = contextlib.redirect_stdout(out) if main_thread else contextlib.nullcontext()
    pipe: Pipeline | None = None
    try:
        with capture:
            pipe = Pipeline.from_specs(task.specs, timeit=task.timeit)
            report.results = dict(pipe.drain())
    except KeyboardInterrupt:  # every module of the task has finished
        report.status = "interrupted"
    except (Exception, SystemExit) as err:  # noqa: BLE001 - reported to the parent
        report.status = "failed"
        report.error = _task_error(err)
    finally:
        report.wall = time.perf_counter() - wall0
        report.cpu = cpu_clock() - cpu0
        report.ended = time.time()
        report.peak_mb = peak_memory_mb()
        report.stdout = out.getvalue()
        if pipe is not None:
            _collect_stats(pipe, report)
    for key, value in list(report.results.items()):
        if not _transportable(value):
            log.warning("finish() result of module '%s' cannot be sent back from the worker; "
                        "returning its repr", key)
            report.results[key] = repr(value)
    return report


def _transportable(value: Any) -> bool:
    try:
        pickle.dumps(value)
        return True
    except Exception:  # noqa: BLE001 - any pickling failure means "keep a repr"
        return False


def _task_error(err: BaseException) -> TaskError:
    module = cycle = None
    if isinstance(err, ModuleError):
        module, cycle = err.module, err.cycle
    original = err.__cause__ if isinstance(err, ModuleError) and err.__cause__ else err
    exc = original if _transportable(original) else None
    if exc is not None:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - exceptions with odd __init__ do not round-trip
            exc = None
    return TaskError(type=type(original).__name__, message=str(err), module=module,
                     cycle=cycle, traceback="".join(traceback.format_exception(err)),
                     exception=exc)


def _collect_stats(pipe: Any, report: TaskReport) -> None:
    report.cycles = pipe.cycles
    report.cycle_wall = _shrunk(pipe.cycle_times.wall_stats)
    report.cycle_cpu = _shrunk(pipe.cycle_times.cpu_stats)
    if pipe.timeit:
        for name, t in pipe.module_timers.items():
            report.modules[name] = ModuleStats(_shrunk(t.wall_stats), _shrunk(t.cpu_stats),
                                               t.finish_wall, t.finish_cpu)


_SENT_SAMPLE = 2000


def _shrunk(stats: RunningStats) -> RunningStats:
    """The statistics with at most ``_SENT_SAMPLE`` values of the median reservoir.

    Exact count/mean/std/min/max/total are kept; the reservoir (20 000 values, 160 kB per
    statistic) is cut to a random subset, so a report stays a few kB per module whatever
    the file length. Such a copy can be merged into another RunningStats (which is all
    the parent does), not added to.
    """
    sample = stats._reservoir[: stats._filled]
    if sample.size > _SENT_SAMPLE:
        sample = np.random.default_rng(0).choice(sample, _SENT_SAMPLE, replace=False)
    stats._reservoir = sample.copy()
    stats._filled = sample.size
    return stats


# -- choosing an executor ------------------------------------------------------------------
# name -> an executor factory, or its "module:attribute" path (imported when first used).
_EXECUTORS: dict[str, Any] = {
    "serial": SerialExecutor,
    "processes": "km3flow.parallel.pool:PoolExecutor",
}
# Objects that are turned into an executor: "module.Type" -> factory path.
_ADAPTERS: dict[str, str] = {
    "distributed.client.Client": "km3flow.parallel.dask:DaskExecutor",
}
ENTRY_POINT_GROUP = "km3flow.executors"


def register_executor(name: str, factory: Callable[..., Executor] | str) -> None:
    """Make ``drain(executor=name)`` build an executor with ``factory()``.

    ``factory`` is a callable or a ``"module:attribute"`` path (imported on first use).
    Installed packages can do the same through the ``km3flow.executors`` entry-point group.
    ``"processes"`` is also what ``drain(workers=N)`` builds, as ``factory(workers=N)``.
    """
    _EXECUTORS[name] = factory


def executor_names() -> list[str]:
    """The registered executor names, entry points included."""
    return sorted(set(_EXECUTORS) | {ep.name for ep in _entry_points()})


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _load(path: Any) -> Any:
    if not isinstance(path, str):
        return path
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _factory(name: str) -> Callable[..., Executor]:
    if name in _EXECUTORS:
        factory = _EXECUTORS[name] = _load(_EXECUTORS[name])
        return factory
    for ep in _entry_points():
        if ep.name == name:
            factory = _EXECUTORS[name] = ep.load()
            return factory
    raise ConfigError(f"no executor named '{name}'; known: {', '.join(executor_names())}")


def resolve_executor(executor: Any = None, workers: int | None = None) -> Executor:
    """The executor for ``drain(executor=…, workers=…)``.

    Parameters
    ----------
    executor
        An :class:`Executor`; a registered name (``"serial"``, ``"processes"``, or one
        from :func:`register_executor` / the ``km3flow.executors`` entry points); or an
        object an adapter turns into an executor (a ``dask.distributed.Client``).
    workers
        The number of local worker processes: the ``"processes"`` executor.

    Raises
    ------
    ConfigError
        Both given, or an unknown name.
    TypeError
        ``executor`` is none of the above.
    """
    if workers is not None and executor is not None:
        raise ConfigError("give either workers= (local processes) or executor= (an executor "
                          "or a Dask client), not both")
    if workers is not None:
        return _factory("processes")(workers=workers)
    if isinstance(executor, str):
        return _factory(executor)()
    for cls in type(executor).__mro__:
        path = _ADAPTERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if path is not None:
            return _load(path)(executor)
    if isinstance(executor, Executor):
        return executor
    raise TypeError(f"executor must be an Executor (with run(tasks) -> reports, description "
                    f"and n_workers), a registered name ({', '.join(executor_names())}) or a "
                    f"dask.distributed.Client, not {type(executor).__name__}")
