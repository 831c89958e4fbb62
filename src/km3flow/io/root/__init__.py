"""ROOT files of KM3NeT via uproot: offline (aanet ``Evt``) events and the "numpyfi" idea.

* :class:`OfflinePump` (alias :class:`AanetPump`) turns the events of an offline file into
  blobs of Tables (EventInfo, Hits, McHits, Tracks, McTracks, Header), reading lazily in
  chunks of ``step_size`` events.
* :func:`read_offline` reads a whole file into flat Tables with ``group_id`` (chunked
  through uproot), :func:`iter_offline` yields them chunk by chunk.
* Named ``usr`` values of events, tracks and MC tracks become tables of their own
  (``EventUsr``, ``TracksUsr``, ``McTracksUsr``; :mod:`km3flow.io.root.usr`).
* :func:`get_dtype` derives a class's NumPy structured dtype from the file's streamer info
  (``get_dtype(file, "Hit")``), :func:`numpyfi` reads a branch of objects into record arrays
  (``hits.time``, ``hits.pos.x``).

uproot and awkward are imported only when a file is opened (``pip install km3flow[root]``).
"""

from __future__ import annotations

from .baskets import BasketRecords
from .bulk import iter_offline, read_offline
from .definitions import FITINF_COLUMNS, FITINF_INDEX, RECONSTRUCTION
from .header import parse_header
from .numpyfi import ALIASES, JaggedRecords, get_dtype, numpyfi, variable_members
from .offline import AanetPump, OfflinePump, read_header

__all__ = [
    "ALIASES",
    "FITINF_COLUMNS",
    "FITINF_INDEX",
    "RECONSTRUCTION",
    "AanetPump",
    "BasketRecords",
    "JaggedRecords",
    "OfflinePump",
    "get_dtype",
    "iter_offline",
    "numpyfi",
    "parse_header",
    "read_header",
    "read_offline",
    "variable_members",
]
