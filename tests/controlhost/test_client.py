"""The blocking client: framing across reads, limits, timeouts, reconnects with backoff."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest
from ch_helpers import FakeServer, free_port

from km3flow.controlhost.client import Backoff, Client, ConnectionLost
from km3flow.controlhost.dispatcher import DispatcherThread
from km3flow.controlhost.protocol import encode_message, pack_prefix
from km3flow.exceptions import ProtocolError


def _recv_some(conn, n: int = 1 << 16) -> bytes:
    try:
        return conn.recv(n)
    except OSError:
        return b""


def test_messages_split_at_any_byte_boundary():
    rng = random.Random(7)
    payloads = [rng.randbytes(rng.choice([0, 1, 15, 16, 17, 1000, 300_000])) for _ in range(40)]
    stream = b"".join(encode_message("CHUNK", p) for p in payloads)

    def script(conn, index, server):
        _recv_some(conn)
        at = 0
        while at < len(stream):
            step = rng.choice([1, 3, 16, 17, 4096, 100_000])
            conn.sendall(stream[at:at + step])
            at += step
        time.sleep(0.5)  # keep the connection while the client reads
        return False

    server = FakeServer(script)
    with Client(port=server.port, reconnect=False) as client:
        client.subscribe("CHUNK")
        got = [client.get_message(timeout=10) for _ in payloads]
    assert [bytes(m.data) for m in got] == payloads
    assert all(m.tag == "CHUNK" for m in got)
    server.close()


def test_lost_connection_drops_partial_message_and_resumes_at_a_boundary():
    """KM3Pipe's client read the new stream as the old message's body; we do not."""
    first = encode_message("T", b"first")
    partial = pack_prefix("T", 100) + b"x" * 40
    third = encode_message("T", b"third")

    def script(conn, index, server):
        server.received.append(_recv_some(conn))
        conn.sendall(first + partial if index == 0 else third)
        if index == 1:
            time.sleep(0.5)
            return False
        return None

    server = FakeServer(script)
    client = Client(port=server.port, backoff=Backoff(0.01, 0.05))
    client.subscribe("T", mode="any")
    assert client.get_message(timeout=5).data == b"first"
    assert client.get_message(timeout=5).data == b"third"
    client.close()
    server.close()
    # the subscription was sent again after reconnecting
    assert all(b" w T" in data for data in server.received)


def test_length_above_client_limit_raises_protocol_error():
    def script(conn, index, server):
        _recv_some(conn)
        conn.sendall(pack_prefix("BIG", 1001) + bytes(1001))
        time.sleep(0.3)
        return False

    server = FakeServer(script)
    client = Client(port=server.port, max_message_size=1000, reconnect=False)
    client.subscribe("BIG")
    with pytest.raises(ProtocolError, match="above the limit of 1000 bytes"):
        client.get_message(timeout=5)
    assert not client.connected
    server.close()


def test_timeout_returns_none(ligier):
    with Client(port=ligier.port, reconnect=False) as client:
        client.subscribe("NOTHING")
        assert client.get_message(timeout=0.1) is None


def test_iteration_and_context_manager(ligier):
    with Client(port=ligier.port) as sub, Client(port=ligier.port) as pub:
        sub.subscribe("IT", mode="all")
        ligier.wait_for_subscribers("IT")
        for i in range(5):
            pub.put_message("IT", str(i))
        got = [m.data for m in itertools.islice(sub, 5)]
    assert got == [b"0", b"1", b"2", b"3", b"4"]
    assert not sub.connected and not pub.connected


def test_connect_retries_with_backoff_until_the_dispatcher_is_up():
    port = free_port()
    client = Client(port=port, backoff=Backoff(0.02, 0.1, tries=200))
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("ok", client.connect_with_backoff()))
    thread.start()
    time.sleep(0.2)  # let a few attempts fail first
    ligier = DispatcherThread(port=port).start()
    thread.join(10)
    assert result["ok"] is True
    assert client.reconnects == 1
    client.close()
    ligier.stop()


def test_backoff_gives_up_and_stop_interrupts_waiting():
    port = free_port()
    client = Client(port=port, backoff=Backoff(0.01, 0.02, tries=3))
    assert client.connect_with_backoff() is False
    stop = threading.Event()
    patient = Client(port=port, backoff=Backoff(600.0, 600.0), stop_event=stop)
    result = []
    waiting = threading.Thread(target=lambda: result.append(patient.connect_with_backoff()))
    waiting.start()
    stop.set()
    waiting.join(10)  # a 600 s wait: only an interrupted wait ends in time
    assert not waiting.is_alive() and result == [False]
    with pytest.raises(ConnectionLost):
        Client(port=port, reconnect=False).get_message(timeout=0.1)


def test_backoff_delays_are_bounded_and_grow():
    delays = list(Backoff(0.1, 1.0, factor=2.0, tries=6, jitter=0.0).delays())
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
