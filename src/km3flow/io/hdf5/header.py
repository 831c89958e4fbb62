"""The ``/raw_header`` table of KM3HDF5 files: read into a :class:`~km3flow.dataclasses.Header`.

Each row holds a ``parameter`` and space-separated ``field_names``, ``field_values`` and
``dtype`` strings (``f4`` numbers, ``aN`` strings), as KM3Pipe writes it;
:meth:`Header.to_table <km3flow.dataclasses.Header.to_table>` writes and
:meth:`Header.from_table <km3flow.dataclasses.Header.from_table>` reads it. KM3Pipe's names
are kept for ported code: :class:`HDF5Header` (a :class:`~km3flow.dataclasses.Header` that
also reads files, :meth:`HDF5Header.from_hdf5`) and :func:`header2table`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ...dataclasses import Header, Table
from ...exceptions import FormatError


class HDF5Header(Header):
    """KM3Pipe's name of the header type: a :class:`~km3flow.dataclasses.Header`.

    The readers give plain :class:`~km3flow.dataclasses.Header` objects; this subclass only
    adds KM3Pipe's constructors (``from_hdf5``, ``from_pytable``, ``from_aanet``). Unlike
    KM3Pipe's, entries keep the fields in file (definition) order, as km3io's do, rather
    than sorted by name.

    Examples
    --------
    >>> h = HDF5Header({"can": {"zmin": 0.0, "zmax": 1027.0, "r": 888.4}})
    >>> h.can.zmax
    1027.0
    >>> h["can"].r
    888.4
    """

    @classmethod
    def from_pytable(cls, table: Any) -> Header:
        """Read a ``/raw_header`` PyTables table (KM3Pipe's name of :meth:`from_table`)."""
        return cls.from_table(table)

    from_aanet = from_pytable

    @classmethod
    def from_hdf5(cls, filename: str | os.PathLike) -> Header:
        """Read the header of a KM3HDF5 file; FormatError if it has none."""
        from .format import open_km3_file

        with open_km3_file(filename, check_layout=False) as h5:
            if "/raw_header" not in h5:
                raise FormatError("no /raw_header table (no header information)",
                                  path=filename)
            try:
                return cls.from_table(h5.get_node("/raw_header"))
            except FormatError as err:
                raise FormatError(err.reason, path=filename, row=err.row) from None


def header2table(data: Mapping[str, Any]) -> Table:
    """Convert ``{parameter: {field: value}}`` (or a Header) to a ``/raw_header`` Table,
    KM3Pipe's name for ``Header(data).to_table()``."""
    header = data if isinstance(data, Header) else Header(data)
    return header.to_table()
