"""One dispatcher connection: parsing what a client sends, delivering what it subscribed to.

Used by :class:`km3flow.controlhost.dispatcher.Dispatcher`, which documents the delivery
policy. A connection may publish and subscribe at once, as in the original dispatcher.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

log = get_logger("Ligier")

_PREFIX = struct.Struct(">8si")
_READ_BUFFER = 256 * 1024
# A message larger than this is received into a buffer of its own (no copy afterwards).
_OWN_BUFFER_ABOVE = 64 * 1024
_NO_ROUTE: tuple = ()
_DROP_LOG_INTERVAL = 5.0


class _Subscriber:
    """Delivery state of one connection: subscriptions, queue, counters."""

    __slots__ = (
        "all_bytes",
        "always",
        "any_bytes",
        "any_msgs",
        "credits",
        "dropped",
        "drops_logged",
        "last_drop_log",
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
        self.out_msgs = 0
        self.out_bytes = 0
        self.last_drop_log = 0.0
        self.drops_logged = 0


class _Connection(asyncio.BufferedProtocol):
    """One client connection: parses what it sends, delivers what it subscribed to."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.nick = ""
        self.subscriptions: dict[str, str] = {}
        self.sub = _Subscriber()
        self.closing = False
        self.reason = ""
        self.in_msgs = 0
        self.in_bytes = 0
        self._buf = bytearray(_READ_BUFFER)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._own: bytearray | None = None  # a large message being received
        self._own_fill = 0
        self._own_tag = b""

    # -- connection lifecycle ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if len(self.d.connections) >= self.d.max_connections:
            self.d.refused += 1
            log.warning("refusing connection from %s: %d connections open (limit %d)",
                        self.peer, len(self.d.connections), self.d.max_connections)
            self.closing = True
            transport.abort()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # notice peers that vanished without closing (half-open) within minutes, not hours
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10),
                                  ("TCP_KEEPCNT", 6)):
                if hasattr(socket, option):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
            if self.d.send_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.d.send_buffer)
        self.transport.set_write_buffer_limits(high=self.d.write_buffer)
        self.d.connections.add(self)
        self.d.connects += 1
        log.info("connect from %s (%d connections open, %d so far)",
                 self.peer, len(self.d.connections), self.d.connects)

    def connection_lost(self, exc: Exception | None) -> None:
        self.d._live.discard(self)
        if self not in self.d.connections:
            return
        self.closing = True
        if self._own is not None or self._end > self._start:
            pending = self._own_fill if self._own is not None else self._end - self._start
            log.warning("%s closed mid-message (%d bytes of an unfinished message discarded)",
                        self.name, pending)
        self.d.connections.discard(self)
        self.d.disconnects += 1
        if self.subscriptions:
            self.d.rebuild_routes()
        reason = self.reason or (f"error: {exc}" if exc else "closed by peer")
        log.info("disconnect of %s (%s): received %d messages / %d bytes, sent %d / %d, "
                 "dropped %d; %d connections open", self.name, reason, self.in_msgs,
                 self.in_bytes, self.sub.out_msgs, self.sub.out_bytes, self.sub.dropped,
                 len(self.d.connections))
        self.d.record_closed(self)
        if self.nick:
            self.d.announce(DIED, self.nick)
        self.sub.queue.clear()

    def eof_received(self) -> bool:
        return False

    @property
    def name(self) -> str:
        return f"{self.nick}@{self.peer}" if self.nick else self.peer

    def abort(self, reason: str) -> None:
        """Disconnect this client at once (its pending output is discarded)."""
        if self.closing:
            return
        self.reason = reason
        log.warning("disconnecting %s: %s", self.name, reason)
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    # -- receiving -----------------------------------------------------------------------
    def get_buffer(self, sizehint: int) -> memoryview:
        if self._own is not None:
            return memoryview(self._own)[self._own_fill:]
        if self._end == len(self._buf):
            self._compact()
        return self._view[self._end:]

    def _compact(self) -> None:
        n = self._end - self._start
        self._buf[:n] = self._view[self._start:self._end]
        self._start, self._end = 0, n

    def buffer_updated(self, nbytes: int) -> None:
        if self.closing:
            return
        if self._own is not None:
            self._own_fill += nbytes
            if self._own_fill == len(self._own):
                data, tag = self._own, self._own_tag
                self._own = None
                self.in_msgs += 1
                self.in_bytes += len(data)
                route = self.d.routes.get(tag, _NO_ROUTE)
                if route:
                    self.d.deliver(route, data, 1)
            return
        self._end += nbytes
        self._parse()

    def _parse(self) -> None:
        buf, view = self._buf, self._view
        start, end = self._start, self._end
        d = self.d
        routes_get, valid, max_size = d.routes.get, d.valid_tags, d.max_message_size
        deliver = d.deliver
        unpack = _PREFIX.unpack_from
        run_route: tuple | None = None
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
                        deliver(run_route, bytes(view[run_start:start]), run_n)
                        n_in += run_n
                    run_route, run_start, run_n = route, start, 0
                run_n += 1
                start = nxt
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
                deliver(run_route, bytes(view[run_start:start]), run_n)
                n_in += run_n
                run_n = 0
            run_route = None
            if raw_tag in _CONTROL:
                self._control(raw_tag, bytes(view[start + PREFIX_SIZE:nxt]))
                if self.closing:
                    return
                routes_get = d.routes.get
            n_in += 1
            start = nxt
        if run_n:
            deliver(run_route, bytes(view[run_start:start]), run_n)
            n_in += run_n
        self.in_msgs += n_in
        self.in_bytes += start - self._start
        pending = end - start
        if pending >= PREFIX_SIZE:
            raw_tag, length = unpack(buf, start)
            total = PREFIX_SIZE + length
            if total > _OWN_BUFFER_ABOVE:
                own = bytearray(total)
                own[:pending] = view[start:end]
                self._own, self._own_fill, self._own_tag = own, pending, raw_tag
                start = end = 0
        if start == end:
            start = end = 0
        self._start, self._end = start, end
        if start and len(buf) - end < _OWN_BUFFER_ABOVE:
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
            self.d.rebuild_routes()
        elif tag == _T_ALWAYS:
            sub.always = True
            self.flush()
        elif tag == _T_GIME:
            sub.credits += 1
            self.flush()
        elif tag == _T_MYID:
            name = payload.decode("ascii", "replace").strip()[:256]
            if self.nick:
                self.d.announce(DIED, self.nick)
            self.nick = name
            if name:
                self.d.announce(BORN, name)

    # -- sending -------------------------------------------------------------------------
    def pause_writing(self) -> None:
        self.sub.paused = True

    def resume_writing(self) -> None:
        self.sub.paused = False
        self.flush()

    def enqueue(self, data: bytes | bytearray, n: int, is_all: bool) -> None:
        sub = self.sub
        if self.closing:
            return
        if sub.always and not sub.paused and not sub.queue:
            self.transport.write(data)  # type: ignore[union-attr]
            sub.out_msgs += n
            sub.out_bytes += len(data)
            return
        sub.queue.append([data, n, is_all])
        if is_all:
            sub.all_bytes += len(data)
            if sub.all_bytes > self.d.hold_bytes:
                self.abort(f"'all' subscriber too slow: {sub.all_bytes} bytes waiting, "
                           f"above the limit of {self.d.hold_bytes}")
                return
        else:
            sub.any_msgs += n
            sub.any_bytes += len(data)
            if sub.any_msgs > self.d.queue_messages or sub.any_bytes > self.d.queue_bytes:
                self._drop_oldest()
        self.flush()

    def _drop_oldest(self) -> None:
        sub, d = self.sub, self.d
        dropped = 0
        queue = sub.queue
        while (sub.any_msgs > d.queue_messages or sub.any_bytes > d.queue_bytes) and \
                len(queue) > 1:
            for i, entry in enumerate(queue):
                if not entry[2]:
                    break
            else:
                break
            if i == len(queue) - 1:  # keep the newest message
                break
            data, n, _ = entry
            del queue[i]
            sub.any_msgs -= n
            sub.any_bytes -= len(data)
            dropped += n
        if dropped:
            sub.dropped += dropped
            d.dropped += dropped
            now = time.monotonic()
            if now - sub.last_drop_log >= _DROP_LOG_INTERVAL:
                log.warning("slow 'any' subscriber %s: dropped %d oldest messages since the "
                            "last report (%d in total for it, %d by the dispatcher)", self.name,
                            sub.dropped - sub.drops_logged, sub.dropped, d.dropped)
                sub.last_drop_log = now
                sub.drops_logged = sub.dropped

    def flush(self) -> None:
        sub = self.sub
        queue = sub.queue
        write = self.transport.write  # type: ignore[union-attr]
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
