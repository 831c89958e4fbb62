"""Data containers: :class:`Table` (structured array) and :class:`NDArray`, with HDF5 metadata."""

from .ndarray import NDArray
from .table import DEFAULT_H5LOC, Table, TableError
from .templates import TEMPLATES

NDArray.__module__ = "km3flow.dataclasses"

__all__ = ["DEFAULT_H5LOC", "TEMPLATES", "NDArray", "Table", "TableError"]
