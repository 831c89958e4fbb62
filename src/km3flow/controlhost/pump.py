"""Pipeline modules for live data: :class:`CHPump` reads a dispatcher, :class:`CHSink` feeds one.

``CHPump`` yields one blob per ControlHost message, with

``CHPrefix``
    a :class:`~km3flow.controlhost.protocol.Prefix` (``tag``, ``length``, ``timestamp``),
``CHTag``
    the tag as a string,
``CHData``
    the raw payload (bytes-like),

plus, for tags that have a parser, whatever the parser returns. Parsers are plain
functions ``parser(payload) -> Mapping[str, Any]`` registered per tag in
:data:`DEFAULT_PARSERS` (or passed as ``parsers={...}``); a key ending in ``*`` matches a
tag prefix (``"IO_TS*"``). By default IO_EVT, IO_SUM and IO_TS* payloads are decoded with
the DAQ readers of :mod:`km3flow.io.daq` (``EventInfo``, ``Hits``, ``Summaryslice``, …),
IO_MONIT CLB monitoring packets into ``TMCHData`` (per-DOM PMT rates, temperature,
humidity, AHRS; :func:`km3flow.io.daq.parse_packet`) and MSG text goes into ``CHMessage``.

Reading happens in a background thread into a bounded queue of ``max_queue`` messages:
in "any" mode the oldest queued message is dropped (and counted) when the pipeline falls
behind; in "all" mode the reader waits, which pushes back on the dispatcher (which in turn
disconnects a subscriber that falls too far behind — the pump then reconnects). Lost
connections are re-established with bounded exponential backoff. The pump stops cleanly on
Ctrl-C, after ``drain(n)``, or when no message came for ``timeout`` seconds; every module's
``finish`` runs in all three cases.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..core import Blob, Module, Pump
from ..exceptions import Km3flowError, ProtocolError
from .client import Backoff, Client, ConnectionLost
from .protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_PORT,
    MODE_ALL,
    Message,
    Prefix,
    normalise_mode,
    split_tags,
)

Parser = Callable[[Any], Mapping[str, Any]]


def parse_daq_frame(payload: Any) -> Mapping[str, Any]:
    """Decode a DAQ frame payload (IO_EVT, IO_SUM, IO_TSL*) with :mod:`km3flow.io.daq`.

    Gives ``DAQHeader`` and, by type, ``EventInfo``/``Hits``/``TriggeredHits``,
    ``SummarysliceInfo``/``Summaryslice`` or ``TimesliceInfo``/``TimesliceFrameInfo``/
    ``TimesliceHits`` (see :func:`km3flow.io.daq.parse_frame`).
    """
    from ..io.daq import parse_frame  # numpy-heavy; loaded with the first DAQ message

    return parse_frame(payload, path="ControlHost message")


def parse_monitoring(payload: Any) -> Mapping[str, Any]:
    """Decode an IO_MONIT payload (a raw TMCH CLB monitoring packet) into ``TMCHData``.

    ``TMCHData`` is a one-row monitoring Table (as :class:`km3flow.io.daq.TMCHPump` gives
    from files): dom_id, run, utc_seconds, nanoseconds, pmt_rates (31, Hz), temp (°C),
    humidity (%), yaw/pitch/roll, … (see :func:`km3flow.io.daq.read_monitoring`).
    """
    from ..io.daq.monitoring import parse_packet  # numpy-heavy; loaded with the first packet

    return {"TMCHData": parse_packet(payload, path="ControlHost message")}


def parse_text(payload: Any) -> Mapping[str, Any]:
    """Decode a MSG payload (log/status text) into ``CHMessage`` (UTF-8, bad bytes replaced)."""
    return {"CHMessage": bytes(payload).decode("utf-8", "replace")}


#: Tag (or ``"PREFIX*"``) → parser of the payload, used by every CHPump unless
#: ``parsers=`` overrides a tag or ``parse=False`` turns parsing off.
DEFAULT_PARSERS: dict[str, Parser] = {
    "IO_EVT": parse_daq_frame,
    "IO_SUM": parse_daq_frame,
    "IO_TS*": parse_daq_frame,  # IO_TSL, IO_TSL0/1/2, IO_TSSN
    "IO_MONIT": parse_monitoring,
    "MSG": parse_text,
}

_END = object()


class _BoundedQueue:
    """A FIFO of at most ``size`` items; ``put`` drops the oldest or waits when full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[Any] = deque()
        self.cond = threading.Condition()

    def put(self, item: Any, drop_oldest: bool, stop: threading.Event) -> int:
        """Add ``item``; return how many old items were dropped to make room."""
        with self.cond:
            dropped = 0
            if drop_oldest:
                while len(self.items) >= self.size:
                    self.items.popleft()
                    dropped += 1
            else:
                while len(self.items) >= self.size and not stop.is_set():
                    self.cond.wait(0.2)
            self.items.append(item)
            self.cond.notify_all()
            return dropped

    def put_end(self) -> None:
        with self.cond:
            self.items.append(_END)
            self.cond.notify_all()

    def get(self, timeout: float | None) -> Any:
        """Return the next item; raise ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while not self.items:
                if deadline is None:
                    self.cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    self.cond.wait(left)
            item = self.items.popleft()
            self.cond.notify_all()
            return item


class CHPump(Pump):
    """Stream blobs from a ControlHost dispatcher (Ligier).

    Parameters
    ----------
    host, port
        The dispatcher, by default ``127.0.0.1:5553``.
    tags
        Tags to subscribe to, e.g. ``"IO_EVT, IO_SUM"`` (default ``"MSG"``).
    subscription_mode
        ``"any"`` (default; the dispatcher may skip messages for us when we are slow) or
        ``"all"``.
    timeout
        Stop when no message arrived for this many seconds (default: wait forever).
    max_queue
        Messages buffered between the reader thread and the pipeline (default 50).
    parsers
        Extra ``{tag: parser}`` on top of :data:`DEFAULT_PARSERS`; ``parse=False`` turns
        parsing off.
    on_parse_error
        ``"log"`` (default: log, count, and yield the blob with the raw data only) or
        ``"raise"``.
    reconnect_initial, reconnect_max, reconnect_tries
        The reconnection backoff: first wait, longest wait (seconds), attempts (``None``:
        unlimited).
    key_for_data, key_for_prefix
        Blob keys of payload and prefix (``"CHData"``, ``"CHPrefix"`` as in KM3Pipe).
    max_message_size, name
        Largest payload accepted; the client name shown in the dispatcher's log.
    """

    def configure(self) -> None:
        self.host = self.get("host", default="127.0.0.1")
        self.port = int(self.get("port", default=DEFAULT_PORT))
        self.tags = split_tags(self.get("tags", default="MSG"))
        self.mode = normalise_mode(self.get("subscription_mode", default="any"))
        timeout = self.get("timeout", default=None)
        self.timeout = None if timeout is None else float(timeout)
        self.max_queue = int(self.get("max_queue", default=50))
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {self.max_queue}")
        self.parsers: dict[str, Parser] = dict(DEFAULT_PARSERS)
        self.parsers.update(self.get("parsers", default=None) or {})
        if not self.get("parse", default=True):
            self.parsers = {}
        self.on_parse_error = self.get("on_parse_error", default="log")
        if self.on_parse_error not in ("log", "raise"):
            raise ValueError("on_parse_error must be 'log' or 'raise'")
        self.backoff = Backoff(float(self.get("reconnect_initial", default=0.1)),
                               float(self.get("reconnect_max", default=10.0)),
                               tries=self.get("reconnect_tries", default=None))
        self.key_for_data = self.get("key_for_data", default="CHData")
        self.key_for_prefix = self.get("key_for_prefix", default="CHPrefix")
        self.max_message_size = int(self.get("max_message_size",
                                             default=DEFAULT_MAX_MESSAGE_SIZE))
        self.client_name = self.get("name", default="CHPump")
        if self.mode == MODE_ALL:
            self.log.warning("subscribing in 'all' mode: a slow pipeline holds messages in "
                             "the dispatcher until it disconnects us")
        self.messages = 0
        self.dropped = 0
        self.parse_errors = 0
        self._stop = threading.Event()
        self._queue = _BoundedQueue(self.max_queue)
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._failure: BaseException | None = None
        self._parser_cache: dict[str, Parser | None] = {}

    # -- reading -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Connect and subscribe (the pipeline calls this before the first cycle)."""
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        self._client = Client(self.host, self.port, max_message_size=self.max_message_size,
                              backoff=self.backoff, name=self.client_name,
                              stop_event=self._stop)
        for tag in self.tags:
            self._client.subscriptions[tag] = self.mode
        self.log.info("connecting to %s:%d, tags %s (%s mode)", self.host, self.port,
                      ", ".join(self.tags), self.mode)
        self._thread = threading.Thread(target=self._read_loop, name=f"{self.name}-reader",
                                        daemon=True)
        self._thread.start()

    def _read_loop(self) -> None:
        client = self._client
        assert client is not None
        drop = self.mode != MODE_ALL
        try:
            while not self._stop.is_set():
                try:
                    message = client.get_message()
                except ProtocolError as err:
                    self.log.error("protocol error from %s:%d: %s; reconnecting",
                                   self.host, self.port, err)
                    continue
                if message is None:
                    continue
                dropped = self._queue.put(message, drop, self._stop)
                if dropped:
                    self.dropped += dropped
                    self.log.once(f"pipeline slower than the data: dropping the oldest "
                                  f"queued messages (max_queue={self.max_queue})",
                                  identifier=("drop", id(self)))
        except ConnectionLost as err:
            self._failure = err
            self.log.error("%s", err)
        except BaseException as err:  # noqa: BLE001 - handed to the pipeline thread
            self._failure = err
        finally:
            self._queue.put_end()

    def blob_generator(self) -> Iterator[Blob]:
        if self._thread is None:
            self._start()
        while True:
            try:
                item = self._queue.get(self.timeout)
            except TimeoutError:
                self.log.warning("no message for %.1f s; stopping", self.timeout)
                return
            if item is _END:
                if self._failure is not None and not self._stop.is_set():
                    failure, self._failure = self._failure, None
                    if isinstance(failure, Km3flowError | ConnectionError):
                        raise failure
                    raise Km3flowError(f"ControlHost reader failed: {failure}") from failure
                return
            self.messages += 1
            yield self._to_blob(item)

    def _to_blob(self, message: Message) -> Blob:
        blob = Blob()
        blob[self.key_for_prefix] = Prefix(message.tag, len(message.data), message.timestamp)
        blob["CHTag"] = message.tag
        blob[self.key_for_data] = message.data
        parser = self._parser(message.tag)
        if parser is not None:
            try:
                blob.update(parser(message.data))
            except Exception as err:
                if self.on_parse_error == "raise":
                    raise
                self.parse_errors += 1
                self.log.error("cannot parse a %s message of %d bytes: %s: %s", message.tag,
                               len(message.data), type(err).__name__, err)
        return blob

    def _parser(self, tag: str) -> Parser | None:
        try:
            return self._parser_cache[tag]
        except KeyError:
            pass
        parser = self.parsers.get(tag)
        if parser is None:
            prefixes = [k for k in self.parsers if k.endswith("*") and tag.startswith(k[:-1])]
            if prefixes:
                parser = self.parsers[max(prefixes, key=len)]
        self._parser_cache[tag] = parser
        return parser

    # -- state and shutdown ----------------------------------------------------------------
    @property
    def reconnects(self) -> int:
        """How often the client has reconnected to the dispatcher."""
        return self._client.reconnects if self._client is not None else 0

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            if self._thread.is_alive():
                self.log.error("the reader thread did not stop within 5 s")
        if self._client is not None:
            self._client.disconnect()

    def finish(self) -> dict[str, int]:
        self.close()
        stats = {"messages": self.messages, "dropped": self.dropped,
                 "reconnects": self.reconnects, "parse_errors": self.parse_errors}
        self.log.info("finished: %s", stats)
        return stats


class CHSink(Module):
    """Publish blob data to a ControlHost dispatcher under a tag.

    Parameters
    ----------
    host, port
        The dispatcher, by default ``127.0.0.1:5553``.
    tag
        Tag to publish under; by default the tag of the blob's ``CHPrefix`` (so a
        ``CHPump → CHSink`` pipeline mirrors a dispatcher).
    key
        Blob key holding the payload (bytes-like or ``str``), default ``"CHData"``.
    reconnect_initial, reconnect_max, reconnect_tries
        Backoff for re-establishing a lost connection (default: 5 attempts).
    name
        The client name shown in the dispatcher's log.
    """

    def configure(self) -> None:
        self.host = self.get("host", default="127.0.0.1")
        self.port = int(self.get("port", default=DEFAULT_PORT))
        self.tag = self.get("tag", default=None)
        self.key = self.get("key", default="CHData")
        self.backoff = Backoff(float(self.get("reconnect_initial", default=0.1)),
                               float(self.get("reconnect_max", default=10.0)),
                               tries=self.get("reconnect_tries", default=5))
        self.client = Client(self.host, self.port, backoff=self.backoff,
                             name=self.get("name", default="CHSink"))
        self.sent = 0

    def process(self, blob: Blob) -> Blob:
        data = blob[self.key]
        tag = self.tag
        if tag is None:
            tag = blob["CHPrefix"].tag
        if not isinstance(data, (bytes, bytearray, memoryview, str)):
            raise TypeError(f"CHSink sends bytes or str, blob['{self.key}'] is "
                            f"{type(data).__name__}")
        for attempt in (1, 2):
            if self.client.socket is None and not self.client.connect_with_backoff():
                raise ConnectionLost(f"cannot connect to {self.host}:{self.port}")
            try:
                self.client.put_message(tag, data)
                break
            except ConnectionLost as err:
                if attempt == 2:
                    raise
                self.log.warning("%s; reconnecting", err)
        self.sent += 1
        return blob

    def finish(self) -> dict[str, int]:
        self.client.disconnect()
        return {"sent": self.sent}
