"""Named dtype templates of the common KM3NeT tables, with their HDF5 location and split mode.

The templates are the tables of :mod:`km3flow.dataclasses.schema` (the one place that
defines columns, dtypes, units and fill values); this module keeps the ``TEMPLATES`` name
that ``Table.from_template`` and older code use.
"""

from __future__ import annotations

from .schema import TEMPLATES

__all__ = ["TEMPLATES"]
