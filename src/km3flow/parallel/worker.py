"""What runs inside a worker process: one task, with the pool's bookkeeping around it.

A task is the whole module chain over one input file (or a chunk of files); running it
is :func:`km3flow.core.executor.run_task`, which returns a ``TaskReport`` (never raises for
a module error), so that the module, the cycle and the traceback reach the parent intact
whatever the executor's serialisation. This module adds what only worker processes need.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import time
from typing import Any

from ..core.executor import Task, TaskReport
from ..core.executor import run_task as run_in_process
from ..logger import get_logger

log = get_logger("ParallelWorker")

# Set in local pool workers by _init_pool_worker: a queue for start/end notices (so the
# parent can name the file of a worker that died) and an event that skips queued tasks
# once the run is being stopped.
_POOL_EVENTS: Any = None
_POOL_ABORT: Any = None


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


def run_task(task: Task) -> TaskReport:
    """Run one task in a worker process (a pool's or Dask's) and report on it.

    :func:`km3flow.core.executor.run_task` with the worker's side of the bookkeeping:
    skipped once the run is stopping, start/end notices to the parent pool (so that it
    can name the file of a worker that died), and glibc tuned for long-lived workers.
    """
    if _POOL_ABORT is not None and _POOL_ABORT.is_set():
        return TaskReport(index=task.index, input_files=list(task.input_files),
                          worker=_worker_identity(), host=socket.gethostname(),
                          pid=os.getpid(), status="skipped", started=time.time())
    if not _MALLOC_TUNED and multiprocessing.parent_process() is not None:
        # A worker process of a cluster (e.g. Dask's, started with a 64 kB trim
        # threshold); never the user's own process (threaded Dask workers).
        tune_malloc()
    _notify("start", task.index)
    try:
        return run_in_process(task, worker=_worker_identity())
    finally:
        _notify("end", task.index)
