"""The MC header of offline ROOT files (aanet ``Head``): a dict of tag → fields, and its KM3Pipe table."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...dataclasses import Table
from ...logger import get_logger
from .definitions import HEADER_FIELDS

log = get_logger("km3flow.io.root")


def _to_number(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_header(raw: dict[str, str]) -> dict[str, Any]:
    """Split the header lines into fields, named as in the KM3NeT header definitions.

    A line with one value and no known field names becomes that value; otherwise a dict of
    field name → value, with unknown positions named ``field_<i>`` and missing values
    ``None`` (as km3io's ``Header`` does).

    Examples
    --------
    >>> parse_header({"can": "0 1027 888.4", "DAQ": "394"})
    {'can': {'zmin': 0, 'zmax': 1027, 'r': 888.4}, 'DAQ': {'livetime': 394}}
    """
    header: dict[str, Any] = {}
    for tag, text in raw.items():
        values = text.split()
        fields = list(HEADER_FIELDS.get(tag, ()))
        if len(values) == 1 and not fields:
            header[tag] = _to_number(values[0])
            continue
        if not values and not fields:
            continue
        n = max(len(values), len(fields))
        fields += [f"field_{i}" for i in range(len(fields), n)]
        padded = [_to_number(v) for v in values] + [None] * (n - len(values))
        header[tag] = dict(zip(fields, padded))
    return header


def read_raw_header(rfile: Any) -> dict[str, str] | None:
    """Return the ``Head`` map of an open uproot file as a dict of tag → text, or None.

    Only the ``Head`` object (aanet ``map<string,string>``) is understood; files with the old
    ``Header`` object (e.g. km3net_offline.root), which uproot cannot deserialise, and files
    without one give None.
    """
    if "Head" not in rfile.keys(cycle=False):
        return None
    try:
        mapping = rfile["Head"].member("map<string,string>")
    except Exception as err:  # noqa: BLE001 - an unreadable header must not stop the events
        log.warning("the header of %s cannot be read (%s); continuing without it",
                    rfile.file_path, err)
        return None
    return {str(k): str(v) for k, v in zip(mapping.keys(), mapping.values())}


def header_table(header: dict[str, Any]) -> Table:
    """Encode a parsed header as KM3Pipe's ``/raw_header`` table (one row per tag).

    The columns are ``parameter``, ``field_names``, ``field_values`` and ``dtype``, each a
    space-separated byte string, the layout KM3Pipe's ``HDF5Header`` reads back.
    """
    rows: dict[str, list[bytes]] = {"parameter": [], "field_names": [], "field_values": [],
                                    "dtype": []}
    for tag, entry in header.items():
        fields = entry if isinstance(entry, dict) else {tag: entry}
        names, values, types = [], [], []
        for name, value in fields.items():
            text = "" if value is None else str(value)
            names.append(name)
            values.append(text)
            types.append("f4" if isinstance(value, (int, float)) else f"a{len(text)}")
        rows["parameter"].append(tag.encode())
        rows["field_names"].append(" ".join(names).encode())
        rows["field_values"].append(" ".join(values).encode())
        rows["dtype"].append(" ".join(types).encode())
    if not rows["parameter"]:
        dtype = [(k, "S1") for k in rows]
        return Table(np.empty(0, dtype=dtype), h5loc="/raw_header", name="RawHeader",
                     h5singleton=True)
    return Table({k: np.array(v) for k, v in rows.items()}, h5loc="/raw_header",
                 name="RawHeader", h5singleton=True)
