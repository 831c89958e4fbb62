"""Pipeline module of the monitor: hands each live blob's tables to a :class:`MonitorState`."""

from __future__ import annotations

from ..core import Blob, Module
from ..core.config import Parameter
from .state import MonitorState


class MonitorModule(Module):
    """Feed summary slices, events and MSG lines of CHPump blobs into a monitor state.

    Blobs with ``Summaryslice`` (IO_SUM) update the DOM rates, blobs with ``EventInfo``,
    ``Hits`` and ``TriggeredHits`` (IO_EVT) the trigger rates and the latest event, blobs
    with ``CHMessage`` (MSG) the message list; others pass unchanged.

    Parameters
    ----------
    state
        The :class:`~km3flow.monitor.state.MonitorState` to update.
    """

    state = Parameter(MonitorState, help="the monitor state to update")

    def process(self, blob: Blob) -> Blob:
        if "Summaryslice" in blob:
            self.state.add_summaryslice(blob["Summaryslice"])
        elif "EventInfo" in blob and "Hits" in blob:
            self.state.add_event(blob["EventInfo"], blob["Hits"], blob["TriggeredHits"])
        elif "CHMessage" in blob:
            self.state.add_message(blob["CHMessage"], tag=blob.get("CHTag", "MSG"))
        return blob
