"""One dispatcher connection, and the small interface between it and its dispatcher.

Used by :class:`km3flow.controlhost.dispatcher.Dispatcher`, which documents the delivery
policy. A connection may publish and subscribe at once, as in the original dispatcher.

A connection knows its dispatcher only through what it is handed:

- :class:`ConnectionLimits`: the per-connection bounds (read-only);
- :class:`MemoryBudget`: the count, shared by all connections, of the bytes held in
  unfinished messages and in subscriber queues;
- a :class:`Hub` (the dispatcher): admits and releases connections, holds the routing
  table (tag → subscribers), hears about subscription changes and sends ``Born``/``Died``.

The dispatcher in turn uses only the public side of :class:`Connection`: ``peer``,
``nick``, ``name``, ``subscriptions``, ``closing``, :meth:`~Connection.abort`,
:meth:`~Connection.enqueue`, :meth:`~Connection.stats`, :meth:`~Connection.abort_if_stalled`
and :meth:`~Connection.take_drop_report`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from ..exceptions import ProtocolError
from ..logger import get_logger
from .protocol import (
    ALWAYS,
    BORN,
    DIED,
    GIME,
    MYID,
    PREFIX_SIZE,
    SUBSCRIBE,
    decode_tag,
    encode_tag,
    parse_subscription,
)

log = get_logger("Ligier")

_PREFIX = struct.Struct(">8si")
_READ_BUFFER = 256 * 1024
# From this many equal messages waiting in the buffer on, their prefixes are compared with
# numpy at once (a numpy call costs about as much as 20 messages framed in Python).
_BULK_MIN = 32
# Unparsed bytes move to the front of the read buffer when less than this is free behind.
_COMPACT_BELOW = 64 * 1024
# A message larger than the read buffer waits in it until it fills it, then moves to a
# buffer of its own of this size (4 × what arrived; its final one if it is no larger),
# which doubles whenever it is full: a length field costs nothing, and what a message holds
# is at most 4 × what arrived of it. Doubling from 256 KiB instead tripled the CPU time per
# 1 MB message (allocator churn, page faults; benchmarks/controlhost.py cases).
_OWN_BUFFER_START = 4 * _READ_BUFFER

#: Subscribers of one tag: ``(connection, wants_all)`` pairs.
Route = tuple[tuple["Connection", bool], ...]
NO_ROUTE: Route = ()

# Tags that decoded as valid. Validity depends on the 8 bytes alone, so one cache serves
# every dispatcher; it is cleared when it grows (a client inventing tags cannot grow it).
_VALID_TAGS: set[bytes] = set()


@dataclass(frozen=True)
class ConnectionLimits:
    """Bounds that every connection of one dispatcher applies (see ``Dispatcher``)."""

    max_message_size: int
    queue_messages: int
    queue_bytes: int
    hold_bytes: int
    write_buffer: int
    send_buffer: int | None = None


class MemoryBudget:
    """Bytes held in unfinished messages and subscriber queues, against one limit.

    A message waiting for several subscribers is counted once per subscriber (it is shared,
    so the count is an upper bound of the memory).
    """

    __slots__ = ("held", "limit", "peak")

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.held = 0
        self.peak = 0

    def take(self, nbytes: int) -> bool:
        """Reserve ``nbytes``; ``False`` (nothing reserved) if that would exceed the limit."""
        held = self.held + nbytes
        if held > self.limit:
            return False
        self.held = held
        if held > self.peak:
            self.peak = held
        return True

    def give(self, nbytes: int) -> None:
        """Return ``nbytes`` reserved with :meth:`take`."""
        self.held -= nbytes


class Hub(Protocol):
    """What a :class:`Connection` needs from its dispatcher."""

    @property
    def routes(self) -> Mapping[bytes, Route]:
        """Subscribers per 8-byte tag (replaced, never mutated, when subscriptions change)."""

    def admit(self, conn: Connection) -> bool:
        """Register a new connection; ``False`` refuses it (the connection closes itself)."""

    def release(self, conn: Connection) -> None:
        """Forget a connection that is gone (admitted or not)."""

    def subscriptions_changed(self, conn: Connection) -> None:
        """``conn`` changed its subscriptions."""

    def announce(self, tag: bytes, text: str) -> None:
        """Send a ``Born``/``Died`` notice to its subscribers."""


def _same_prefixes(buf: bytearray, ref: int, start: int, stride: int, k: int) -> int:
    """How many of the ``k`` messages every ``stride`` bytes from ``start`` have the same
    16-byte prefix as the one at ``ref`` (counting until the first that differs)."""
    # (the arrays are views of ``buf``; they die on return, before it can be resized)
    rows = np.ndarray((k, 2), np.uint64, buffer=buf, offset=start, strides=(stride, 8))
    first = np.ndarray((2,), np.uint64, buffer=buf, offset=ref)
    same = (rows[:, 0] == first[0]) & (rows[:, 1] == first[1])
    if same.all():
        return k
    return int(same.argmin())


def deliver(route: Route, data: bytes | bytearray, n: int) -> None:
    """Hand ``n`` consecutive messages (``data``, prefixes included) to every subscriber."""
    for conn, is_all in route:
        conn.enqueue(data, n, is_all)


class _Subscriber:
    """Delivery state of one connection: queue and counters."""

    __slots__ = (
        "all_bytes",
        "always",
        "any_bytes",
        "any_msgs",
        "credits",
        "dropped",
        "drops_reported",
        "out_bytes",
        "out_msgs",
        "paused",
        "queue",
    )

    def __init__(self) -> None:
        self.always = False
        self.credits = 0
        self.paused = False
        self.queue: deque[list] = deque()  # [data, n_messages, is_all]
        self.any_msgs = 0
        self.any_bytes = 0
        self.all_bytes = 0
        self.dropped = 0
        self.drops_reported = 0
        self.out_msgs = 0
        self.out_bytes = 0


class Connection(asyncio.BufferedProtocol):
    """One client connection: parses what it sends, delivers what it subscribed to."""

    def __init__(self, hub: Hub, limits: ConnectionLimits, budget: MemoryBudget) -> None:
        self._hub = hub
        self._limits = limits
        self._budget = budget
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.nick = ""
        self.subscriptions: dict[str, str] = {}
        self.sub = _Subscriber()
        self.closing = False
        self.reason = ""
        self.in_msgs = 0
        self.in_bytes = 0
        self._admitted = False
        self._last_rx = time.monotonic()
        self._buf = bytearray(_READ_BUFFER)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._own: bytearray | None = None  # a large message being received
        self._own_fill = 0
        self._own_total = 0  # its size, prefix included
        self._own_tag = b""

    # -- connection lifecycle ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream server's transports are asyncio.Transports (abort, write-buffer limits)
        self.transport = tr = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._last_rx = time.monotonic()
        if not self._hub.admit(self):
            self.closing = True
            tr.abort()
            return
        self._admitted = True
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # notice peers that vanished without closing (half-open) within minutes, not hours
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10),
                                  ("TCP_KEEPCNT", 6)):
                if hasattr(socket, option):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
            if self._limits.send_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._limits.send_buffer)
        tr.set_write_buffer_limits(high=self._limits.write_buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            self._hub.release(self)
            return
        self.closing = True
        pending = self._pending()
        if pending is not None and not self.reason:  # (a disconnect of ours logged why)
            log.warning("%s closed mid-message (%d bytes of an unfinished message discarded)",
                        self.name, pending[0])
        self._free_memory()
        self.reason = self.reason or (f"error: {exc}" if exc else "closed by peer")
        self._hub.release(self)

    def eof_received(self) -> bool:
        return False

    @property
    def name(self) -> str:
        """The client's nick and address (``nick@host:port``), for log lines."""
        return f"{self.nick}@{self.peer}" if self.nick else self.peer

    @property
    def dropped(self) -> int:
        """Messages dropped for this (slow "any") subscriber so far."""
        return self.sub.dropped

    def abort(self, reason: str, quiet: bool = False) -> None:
        """Disconnect this client at once; its unfinished message and queue are discarded."""
        if self.closing or self.transport is None:
            return
        self.reason = reason
        if not quiet:
            log.warning("disconnecting %s: %s", self.name, reason)
        self.closing = True
        self._free_memory()
        self.transport.abort()

    def _free_memory(self) -> None:
        sub = self.sub
        self._budget.give(sub.any_bytes + sub.all_bytes)
        sub.queue.clear()
        sub.any_msgs = sub.any_bytes = sub.all_bytes = 0
        if self._own is not None:
            self._budget.give(len(self._own))
            self._own = None

    def stats(self) -> dict[str, Any]:
        """Counters of this client (for
        :meth:`~km3flow.controlhost.dispatcher.Dispatcher.snapshot`)."""
        sub = self.sub
        pending = self._pending()
        return {
            "peer": self.peer, "nick": self.nick, "subscriptions": dict(self.subscriptions),
            "received": self.in_msgs, "received_bytes": self.in_bytes,
            "sent": sub.out_msgs, "sent_bytes": sub.out_bytes, "dropped": sub.dropped,
            "waiting": sum(e[1] for e in sub.queue), "waiting_bytes": sub.any_bytes + sub.all_bytes,
            "unfinished_bytes": pending[0] if pending else 0,
            "unfinished_held": len(self._own) if self._own is not None else 0,
            "reason": self.reason,
        }

    def _pending(self) -> tuple[int, int | None] | None:
        """``(bytes received, bytes expected or None)`` of an unfinished message, if any."""
        if self._own is not None:
            return self._own_fill, self._own_total
        n = self._end - self._start
        if not n:
            return None
        if n < PREFIX_SIZE:
            return n, None
        return n, PREFIX_SIZE + _PREFIX.unpack_from(self._buf, self._start)[1]

    def abort_if_stalled(self, now: float, timeout: float) -> bool:
        """Disconnect if an unfinished message got no byte for ``timeout`` seconds."""
        if self.closing:
            return False
        idle = now - self._last_rx
        if idle < timeout:
            return False
        pending = self._pending()
        if pending is None:
            return False
        got, expected = pending
        what = (f"{got} of {expected} bytes of a message" if expected is not None
                else f"{got} of the 16 bytes of a prefix")
        self.abort(f"idle for {idle:.1f} s in the middle of a message ({what} received; "
                   f"idle timeout {timeout:g} s)")
        return True

    def take_drop_report(self) -> tuple[int, int]:
        """``(dropped since the last report, dropped in total)``; marks them reported."""
        sub = self.sub
        new = sub.dropped - sub.drops_reported
        sub.drops_reported = sub.dropped
        return new, sub.dropped

    # -- receiving -----------------------------------------------------------------------
    def get_buffer(self, sizehint: int) -> memoryview:
        own = self._own
        if own is not None:
            if self._own_fill == len(own):  # full, message unfinished: grow with what came
                own = self._grow_own()
                if own is None:  # over budget: this read is discarded, the client is gone
                    return self._view
            return memoryview(own)[self._own_fill:]
        if self._end == len(self._buf):
            self._compact()
        return self._view[self._end:]

    def _grow_own(self) -> bytearray | None:
        own = self._own
        assert own is not None
        size = min(self._own_total, 2 * len(own))
        if not self._reserve(size - len(own), "an unfinished message"):
            return None
        try:
            own.extend(bytes(size - len(own)))
        except BufferError:  # an export still alive (not with asyncio's loops): copy instead
            grown = bytearray(size)
            grown[:len(own)] = own
            own = self._own = grown
        return own

    def _reserve(self, nbytes: int, what: str) -> bool:
        """Take ``nbytes`` from the budget, or disconnect this client (the newest asker)."""
        if self._budget.take(nbytes):
            return True
        self.abort(f"memory budget exhausted: {nbytes} more bytes for {what} would exceed "
                   f"{self._budget.limit} bytes ({self._budget.held} held by all clients)")
        return False

    def _compact(self) -> None:
        n = self._end - self._start
        self._buf[:n] = self._view[self._start:self._end]
        self._start, self._end = 0, n

    def buffer_updated(self, nbytes: int) -> None:
        if self.closing:
            return
        self._last_rx = time.monotonic()
        if self._own is not None:
            self._own_fill += nbytes
            if self._own_fill == self._own_total:
                data, tag = self._own, self._own_tag
                self._own = None
                self._budget.give(len(data))
                self.in_msgs += 1
                self.in_bytes += len(data)
                route = self._hub.routes.get(tag, NO_ROUTE)
                if route:
                    deliver(route, data, 1)
            return
        self._end += nbytes
        self._parse()

    def _parse(self) -> None:
        buf, view = self._buf, self._view
        start, end = self._start, self._end
        routes_get = self._hub.routes.get
        valid, max_size = _VALID_TAGS, self._limits.max_message_size
        unpack = _PREFIX.unpack_from
        send = deliver
        run_route = NO_ROUTE  # no run yet (a real route is never empty)
        run_start = start
        run_n = 0
        n_in = 0
        while end - start >= PREFIX_SIZE:
            raw_tag, length = unpack(buf, start)
            route = routes_get(raw_tag)
            if route is not None and 0 <= length <= max_size:
                # the hot path: a subscribed tag (valid, as only valid tags are routed)
                nxt = start + PREFIX_SIZE + length
                if nxt > end:
                    break
                if route is not run_route:
                    if run_n:
                        send(run_route, bytes(view[run_start:start]), run_n)
                        n_in += run_n
                    run_route, run_start, run_n = route, start, 0
                run_n += 1
                start = nxt
                stride = PREFIX_SIZE + length
                if end - start >= _BULK_MIN * stride:
                    # Equal messages (same tag and length, e.g. fixed-size data) are
                    # framed by one numpy comparison of all the prefixes in the buffer
                    # instead of one Python step per message.
                    m = _same_prefixes(buf, start - stride, start, stride,
                                       (end - start) // stride)
                    run_n += m
                    start += m * stride
                continue
            if raw_tag not in valid:
                try:
                    decode_tag(raw_tag)
                except ProtocolError as err:
                    self.abort(f"garbage prefix at byte {self.in_bytes + start - self._start}"
                               f" of its stream: {err}")
                    return
                if len(valid) > 4096:  # only a cache; keep it small
                    valid.clear()
                valid.add(raw_tag)
            if length < 0 or length > max_size:
                self.abort(f"message '{decode_tag(raw_tag)}' with length {length} "
                           f"outside 0..{max_size}")
                return
            nxt = start + PREFIX_SIZE + length
            if nxt > end:
                break
            if run_n:
                send(run_route, bytes(view[run_start:start]), run_n)
                n_in += run_n
                run_n = 0
            run_route = NO_ROUTE
            if raw_tag in _CONTROL:
                self._control(raw_tag, bytes(view[start + PREFIX_SIZE:nxt]))
                if self.closing:
                    return
                routes_get = self._hub.routes.get
            n_in += 1
            start = nxt
        if run_n:
            send(run_route, bytes(view[run_start:start]), run_n)
            n_in += run_n
        self.in_msgs += n_in
        self.in_bytes += start - self._start
        pending = end - start
        if pending >= PREFIX_SIZE:
            # the prefix at ``start`` was checked above: its length is within the limit
            raw_tag, length = unpack(buf, start)
            total = PREFIX_SIZE + length
            if pending == len(buf):  # a message larger than the read buffer fills it
                size = min(total, _OWN_BUFFER_START)
                if not self._reserve(size, "an unfinished message"):
                    return
                own = bytearray(size)
                own[:pending] = view[start:end]
                self._own, self._own_fill, self._own_total = own, pending, total
                self._own_tag = raw_tag
                start = end = 0
        if start == end:
            start = end = 0
        self._start, self._end = start, end
        if start and len(buf) - end < _COMPACT_BELOW:
            self._compact()

    def _control(self, tag: bytes, payload: bytes) -> None:
        sub = self.sub
        if tag == _T_SUBSCRIBE:
            try:
                self.subscriptions = parse_subscription(payload)
            except ProtocolError as err:
                self.abort(f"bad subscription: {err}")
                return
            log.info("%s subscribes to %s", self.name,
                     ", ".join(f"{t} ({m})" for t, m in self.subscriptions.items()) or "nothing")
            self._hub.subscriptions_changed(self)
        elif tag == _T_ALWAYS:
            sub.always = True
            self.flush()
        elif tag == _T_GIME:
            sub.credits += 1
            self.flush()
        elif tag == _T_MYID:
            name = payload.decode("ascii", "replace").strip()[:256]
            if self.nick:
                self._hub.announce(DIED, self.nick)
            self.nick = name
            if name:
                self._hub.announce(BORN, name)

    # -- sending -------------------------------------------------------------------------
    def pause_writing(self) -> None:
        self.sub.paused = True

    def resume_writing(self) -> None:
        self.sub.paused = False
        self.flush()

    def enqueue(self, data: bytes | bytearray, n: int, is_all: bool) -> None:
        """Send ``n`` messages (``data``) now, or queue them by the delivery policy."""
        sub = self.sub
        if self.closing:
            return
        if sub.always and not sub.paused and not sub.queue:
            self.transport.write(data)  # type: ignore[union-attr]
            sub.out_msgs += n
            sub.out_bytes += len(data)
            return
        size = len(data)
        limits = self._limits
        if is_all:
            if not self._reserve(size, "the queue of an 'all' subscriber"):
                return
            sub.queue.append([data, n, is_all])
            sub.all_bytes += size
            if sub.all_bytes > limits.hold_bytes:
                self.abort(f"'all' subscriber too slow: {sub.all_bytes} bytes waiting, "
                           f"above the limit of {limits.hold_bytes}")
                return
        else:
            if not self._make_room(size):
                self._count_drops(n)  # budget exhausted: this "any" message is skipped
                return
            sub.queue.append([data, n, is_all])
            sub.any_msgs += n
            sub.any_bytes += size
            if sub.any_msgs > limits.queue_messages or sub.any_bytes > limits.queue_bytes:
                self._drop_oldest()
        self.flush()

    def _drop_oldest(self) -> None:
        """Drop the oldest waiting "any" messages until the queue bounds hold again."""
        sub, limits = self.sub, self._limits
        dropped = 0
        while (sub.any_msgs > limits.queue_messages or sub.any_bytes > limits.queue_bytes) \
                and len(sub.queue) > 1:
            i = self._oldest_any()
            if i is None or i == len(sub.queue) - 1:  # keep the newest message
                break
            dropped += self._drop(i)
        if dropped:
            self._count_drops(dropped)

    def _make_room(self, size: int) -> bool:
        """Drop this subscriber's oldest "any" messages until the budget gives ``size``."""
        dropped = 0
        took = False
        while True:
            if self._budget.take(size):
                took = True
                break
            i = self._oldest_any()
            if i is None:
                break
            dropped += self._drop(i)
        if dropped:
            self._count_drops(dropped)
        return took

    def _oldest_any(self) -> int | None:
        for i, entry in enumerate(self.sub.queue):
            if not entry[2]:
                return i
        return None

    def _drop(self, i: int) -> int:
        sub = self.sub
        data, n, _ = sub.queue[i]
        del sub.queue[i]
        sub.any_msgs -= n
        sub.any_bytes -= len(data)
        self._budget.give(len(data))
        return n

    def _count_drops(self, n: int) -> None:
        sub = self.sub
        if not sub.dropped:
            log.warning("slow 'any' subscriber %s: dropping the oldest messages (counts "
                        "follow periodically)", self.name)
        sub.dropped += n

    def flush(self) -> None:
        """Write queued messages to the socket while the transport accepts them."""
        sub = self.sub
        queue = sub.queue
        write = self.transport.write  # type: ignore[union-attr]
        give = self._budget.give
        while queue and not sub.paused and not self.closing:
            if sub.always:
                data, n, is_all = queue.popleft()
            elif sub.credits > 0:
                data, n, is_all = self._pop_one()
                sub.credits -= 1
            else:
                return
            if is_all:
                sub.all_bytes -= len(data)
            else:
                sub.any_msgs -= n
                sub.any_bytes -= len(data)
            give(len(data))
            write(data)
            sub.out_msgs += n
            sub.out_bytes += len(data)

    def _pop_one(self) -> list:
        """Take the first message of the queue's first entry (which may hold several)."""
        entry = self.sub.queue[0]
        data, n, is_all = entry
        if n == 1:
            return self.sub.queue.popleft()
        end = PREFIX_SIZE + _PREFIX.unpack_from(data, 0)[1]
        entry[0] = data[end:]
        entry[1] = n - 1
        return [bytes(data[:end]), 1, is_all]


_T_SUBSCRIBE, _T_ALWAYS, _T_GIME, _T_MYID = (encode_tag(t) for t in (SUBSCRIBE, ALWAYS, GIME, MYID))
_CONTROL = frozenset({_T_SUBSCRIBE, _T_ALWAYS, _T_GIME, _T_MYID})
#: The 8-byte forms of the control tags (messages for the dispatcher, never routed).
CONTROL_TAGS = _CONTROL
