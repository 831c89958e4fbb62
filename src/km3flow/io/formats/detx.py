"""The ASCII detector description (DETX), recognised by its extension."""

from __future__ import annotations

from . import FormatSpec


def sniff(head: bytes, path: str) -> bool:
    """DETX files start with free text; their name ends in ``.detx``."""
    return path.lower().endswith(".detx")


FORMAT = FormatSpec("detx", sniff, pump=None, order=31, family="detector",
                    description="detx detector file")
