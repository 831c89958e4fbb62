"""The ControlHost wire format: tags, prefixes, messages and subscriptions, on bytes only.

A ControlHost message is a 16-byte prefix followed by its payload::

    offset  size  field
    0       8     tag, ASCII, right-padded with NUL bytes
    8       4     payload length, signed 32-bit big-endian
    12      4     reserved (zero on send, ignored on receive)
    16      n     payload

This is the framing KM3NeT's Ligier (JLigier) and KM3Pipe's client speak. Nothing here
touches a socket: the client and the dispatcher build on these functions, and they are
tested on plain bytes.

Control messages a client sends to the dispatcher (the original ControlHost dispatcher's
special tags, as KM3Pipe and Jpp use them):

``_Subscri``
    payload is a list of ``<mode> <TAG>`` pairs separated by blanks, e.g.
    ``b" w IO_EVT a IO_SUM"``; it replaces the client's whole subscription. Mode ``w``
    ("any", KM3Pipe's default) lets the dispatcher skip messages for a slow client,
    ``a`` ("all") asks for every message. Tags match exactly; the protocol has no
    wildcards or prefix subscriptions.
``_Always``
    send every subscribed message as it comes (instead of one per ``_Gime``).
``_Gime``
    send one more message (for clients that did not ask for ``_Always``).
``_MyId``
    the client's name; the dispatcher announces it under the tags ``Born``/``Died``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..exceptions import ProtocolError

PREFIX_SIZE = 16
TAG_SIZE = 8
DEFAULT_PORT = 5553
#: Default upper bound of a payload; an L0 timeslice of a full building block is a few
#: MB, so 64 MiB leaves ample room while bounding what a bad length field can cost.
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: The largest length the signed 32-bit field can carry.
MAX_LENGTH_FIELD = 2**31 - 1

SUBSCRIBE = b"_Subscri"
ALWAYS = b"_Always"
GIME = b"_Gime"
MYID = b"_MyId"
BORN = b"Born"
DIED = b"Died"
CONTROL_TAGS = frozenset({SUBSCRIBE, ALWAYS, GIME, MYID})

MODE_ANY = "any"
MODE_ALL = "all"
_MODE_LETTER = {MODE_ANY: "w", MODE_ALL: "a"}
# Letters of the original dispatcher's mode words: w(anted), a(ll), s(ynchronous),
# m/W (via shared memory), S (s+m). Only 'a' changes delivery here; the others are
# accepted so that subscriptions written for the original dispatcher parse.
_MODE_LETTERS = frozenset("wasmWS")

_LENGTH = struct.Struct(">i")
_PREFIX = struct.Struct(">8si4x")
_NUL_PAD = b"\x00" * TAG_SIZE


def encode_tag(tag: str | bytes) -> bytes:
    """Return the 8-byte, NUL-padded form of ``tag``.

    Raises
    ------
    ValueError
        If the tag is empty, longer than 8 characters, not ASCII or holds blanks or
        control characters (such a tag could not be subscribed to).
    """
    raw = tag.encode("ascii", "strict") if isinstance(tag, str) else bytes(tag)
    raw = raw.rstrip(b"\x00")
    if not raw or len(raw) > TAG_SIZE:
        raise ValueError(f"a tag has 1 to {TAG_SIZE} characters, got {tag!r}")
    if any(c <= 0x20 or c >= 0x7F for c in raw):
        raise ValueError(f"a tag is printable ASCII without blanks, got {tag!r}")
    return raw + _NUL_PAD[len(raw):]


def decode_tag(raw: bytes | bytearray | memoryview) -> str:
    """Return the tag string of an 8-byte tag field; raise ``ProtocolError`` if invalid."""
    raw = bytes(raw)
    name = raw.rstrip(b"\x00")
    if (
        len(raw) != TAG_SIZE
        or not name
        or b"\x00" in name
        or any(c <= 0x20 or c >= 0x7F for c in name)
    ):
        raise ProtocolError(f"invalid tag bytes {raw!r}: expected 1-8 printable ASCII "
                            f"characters padded with NUL")
    return name.decode("ascii")


class Tag(str):
    """A checked ControlHost tag: a ``str`` whose 8-byte wire form is :attr:`data`.

    >>> Tag("IO_EVT").data
    b'IO_EVT\\x00\\x00'
    >>> Tag.from_bytes(b"IO_SUM\\x00\\x00")
    'IO_SUM'
    """

    SIZE: ClassVar[int] = TAG_SIZE

    def __new__(cls, value: str | bytes) -> Tag:
        return super().__new__(cls, encode_tag(value).rstrip(b"\x00").decode("ascii"))

    @property
    def data(self) -> bytes:
        """The 8 bytes on the wire (NUL-padded)."""
        return encode_tag(self)

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray | memoryview) -> Tag:
        """Decode an 8-byte tag field; raise ``ProtocolError`` if it is invalid."""
        return cls(decode_tag(raw))


@dataclass(slots=True)
class Prefix:
    """The 16-byte header of a ControlHost message.

    Attributes
    ----------
    tag
        The message tag, e.g. ``"IO_EVT"``.
    length
        The payload size in bytes (the prefix not included).
    timestamp
        When the prefix was received (``time.time()``), or built.
    """

    tag: str
    length: int
    timestamp: float = field(default_factory=time.time, compare=False)

    SIZE: ClassVar[int] = PREFIX_SIZE

    @property
    def data(self) -> bytes:
        """The 16 prefix bytes (KM3Pipe's ``Prefix.data``)."""
        return pack_prefix(self.tag, self.length)

    def __str__(self) -> str:
        return f"ControlHost Prefix with tag '{self.tag}' ({self.length} bytes of data)"


def pack_prefix(tag: str | bytes, length: int) -> bytes:
    """Return the 16 prefix bytes of a message with ``tag`` and a payload of ``length``."""
    if not 0 <= length <= MAX_LENGTH_FIELD:
        raise ValueError(f"payload length must be within 0..{MAX_LENGTH_FIELD}, got {length}")
    return _PREFIX.pack(encode_tag(tag), length)


def unpack_prefix(
    data: bytes | bytearray | memoryview,
    offset: int = 0,
    max_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    timestamp: float | None = None,
) -> Prefix:
    """Decode the prefix at ``data[offset:offset + 16]``.

    Raises
    ------
    ProtocolError
        If fewer than 16 bytes are there, the tag is not printable ASCII padded with
        NUL, or the length is negative or above ``max_size``.
    """
    if len(data) - offset < PREFIX_SIZE:
        raise ProtocolError(f"a prefix has {PREFIX_SIZE} bytes, got {len(data) - offset}")
    raw_tag, length = _PREFIX.unpack_from(data, offset)
    tag = decode_tag(raw_tag)
    check_length(length, max_size, tag)
    return Prefix(tag, length, time.time() if timestamp is None else timestamp)


def check_length(length: int, max_size: int, tag: str = "?") -> None:
    """Raise ``ProtocolError`` unless ``0 <= length <= max_size``."""
    if length < 0:
        raise ProtocolError(f"negative payload length {length} in prefix of tag '{tag}'")
    if length > max_size:
        raise ProtocolError(f"payload length {length} of tag '{tag}' is above the limit "
                            f"of {max_size} bytes")


@dataclass(slots=True)
class Message:
    """A ControlHost message: a tag and its payload.

    ``data`` is any bytes-like object; messages received by the client carry ``bytes``
    for small payloads and a ``bytearray`` owned by the message for large ones (no copy).
    """

    tag: str
    data: bytes | bytearray | memoryview = b""
    timestamp: float = field(default_factory=time.time, compare=False)

    @property
    def prefix(self) -> Prefix:
        """The prefix this message is sent with."""
        return Prefix(self.tag, len(self.data), self.timestamp)

    def to_bytes(self) -> bytes:
        """Return prefix and payload as one bytes object."""
        return encode_message(self.tag, self.data)

    def __len__(self) -> int:
        return len(self.data)


def encode_message(tag: str | bytes, data: bytes | bytearray | memoryview | str = b"") -> bytes:
    """Return the bytes of a message: prefix followed by ``data`` (``str`` is UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return pack_prefix(tag, len(data)) + bytes(data)


def iter_messages(
    data: bytes | bytearray | memoryview, max_size: int = DEFAULT_MAX_MESSAGE_SIZE
) -> Iterable[Message]:
    """Yield the messages of a byte string holding complete messages back to back.

    Raises
    ------
    ProtocolError
        If a prefix is invalid or the data ends inside a message (naming the offset).
    """
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        try:
            prefix = unpack_prefix(view, offset, max_size)
        except ProtocolError as err:
            raise ProtocolError(f"at byte {offset}: {err}") from None
        end = offset + PREFIX_SIZE + prefix.length
        if end > len(view):
            raise ProtocolError(f"at byte {offset}: message '{prefix.tag}' needs {end - offset} "
                                f"bytes, only {len(view) - offset} left")
        yield Message(prefix.tag, bytes(view[offset + PREFIX_SIZE:end]), prefix.timestamp)
        offset = end


# -- subscriptions --------------------------------------------------------------------
def normalise_mode(mode: str) -> str:
    """Map ``"any"``/``"w"`` and ``"all"``/``"a"`` to ``"any"``/``"all"``."""
    m = str(mode).strip().lower()
    if m in ("any", "w"):
        return MODE_ANY
    if m in ("all", "a"):
        return MODE_ALL
    raise ValueError(f"subscription mode must be 'any' (w) or 'all' (a), got {mode!r}")


def split_tags(tags: str | Iterable[str]) -> list[str]:
    """Split ``"IO_EVT, IO_SUM"`` (commas and/or blanks) or a list into checked tag names."""
    if isinstance(tags, str):
        items = tags.replace(",", " ").split()
    else:
        items = [str(t).strip() for t in tags]
    names: list[str] = []
    for item in items:
        encode_tag(item)
        if item not in names:
            names.append(item)
    return names


def format_subscription(subscriptions: Mapping[str, str]) -> bytes:
    """Return the ``_Subscri`` payload for ``{tag: mode}``, e.g. ``b" w IO_EVT a IO_SUM"``."""
    parts = []
    for tag, mode in subscriptions.items():
        encode_tag(tag)
        parts.append(f" {_MODE_LETTER[normalise_mode(mode)]} {tag}")
    return "".join(parts).encode("ascii")


def parse_subscription(payload: bytes | bytearray | memoryview) -> dict[str, str]:
    """Parse a ``_Subscri`` payload into ``{tag: "any"|"all"}``.

    A tag named twice gets "all" if either entry asks for it (as the original
    dispatcher ORs the mode bits).

    Raises
    ------
    ProtocolError
        On a mode word with letters other than ``w a s m W S``, a mode without a tag, or
        an invalid tag.
    """
    try:
        words = bytes(payload).decode("ascii").split()
    except UnicodeDecodeError as err:
        raise ProtocolError(f"subscription is not ASCII: {bytes(payload)[:64]!r}") from err
    if len(words) % 2:
        raise ProtocolError(f"subscription has a mode without a tag: {bytes(payload)[:64]!r}")
    result: dict[str, str] = {}
    for mode_word, tag in zip(words[::2], words[1::2]):
        if not set(mode_word) <= _MODE_LETTERS:
            raise ProtocolError(f"incorrect subscription mode {mode_word!r} for tag {tag!r}")
        try:
            encode_tag(tag)
        except ValueError as err:
            raise ProtocolError(f"wrong tag {tag!r} in subscription: {err}") from None
        mode = MODE_ALL if "a" in mode_word else MODE_ANY
        if result.get(tag) != MODE_ALL:
            result[tag] = mode
    return result
