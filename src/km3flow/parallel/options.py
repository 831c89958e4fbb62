"""Command-line options for parallel draining, shared by ``km3flow convert`` and ``bin``."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from .._optional import import_optional
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from typing_extensions import Self


def add_parallel_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers N`` and ``--scheduler ADDRESS`` to ``parser``."""
    group = parser.add_argument_group("parallel processing")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="process the input files in N local worker processes")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="process the input files on a Dask cluster: a scheduler address "
                            "(tcp://host:8786) or a scheduler file (*.json)")


class DrainOptions(dict):
    """Keyword arguments for ``Pipeline.drain``; as a context manager, closes its Dask client.

    Use it directly (``pipe.drain(**opts)``; a client is then closed when the process
    ends) or in a ``with`` block, which closes the client at its end.
    """

    def __init__(self, kwargs: dict[str, Any], client: Any = None) -> None:
        super().__init__(kwargs)
        self.client = client

    def close(self) -> None:
        """Close the Dask client, if there is one."""
        if self.client is not None:
            self.client.close()
            self.client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def executor_from_args(workers: int | None, scheduler: str | None) -> DrainOptions:
    """The keyword arguments for ``Pipeline.drain`` from ``--workers``/``--scheduler``.

    ``{}`` (a serial drain) when neither is given; ``{"workers": N}``; or
    ``{"executor": client}`` with a Dask client connected to ``scheduler`` (an address
    such as ``tcp://host:8786``, or a scheduler file ``*.json``).

    Raises
    ------
    ConfigError
        Both given, or ``workers < 1``.

    Examples
    --------
    >>> executor_from_args(None, None)
    {}
    >>> with executor_from_args(4, None) as drain_kwargs:
    ...     drain_kwargs
    {'workers': 4}
    """
    if workers is not None and scheduler is not None:
        raise ConfigError("--workers and --scheduler exclude each other")
    if scheduler is None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        return DrainOptions({} if workers is None else {"workers": workers})
    distributed = import_optional("dask.distributed", extra="dask")
    if scheduler.endswith(".json") and os.path.isfile(scheduler):
        client = distributed.Client(scheduler_file=scheduler)
    else:
        client = distributed.Client(scheduler)
    return DrainOptions({"executor": client}, client)
