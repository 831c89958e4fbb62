"""The ``--help`` epilog of commands that build a pipeline: its modules' declared parameters."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from ..core.config import describe_parameter


def add_modules_epilog(parser: argparse.ArgumentParser, modules: Iterable[Any]) -> None:
    """List the declared parameters of ``modules`` (Module classes) under the options.

    The options of the command set them; the list says what each module takes and its
    defaults, as ``Pipeline.describe()`` does.
    """
    lines = ["the pipeline's modules and their parameters:"]
    for cls in modules:
        lines.append(f"  {cls.__name__}")
        declared = getattr(cls, "declared_parameters", {})
        lines.extend(f"    {describe_parameter(p.describe())}" for p in declared.values())
    parser.epilog = "\n".join(lines)
    # the epilog is preformatted (one parameter a line); the options keep argparse's layout
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
