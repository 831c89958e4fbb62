"""``km3flow test``: run km3flow's test suite with pytest (as ``km3pipe test`` did)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..exceptions import Km3flowError


def find_tests() -> Path:
    """Locate the test suite: ``$KM3FLOW_TESTS`` or the ``tests/`` beside an installed checkout."""
    env = os.environ.get("KM3FLOW_TESTS")
    candidates = [Path(env)] if env else []
    package = Path(__file__).resolve().parents[1]
    candidates.append(package.parents[1] / "tests")  # src/km3flow -> checkout/tests
    for path in candidates:
        if (path / "conftest.py").is_file():
            return path
    raise Km3flowError(
        "the km3flow test suite was not found: install km3flow from a source checkout "
        "(pip install -e '.[all]') or point KM3FLOW_TESTS at its tests/ folder"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pytest_args", nargs="*",
                        help="extra arguments passed to pytest (e.g. -k hdf5 -x)")


def run(args: argparse.Namespace) -> int:
    from .._optional import import_optional

    pytest = import_optional("pytest", extra="dev")
    tests = find_tests()
    return int(pytest.main([str(tests), *args.pytest_args]))
