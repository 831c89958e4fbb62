"""Map the known tables of an HDF5 file (KM3Pipe- or km3flow-written) onto km3flow's schema.

Used when HDF5 files are read for conversion together with other formats
(``HDF5Pump(conform=True)``, which :class:`~km3flow.io.files.FilePump` turns on), so that
their EventInfo, Hits, McTracks … have exactly the columns and dtypes of the other readers
(:mod:`km3flow.dataclasses.schema`). For each table found at a schema location:

- KM3Pipe's older names are renamed where the file lacks the schema's name
  (:data:`~km3flow.dataclasses.schema.KM3PIPE_NAMES`: ``timestamp`` → ``utc_seconds``,
  ``nanoseconds`` → ``utc_nanoseconds``, ``mc_time`` → ``mc_t``, ``pdgid`` → ``type``,
  ``E`` → ``energy``, ``t`` → ``time``, upper-case fit-info names → lower case);
- values are cast to the schema's dtype when they fit: integers are range-checked, floats
  given to an integer column must be whole numbers, an integer ``triggered`` becomes
  ``!= 0``; anything else is a :class:`~km3flow.exceptions.FormatError` naming the file,
  location, column and row;
- columns the file lacks hold the schema's fill (logged once per file and table);
- columns the schema does not know are dropped, with a warning once per file and table
  (mixed files need identical columns); ``group_id`` (and a 4.x file's ``event_id`` key
  outside EventInfo) is dropped silently, since the writer numbers groups anew.

Tables at other locations (``/reco/gandalf``, ``/meta`` …) are passed through unchanged.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from ...dataclasses.schema import KM3PIPE_NAMES, SCHEMA_AT, SCHEMAS, TableSchema, log_fills
from ...exceptions import FormatError

_KEYS = ("group_id", "event_id")


def schema_for(h5loc: str, names: tuple[str, ...]) -> TableSchema | None:
    """The schema of the table at ``h5loc`` with columns ``names`` (None: not a schema table)."""
    candidates = SCHEMA_AT.get(h5loc)
    if not candidates:
        return None
    if len(candidates) > 1 and "pos_x" not in names:
        return SCHEMAS[candidates[-1]]  # the uncalibrated one
    return SCHEMAS[candidates[0]]


def _base(name: str) -> str:
    return name[len("Calib"):] if name.startswith("Calib") else name


def plan(schema: TableSchema, names: tuple[str, ...]) -> tuple[dict[str, str], list[str],
                                                                list[str]]:
    """(schema column → file column, columns to fill, file columns dropped)."""
    renames = KM3PIPE_NAMES.get(_base(schema.name), {})
    source: dict[str, str] = {}
    for col in schema.names:
        if col in names:
            source[col] = col
    for old, new in renames.items():
        if new not in source and old in names:
            source[new] = old
    used = set(source.values())
    fill = [c for c in schema.names if c not in source]
    dropped = [n for n in names if n not in used and n not in _KEYS]
    return source, fill, dropped


def _cast(values: np.ndarray, target: np.dtype, where: str, path: str,
          rows: str) -> np.ndarray:
    src = values.dtype
    if src == target:
        return values
    kind, tkind = src.kind, target.kind
    if tkind == "b":
        if kind in "biu":
            return values != 0
    elif tkind == "f" and kind in "biuf":
        return values  # assignment converts (floats may be rounded to the schema's precision)
    elif tkind in "iu" and kind in "biuf":
        info = np.iinfo(target)
        if kind == "f":
            bad = ~np.isfinite(values) | (values != np.round(values))
        else:
            bad = np.zeros(len(values), dtype=bool)
        with np.errstate(invalid="ignore"):
            bad |= (values < info.min) | (values > info.max)
        if not bad.any():
            return values
        row = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{where}: value {values[row].item()!r} in row {row} of {rows} does not "
                          f"fit the schema's {target} (see docs/schema.md)", path=path)
    raise FormatError(f"{where}: a {src} column cannot be cast to the schema's {target}",
                      path=path)


def conform_table(data: np.ndarray, h5loc: str, path: str,
                  log: logging.Logger | None = None,
                  noted: set[str] | None = None, rows: str = "the table"
                  ) -> tuple[np.ndarray, TableSchema] | None:
    """``data`` (rows of the table at ``h5loc``) as the schema's columns and dtypes.

    Returns ``(array, schema)``, or None if ``h5loc`` is not a schema location. The
    fills and dropped columns are logged the first time an ``h5loc`` is seen (tracked in
    ``noted``, one set per file). ``rows`` says which rows ``data`` holds (for errors).
    """
    names = data.dtype.names or ()
    schema = schema_for(h5loc, names)
    if schema is None:
        return None
    source, fill, dropped = plan(schema, names)
    if log is not None and noted is not None and h5loc not in noted:
        noted.add(h5loc)
        name = os.path.basename(path)
        log_fills(log, {schema.name: fill}, f"not in {h5loc} of {name}",
                  level=logging.WARNING)
        if dropped:
            log.warning("dropped %s.{%s}: not in km3flow's %s schema (%s of %s; a convert "
                        "of HDF5 files alone keeps them)", schema.name, ", ".join(dropped),
                        schema.name, h5loc, name)
    out = schema.filled(len(data))
    for col, src in source.items():
        target = schema.dtype[col]
        if target.shape:
            out[col] = data[src]
            continue
        out[col] = _cast(data[src], target, f"{h5loc} column '{src}' ({data.dtype[src]})", path,
                         rows)
    return out, schema
