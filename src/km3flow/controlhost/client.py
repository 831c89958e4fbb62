"""A blocking ControlHost client: subscribe, put and get messages, reconnect with backoff.

Receiving is O(message size): bytes are read with ``recv_into`` into a preallocated
buffer; a message larger than that buffer gets a buffer of exactly its size, filled
directly by the kernel (no re-concatenation of small reads). Payload sizes are bounded by
``max_message_size``; a peer announcing more is treated as a protocol violation.

On a lost connection the partially received message is discarded and the client
reconnects (when ``reconnect`` is on) with bounded exponential backoff, re-sends its
subscription and carries on at a message boundary. Waiting is done with ``select`` so a
timeout or a stop request is honoured promptly; nothing sleeps blindly.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator

from ..exceptions import Km3flowError, ProtocolError
from ..logger import get_logger
from .protocol import (
    ALWAYS,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_PORT,
    GIME,
    MYID,
    PREFIX_SIZE,
    SUBSCRIBE,
    Message,
    check_length,
    decode_tag,
    format_subscription,
    normalise_mode,
    pack_prefix,
    split_tags,
)

log = get_logger("CHClient")

_RECV_BUFFER = 256 * 1024
_PREFIX = struct.Struct(">8si")
_SMALL_SEND = 64 * 1024


class Backoff:
    """Bounded exponential backoff: ``initial``, ×``factor`` each try, at most ``maximum``.

    ``tries`` limits the attempts (``None``: no limit). A jitter of ±``jitter`` (relative)
    spreads reconnecting clients apart.
    """

    def __init__(self, initial: float = 0.1, maximum: float = 10.0, factor: float = 2.0,
                 tries: int | None = None, jitter: float = 0.1) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial, self.maximum, self.factor = float(initial), float(maximum), float(factor)
        self.tries = tries
        self.jitter = float(jitter)

    def delays(self) -> Iterator[float]:
        """The waits before each retry (the first attempt is not delayed)."""
        delay = self.initial
        n = 0
        while self.tries is None or n < self.tries:
            yield delay * (1 + self.jitter * (2 * random.random() - 1))
            delay = min(delay * self.factor, self.maximum)
            n += 1


class ConnectionLost(Km3flowError, ConnectionError):
    """The connection to the dispatcher was lost (and not, or not yet, re-established)."""


class Client:
    """A ControlHost client.

    Parameters
    ----------
    host, port
        The dispatcher (Ligier) address.
    max_message_size
        Largest payload accepted; a bigger announced length raises ``ProtocolError``.
    reconnect
        Reconnect (with ``backoff``) when the connection is lost while receiving, and go
        on with the next message; otherwise raise :class:`ConnectionLost`.
    backoff
        The :class:`Backoff` between reconnection attempts.
    connect_timeout
        Seconds to wait for one TCP connect.
    stall_timeout
        Seconds a peer may stall inside a message before the connection counts as lost.
    name
        Sent as ``_MyId`` so the dispatcher logs show who is who.
    stop_event
        A ``threading.Event`` that, once set, makes waiting calls return promptly.

    Examples
    --------
    >>> with Client("127.0.0.1", 5553) as ch:               # doctest: +SKIP
    ...     ch.subscribe("IO_EVT, IO_SUM")
    ...     for message in ch:
    ...         print(message.tag, len(message.data))
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, reconnect: bool = True,
                 backoff: Backoff | None = None, connect_timeout: float = 5.0,
                 stall_timeout: float = 30.0, name: str | None = None,
                 stop_event: threading.Event | None = None) -> None:
        self.host = host
        self.port = int(port)
        self.max_message_size = int(max_message_size)
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.name = name
        self.stop_event = stop_event or threading.Event()
        self.subscriptions: dict[str, str] = {}
        self.always = True
        self.socket: socket.socket | None = None
        self.reconnects = 0
        self.received = 0
        self._buf = bytearray(_RECV_BUFFER)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._tags: dict[bytes, str] = {}

    # -- connection ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether the client holds an open connection."""
        return self.socket is not None

    def connect(self) -> Client:
        """Connect once (no retries) and send name and subscriptions; raise ``OSError``."""
        self.disconnect()
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.stall_timeout)
        self.socket = sock
        self._start = self._end = 0
        if self.name:
            self._send(pack_prefix(MYID, len(self.name)) + self.name.encode("ascii"))
        if self.subscriptions:
            self._send_subscription()
        log.debug("connected to %s:%d", self.host, self.port)
        return self

    def disconnect(self) -> None:
        """Close the connection (subscriptions are kept for the next connect)."""
        sock, self.socket = self.socket, None
        self._start = self._end = 0
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    close = disconnect

    def connect_with_backoff(self) -> bool:
        """Connect, retrying with the backoff; False when stopped or out of tries."""
        try:
            self.connect()
            return True
        except OSError as err:
            last = err
        for delay in self.backoff.delays():
            log.warning("cannot connect to %s:%d (%s); retrying in %.2f s",
                        self.host, self.port, last, delay)
            if self.stop_event.wait(delay):
                return False
            try:
                self.connect()
                self.reconnects += 1
                log.warning("reconnected to %s:%d", self.host, self.port)
                return True
            except OSError as err:
                last = err
        log.error("giving up connecting to %s:%d: %s", self.host, self.port, last)
        return False

    # -- subscriptions -------------------------------------------------------------------
    def subscribe(self, tags: str | Iterable[str], mode: str = "any") -> None:
        """Subscribe to ``tags`` ("IO_EVT, IO_SUM" or a list) in mode "any" or "all"."""
        mode = normalise_mode(mode)
        for tag in split_tags(tags):
            self.subscriptions[tag] = mode
        if self.socket is None:
            self.connect()
        else:
            self._send_subscription()

    def unsubscribe(self, tags: str | Iterable[str]) -> None:
        """Remove ``tags`` from the subscription."""
        for tag in split_tags(tags):
            self.subscriptions.pop(tag, None)
        if self.socket is not None:
            self._send_subscription()

    def _send_subscription(self) -> None:
        payload = format_subscription(self.subscriptions)
        data = pack_prefix(SUBSCRIBE, len(payload)) + payload
        if self.always:
            data += pack_prefix(ALWAYS, 0)
        self._send(data)

    def request_next(self) -> None:
        """Ask for one more message (``_Gime``), for clients with ``always = False``."""
        self._send(pack_prefix(GIME, 0))

    # -- sending -------------------------------------------------------------------------
    def put_message(self, tag: str, data: bytes | bytearray | memoryview | str = b"") -> None:
        """Send ``data`` under ``tag`` (``str`` is sent UTF-8 encoded)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        prefix = pack_prefix(tag, len(data))
        if self.socket is None:
            self.connect()
        if len(data) <= _SMALL_SEND:
            self._send(prefix + bytes(data))
        else:
            self._send(prefix)
            self._send(data)

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        assert self.socket is not None
        try:
            self.socket.sendall(data)
        except OSError as err:
            self.disconnect()
            raise ConnectionLost(f"sending to {self.host}:{self.port} failed: {err}") from err

    # -- receiving -----------------------------------------------------------------------
    def get_message(self, timeout: float | None = None) -> Message | None:
        """Return the next message; ``None`` if ``timeout`` seconds pass without one, or
        the client is stopped.

        ``timeout`` bounds the wait for a message to begin; once its first bytes are in,
        the rest must follow within ``stall_timeout`` or the connection counts as lost.

        Raises
        ------
        ProtocolError
            If the peer sends an invalid prefix (the connection is closed first).
        ConnectionLost
            If the connection is lost and ``reconnect`` is off or reconnecting failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.socket is None:
                if not self.reconnect:
                    raise ConnectionLost(f"not connected to {self.host}:{self.port}")
                if not self.connect_with_backoff():
                    if self.stop_event.is_set():
                        return None
                    raise ConnectionLost(f"could not reconnect to {self.host}:{self.port}")
            try:
                if self._end - self._start < PREFIX_SIZE and not self._wait_readable(deadline):
                    return None
                return self._read_message()
            except (OSError, EOFError) as err:
                what = "closed by the dispatcher" if isinstance(err, EOFError) else str(err)
                log.warning("connection to %s:%d lost (%s)", self.host, self.port, what)
                self.disconnect()
                if not self.reconnect:
                    raise ConnectionLost(f"connection to {self.host}:{self.port} lost: "
                                         f"{what}") from err

    def _wait_readable(self, deadline: float | None) -> bool:
        """Wait until the socket is readable; False on timeout or stop."""
        while not self.stop_event.is_set():
            step = 0.2
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                step = min(step, left)
            sock = self.socket
            assert sock is not None  # waited on while connected
            readable, _, _ = select.select([sock], [], [], step)
            if readable:
                return True
        return False

    def _fill(self, need: int) -> None:
        """Read until ``need`` bytes are buffered (``need`` <= buffer size)."""
        if len(self._buf) - self._start < need:
            n = self._end - self._start
            self._buf[:n] = self._view[self._start:self._end]
            self._start, self._end = 0, n
        sock = self.socket
        assert sock is not None
        while self._end - self._start < need:
            n = sock.recv_into(self._view[self._end:])
            if n == 0:
                raise EOFError
            self._end += n

    def _read_message(self) -> Message:
        if self._end - self._start < PREFIX_SIZE:
            self._fill(PREFIX_SIZE)
        start = self._start
        view = self._view
        raw_tag, length = _PREFIX.unpack_from(view, start)
        tag = self._tags.get(raw_tag)
        try:
            if tag is None:
                tag = decode_tag(raw_tag)
                if len(self._tags) < 1024:
                    self._tags[raw_tag] = tag
            check_length(length, self.max_message_size, tag)
        except ProtocolError:
            self.disconnect()
            raise
        timestamp = time.time()
        total = PREFIX_SIZE + length
        if total <= len(self._buf):
            self._fill(total)
            start = self._start  # _fill may have moved the bytes to the front
            data: bytes | bytearray = bytes(view[start + PREFIX_SIZE:start + total])
            self._start += total
        else:
            data = bytearray(length)
            have = self._end - start - PREFIX_SIZE
            data[:have] = view[start + PREFIX_SIZE:self._end]
            self._start = self._end = 0
            target = memoryview(data)
            sock = self.socket
            assert sock is not None
            while have < length:
                n = sock.recv_into(target[have:])
                if n == 0:
                    raise EOFError
                have += n
        if self._start == self._end:
            self._start = self._end = 0
        self.received += 1
        return Message(tag, data, timestamp)

    def __iter__(self) -> Iterator[Message]:
        """Yield messages until the client is stopped (or the connection is lost for good)."""
        while not self.stop_event.is_set():
            message = self.get_message()
            if message is not None:
                yield message

    def __enter__(self) -> Client:
        if self.socket is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        state = "connected" if self.socket is not None else "not connected"
        return f"<Client {self.host}:{self.port} {state}, subscriptions {self.subscriptions}>"
