"""``km3flow monitor``: live DOM rates, triggers and events from a dispatcher, in the browser."""

from __future__ import annotations

import argparse

from ..controlhost.protocol import DEFAULT_PORT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="dispatcher (Ligier) address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"dispatcher port (default {DEFAULT_PORT})")
    parser.add_argument("--detector", default=None, metavar="FILE",
                        help="DETX/DATX file giving DU, floor and position of each DOM "
                             "(without it DOMs are placed by sorted id, 18 per DU)")
    parser.add_argument("--http-host", default="127.0.0.1",
                        help="address the web page is served on (default 127.0.0.1; any "
                             "other needs --token)")
    parser.add_argument("--http-port", type=int, default=8080,
                        help="port of the web page (default 8080; 0 picks a free one)")
    parser.add_argument("--history", default=None, metavar="FILE.h5",
                        help="keep the per-second DOM and trigger rates in this HDF5 file; "
                             "a restart shows its last hour")
    parser.add_argument("--checkpoint", type=float, default=60.0, metavar="SECONDS",
                        help="seconds between complete writes of the history file (60)")
    parser.add_argument("--token", default=None,
                        help="secret every request must carry (?token=, a Bearer header or "
                             "the cookie set by opening /?token=...)")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between page updates (default 0.5)")
    parser.add_argument("--client-queue", type=int, default=4,
                        help="updates queued per browser before the oldest is dropped (4)")
    parser.add_argument("--tags", default="IO_SUM, IO_EVT, MSG",
                        help="tags to subscribe to (default 'IO_SUM, IO_EVT, MSG')")


def run(args: argparse.Namespace) -> int:
    from .._optional import import_optional
    from ..exceptions import ConfigError
    from ..monitor.app import LivePipeline, is_loopback, plotly_js_path, serve
    from ..monitor.state import MonitorState

    import_optional("aiohttp", extra="monitor")
    plotly_js_path()
    if not is_loopback(args.http_host) and not args.token:
        raise ConfigError(f"--http-host {args.http_host} makes the monitor reachable from "
                          "other machines: give --token too (checked on every request)")
    if args.interval <= 0:
        raise ConfigError(f"--interval must be positive, got {args.interval}")
    detector = None
    if args.detector:
        from ..io.detector import read_detector

        detector = read_detector(args.detector)
    state = MonitorState(detector=detector)
    history = None
    if args.history:
        import os

        from ..monitor.history import (
            HistoryWriter,
            read_history,
            rows_to_bins,
            rows_to_dom_history,
        )

        if os.path.exists(args.history):
            trig, doms = read_history(args.history)
            state.restore(rows_to_bins(trig), rows_to_dom_history(doms))
        history = HistoryWriter(args.history, checkpoint_s=args.checkpoint, threaded=True)
    pipeline = LivePipeline(state, args.host, args.port, tags=args.tags, history=history)
    serve(state, pipeline, args.http_host, args.http_port, args.token,
          interval=args.interval, client_queue=args.client_queue)
    return 0
