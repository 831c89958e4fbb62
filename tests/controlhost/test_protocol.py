"""The ControlHost wire format on plain bytes (no sockets)."""

from __future__ import annotations

import random

import pytest

from km3flow.controlhost.protocol import (
    PREFIX_SIZE,
    Message,
    Prefix,
    Tag,
    decode_tag,
    encode_message,
    encode_tag,
    format_subscription,
    iter_messages,
    pack_prefix,
    parse_subscription,
    split_tags,
    unpack_prefix,
)
from km3flow.exceptions import ProtocolError

# Bytes KM3Pipe 11.0.0 produces (computed in a separate venv with
# km3pipe.controlhost.Prefix(b"IO_EVT", 1234).data and Message("MSG", "hello").data).
KM3PIPE_PREFIX_IO_EVT_1234 = b"IO_EVT\x00\x00\x00\x00\x04\xd2\x00\x00\x00\x00"
KM3PIPE_MESSAGE_MSG_HELLO = b"MSG\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00hello"


def test_prefix_bytes_match_km3pipe():
    assert pack_prefix("IO_EVT", 1234) == KM3PIPE_PREFIX_IO_EVT_1234
    assert Prefix("IO_EVT", 1234).data == KM3PIPE_PREFIX_IO_EVT_1234
    assert encode_message("MSG", "hello") == KM3PIPE_MESSAGE_MSG_HELLO
    assert Message("MSG", b"hello").to_bytes() == KM3PIPE_MESSAGE_MSG_HELLO


def test_prefix_round_trip_and_reserved_bytes_ignored():
    for tag in ("A", "IO_EVT", "IO_TSL12", "_Subscri"):
        for length in (0, 1, 255, 65536, 2**31 - 1):
            prefix = unpack_prefix(pack_prefix(tag, length), max_size=2**31 - 1)
            assert (prefix.tag, prefix.length) == (tag, length)
    raw = bytearray(pack_prefix("MSG", 7))
    raw[12:16] = b"\xff\x01\x02\x03"
    assert unpack_prefix(raw).length == 7
    assert str(Prefix("MSG", 7)) == "ControlHost Prefix with tag 'MSG' (7 bytes of data)"
    assert Prefix.SIZE == PREFIX_SIZE == 16
    assert Prefix("MSG", 7, timestamp=1.0) == Prefix("MSG", 7, timestamp=2.0)


@pytest.mark.parametrize("tag", ["", "TOOLONGTAG", "A B", "é", "TAB\t", "\x00A"])
def test_invalid_tags_are_refused(tag):
    with pytest.raises(ValueError):
        encode_tag(tag)


def test_tag_class():
    tag = Tag("IO_EVT")
    assert tag == "IO_EVT" and isinstance(tag, str) and tag.data == b"IO_EVT\0\0"
    assert Tag(b"MSG\0\0\0\0\0") == "MSG" and Tag.SIZE == 8
    assert Tag.from_bytes(b"ABCDEFGH") == "ABCDEFGH"
    with pytest.raises(ValueError):
        Tag("123456789")  # as in KM3Pipe's tests
    with pytest.raises(ProtocolError):
        Tag.from_bytes(b"\xff" * 8)


def test_tag_encoding():
    assert encode_tag("IO_EVT") == b"IO_EVT\x00\x00"
    assert encode_tag(b"ABCDEFGH") == b"ABCDEFGH"
    assert decode_tag(b"IO_SUM\x00\x00") == "IO_SUM"
    for raw in (b"\x00" * 8, b"IO\x00EVT\x00\x00", b"\xff\xfeABCDE\x00", b"IO EVT\x00\x00"):
        with pytest.raises(ProtocolError, match="invalid tag"):
            decode_tag(raw)


def test_length_checks():
    bad_negative = encode_tag("MSG") + (-5).to_bytes(4, "big", signed=True) + b"\0" * 4
    with pytest.raises(ProtocolError, match="negative payload length -5"):
        unpack_prefix(bad_negative)
    with pytest.raises(ProtocolError, match="above the limit of 100 bytes"):
        unpack_prefix(pack_prefix("MSG", 101), max_size=100)
    with pytest.raises(ProtocolError, match="a prefix has 16 bytes, got 15"):
        unpack_prefix(pack_prefix("MSG", 1)[:15])
    with pytest.raises(ValueError):
        pack_prefix("MSG", -1)
    with pytest.raises(ValueError):
        pack_prefix("MSG", 2**31)


def test_subscription_format_and_parse():
    payload = format_subscription({"IO_EVT": "any", "IO_SUM": "all"})
    assert payload == b" w IO_EVT a IO_SUM"  # KM3Pipe's " w TAG" items, joined
    assert parse_subscription(payload) == {"IO_EVT": "any", "IO_SUM": "all"}
    assert parse_subscription(b"") == {}
    # mode words of the original dispatcher; 'a' anywhere means all; repeated tags OR
    assert parse_subscription(b"wm MSG S IO_EVT w X a X w X") == {
        "MSG": "any", "IO_EVT": "any", "X": "all"}
    for bad in (b"w", b"x IO_EVT", b"w \xff\xfe", b"w TOOLONGTAG"):
        with pytest.raises(ProtocolError):
            parse_subscription(bad)


def test_split_tags():
    assert split_tags("IO_EVT, IO_SUM") == ["IO_EVT", "IO_SUM"]
    assert split_tags("IO_EVT,IO_SUM IO_EVT") == ["IO_EVT", "IO_SUM"]
    assert split_tags(["MSG"]) == ["MSG"]
    with pytest.raises(ValueError):
        split_tags("IO_EVT, NINECHARS")


def test_iter_messages_reports_truncation_offset():
    stream = b"".join(encode_message(f"T{i}", bytes(i)) for i in range(10))
    messages = list(iter_messages(stream))
    assert [(m.tag, len(m.data)) for m in messages] == [(f"T{i}", i) for i in range(10)]
    cut = len(stream) - 3
    start_of_last = cut + 3 - (PREFIX_SIZE + 9)
    with pytest.raises(ProtocolError, match=f"at byte {start_of_last}: message 'T9'"):
        list(iter_messages(stream[:cut]))


def test_iter_messages_fuzz():
    """Random corruption gives messages or a ProtocolError, never another error."""
    rng = random.Random(20261126)
    stream = b"".join(encode_message("IO_EVT", rng.randbytes(rng.randrange(0, 300)))
                      for _ in range(40))
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        data = bytearray(stream)
        kind = rng.randrange(3)
        if kind == 0:
            data = data[:rng.randrange(len(data))]
        elif kind == 1:
            for _ in range(rng.randrange(1, 5)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            data = data[:rng.randrange(len(data))] + bytearray(rng.randbytes(50))
        try:
            list(iter_messages(data, max_size=10_000))
            outcomes["ok"] += 1
        except ProtocolError:
            outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0
