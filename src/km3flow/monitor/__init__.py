"""Live detector monitoring in the browser: ``km3flow monitor``.

- :mod:`.state`: :class:`~.state.MonitorState`, what the page shows (DOM rates and flags,
  per-second trigger history, the latest event, MSG lines), fed from decoded DAQ tables;
- :mod:`.modules`: :class:`~.modules.MonitorModule`, the pipeline module feeding a state
  from CHPump blobs;
- :mod:`.history`: the ``--history`` HDF5 file (written through HDF5Sink) and reading it back;
- :mod:`.app`: the aiohttp web server (page, ``/api/state``, WebSocket updates, token check)
  and the process running it next to the live pipeline;
- ``static/``: the page (HTML, JavaScript, CSS); plotly.js comes from the installed ``plotly``.

aiohttp and plotly are the ``monitor`` extra (``pip install 'km3flow[monitor]'``); they are
imported only when the server starts.
"""

from __future__ import annotations

from .modules import MonitorModule
from .state import MonitorState

__all__ = ["MonitorModule", "MonitorState"]
