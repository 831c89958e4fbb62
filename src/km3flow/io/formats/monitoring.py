"""The CLB monitoring stream (IO_MONIT: TMCH packets), read by TMCHPump."""

from __future__ import annotations

from . import FormatSpec


def sniff(head: bytes, path: str) -> bool:
    """A monitoring file starts with a packet: its 4-byte length, then the tag ``TMCH``."""
    return head[4:8] == b"TMCH"


FORMAT = FormatSpec("monitoring", sniff, pump="km3flow.io.daq.monitoring:TMCHPump", order=50,
                    family="daq", description="CLB monitoring (TMCH) file")
