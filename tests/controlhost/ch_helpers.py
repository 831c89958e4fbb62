"""Socket helpers of the ControlHost tests."""

from __future__ import annotations

import socket
import struct
import time

from km3flow.controlhost.dispatcher import DispatcherThread
from km3flow.controlhost.protocol import encode_message, format_subscription


def raw_socket(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def raw_subscribe(sock: socket.socket, subscriptions: dict[str, str]) -> None:
    sock.sendall(encode_message("_Subscri", format_subscription(subscriptions))
                 + encode_message("_Always"))


def hard_close(sock: socket.socket) -> None:
    """Close with a RST (as when a process is killed with unread data)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def closed_reasons(ligier: DispatcherThread) -> list[str]:
    return [c["reason"] for c in ligier.stats()["closed"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer:
    """A scripted TCP server: ``script(conn, index)`` runs for each accepted connection."""

    def __init__(self, script) -> None:
        import threading

        self.script = script
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        index = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                if self.script(conn, index, self) is False:
                    return
            index += 1

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)
