"""The offline ROOT format (aanet ``Evt`` events in the tree ``E``)."""

from __future__ import annotations

from . import FormatSpec
from ._root import is_root_kind


def sniff(head: bytes, path: str) -> bool:
    """A ROOT file whose tree ``E`` holds the events."""
    return is_root_kind(head, path, "offline")


FORMAT = FormatSpec("offline", sniff, pump="km3flow.io.root.offline:OfflinePump", order=20,
                    family="root", description="offline ROOT file")
