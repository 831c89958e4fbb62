"""``km3flow ligier``: run a ControlHost dispatcher (a local stand-in for KM3NeT's Ligier)."""

from __future__ import annotations

import argparse

from ..controlhost.protocol import DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_PORT

# Defaults of the dispatcher (repeated here so that --help does not import it).
_MEMORY_BUDGET = 512 * 1024 * 1024
_IDLE_TIMEOUT = 30.0
_DROP_LOG_INTERVAL = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; 0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--max-message-size", type=int, default=DEFAULT_MAX_MESSAGE_SIZE,
                        help="largest payload in bytes; a larger one disconnects its sender")
    parser.add_argument("--max-connections", type=int, default=256,
                        help="connections beyond this are refused")
    parser.add_argument("--queue-messages", type=int, default=10_000,
                        help="'any' messages waiting per slow subscriber before the oldest "
                             "are dropped")
    parser.add_argument("--queue-bytes", type=int, default=64 * 1024 * 1024,
                        help="bytes of 'any' messages waiting per slow subscriber")
    parser.add_argument("--hold-bytes", type=int, default=256 * 1024 * 1024,
                        help="bytes of 'all' messages held per subscriber before it is "
                             "disconnected")
    parser.add_argument("--memory-budget", type=int, default=_MEMORY_BUDGET,
                        help="bytes all clients together may hold in unfinished messages and "
                             "subscriber queues; the client asking for more is disconnected "
                             "('any' subscribers drop messages instead) (default "
                             f"{_MEMORY_BUDGET // 2**20} MiB)")
    parser.add_argument("--idle-timeout", type=float, default=_IDLE_TIMEOUT,
                        help="seconds a client may send nothing in the middle of a message "
                             f"before it is disconnected; 0 disables (default {_IDLE_TIMEOUT:g})")
    parser.add_argument("--drop-log-interval", type=float, default=_DROP_LOG_INTERVAL,
                        help="seconds between log lines counting dropped 'any' messages "
                             f"(default {_DROP_LOG_INTERVAL:g})")


def run(args: argparse.Namespace) -> int:
    from ..controlhost.dispatcher import Dispatcher
    from ..logger import get_logger

    log = get_logger("Ligier")
    if not getattr(args, "log_level", None):
        log.setLevel("INFO")  # connects, disconnects and drops are what an operator watches
    dispatcher = Dispatcher(args.host, args.port, max_message_size=args.max_message_size,
                            max_connections=args.max_connections,
                            queue_messages=args.queue_messages, queue_bytes=args.queue_bytes,
                            hold_bytes=args.hold_bytes, memory_budget=args.memory_budget,
                            idle_timeout=args.idle_timeout or None,
                            drop_log_interval=args.drop_log_interval)
    dispatcher.serve()
    return 0
