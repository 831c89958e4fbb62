"""The online ROOT format (Jpp ``KM3NET_*`` trees: DAQ events, summary slices, timeslices)."""

from __future__ import annotations

from . import FormatSpec
from ._root import is_root_kind


def sniff(head: bytes, path: str) -> bool:
    """A ROOT file whose ``KM3NET_*`` trees hold the data."""
    return is_root_kind(head, path, "online")


FORMAT = FormatSpec("online", sniff, pump="km3flow.io.root.online:OnlinePump", order=21,
                    family="root", description="online ROOT file")
