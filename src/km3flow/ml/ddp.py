"""Run a function in several processes joined by ``torch.distributed`` (DDP trainings).

:func:`run_distributed` starts ``nprocs`` processes on this machine, each with an
initialised process group (``gloo`` on CPU, ``nccl`` for CUDA), rendezvous on 127.0.0.1
at a free port. Inside, :class:`~km3flow.ml.organizer.Organizer` notices the process group
and trains with DistributedDataParallel. Multi-node runs start their processes with
``torchrun`` instead; the organiser works the same there.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from .._optional import import_optional


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, fn: Callable[..., Any], world: int, backend: str, url: str,
            args: tuple[Any, ...]) -> None:
    torch = import_optional("torch", extra="ml")
    dist = torch.distributed
    dist.init_process_group(backend, init_method=url, rank=rank, world_size=world)
    try:
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
        fn(rank, *args)
    finally:
        dist.destroy_process_group()


def run_distributed(fn: Callable[..., Any], nprocs: int, args: tuple[Any, ...] = (),
                    backend: str | None = None, start_method: str = "spawn") -> None:
    """Call ``fn(rank, *args)`` in ``nprocs`` processes with a process group set up.

    Parameters
    ----------
    fn
        A picklable (module-level) function.
    nprocs
        Number of processes (the world size).
    backend
        ``gloo`` (CPU, default without CUDA) or ``nccl`` (default with CUDA).
    start_method
        ``spawn`` (default) or ``fork``. ``fork`` starts faster but can hang when the
        parent has already run torch's OpenMP thread pool (seen in a test run), so it is
        only for fresh processes.

    Raises
    ------
    torch.multiprocessing.ProcessRaisedException
        When a process fails (carries its traceback).
    """
    torch = import_optional("torch", extra="ml")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    url = f"tcp://127.0.0.1:{free_port()}"
    torch.multiprocessing.start_processes(
        _worker, args=(fn, nprocs, backend, url, tuple(args)), nprocs=nprocs, join=True,
        start_method=start_method)
