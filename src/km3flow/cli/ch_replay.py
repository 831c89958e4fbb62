"""``km3flow ch-replay``: stream a DAQ file's frames into a ControlHost dispatcher."""

from __future__ import annotations

import argparse

from ..controlhost.protocol import DEFAULT_PORT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a DAQ file (IO_EVT, IO_SUM, IO_TSL*, …)")
    parser.add_argument("--tag", default=None,
                        help="tag to send under (default: from each frame's data type)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="messages per second (default 0: as fast as possible)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="send the file this many times (0: until interrupted)")
    parser.add_argument("--host", default="127.0.0.1", help="dispatcher address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"dispatcher port (default {DEFAULT_PORT})")


def run(args: argparse.Namespace) -> int:
    from ..controlhost.replay import replay_file

    sent = replay_file(args.file, args.host, args.port, tag=args.tag, rate=args.rate,
                       repeat=args.repeat)
    from ..logger import say

    say(f"sent {sent} messages to {args.host}:{args.port}")
    return 0
