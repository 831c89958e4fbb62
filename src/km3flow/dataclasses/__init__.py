"""Data containers: :class:`Table` (structured array) and :class:`NDArray`, with HDF5 metadata;
:data:`SCHEMAS`, the columns of every KM3NeT table (:mod:`km3flow.dataclasses.schema`)."""

from .ndarray import NDArray
from .schema import SCHEMAS
from .table import DEFAULT_H5LOC, Table, TableError
from .templates import TEMPLATES

NDArray.__module__ = "km3flow.dataclasses"

__all__ = ["DEFAULT_H5LOC", "SCHEMAS", "TEMPLATES", "NDArray", "Table", "TableError"]
