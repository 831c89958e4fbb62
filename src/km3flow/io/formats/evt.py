"""The EVT ASCII format (gSeaGen, KM3Sim, mupage, JSirene)."""

from __future__ import annotations

from . import FormatSpec


def sniff(head: bytes, path: str) -> bool:
    """An EVT file has an event tag in its first bytes, or starts with a header line."""
    text = head.decode("ascii", errors="replace")
    return "start_event:" in text or text.lstrip().startswith(("start_run:", "comment:", "cut_"))


FORMAT = FormatSpec("evt", sniff, pump="km3flow.io.evt:EvtPump", order=40, family="evt",
                    description="EVT ASCII file")
