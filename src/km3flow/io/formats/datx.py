"""The binary detector description (DATX), recognised by its extension."""

from __future__ import annotations

from . import FormatSpec


def sniff(head: bytes, path: str) -> bool:
    """DATX files have no magic bytes; their name ends in ``.datx``."""
    return path.lower().endswith(".datx")


FORMAT = FormatSpec("datx", sniff, pump=None, order=30, family="detector",
                    description="datx detector file")
