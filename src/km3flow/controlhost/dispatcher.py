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
    latest ones). Drops are counted and logged periodically (see Faults).
``all`` (``a``) messages
    are never dropped; up to ``hold_bytes`` bytes wait. A subscriber that falls further
    behind is **disconnected** with a logged reason, so one slow consumer never stalls
    the dispatcher, the publishers or the other consumers.

Memory
------
Per connection the dispatcher holds a 256 KiB read buffer, ``write_buffer`` bytes for its
socket and its queue (≤ ``queue_bytes`` of "any" plus ``hold_bytes`` of "all" messages, each
message shared, not copied, between subscribers); at most ``max_connections`` connections
exist. A message larger than the read buffer moves, once it fills it, to a buffer of its
own that grows with the bytes that **arrive** (1 MiB, then doubling), never with the length
announced: a client that announces 64 MiB and stalls costs nothing beyond its read buffer,
and an unfinished message holds at most 4 × the bytes that arrived of it.

All connections together hold at most ``memory_budget`` bytes in unfinished messages and
subscriber queues (a message queued for several subscribers counts once per subscriber).
The connection that asks for more when the budget is spent — the **newest offender** — is
refused: a sender growing an unfinished message or an "all" subscriber whose queue grows
is disconnected (logged with its address); for an "any" subscriber its own oldest waiting
messages are dropped, or, with none left, the new one.

A connection in the middle of a message (from the first byte of its prefix to the last of
its payload) that sends nothing for ``idle_timeout`` seconds is disconnected, which frees
what it held; connections idle between messages (subscribers) are not affected.

Faults
------
A message whose length field is negative or above ``max_message_size``, or whose tag is not
printable ASCII, disconnects its sender (logged); a connection beyond ``max_connections``
is refused. A sender that disconnects mid-message loses only that message. Messages are
shared, uncopied, by all subscribers; runs of consecutive messages to the same subscribers
are forwarded as one write. Dropped "any" messages are logged when a subscriber starts
dropping and then every ``drop_log_interval`` seconds with the count since the last report
and the totals.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import deque
from typing import Any

from ..logger import get_logger
from .connection import (
    CONTROL_TAGS,
    NO_ROUTE,
    Connection,
    ConnectionLimits,
    MemoryBudget,
    Route,
    deliver,
)
from .protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DIED,
    MODE_ALL,
    encode_message,
    encode_tag,
)

log = get_logger("Ligier")

#: Default of ``memory_budget``: bytes in unfinished messages and queues, all clients.
DEFAULT_MEMORY_BUDGET = 512 * 1024 * 1024
#: Default of ``idle_timeout``: seconds without a byte in the middle of a message.
DEFAULT_IDLE_TIMEOUT = 30.0
#: Default of ``drop_log_interval``: seconds between reports of dropped "any" messages.
DEFAULT_DROP_LOG_INTERVAL = 10.0


class Dispatcher:
    """A ControlHost dispatcher (Ligier stand-in) serving on ``host:port``.

    Parameters
    ----------
    host
        Address to bind; ``127.0.0.1`` unless told otherwise.
    port
        TCP port; 5553 is the Ligier's, 0 picks a free one (see ``port`` once started).
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
    memory_budget
        Bytes all clients together may hold in unfinished messages and subscriber queues;
        the client asking for more is refused (see the module documentation). At least
        ``max_message_size`` + 16, so that the largest message can be received.
    idle_timeout
        Seconds a client may stay silent in the middle of a message before it is
        disconnected; ``None`` disables the check.
    drop_log_interval
        Seconds between the log lines that count dropped "any" messages.

    Examples
    --------
    In a program of its own: ``Dispatcher(port=5553).serve()`` (stops on SIGINT/SIGTERM).
    Next to other code: ``with DispatcherThread(port=0) as ligier: ... ligier.port``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5553, *,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 max_connections: int = 256, queue_messages: int = 10_000,
                 queue_bytes: int = 64 * 1024 * 1024, hold_bytes: int = 256 * 1024 * 1024,
                 write_buffer: int = 1024 * 1024, send_buffer: int | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
                 drop_log_interval: float = DEFAULT_DROP_LOG_INTERVAL) -> None:
        for name, value in (("max_message_size", max_message_size),
                            ("max_connections", max_connections),
                            ("queue_messages", queue_messages), ("queue_bytes", queue_bytes),
                            ("hold_bytes", hold_bytes), ("write_buffer", write_buffer),
                            ("memory_budget", memory_budget),
                            ("drop_log_interval", drop_log_interval),
                            ("idle_timeout", 1 if idle_timeout is None else idle_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if memory_budget < max_message_size + 16:
            raise ValueError(f"memory_budget ({memory_budget}) must be at least "
                             f"max_message_size + 16 ({max_message_size + 16}) bytes")
        self.host = host
        self.port = int(port)
        self.max_connections = int(max_connections)
        self.limits = ConnectionLimits(
            max_message_size=int(max_message_size), queue_messages=int(queue_messages),
            queue_bytes=int(queue_bytes), hold_bytes=int(hold_bytes),
            write_buffer=int(write_buffer), send_buffer=send_buffer)
        self.budget = MemoryBudget(int(memory_budget))
        self.idle_timeout = None if idle_timeout is None else float(idle_timeout)
        self.drop_log_interval = float(drop_log_interval)
        self.connections: set[Connection] = set()
        self.routes: dict[bytes, Route] = {}
        self.connects = 0
        self.disconnects = 0
        self.refused = 0
        self.closed_clients: deque[dict[str, Any]] = deque(maxlen=1000)
        self._live: set[Connection] = set()  # every connection not yet lost
        self._dropped_by_closed = 0
        self._drops_reported = 0
        self._server: asyncio.base_events.Server | None = None
        self._stopped: asyncio.Event | None = None
        self._housekeeper: asyncio.Task | None = None

    @property
    def max_message_size(self) -> int:
        """The largest message accepted, in bytes (from ``limits``)."""
        return self.limits.max_message_size

    @property
    def dropped(self) -> int:
        """Messages dropped for slow "any" subscribers, open and closed ones."""
        return self._dropped_by_closed + sum(c.dropped for c in self.connections)

    # -- the connections' side (connection.Hub) ------------------------------------------
    def admit(self, conn: Connection) -> bool:
        """Register a new connection, or refuse it beyond ``max_connections``."""
        if len(self.connections) >= self.max_connections:
            self.refused += 1
            log.warning("refusing connection from %s: %d connections open (limit %d)",
                        conn.peer, len(self.connections), self.max_connections)
            return False
        self.connections.add(conn)
        self.connects += 1
        log.info("connect from %s (%d connections open, %d so far)",
                 conn.peer, len(self.connections), self.connects)
        return True

    def release(self, conn: Connection) -> None:
        """Forget a lost connection: routes, counters, its ``Died`` notice."""
        self._live.discard(conn)
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self.disconnects += 1
        self._dropped_by_closed += conn.dropped
        if conn.subscriptions:
            self.rebuild_routes()
        stats = conn.stats()
        log.info("disconnect of %s (%s): received %d messages / %d bytes, sent %d / %d, "
                 "dropped %d; %d connections open", conn.name, stats["reason"],
                 stats["received"], stats["received_bytes"], stats["sent"],
                 stats["sent_bytes"], stats["dropped"], len(self.connections))
        self.closed_clients.append(stats)
        if conn.nick:
            self.announce(DIED, conn.nick)

    def subscriptions_changed(self, conn: Connection) -> None:
        """Rebuild the routing tables after a client changed its subscriptions."""
        self.rebuild_routes()

    def announce(self, tag: bytes, text: str) -> None:
        """Send a ``Born``/``Died`` notice to the clients subscribed to it."""
        route = self.routes.get(encode_tag(tag), NO_ROUTE)
        if route:
            deliver(route, encode_message(tag, text.encode("ascii", "replace")), 1)

    # -- routing -------------------------------------------------------------------------
    def rebuild_routes(self) -> None:
        """Recompute tag → subscribers after a subscription changed or a client left."""
        table: dict[bytes, list[tuple[Connection, bool]]] = {}
        for conn in self.connections:
            if conn.closing:
                continue
            for tag, mode in conn.subscriptions.items():
                raw = encode_tag(tag)
                if raw not in CONTROL_TAGS:  # control messages are for the dispatcher only
                    table.setdefault(raw, []).append((conn, mode == MODE_ALL))
        self.routes = {tag: tuple(subs) for tag, subs in table.items()}

    def snapshot(self) -> dict[str, Any]:
        """Counters of the dispatcher and of every open (and recently closed) client."""
        return {
            "port": self.port,
            "connections": len(self.connections),
            "connects": self.connects,
            "disconnects": self.disconnects,
            "refused": self.refused,
            "dropped": self.dropped,
            "memory_held": self.budget.held,
            "memory_peak": self.budget.peak,
            "memory_budget": self.budget.limit,
            "clients": [c.stats() for c in self.connections],
            "closed": list(self.closed_clients),
        }

    # -- housekeeping --------------------------------------------------------------------
    async def _housekeeping(self) -> None:
        """Disconnect clients stalled mid-message; report dropped messages periodically."""
        periods = [self.drop_log_interval]
        if self.idle_timeout is not None:
            periods.append(self.idle_timeout / 4)
        tick = min(1.0, *periods)
        next_report = time.monotonic() + self.drop_log_interval
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if self.idle_timeout is not None:
                for conn in list(self.connections):
                    conn.abort_if_stalled(now, self.idle_timeout)
            if now >= next_report:
                self.report_drops()
                next_report = now + self.drop_log_interval

    def report_drops(self) -> None:
        """Log the "any" messages dropped since the last report, per subscriber and in all."""
        for conn in self.connections:
            new, total = conn.take_drop_report()
            if new:
                log.warning("slow 'any' subscriber %s: dropped %d oldest messages in the last "
                            "%g s (%d in total for it)", conn.name, new,
                            self.drop_log_interval, total)
        dropped = self.dropped
        if dropped > self._drops_reported:
            log.warning("dropped %d messages for slow 'any' subscribers in the last %g s "
                        "(%d in total)", dropped - self._drops_reported,
                        self.drop_log_interval, dropped)
            self._drops_reported = dropped

    # -- running -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start listening (the bound port is in ``port`` afterwards)."""
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._server = await loop.create_server(self._new_connection, self.host,
                                                self.port, reuse_address=True, backlog=128)
        self.port = self._server.sockets[0].getsockname()[1]
        self._housekeeper = loop.create_task(self._housekeeping())
        idle = "off" if self.idle_timeout is None else f"{self.idle_timeout:g} s"
        log.info("listening on %s:%d (max message %d bytes, max %d connections, memory "
                 "budget %d bytes, idle timeout %s)", self.host, self.port,
                 self.max_message_size, self.max_connections, self.budget.limit, idle)

    def _new_connection(self) -> Connection:
        conn = Connection(self, self.limits, self.budget)
        self._live.add(conn)
        return conn

    async def stop(self) -> None:
        """Stop listening, close every connection and log the totals."""
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            try:
                await self._housekeeper
            except asyncio.CancelledError:
                pass
            self._housekeeper = None
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
                conn.abort("dispatcher stopping", quiet=True)
            await asyncio.sleep(0.001)
        log.info("stopped: %d connects, %d disconnects, %d refused, %d messages dropped",
                 self.connects, self.disconnects, self.refused, self.dropped)
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        """Wait until :meth:`stop` has finished (the dispatcher must be started)."""
        assert self._stopped is not None, "the dispatcher was not started"
        await self._stopped.wait()

    async def run(self, stop_signals: bool = False) -> None:
        """Serve until :meth:`stop` (or, with ``stop_signals``, SIGINT/SIGTERM)."""
        await self.start()
        if stop_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.wait_stopped()
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
        """The port the dispatcher listens on (the bound one when 0 was asked for)."""
        return self.dispatcher.port

    @property
    def host(self) -> str:
        """The address the dispatcher listens on."""
        return self.dispatcher.host

    def start(self, timeout: float = 10.0) -> DispatcherThread:
        """Start the dispatcher in a background thread; return once it listens."""
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
            loop.run_until_complete(self.dispatcher.wait_stopped())
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
        """Stop the dispatcher and wait for its thread to end."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.dispatcher.stop(), self._loop).result(timeout)
        self._thread.join(timeout)

    def __enter__(self) -> DispatcherThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
