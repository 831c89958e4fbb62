"""The dispatcher with real clients on 127.0.0.1: routing, sizes, modes and faults."""

from __future__ import annotations

import random
import socket
import threading

import pytest
from ch_helpers import closed_reasons, hard_close, raw_socket, raw_subscribe, wait_until

from km3flow.controlhost.protocol import encode_message, pack_prefix


def test_round_trip_every_size_up_to_the_limit(make_ligier, clients):
    limit = 4096
    ligier = make_ligier(max_message_size=limit)
    sub = clients(ligier.port)
    sub.subscribe("SIZES", mode="all")
    ligier.wait_for_subscribers("SIZES")
    pub = clients(ligier.port).connect()
    rng = random.Random(1)
    payloads = [rng.randbytes(n) for n in range(limit + 1)]

    def publish() -> None:
        for payload in payloads:
            pub.put_message("SIZES", payload)

    thread = threading.Thread(target=publish)
    thread.start()
    for payload in payloads:
        message = sub.get_message(timeout=10)
        assert message is not None and message.tag == "SIZES"
        assert message.data == payload
    thread.join()
    # one byte more than the limit disconnects the sender, and nothing of it is relayed
    pub.put_message("SIZES", bytes(limit + 1))
    wait_until(lambda: any("outside 0..4096" in r for r in closed_reasons(ligier)),
               what="the oversize sender to be disconnected")
    assert sub.get_message(timeout=0.2) is None


def test_large_messages_round_trip(ligier, clients):
    sub = clients(ligier.port)
    sub.subscribe("BIG", mode="all")
    ligier.wait_for_subscribers("BIG")
    pub = clients(ligier.port).connect()
    rng = random.Random(2)
    payloads = [rng.randbytes(n) for n in (65_535, 65_536, 262_144, 1_000_003, 5 * 2**20)]
    thread = threading.Thread(target=lambda: [pub.put_message("BIG", p) for p in payloads])
    thread.start()
    for payload in payloads:
        message = sub.get_message(timeout=10)
        assert message is not None and bytes(message.data) == payload
    thread.join()


def test_many_tags_route_only_what_is_subscribed(ligier, clients):
    tags = [f"TAG{i:03d}" for i in range(60)]
    wanted = tags[::3]
    sub = clients(ligier.port)
    sub.subscribe(wanted, mode="all")
    other = clients(ligier.port)
    other.subscribe(tags[1::3], mode="all")
    ligier.wait_for_subscribers(wanted[0])
    ligier.wait_for_subscribers(tags[1])
    pub = clients(ligier.port).connect()
    for round_ in range(3):
        for tag in tags:
            pub.put_message(tag, f"{tag}:{round_}")
    pub.put_message("END", b"")
    got = [sub.get_message(timeout=5) for _ in range(3 * len(wanted))]
    assert [(m.tag, bytes(m.data)) for m in got] == [
        (tag, f"{tag}:{r}".encode()) for r in range(3) for tag in wanted]
    assert sub.get_message(timeout=0.2) is None
    got_other = [other.get_message(timeout=5) for _ in range(3 * len(tags[1::3]))]
    assert {m.tag for m in got_other} == set(tags[1::3])


def test_tags_match_exactly_no_prefix_subscription(ligier, clients):
    """The protocol has no wildcard or prefix subscriptions: tags match exactly."""
    sub = clients(ligier.port)
    sub.subscribe("IO_TS", mode="all")
    ligier.wait_for_subscribers("IO_TS")
    pub = clients(ligier.port).connect()
    pub.put_message("IO_TSL1", b"not for you")
    pub.put_message("IO_TS", b"for you")
    message = sub.get_message(timeout=5)
    assert (message.tag, message.data) == ("IO_TS", b"for you")


def test_unsubscribe_and_resubscribe(ligier, clients):
    sub = clients(ligier.port)
    sub.subscribe("A, B", mode="all")
    ligier.wait_for_subscribers("B")
    sub.unsubscribe("B")
    wait_until(lambda: ligier.subscribers("B") == 0, what="unsubscription")
    pub = clients(ligier.port).connect()
    pub.put_message("B", b"b")
    pub.put_message("A", b"a")
    assert sub.get_message(timeout=5).tag == "A"


def test_gime_sends_one_message_per_request(ligier, clients):
    sub = clients(ligier.port)
    sub.always = False
    sub.subscribe("G", mode="all")
    ligier.wait_for_subscribers("G")
    pub = clients(ligier.port).connect()
    for i in range(3):
        pub.put_message("G", bytes([i]))
    wait_until(lambda: any(c["waiting"] == 3 for c in ligier.stats()["clients"]),
               what="3 messages waiting for the _Gime client")
    assert sub.get_message(timeout=0.3) is None
    sub.request_next()
    assert sub.get_message(timeout=5).data == b"\x00"
    assert sub.get_message(timeout=0.3) is None
    sub.request_next()
    sub.request_next()
    assert [sub.get_message(timeout=5).data for _ in range(2)] == [b"\x01", b"\x02"]


def test_born_and_died_announce_client_names(ligier, clients):
    watcher = clients(ligier.port)
    watcher.subscribe("Born, Died", mode="all")
    ligier.wait_for_subscribers("Died")
    named = clients(ligier.port, name="DataFilter-1").connect()
    born = watcher.get_message(timeout=5)
    assert (born.tag, born.data) == ("Born", b"DataFilter-1")
    named.close()
    died = watcher.get_message(timeout=5)
    assert (died.tag, died.data) == ("Died", b"DataFilter-1")


def test_connection_limit(make_ligier, clients):
    ligier = make_ligier(max_connections=2)
    a = clients(ligier.port).connect()
    b = clients(ligier.port).connect()
    wait_until(lambda: ligier.stats()["connections"] == 2)
    extra = raw_socket(ligier.port)
    assert extra.recv(1) == b""  # closed by the dispatcher
    extra.close()
    assert ligier.stats()["refused"] == 1
    b.subscribe("X", mode="all")
    ligier.wait_for_subscribers("X")
    a.put_message("X", b"still served")
    assert b.get_message(timeout=5).data == b"still served"


# -- faults: the dispatcher keeps serving the others -------------------------------------
@pytest.fixture
def watched(ligier, clients):
    """An "all" subscriber of tag OK and a publisher, to check service goes on."""
    sub = clients(ligier.port)
    sub.subscribe("OK", mode="all")
    ligier.wait_for_subscribers("OK")
    pub = clients(ligier.port).connect()

    def still_served(n: int = 100) -> None:
        for i in range(n):
            pub.put_message("OK", i.to_bytes(4, "little"))
        got = [sub.get_message(timeout=5) for _ in range(n)]
        assert [int.from_bytes(m.data, "little") for m in got] == list(range(n))

    return sub, pub, still_served


def test_garbage_prefix_disconnects_only_the_sender(ligier, watched):
    _, _, still_served = watched
    still_served()
    bad = raw_socket(ligier.port)
    bad.sendall(random.Random(3).randbytes(64) + b"\xff" * 16)
    assert bad.recv(1) == b""
    bad.close()
    wait_until(lambda: any("garbage prefix at byte 0" in r for r in closed_reasons(ligier)))
    still_served()


@pytest.mark.parametrize("length", [-1, 2**31 - 1])
def test_bad_length_field_disconnects_only_the_sender(ligier, watched, length):
    _, _, still_served = watched
    bad = raw_socket(ligier.port)
    bad.sendall(b"OK\0\0\0\0\0\0" + length.to_bytes(4, "big", signed=True) + bytes(4))
    assert bad.recv(1) == b""
    bad.close()
    wait_until(lambda: any(f"length {length} outside" in r for r in closed_reasons(ligier)))
    still_served()


def test_publisher_closing_mid_message(ligier, watched):
    sub, _, still_served = watched
    quitter = raw_socket(ligier.port)
    quitter.sendall(encode_message("OK", b"complete") + pack_prefix("OK", 1000) + bytes(400))
    quitter.close()
    assert sub.get_message(timeout=5).data == b"complete"
    wait_until(lambda: ligier.stats()["disconnects"] >= 1)
    still_served()  # the 400 bytes of the unfinished message were not relayed


def test_subscriber_killed_mid_stream(ligier, watched, clients):
    sub, pub, still_served = watched
    victim = raw_socket(ligier.port, rcvbuf=4096)
    raw_subscribe(victim, {"OK": "all"})
    ligier.wait_for_subscribers("OK", 2)
    payload = bytes(5000)
    for _ in range(20):
        pub.put_message("OK", payload)
    victim.recv(100)  # mid-stream, partly read
    hard_close(victim)
    for _ in range(20):
        assert sub.get_message(timeout=5).data == payload
    wait_until(lambda: ligier.subscribers("OK") == 1)
    still_served()


def test_half_open_connections_do_not_block_others(make_ligier, clients):
    ligier = make_ligier(hold_bytes=200_000, write_buffer=16_384, send_buffer=65_536)
    sub = clients(ligier.port)
    sub.subscribe("OK", mode="all")
    # a peer that stopped mid-prefix and a subscriber that never reads (peer gone silent)
    silent_sender = raw_socket(ligier.port)
    silent_sender.sendall(b"OK\0\0\0")
    silent_reader = raw_socket(ligier.port, rcvbuf=4096)
    raw_subscribe(silent_reader, {"OK": "all"})
    ligier.wait_for_subscribers("OK", 2)
    pub = clients(ligier.port).connect()
    payload = bytes(10_000)
    for _ in range(30):  # 3 MB in locksteps: the well-behaved subscriber keeps up
        for _ in range(10):
            pub.put_message("OK", payload)
        for _ in range(10):
            assert sub.get_message(timeout=10).data == payload
    wait_until(lambda: any("'all' subscriber too slow" in r for r in closed_reasons(ligier)),
               what="the silent 'all' subscriber to be disconnected")
    silent_sender.close()
    silent_reader.close()


def test_dispatcher_stop_closes_everybody(make_ligier, clients):
    ligier = make_ligier()
    sub = clients(ligier.port)
    sub.subscribe("X")
    ligier.wait_for_subscribers("X")
    ligier.stop()
    with pytest.raises(ConnectionError):
        sub.get_message(timeout=5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ligier.port), timeout=1).recv(1)


def test_dispatcher_options_are_checked():
    from km3flow.controlhost.dispatcher import Dispatcher

    for option in ("max_message_size", "max_connections", "queue_messages", "queue_bytes",
                   "hold_bytes", "write_buffer"):
        with pytest.raises(ValueError, match=option):
            Dispatcher(**{option: 0})


def test_runs_of_equal_messages_are_framed_exactly(ligier, clients):
    # Runs of messages with the same tag and length are framed by one comparison of
    # their prefixes; a run that changes length or tag part-way, messages of another
    # tag in between and a run cut by the end of a read must still come out exactly.
    sub = clients(ligier.port)
    sub.subscribe("EQ", mode="all")
    ligier.wait_for_subscribers("EQ")
    rng = random.Random(7)
    sent = []
    stream = bytearray()

    def put(tag: str, payload: bytes) -> None:
        stream.extend(encode_message(tag, payload))
        if tag == "EQ":
            sent.append(payload)

    for _ in range(300):
        put("EQ", rng.randbytes(100))
    put("EQ", rng.randbytes(101))
    for _ in range(100):
        put("OTHER", rng.randbytes(100))
    for k in range(500):
        put("EQ", rng.randbytes(100 if k != 250 else 99))
    for _ in range(5000):  # more than a read buffer: runs are cut mid-message
        put("EQ", rng.randbytes(60))
    pub = raw_socket(ligier.port)
    pub.sendall(bytes(stream))
    for payload in sent:
        message = sub.get_message(timeout=10)
        assert message is not None and message.tag == "EQ"
        assert bytes(message.data) == payload
    assert sub.get_message(timeout=0.2) is None
    pub.close()
