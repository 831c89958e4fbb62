"""``km3flow ligier``: run a ControlHost dispatcher (a local stand-in for KM3NeT's Ligier)."""

from __future__ import annotations

import argparse

from ..controlhost.protocol import DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_PORT


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


def run(args: argparse.Namespace) -> int:
    from ..controlhost.dispatcher import Dispatcher
    from ..logger import get_logger

    log = get_logger("Ligier")
    if not getattr(args, "log_level", None):
        log.setLevel("INFO")  # connects, disconnects and drops are what an operator watches
    dispatcher = Dispatcher(args.host, args.port, max_message_size=args.max_message_size,
                            max_connections=args.max_connections,
                            queue_messages=args.queue_messages, queue_bytes=args.queue_bytes,
                            hold_bytes=args.hold_bytes)
    dispatcher.serve()
    return 0
