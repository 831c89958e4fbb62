"""Data provenance of km3flow-written HDF5 files: what wrote the file, from what, where, when.

The record is a JSON object stored in the root attribute ``km3flow_provenance`` (or, when
larger than an HDF5 compact attribute allows, in a ``/km3flow_provenance`` uint8 array),
so KM3Pipe's reader and pandas are not disturbed by it.

Sources of the record, in the sink:

- the pipeline structure: the service ``pipeline_description`` (a JSON string, a dict, or a
  callable returning either, e.g. ``functools.partial(pipe.describe, fmt="json")``);
- input files: the service ``input_files`` (a list, or a callable returning one; every
  Pipeline offers it, listing its pumps' files) plus every distinct string found under the
  blob key ``Filename`` (set by FilePump) or ``filename``;
- host, user-independent platform data, python/numpy/PyTables/HDF5 versions, ``sys.argv``,
  start (sink configured) and end (sink finished) times in UTC.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import socket
import sys
from typing import Any

import numpy as np
import tables as tb

from .format import PROVENANCE_ATTR, PROVENANCE_NODE

_MAX_ATTR_BYTES = 60_000  # HDF5 compact attribute storage ends at 64 KiB


def utc_now() -> str:
    """The current time in UTC, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def environment() -> dict[str, Any]:
    """Host and software versions of this process."""
    from ... import __version__

    return {
        "km3flow": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tables": tb.__version__,
        "hdf5": tb.hdf5_version,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "argv": list(sys.argv),
    }


def resolve_service(value: Any) -> Any:
    """Call a service if callable; parse JSON text into objects."""
    if callable(value):
        value = value()
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def write_provenance(h5: tb.File, record: dict[str, Any]) -> None:
    """Store ``record`` as JSON in the root attribute (or a node when too large)."""
    text = json.dumps(record, default=repr)
    if len(text.encode()) <= _MAX_ATTR_BYTES:
        h5.root._v_attrs[PROVENANCE_ATTR] = text
    else:
        h5.create_array("/", PROVENANCE_NODE[1:], np.frombuffer(text.encode(), np.uint8),
                        title="km3flow provenance (JSON, UTF-8)")


def read_provenance(h5: tb.File) -> dict[str, Any] | None:
    """Return the provenance record of an open file, or ``None`` when it has none."""
    attrs = h5.root._v_attrs
    text: Any = None
    if PROVENANCE_ATTR in attrs._v_attrnamesuser:
        text = attrs[PROVENANCE_ATTR]
    elif PROVENANCE_NODE in h5:
        text = h5.get_node(PROVENANCE_NODE).read().tobytes()
    if text is None:
        return None
    if isinstance(text, (bytes, np.bytes_)):
        text = bytes(text).decode("utf-8", "replace")
    try:
        value = json.loads(str(text))
    except ValueError:
        return {"unparsable": str(text)[:200]}
    return value if isinstance(value, dict) else {"value": value}
