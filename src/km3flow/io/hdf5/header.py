"""HDF5Header: the ``/raw_header`` table of KM3Pipe files (the EVT/aanet MC header).

Each row holds a ``parameter`` and space-separated ``field_names``, ``field_values`` and
``dtype`` strings (``f4`` numbers, ``aN`` strings). The header is exposed as attributes
holding namedtuples (fields sorted by name, as KM3Pipe does), and as a mapping.
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ...dataclasses import Table
from ...exceptions import FormatError


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _cast(dtype: str, value: str) -> Any:
    if dtype.startswith(("a", "S", "U")):
        return value
    try:
        return np.dtype(dtype).type(float(value))
    except (TypeError, ValueError):
        return value  # not a number after all: keep the text


class HDF5Header:
    """The MC header of a KM3Pipe HDF5 file.

    Parameters
    ----------
    data
        ``{parameter: {field: value}}``, or ``{parameter: value}``.

    Examples
    --------
    >>> h = HDF5Header({"can": {"zmin": 0.0, "zmax": 1027.0, "r": 888.4}})
    >>> h.can.zmax
    1027.0
    >>> h["can"].r
    888.4
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)
        self._user_friendly_data: dict[str, Any] = {}
        for parameter, value in self._data.items():
            if isinstance(value, Mapping) and value and all(
                str(f).isidentifier() for f in value
            ):
                names = sorted(value)
                cls_name = parameter if parameter.isidentifier() else "HeaderEntry"
                value = namedtuple(cls_name, names)(*[value[n] for n in names])
            if parameter.isidentifier() and not hasattr(type(self), parameter):
                setattr(self, parameter, value)
            self._user_friendly_data[parameter] = value

    def __getitem__(self, key: str) -> Any:
        try:
            return self._user_friendly_data[key]
        except KeyError:
            raise KeyError(
                f"no header parameter '{key}'; present: {', '.join(self._user_friendly_data)}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._user_friendly_data

    def __iter__(self) -> Iterator[str]:
        return iter(self._user_friendly_data)

    def __len__(self) -> int:
        return len(self._user_friendly_data)

    def keys(self) -> Any:
        return self._user_friendly_data.keys()

    def values(self) -> Any:
        return self._user_friendly_data.values()

    def items(self) -> Any:
        return self._user_friendly_data.items()

    def __repr__(self) -> str:
        return f"HDF5Header({len(self)} parameters: {', '.join(list(self)[:6])}" + (
            ", …)" if len(self) > 6 else ")")

    @classmethod
    def from_table(cls, table: Any) -> HDF5Header:
        """Parse a ``/raw_header`` table (a Table, structured array or PyTables table)."""
        arr = table.read() if hasattr(table, "read") and not isinstance(table, np.ndarray) \
            else np.asarray(table)
        needed = ("parameter", "field_names", "field_values", "dtype")
        missing = [c for c in needed if c not in (arr.dtype.names or ())]
        if missing:
            raise FormatError(f"raw_header table lacks the columns {missing}")
        data: dict[str, Any] = {}
        for row in arr:
            parameter = _text(row["parameter"])
            names = _text(row["field_names"]).split()
            values = _text(row["field_values"]).split()
            if not values:
                continue  # KM3Pipe skips parameters without values
            dtypes = _text(row["dtype"]).split()
            data[parameter] = dict(zip(names, [_cast(d, v) for d, v in zip(dtypes, values)]))
        return cls(data)

    from_pytable = from_table
    from_aanet = from_table

    @classmethod
    def from_hdf5(cls, filename: str | os.PathLike) -> HDF5Header:
        """Read the header of a KM3Pipe HDF5 file; FormatError if it has none."""
        from .format import open_km3_file

        with open_km3_file(filename, check_layout=False) as h5:
            if "/raw_header" not in h5:
                raise FormatError("no /raw_header table (no header information)",
                                  path=filename)
            return cls.from_table(h5.get_node("/raw_header"))

    def to_table(self) -> Table:
        """The header as a ``/raw_header`` singleton Table, as KM3Pipe writes it."""
        return header2table(self._data)


def header2table(data: Mapping[str, Any]) -> Table:
    """Convert ``{parameter: {field: value}}`` to a KM3Pipe ``/raw_header`` Table."""
    if isinstance(data, HDF5Header):
        data = data._data
    if not data:
        raise ValueError("an empty header cannot be converted to a table")
    rows: dict[str, list[bytes]] = {"parameter": [], "field_names": [], "field_values": [],
                                    "dtype": []}
    for parameter, fields in data.items():
        if not isinstance(fields, Mapping):
            fields = {f"{parameter}_0": fields}
        names, values, types = [], [], []
        for name, value in fields.items():
            names.append(str(name))
            text = _text(value)
            values.append(text)
            try:
                float(text)
                types.append("f4")
            except ValueError:
                types.append(f"a{len(text)}")
        rows["parameter"].append(str(parameter).encode())
        rows["field_names"].append(" ".join(names).encode())
        rows["field_values"].append(" ".join(values).encode())
        rows["dtype"].append(" ".join(types).encode())
    return Table(rows, h5loc="/raw_header", name="RawHeader", h5singleton=True)
