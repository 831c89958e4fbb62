"""Load: 2 publishers × 3 subscribers × 20 000 messages per publisher through one dispatcher."""

from __future__ import annotations

import struct
import threading

from ch_helpers import raw_socket, raw_subscribe

from km3flow.controlhost.protocol import PREFIX_SIZE, iter_messages

N = 20_000
PAYLOAD = 200
RECORD = struct.Struct("<ii")


def _payload(pub: int, seq: int) -> bytes:
    return RECORD.pack(pub, seq) + bytes(PAYLOAD - RECORD.size)


def test_two_publishers_three_subscribers(make_ligier, clients):
    queue_messages = 500
    ligier = make_ligier(queue_messages=queue_messages, write_buffer=65_536,
                         send_buffer=65_536)
    tags = ["LOAD0", "LOAD1"]
    fast = [clients(ligier.port, name=f"fast{i}") for i in range(2)]
    for sub in fast:
        sub.subscribe(tags, mode="all")
    # the slow "any" subscriber: small socket buffer, reads nothing until the fast ones are done
    slow = raw_socket(ligier.port, rcvbuf=4096)
    raw_subscribe(slow, {t: "any" for t in tags})
    for tag in tags:
        ligier.wait_for_subscribers(tag, 3)
    publishers = [clients(ligier.port, name=f"pub{i}").connect() for i in range(2)]

    def publish(k: int) -> None:
        pub = publishers[k]
        for seq in range(N):
            pub.put_message(tags[k], _payload(k, seq))

    received: list[dict[int, list[int]]] = [{0: [], 1: []} for _ in fast]

    def consume(i: int) -> None:
        sub, got = fast[i], received[i]
        for _ in range(2 * N):
            message = sub.get_message(timeout=30)
            pub, seq = RECORD.unpack_from(message.data)
            assert message.tag == tags[pub]
            got[pub].append(seq)

    threads = [threading.Thread(target=publish, args=(k,)) for k in range(2)]
    threads += [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)

    # every "all" subscriber got every message, in order per publisher, while the slow
    # subscriber had not read a byte: it did not hold them back
    for got in received:
        assert got[0] == list(range(N))
        assert got[1] == list(range(N))

    slow_name = "{}:{}".format(*slow.getsockname())
    stats = next(c for c in ligier.stats()["clients"] if c["peer"] == slow_name)
    assert stats["waiting"] <= queue_messages + 2 * (256 * 1024 // (PREFIX_SIZE + PAYLOAD))

    # now the slow subscriber reads what is left for it: the latest messages
    seqs: dict[int, list[int]] = {0: [], 1: []}
    order: list[tuple[int, int]] = []
    buffer = bytearray()
    slow.settimeout(0.2)
    while True:
        try:
            chunk = slow.recv(1 << 16)
        except TimeoutError:
            stats = next(c for c in ligier.stats()["clients"] if c["peer"] == slow_name)
            if stats["waiting"] == 0 and stats["sent"] == len(order):
                break
            continue
        assert chunk, "dispatcher closed the slow 'any' subscriber"
        buffer += chunk
        end = 0
        while len(buffer) - end >= PREFIX_SIZE:
            length = int.from_bytes(buffer[end + 8:end + 12], "big")
            if len(buffer) - end < PREFIX_SIZE + length:
                break
            end += PREFIX_SIZE + length
        for message in iter_messages(buffer[:end]):
            pub, seq = RECORD.unpack_from(message.data)
            seqs[pub].append(seq)
            order.append((pub, seq))
        del buffer[:end]
    slow.close()
    for pub in (0, 1):
        assert all(a < b for a, b in zip(seqs[pub], seqs[pub][1:]))  # in order, no repeats
    assert order[-1][1] == N - 1  # the very latest message reached it
    assert stats["dropped"] > 0
    assert len(order) + stats["dropped"] == 2 * N
