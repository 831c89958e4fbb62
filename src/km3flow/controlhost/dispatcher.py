"""A Ligier-compatible ControlHost dispatcher on asyncio (standard library only).

Publishers send tagged messages; subscribers get the messages of the tags they subscribed
to, in the order each publisher sent them. The wire format and control tags are those of
:mod:`km3flow.controlhost.protocol` (KM3NeT's JLigier / the original ControlHost
dispatcher as KM3Pipe uses them).

Delivery policy (memory stays bounded whatever clients do)
----------------------------------------------------------
Bytes go to a subscriber's socket directly while it keeps up. When its socket buffer
(``write_buffer`` bytes, per connection) is full, messages wait in the subscriber's queue:

``any`` (``w``) messages
    at most ``queue_messages`` messages / ``queue_bytes`` bytes wait; beyond that the
    **oldest** waiting "any" messages are dropped and counted (the subscriber gets the
    latest ones). Drops are logged, rate-limited, with running counts.
``all`` (``a``) messages
    are never dropped; up to ``hold_bytes`` bytes wait. A subscriber that falls further
    behind is **disconnected** with a logged reason, so one slow consumer never stalls
    the dispatcher, the publishers or the other consumers.

Per connection the dispatcher holds at most: a 256 KiB read buffer or one unfinished
message (≤ ``max_message_size``), ``write_buffer`` bytes for its socket, and its queue
(≤ ``queue_bytes`` of "any" plus ``hold_bytes`` of "all" messages, each message shared, not
copied, between subscribers); at most ``max_connections`` connections exist.

A message whose length field is negative or above ``max_message_size``, or whose tag is not
printable ASCII, disconnects its sender (logged); a connection beyond ``max_connections``
is refused. A sender that disconnects mid-message loses only that message. Payloads are
received into preallocated buffers (large ones into a buffer of their own size) and shared,
uncopied, by all subscribers; runs of consecutive messages to the same subscribers are
forwarded as one write.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import deque
from typing import Any

from ..logger import get_logger
from .connection import _CONTROL, _NO_ROUTE, _Connection
from .protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MODE_ALL,
    encode_message,
    encode_tag,
)

log = get_logger("Ligier")


class Dispatcher:
    """A ControlHost dispatcher (Ligier stand-in) serving on ``host:port``.

    Parameters
    ----------
    host
        Address to bind; ``127.0.0.1`` unless told otherwise.
    port
        TCP port; 5553 is the Ligier's, 0 picks a free one (see :attr:`port` once started).
    max_message_size
        Largest payload accepted; a larger length field disconnects the sender.
    max_connections
        Connections beyond this are refused.
    queue_messages, queue_bytes
        Bounds of the "any" messages waiting for one slow subscriber; the oldest are
        dropped beyond them.
    hold_bytes
        Bound of the "all" messages waiting for one subscriber; beyond it the subscriber is
        disconnected.
    write_buffer
        Bytes buffered for a subscriber's socket before messages wait in its queue.
    send_buffer
        ``SO_SNDBUF`` of every accepted socket (default: the system's, which on Linux
        grows up to ``net.ipv4.tcp_wmem``); bounds what the kernel holds per client.

    Examples
    --------
    In a program of its own: ``Dispatcher(port=5553).serve()`` (stops on SIGINT/SIGTERM).
    Next to other code: ``with DispatcherThread(port=0) as ligier: ... ligier.port``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5553, *,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 max_connections: int = 256, queue_messages: int = 10_000,
                 queue_bytes: int = 64 * 1024 * 1024, hold_bytes: int = 256 * 1024 * 1024,
                 write_buffer: int = 1024 * 1024, send_buffer: int | None = None) -> None:
        for name, value in (("max_message_size", max_message_size),
                            ("max_connections", max_connections),
                            ("queue_messages", queue_messages), ("queue_bytes", queue_bytes),
                            ("hold_bytes", hold_bytes), ("write_buffer", write_buffer)):
            if int(value) < 1:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.host = host
        self.port = int(port)
        self.max_message_size = int(max_message_size)
        self.max_connections = int(max_connections)
        self.queue_messages = int(queue_messages)
        self.queue_bytes = int(queue_bytes)
        self.hold_bytes = int(hold_bytes)
        self.write_buffer = int(write_buffer)
        self.send_buffer = send_buffer
        self.connections: set[_Connection] = set()
        self._live: set[_Connection] = set()  # every connection not yet lost
        self.routes: dict[bytes, tuple[tuple[_Connection, bool], ...]] = {}
        self.valid_tags: set[bytes] = set()
        self.connects = 0
        self.disconnects = 0
        self.refused = 0
        self.dropped = 0
        self.closed_clients: deque[dict[str, Any]] = deque(maxlen=1000)
        self._server: asyncio.base_events.Server | None = None
        self._stopped: asyncio.Event | None = None

    # -- routing -------------------------------------------------------------------------
    def rebuild_routes(self) -> None:
        """Recompute tag → subscribers after a subscription changed or a client left."""
        table: dict[bytes, list[tuple[_Connection, bool]]] = {}
        for conn in self.connections:
            if conn.closing:
                continue
            for tag, mode in conn.subscriptions.items():
                raw = encode_tag(tag)
                if raw not in _CONTROL:  # control messages are for the dispatcher only
                    table.setdefault(raw, []).append((conn, mode == MODE_ALL))
        self.routes = {tag: tuple(subs) for tag, subs in table.items()}

    def deliver(self, route: tuple, data: bytes | bytearray, n: int) -> None:
        for conn, is_all in route:
            conn.enqueue(data, n, is_all)

    def announce(self, tag: bytes, text: str) -> None:
        """Send a ``Born``/``Died`` notice to the clients subscribed to it."""
        route = self.routes.get(encode_tag(tag), _NO_ROUTE)
        if route:
            self.deliver(route, encode_message(tag, text.encode("ascii", "replace")), 1)

    def record_closed(self, conn: _Connection) -> None:
        self.closed_clients.append(_client_stats(conn))

    def snapshot(self) -> dict[str, Any]:
        """Counters of the dispatcher and of every open (and recently closed) client."""
        return {
            "port": self.port,
            "connections": len(self.connections),
            "connects": self.connects,
            "disconnects": self.disconnects,
            "refused": self.refused,
            "dropped": self.dropped,
            "clients": [_client_stats(c) for c in self.connections],
            "closed": list(self.closed_clients),
        }

    # -- running -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start listening (the bound port is in :attr:`port` afterwards)."""
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._server = await loop.create_server(self._new_connection, self.host,
                                                self.port, reuse_address=True, backlog=128)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("listening on %s:%d (max message %d bytes, max %d connections)",
                 self.host, self.port, self.max_message_size, self.max_connections)

    def _new_connection(self) -> _Connection:
        conn = _Connection(self)
        self._live.add(conn)
        return conn

    async def stop(self) -> None:
        """Stop listening, close every connection and log the totals."""
        if self._server is not None:
            # Stop accepting first and let accepted sockets become connections: closing the
            # server while asyncio still sets one up would leak that socket.
            loop = asyncio.get_running_loop()
            for sock in self._server.sockets:
                loop.remove_reader(sock.fileno())
            for _ in range(5):
                await asyncio.sleep(0)
            self._server.close()
            self._server = None
        # Connections just accepted get their transport in a callback, and transports
        # close their sockets in callbacks: abort until every connection is gone, so no
        # socket outlives the event loop.
        # An accepted socket may still wait for its task to create the connection, so
        # also wait a few quiet loop iterations.
        deadline = time.monotonic() + 2.0
        quiet = 0
        while quiet < 5 and time.monotonic() < deadline:
            quiet = 0 if self._live else quiet + 1
            for conn in list(self._live):
                if conn.transport is not None:
                    conn.reason = conn.reason or "dispatcher stopping"
                    conn.transport.abort()
            await asyncio.sleep(0.001)
        log.info("stopped: %d connects, %d disconnects, %d refused, %d messages dropped",
                 self.connects, self.disconnects, self.refused, self.dropped)
        if self._stopped is not None:
            self._stopped.set()

    async def run(self, stop_signals: bool = False) -> None:
        """Serve until :meth:`stop` (or, with ``stop_signals``, SIGINT/SIGTERM)."""
        await self.start()
        assert self._stopped is not None
        if stop_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self._stopped.wait()
        finally:
            if stop_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        log.info("got %s, stopping", signal.Signals(sig).name)
        asyncio.get_running_loop().create_task(self.stop())

    def serve(self) -> None:
        """Serve in this thread until SIGINT or SIGTERM."""
        asyncio.run(self.run(stop_signals=True))


def _client_stats(conn: _Connection) -> dict[str, Any]:
    sub = conn.sub
    return {
        "peer": conn.peer, "nick": conn.nick, "subscriptions": dict(conn.subscriptions),
        "received": conn.in_msgs, "received_bytes": conn.in_bytes,
        "sent": sub.out_msgs, "sent_bytes": sub.out_bytes, "dropped": sub.dropped,
        "waiting": sum(e[1] for e in sub.queue), "reason": conn.reason,
    }


class DispatcherThread:
    """A :class:`Dispatcher` running in a background thread (tests, examples, notebooks).

    Parameters are those of :class:`Dispatcher`; ``port=0`` picks a free port.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.dispatcher = Dispatcher(host, port, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.dispatcher.port

    @property
    def host(self) -> str:
        return self.dispatcher.host

    def start(self, timeout: float = 10.0) -> DispatcherThread:
        self._thread = threading.Thread(target=self._main, name="ligier", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the dispatcher thread did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.dispatcher.start())
        except BaseException as err:  # noqa: BLE001 - handed to the starting thread
            self._error = err
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self.dispatcher._stopped.wait())  # type: ignore[union-attr]
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, func: Any, timeout: float = 10.0) -> Any:
        """Run ``func()`` in the dispatcher's thread and return its result."""
        assert self._loop is not None

        async def wrapper() -> Any:
            return func()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)

    def stats(self) -> dict[str, Any]:
        """A consistent snapshot of :meth:`Dispatcher.snapshot`."""
        return self.call(self.dispatcher.snapshot)

    def subscribers(self, tag: str) -> int:
        """How many open connections subscribe to ``tag`` (and asked for data)."""
        def count() -> int:
            return sum(1 for c in self.dispatcher.connections
                       if tag in c.subscriptions and not c.closing)
        return self.call(count)

    def wait_for_subscribers(self, tag: str, n: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``n`` connections subscribe to ``tag``; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        while self.subscribers(tag) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {n} subscribers of '{tag}' after {timeout} s")
            time.sleep(0.01)  # polling the dispatcher thread

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.dispatcher.stop(), self._loop).result(timeout)
        self._thread.join(timeout)

    def __enter__(self) -> DispatcherThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
