"""The dispatcher's memory bounds with hostile clients on 127.0.0.1: buffers that grow with
the bytes that arrive, the global memory budget, the idle timeout, periodic drop reports."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading

import pytest
from ch_helpers import closed_reasons, raw_socket, raw_subscribe, wait_until

from km3flow.controlhost.client import Client
from km3flow.controlhost.protocol import DEFAULT_MAX_MESSAGE_SIZE, encode_message, pack_prefix
from km3flow.logger import get_logger

MiB = 1024 * 1024


def _vm_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _is_open(sock) -> bool:
    """True if the peer has not closed ``sock`` (nothing is expected to arrive on it)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except ConnectionError:
        return False
    finally:
        sock.setblocking(True)


def _closed_after_draining(sock) -> bool:
    """Read what is left on ``sock``; True once the peer closed it."""
    while True:
        try:
            if not sock.recv(1 << 20):
                return True
        except ConnectionError:
            return True


@pytest.fixture
def ligier_process():
    """``km3flow ligier`` in a process of its own; yields (process, port, log lines)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "-m", "km3flow.cli.main", "ligier", "--port", "0",
                             "--memory-budget", str(256 * MiB), "--idle-timeout", "60"],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    lines: list[str] = []
    try:
        first = proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
        assert match, first
        assert f"memory budget {256 * MiB} bytes, idle timeout 60 s" in first
        # keep reading its log so that it never blocks on a full pipe
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")),
                                  daemon=True)
        reader.start()
        yield proc, int(match.group(1)), lines
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        reader.join(10)
    finally:
        proc.kill()
        proc.wait(10)
        proc.stderr.close()
    assert proc.returncode == 0, "".join(lines)


def test_stalled_64mib_announcers_cost_no_memory(ligier_process):
    """20 clients announce 64 MiB messages and stall: the dispatcher's RSS hardly grows
    (it allocated all 20 × 64 MiB at once before) and it keeps serving everybody."""
    proc, port, lines = ligier_process
    baseline_kib = _vm_kib(proc.pid, "VmRSS")
    with Client(port=port, reconnect=False) as watcher:
        watcher.subscribe("PING, BIG", mode="all")
        wait_until(lambda: any("subscribes to PING" in line for line in lines),
                   what="the watcher's subscription")
        stalled = []
        for i in range(20):
            sock = raw_socket(port)
            # a complete PING, then a 64 MiB announcement with its first 1000 bytes; the
            # PING arriving tells that the dispatcher read the announcement with it
            sock.sendall(encode_message("PING", str(i)) +
                         pack_prefix("IO_TSL", DEFAULT_MAX_MESSAGE_SIZE) + bytes(1000))
            stalled.append(sock)
        pings = sorted(int(watcher.get_message(timeout=10).data) for _ in range(20))
        assert pings == list(range(20))
        # a real large message still goes through while they stall
        payload = random.Random(19).randbytes(5 * MiB)
        with Client(port=port, reconnect=False) as publisher:
            publisher.put_message("BIG", payload)
            message = watcher.get_message(timeout=10)
        assert message.tag == "BIG" and bytes(message.data) == payload
        peak_kib = _vm_kib(proc.pid, "VmHWM")  # the highest RSS the process ever had
        assert all(_is_open(sock) for sock in stalled)
        for sock in stalled:
            sock.close()
    # 20 × 64 MiB = 1280 MiB if the announced lengths were allocated
    assert (peak_kib - baseline_kib) * 1024 < 200 * MiB, (baseline_kib, peak_kib)
    wait_until(lambda: sum("closed mid-message" in line for line in lines) == 20,
               what="the dispatcher to log the 20 unfinished messages")


def _peer(sock) -> str:
    return "{}:{}".format(*sock.getsockname())


def _client(ligier, sock) -> dict:
    """The dispatcher's counters of the client on ``sock`` (empty until it is connected)."""
    return next((c for c in ligier.stats()["clients"] if c["peer"] == _peer(sock)), {})


def _send_part(ligier, payload: bytes, n: int):
    """A client that sends the prefix and the first ``n`` bytes of a BIG message and waits
    until the dispatcher has them all."""
    sock = raw_socket(ligier.port)
    sock.sendall(pack_prefix("BIG", len(payload)) + payload[:n])
    wait_until(lambda: _client(ligier, sock).get("unfinished_bytes") == n + 16,
               what=f"the first {n} bytes of a message to arrive")
    return sock


def _refused(ligier, payload: bytes, n: int, index: int) -> str:
    """Send the start of a BIG message that must be refused; return the logged reason."""
    sock = raw_socket(ligier.port)
    try:
        sock.sendall(pack_prefix("BIG", len(payload)) + payload[:n])
    except ConnectionError:  # disconnected before it sent everything
        pass
    assert _closed_after_draining(sock)
    sock.close()
    wait_until(lambda: len(closed_reasons(ligier)) > index, what="the offender's disconnect")
    return closed_reasons(ligier)[index]


def test_budget_disconnects_the_sender_that_exceeds_it(make_ligier, clients):
    size = 4 * MiB
    budget = 6 * MiB + 512 * 1024
    ligier = make_ligier(max_message_size=size, memory_budget=budget)
    sub = clients(ligier.port)
    sub.subscribe("BIG, OK", mode="all")
    ligier.wait_for_subscribers("OK")
    rng = random.Random(20)
    payloads = [rng.randbytes(size) for _ in range(4)]
    # a length field alone costs nothing: the start of a message waits in the read buffer
    stalled = raw_socket(ligier.port)
    stalled.sendall(pack_prefix("BIG", size) + bytes(1000))
    wait_until(lambda: _client(ligier, stalled).get("unfinished_bytes") == 1016)
    assert ligier.stats()["memory_held"] == 0
    # buffers grow with what arrives, from 1 MiB, doubling: 3 MB in 4 MiB, 1.5 MB in 2 MiB
    first = _send_part(ligier, payloads[0], 3_000_000)
    assert ligier.stats()["memory_held"] == 4 * MiB
    second = raw_socket(ligier.port)
    second.sendall(pack_prefix("BIG", size) + payloads[1][:1_500_000])
    wait_until(lambda: _client(ligier, second).get("unfinished_bytes") == 1_500_016)
    assert ligier.stats()["memory_held"] == 6 * MiB
    # the second grows past the budget: it asks last, it goes
    try:
        second.sendall(payloads[1][1_500_000:2_500_000])
    except ConnectionError:
        pass
    assert _closed_after_draining(second)
    second.close()
    wait_until(lambda: len(closed_reasons(ligier)) == 1, what="the second's disconnect")
    assert closed_reasons(ligier)[0].startswith(
        f"memory budget exhausted: {2 * MiB} more bytes for an unfinished message would "
        f"exceed {budget} bytes ({6 * MiB} held by all clients)")
    assert ligier.stats()["memory_held"] == 4 * MiB
    # a third takes 2 MiB; a fourth cannot even get its first 1 MiB
    third = _send_part(ligier, payloads[2], 2_000_000)
    assert ligier.stats()["memory_held"] == 6 * MiB
    reason = _refused(ligier, payloads[3], 300_000, 1)  # more than the 256 KiB read buffer
    assert reason.startswith(f"memory budget exhausted: {MiB} more bytes")
    # the others finish their messages, which arrive whole
    assert _is_open(first) and _is_open(third)
    for sock, payload, n in ((first, payloads[0], 3_000_000), (third, payloads[2], 2_000_000)):
        sock.sendall(payload[n:])
        message = sub.get_message(timeout=10)
        assert message.tag == "BIG" and bytes(message.data) == payload
        sock.close()
    pub = clients(ligier.port).connect()
    pub.put_message("OK", b"still served")
    assert sub.get_message(timeout=10).data == b"still served"
    assert _is_open(stalled)
    stalled.close()
    wait_until(lambda: len(closed_reasons(ligier)) == 5, what="all senders to be gone")
    assert ligier.stats()["memory_held"] == 0
    assert ligier.stats()["memory_peak"] <= budget


def test_messages_around_the_read_buffer_size_arrive_whole(ligier, clients):
    """Messages that fit the 256 KiB read buffer, fill it exactly, or move from it to a
    buffer of their own (and grow there), starting anywhere in the read buffer."""
    sub = clients(ligier.port)
    sub.subscribe("BIG, SMALL", mode="all")
    ligier.wait_for_subscribers("SMALL")
    read_buffer = 256 * 1024
    rng = random.Random(21)
    sizes = [read_buffer - 17, read_buffer - 16, read_buffer - 15, read_buffer,
             MiB - 17, MiB - 16, MiB - 15, 4 * MiB + 1, 70_000]
    stream = []
    for size in sizes:
        for n in (1, 3, 1000):  # small messages shift where the large one starts
            stream.append(("SMALL", rng.randbytes(rng.randrange(n + 1))))
        stream.append(("BIG", rng.randbytes(size)))
    data = b"".join(encode_message(tag, payload) for tag, payload in stream)
    sender = raw_socket(ligier.port)
    thread = threading.Thread(target=sender.sendall, args=(data,))
    thread.start()
    for tag, payload in stream:
        message = sub.get_message(timeout=10)
        assert message.tag == tag and bytes(message.data) == payload
    thread.join()
    sender.close()
    assert ligier.stats()["memory_held"] == 0


def test_budget_disconnects_a_slow_all_subscriber_and_trims_a_slow_any_one(make_ligier,
                                                                           clients):
    budget = 600_000
    ligier = make_ligier(max_message_size=100_000, memory_budget=budget, write_buffer=16_384,
                         send_buffer=65_536)
    fast = clients(ligier.port)
    fast.subscribe("OK", mode="all")
    slow_all = raw_socket(ligier.port, rcvbuf=4096)
    raw_subscribe(slow_all, {"OK": "all"})
    slow_any = raw_socket(ligier.port, rcvbuf=4096)
    raw_subscribe(slow_any, {"OK": "any"})
    ligier.wait_for_subscribers("OK", 3)
    pub = clients(ligier.port).connect()
    payload = bytes(10_000)
    for step in range(50):  # 5 MB in locksteps: the fast subscriber keeps up
        for i in range(10):
            pub.put_message("OK", (10 * step + i).to_bytes(4, "little") + payload)
        for i in range(10):
            message = fast.get_message(timeout=10)
            assert int.from_bytes(message.data[:4], "little") == 10 * step + i
        assert ligier.stats()["memory_held"] <= budget
    wait_until(lambda: any("memory budget exhausted" in r and "'all' subscriber" in r
                           for r in closed_reasons(ligier)),
               what="the slow 'all' subscriber to be disconnected")
    assert _closed_after_draining(slow_all)
    stats = _client(ligier, slow_any)
    assert stats["dropped"] > 0 and _is_open(slow_any)
    assert ligier.stats()["memory_peak"] <= budget
    slow_all.close()
    slow_any.close()


def test_idle_timeout_disconnects_clients_stalled_mid_message(make_ligier, clients):
    ligier = make_ligier(idle_timeout=0.5)
    sub = clients(ligier.port)
    sub.subscribe("OK", mode="all")  # idle between messages: never timed out
    ligier.wait_for_subscribers("OK")
    short = raw_socket(ligier.port)
    short.sendall(b"OK\0\0\0")  # 5 of the 16 prefix bytes
    long = raw_socket(ligier.port)
    long.sendall(pack_prefix("IO_TSL", 59_000_000) + bytes(100))
    assert _closed_after_draining(short)
    assert _closed_after_draining(long)
    reasons = closed_reasons(ligier)
    assert any("(5 of the 16 bytes of a prefix received; idle timeout 0.5 s)" in r
               for r in reasons)
    assert any("(116 of 59000016 bytes of a message received; idle timeout 0.5 s)" in r
               for r in reasons)
    pub = clients(ligier.port).connect()
    pub.put_message("OK", b"still served")
    assert sub.get_message(timeout=10).data == b"still served"
    assert ligier.stats()["memory_held"] == 0
    short.close()
    long.close()


def test_drops_are_reported_periodically_with_totals(make_ligier, clients, capsys):
    log = get_logger("Ligier")
    level = log.level
    log.setLevel("WARNING")
    try:
        ligier = make_ligier(queue_messages=10, drop_log_interval=0.2, write_buffer=16_384,
                             send_buffer=65_536)
        fast = clients(ligier.port)
        fast.subscribe("BURST", mode="all")
        slow = raw_socket(ligier.port, rcvbuf=4096)
        raw_subscribe(slow, {"BURST": "any"})
        ligier.wait_for_subscribers("BURST", 2)
        pub = clients(ligier.port).connect()
        n = 3000
        for i in range(n):
            pub.put_message("BURST", i.to_bytes(4, "little") + bytes(1000))
        for _ in range(n):  # the fast subscriber got everything: the burst went through
            assert fast.get_message(timeout=10) is not None
        dropped = _client(ligier, slow)["dropped"]
        assert dropped > 1000
        pattern = re.compile(rf"slow 'any' subscriber {re.escape(_peer(slow))}: dropped "
                             r"(\d+) oldest messages in the last 0.2 s \((\d+) in total")
        err: list[str] = []

        def reported_all() -> bool:
            err.append(capsys.readouterr().err)
            reports = pattern.findall("".join(err))
            return bool(reports) and int(reports[-1][1]) == dropped

        wait_until(reported_all, what="a report with the total of dropped messages")
        reports = [(int(a), int(b)) for a, b in pattern.findall("".join(err))]
        assert sum(new for new, _ in reports) == dropped  # nothing counted twice or lost
        assert re.search(rf"dropped \d+ messages for slow 'any' subscribers in the last 0.2 s "
                         rf"\({dropped} in total\)", "".join(err))
        assert _is_open(slow)  # reported while it is connected, not only at its disconnect
        slow.close()
    finally:
        log.setLevel(level)


def test_limit_options_are_checked():
    from km3flow.controlhost.dispatcher import Dispatcher

    for option in ("memory_budget", "idle_timeout", "drop_log_interval"):
        with pytest.raises(ValueError, match=option):
            Dispatcher(**{option: 0})
    with pytest.raises(ValueError, match="at least max_message_size"):
        Dispatcher(max_message_size=2 * MiB, memory_budget=MiB)
    assert Dispatcher(idle_timeout=None).idle_timeout is None


def test_cli_options_and_their_defaults():
    import argparse

    from km3flow.cli import ligier
    from km3flow.controlhost import dispatcher

    parser = argparse.ArgumentParser()
    ligier.add_arguments(parser)
    args = parser.parse_args([])
    assert args.memory_budget == dispatcher.DEFAULT_MEMORY_BUDGET
    assert args.idle_timeout == dispatcher.DEFAULT_IDLE_TIMEOUT
    assert args.drop_log_interval == dispatcher.DEFAULT_DROP_LOG_INTERVAL
    args = parser.parse_args(["--memory-budget", "100000000", "--idle-timeout", "0",
                              "--drop-log-interval", "2.5"])
    assert (args.memory_budget, args.idle_timeout, args.drop_log_interval) == (
        100_000_000, 0.0, 2.5)
