"""What runs inside a worker: rebuild the pipeline from its specs and drain one task.

A task is the whole module chain over one input file (or a chunk of files). The worker
returns a :class:`TaskReport` (never raises for a module error), so that the module, the
cycle and the traceback reach the parent intact whatever the executor's serialisation.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.pipeline import ModuleSpec, Pipeline
from ..core.timing import RunningStats, peak_memory_mb
from ..exceptions import ModuleError
from ..logger import get_logger

log = get_logger("ParallelWorker")

# Set in local pool workers by _init_pool_worker: a queue for start/end notices (so the
# parent can name the file of a worker that died) and an event that skips queued tasks
# once the run is being stopped.
_POOL_EVENTS: Any = None
_POOL_ABORT: Any = None


@dataclass
class Task:
    """One unit of work: the module specs with input (and output part) parameters set."""

    index: int
    n_tasks: int
    specs: list[ModuleSpec]
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


# glibc malloc in a fresh process returns freed memory at the top of its heap to the
# system at once (trim threshold 128 kB, adapting slowly), so numpy temporaries of a few
# hundred kB cost page faults on every allocation: CPU-bound modules measured 1.7x slower
# in workers than in a long-lived parent. Workers keep up to this much free heap instead.
_TRIM_THRESHOLD = 64 * 2**20
_MMAP_THRESHOLD = 16 * 2**20


_MALLOC_TUNED = False


def tune_malloc() -> bool:
    """Make glibc keep freed heap memory (up to 64 MiB) in this process; False elsewhere."""
    global _MALLOC_TUNED
    _MALLOC_TUNED = True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl)
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_trim_threshold, _TRIM_THRESHOLD)) and bool(
        mallopt(m_mmap_threshold, _MMAP_THRESHOLD))


def _init_pool_worker(events: Any, abort: Any) -> None:
    """Initialise a local pool worker: Ctrl-C is the parent's job, not the workers'."""
    global _POOL_EVENTS, _POOL_ABORT
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_malloc()
    _POOL_EVENTS = events
    _POOL_ABORT = abort


def _worker_identity() -> str:
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker

            return str(get_worker().address)
        except (ValueError, ImportError):
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


def _notify(kind: str, index: int) -> None:
    if _POOL_EVENTS is not None:
        _POOL_EVENTS.put((kind, index, os.getpid()))


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


def run_task(task: Task) -> TaskReport:
    """Run one task in this process and report on it; module errors are reported, not raised.

    Parameters
    ----------
    task
        The task, with module specs whose input/output parameters are already set.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    # In threaded workers (Dask with processes=False) process_time would count the other
    # threads' work too.
    cpu_clock = time.process_time if main_thread else time.thread_time
    report = TaskReport(index=task.index, input_files=list(task.input_files),
                        worker=_worker_identity(), host=socket.gethostname(), pid=os.getpid(),
                        started=time.time())
    if _POOL_ABORT is not None and _POOL_ABORT.is_set():
        report.status = "skipped"
        return report
    if not _MALLOC_TUNED and multiprocessing.parent_process() is not None:
        # A worker process of a cluster (e.g. Dask's, started with a 64 kB trim
        # threshold); never the user's own process (threaded Dask workers).
        tune_malloc()
    _notify("start", task.index)
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
        _notify("end", task.index)
    for key, value in list(report.results.items()):
        if not _transportable(value):
            log.warning("finish() result of module '%s' cannot be sent back from the worker; "
                        "returning its repr", key)
            report.results[key] = repr(value)
    return report


def _collect_stats(pipe: Pipeline, report: TaskReport) -> None:
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
