"""Strict JSON output of the CLI: ``null`` for NaN and ±inf, which JSON cannot hold."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (also inside dicts, lists, numpy scalars) as None."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):
        return finite_or_none(value.tolist())  # a numpy array
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # numpy scalar -> Python
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def strict_dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes ``NaN``/``Infinity`` (they become ``null``)."""
    return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)
