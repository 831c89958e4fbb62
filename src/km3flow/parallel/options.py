"""Command-line options for parallel draining, shared by ``km3flow convert`` and ``bin``."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .._optional import import_optional
from ..exceptions import ConfigError


def add_parallel_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers N`` and ``--scheduler ADDRESS`` to ``parser``."""
    group = parser.add_argument_group("parallel processing")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="process the input files in N local worker processes")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="process the input files on a Dask cluster: a scheduler address "
                            "(tcp://host:8786) or a scheduler file (*.json)")


@contextlib.contextmanager
def executor_from_args(workers: int | None, scheduler: str | None) -> Iterator[dict[str, Any]]:
    """Yield the keyword arguments for ``Pipeline.drain`` from ``--workers``/``--scheduler``.

    ``{}`` (a serial drain) when neither is given; ``{"workers": N}``; or
    ``{"executor": client}`` with a Dask client connected to ``scheduler``, closed when
    the ``with`` block ends.

    Examples
    --------
    >>> with executor_from_args(None, None) as drain_kwargs:
    ...     drain_kwargs
    {}
    """
    if workers is not None and scheduler is not None:
        raise ConfigError("--workers and --scheduler exclude each other")
    if scheduler is None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        yield {} if workers is None else {"workers": workers}
        return
    distributed = import_optional("dask.distributed", extra="dask")
    if scheduler.endswith(".json") and os.path.isfile(scheduler):
        client = distributed.Client(scheduler_file=scheduler)
    else:
        client = distributed.Client(scheduler)
    try:
        yield {"executor": client}
    finally:
        client.close()
