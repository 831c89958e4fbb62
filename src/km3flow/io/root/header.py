"""The MC header of offline ROOT files (aanet ``Head``), read into a
:class:`~km3flow.dataclasses.Header`."""

from __future__ import annotations

from typing import Any

from ...dataclasses.header import Header
from ...logger import get_logger

log = get_logger("km3flow.io.root")


def parse_header(raw: dict[str, str]) -> Header:
    """Split the header lines into fields, named as in the KM3NeT header definitions.

    The same as :meth:`Header.from_text <km3flow.dataclasses.Header.from_text>`: a line
    with one value and no known field names becomes that value; otherwise a namedtuple with
    unknown positions named ``field_<i>`` and missing values ``None``, as km3io's
    ``Header`` does.

    Examples
    --------
    >>> h = parse_header({"can": "0 1027 888.4", "DAQ": "394"})
    >>> h.can, h.DAQ.livetime
    (can(zmin=0, zmax=1027, r=888.4), 394)
    """
    return Header.from_text(raw)


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
