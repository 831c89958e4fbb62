"""--workers/--scheduler options shared by command-line tools."""

from __future__ import annotations

import argparse

import pytest

from km3flow.exceptions import ConfigError
from km3flow.parallel import add_parallel_arguments, executor_from_args


def test_parallel_arguments_parse():
    parser = argparse.ArgumentParser()
    add_parallel_arguments(parser)
    args = parser.parse_args(["--workers", "3"])
    assert args.workers == 3 and args.scheduler is None
    assert parser.parse_args(["--scheduler", "tcp://h:8786"]).scheduler == "tcp://h:8786"


def test_executor_from_args_local():
    with executor_from_args(None, None) as kwargs:
        assert kwargs == {}
    with executor_from_args(4, None) as kwargs:
        assert kwargs == {"workers": 4}
    assert dict(**executor_from_args(2, None)) == {"workers": 2}
    with pytest.raises(ConfigError, match="exclude each other"):
        executor_from_args(2, "tcp://localhost:8786")
    with pytest.raises(ConfigError, match="at least 1"):
        executor_from_args(0, None)


def test_pool_workers_tune_glibc_malloc():
    import platform

    from km3flow.parallel.worker import tune_malloc

    result = tune_malloc()
    assert isinstance(result, bool)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert result
