"""ControlHost throughput: km3flow's dispatcher vs a minimal relay, raw loopback and KM3Pipe.

Every party runs in a process of its own, on 127.0.0.1:

- ``raw``: the publisher writes straight into a receiver (one hop: the scale of loopback);
- ``relay``: a minimal relay process (one thread, ``recv_into`` + ``sendall``, one
  publisher to one subscriber) — the limit of any relay, which moves every byte twice;
- ``ligier 1→1`` / ``ligier 1→4``: km3flow's dispatcher (``km3flow ligier``), one publisher
  and one or four subscribers ("all" mode); receivers count bytes with ``recv_into``;
- ``km3flow client``: one subscriber using :class:`km3flow.controlhost.Client`;
- ``km3pipe client``: one subscriber using KM3Pipe's ``controlhost.Client`` from the
  reference venv (``/work/refvenv``), if installed. It reads in 1 kB pieces with repeated
  ``bytes +=``, so it gets fewer messages for the 1 MB case.

Reported: messages/s and MB/s (payload + 16-byte prefix) delivered per subscriber, the
median over ``--reps`` runs, and ratios to the relay::

    python benchmarks/controlhost.py --reps 3
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
SRC = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src")
REFPYTHON = "/work/refvenv/bin/python"
PREFIX = 16


def _prefix(tag: str, length: int) -> bytes:
    return tag.encode().ljust(8, b"\0") + length.to_bytes(4, "big") + bytes(4)


# -- roles (each runs in its own process) ------------------------------------------------
def role_ligier() -> None:
    sys.path.insert(0, SRC)
    from km3flow.controlhost.dispatcher import Dispatcher

    d = Dispatcher("127.0.0.1", 0, hold_bytes=2**31, queue_bytes=2**31, max_message_size=2**24)
    import asyncio

    async def main() -> None:
        await d.start()
        print(d.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await d.stop()

    asyncio.run(main())


def role_relay() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    sub, _ = listener.accept()
    pub, _ = listener.accept()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while True:
        n = pub.recv_into(buf)
        if not n:
            break
        sub.sendall(view[:n])
    sub.close()


def role_publisher(port: int, size: int, n: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    message = _prefix("BENCH", size) + os.urandom(size)
    per_batch = max(1, (1 << 20) // len(message))
    batch = message * per_batch
    print("ready", flush=True)
    sys.stdin.readline()
    sent = 0
    while sent + per_batch <= n:
        sock.sendall(batch)
        sent += per_batch
    if n > sent:
        sock.sendall(message * (n - sent))
    sys.stdin.readline()  # stay connected until the receivers are done
    sock.close()


def _subscribe(sock: socket.socket) -> None:
    payload = b" a BENCH"
    sock.sendall(_prefix("_Subscri", len(payload)) + payload + _prefix("_Always", 0))


def role_receiver(port: int, total: int, mode: str) -> None:
    if mode == "listen":
        listener = socket.create_server(("127.0.0.1", 0))
        print(listener.getsockname()[1], flush=True)
        sock, _ = listener.accept()
    else:
        sock = socket.create_connection(("127.0.0.1", port))
        if mode == "subscribe":
            _subscribe(sock)
        print("ready", flush=True)
    buf = bytearray(1 << 22)
    got = 0
    while got < total:
        n = sock.recv_into(buf)
        if not n:
            raise SystemExit(f"closed after {got} of {total} bytes")
        got += n
    print(time.time(), flush=True)


def role_client(port: int, n: int, kind: str) -> None:
    if kind == "km3pipe":
        from km3pipe.controlhost import Client

        client = Client("127.0.0.1", port)
        client._connect()
        client.subscribe("BENCH", mode="all")
        print("ready", flush=True)
        for _ in range(n):
            client.get_message()
    else:
        sys.path.insert(0, SRC)
        from km3flow.controlhost.client import Client as KClient

        kclient = KClient("127.0.0.1", port)
        kclient.subscribe("BENCH", mode="all")
        print("ready", flush=True)
        for _ in range(n):
            kclient.get_message()
    print(time.time(), flush=True)


# -- orchestration -----------------------------------------------------------------------
def _spawn(*args: object, python: str = sys.executable) -> subprocess.Popen:
    return subprocess.Popen([python, HERE, "--role", *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _line(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"benchmark process {proc.args} ended early")
    return line.strip()


def _wait_subscribed(ligier_port: int, n: int) -> None:
    # Subscriptions travel on their own connections: give the dispatcher a moment to
    # process them (we cannot ask it from here); 0.2 s is plenty on loopback.
    time.sleep(0.2)


def run_case(case: str, size: int, n: int, ligier_port: int | None) -> float:
    """Run one case; return the elapsed seconds until the last receiver had everything."""
    total = n * (PREFIX + size)
    procs: list[subprocess.Popen] = []
    try:
        if case == "raw":
            receivers = [_spawn("receiver", 0, total, "listen")]
            target = int(_line(receivers[0]))
        elif case == "relay":
            relay = _spawn("relay")
            procs.append(relay)
            target = int(_line(relay))
            receivers = [_spawn("receiver", target, total, "connect")]
            _line(receivers[0])
            time.sleep(0.05)  # the relay takes the first connection as the subscriber
        else:
            target = ligier_port
            if case.startswith("ligier"):
                count = int(case[-1])
                receivers = [_spawn("receiver", target, total, "subscribe") for _ in range(count)]
            elif case == "km3pipe":
                receivers = [_spawn("client", target, n, "km3pipe", python=REFPYTHON)]
            else:
                receivers = [_spawn("client", target, n, "km3flow")]
            for r in receivers:
                _line(r)
            _wait_subscribed(target, len(receivers))
        procs += receivers
        publisher = _spawn("publisher", target, size, n)
        procs.append(publisher)
        _line(publisher)
        t0 = time.time()
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        ends = [float(_line(r)) for r in receivers]
        publisher.stdin.write("done\n")
        publisher.stdin.flush()
        return max(ends) - t0
    finally:
        for p in procs:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def _have_km3pipe() -> bool:
    if not os.path.exists(REFPYTHON):
        return False
    probe = subprocess.run([REFPYTHON, "-c", "import km3pipe.controlhost"], check=False,
                           capture_output=True)
    return probe.returncode == 0


def main(argv: list[str] | None = None) -> None:  # noqa: C901
    global REFPYTHON
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--mb", type=float, default=100.0,
                        help="MB sent per case (fewer for KM3Pipe's client)")
    parser.add_argument("--sizes", default="100,10000,1000000")
    parser.add_argument("--role", nargs="*")
    parser.add_argument("--ref-python", default=REFPYTHON,
                        help="python of a separate venv with km3pipe==11.0.0")
    args = parser.parse_args(argv)
    REFPYTHON = args.ref_python
    if args.role:
        role, *rest = args.role
        if role == "ligier":
            role_ligier()
        elif role == "relay":
            role_relay()
        elif role == "publisher":
            role_publisher(int(rest[0]), int(rest[1]), int(rest[2]))
        elif role == "receiver":
            role_receiver(int(rest[0]), int(rest[1]), rest[2])
        elif role == "client":
            role_client(int(rest[0]), int(rest[1]), rest[2])
        return

    km3pipe = _have_km3pipe()
    ligier = _spawn("ligier")
    ligier_port = int(_line(ligier))
    cases = ["raw", "relay", "ligier1", "ligier4", "km3flow"] + (["km3pipe"] if km3pipe else [])
    print(f"# {os.cpu_count()} CPUs, {args.reps} reps, ~{args.mb:g} MB per case; "
          f"KM3Pipe client: {'yes' if km3pipe else 'not installed'}")
    print(f"{'size':>8} {'case':>16} {'msgs':>8} {'msg/s':>12} {'MB/s':>9} "
          f"{'vs relay':>9}")
    try:
        for size in map(int, args.sizes.split(",")):
            n = max(20, min(500_000, int(args.mb * 1e6 / (size + PREFIX))))
            relay_rate = None
            for case in cases:
                n_case = n
                if case == "km3pipe":  # its O(n²) reads make large messages very slow
                    n_case = max(5, min(n, int(3e6 / size) if size >= 100_000 else n // 5))
                times = [run_case(case, size, n_case, ligier_port) for _ in range(args.reps)]
                elapsed = statistics.median(times)
                rate = n_case / elapsed
                mbps = rate * (size + PREFIX) / 1e6
                if case == "relay":
                    relay_rate = rate
                ratio = f"{rate / relay_rate:9.2f}" if relay_rate else f"{'':>9}"
                label = {"ligier1": "ligier 1→1", "ligier4": "ligier 1→4 (each)",
                         "km3flow": "km3flow client", "km3pipe": "km3pipe client"}.get(case, case)
                print(f"{size:>8} {label:>16} {n_case:>8} {rate:>12,.0f} {mbps:>9.1f} {ratio}",
                      flush=True)
    finally:
        ligier.stdin.close()
        ligier.wait(10)


if __name__ == "__main__":
    main()
