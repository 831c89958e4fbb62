"""Data containers: :class:`Table` (structured array) and :class:`NDArray`, with HDF5 metadata;
:data:`~km3flow.dataclasses.schema.SCHEMAS`, the columns of every KM3NeT table
(:mod:`km3flow.dataclasses.schema`); :class:`~km3flow.dataclasses.header.Header`, the MC
header of a file, one type for every reader."""

from .header import HEADER_KEY, Header
from .ndarray import NDArray
from .schema import SCHEMAS
from .table import DEFAULT_H5LOC, Table, TableError
from .templates import TEMPLATES

NDArray.__module__ = "km3flow.dataclasses"

__all__ = ["DEFAULT_H5LOC", "HEADER_KEY", "SCHEMAS", "TEMPLATES", "Header", "NDArray", "Table",
           "TableError"]
