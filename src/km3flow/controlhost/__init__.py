"""ControlHost: the protocol KM3NeT streams live data with, a client and a dispatcher.

- :mod:`km3flow.controlhost.protocol`: tags, prefixes, messages, subscriptions (bytes only)
- :mod:`km3flow.controlhost.client`: :class:`Client`, a blocking client with reconnects
- :mod:`km3flow.controlhost.dispatcher`: :class:`Dispatcher`, an asyncio Ligier stand-in
- :mod:`km3flow.controlhost.pump`: :class:`CHPump` and :class:`CHSink` pipeline modules
- :mod:`km3flow.controlhost.replay`: DAQ frames of a file streamed into a dispatcher

Names are loaded on first use so that ``import km3flow.controlhost`` stays light.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

_LAZY = {
    "Client": "km3flow.controlhost.client",
    "Backoff": "km3flow.controlhost.client",
    "Dispatcher": "km3flow.controlhost.dispatcher",
    "DispatcherThread": "km3flow.controlhost.dispatcher",
    "CHPump": "km3flow.controlhost.pump",
    "CHSink": "km3flow.controlhost.pump",
    "Message": "km3flow.controlhost.protocol",
    "Prefix": "km3flow.controlhost.protocol",
    "Tag": "km3flow.controlhost.protocol",
    "iter_daq_frames": "km3flow.controlhost.replay",
    "replay_file": "km3flow.controlhost.replay",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
