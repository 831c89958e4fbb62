"""Monitor ingest: ARCA-sized summary slices through ligier → `km3flow monitor`, 20 browsers.

A full ARCA detector sends 4,140 DOM records per summary slice at 10 Hz (41,400 DOM
records/s); the goal is ≥ 10× that (414,000/s) on one core while 20 WebSocket clients are
connected. The script

1. writes an IO_SUM file of ``--frames`` synthetic ARCA slices: the records of the real
   testdata ``IO_SUM.dat`` (its second slice, 69 DOMs) repeated to ``--doms`` DOMs with
   distinct DOM ids;
2. starts ``km3flow ligier`` and ``km3flow monitor`` (processes of their own) and connects 20
   WebSocket clients (aiohttp, in this process) that read every update;
3. sends the file ``--repeat`` times as fast as ``km3flow ch-replay`` can;
4. reports DOM records ingested per second of wall time and per CPU second of the monitor
   process (its pipeline thread, web server and 20 clients together: "one core"), and the
   delay from an update being built to a client having it.

It also times the monitor's work per slice in this process, without sockets:
``parse_frame`` + ``MonitorState.add_summaryslice`` against a bare ``np.frombuffer`` of the
records (the limit of any parser), in DOM records per CPU second of this process (the
machine is shared, so wall time would measure the other jobs), median/min/max of ``--reps``::

    PYTHONPATH=src python benchmarks/monitor.py --frames 10 --repeat 60 --reps 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path.insert(0, SRC)

from km3net_testdata import data_path  # noqa: E402

from km3flow.controlhost.replay import iter_daq_frames  # noqa: E402
from km3flow.io.daq import parse_frame  # noqa: E402
from km3flow.monitor.state import MonitorState  # noqa: E402

HEADER = 34  # DAQ header (30 bytes) + the DOM count of a summary slice
RECORD = 55  # dom_id, 5 status words, 31 one-byte rates


def arca_frame(n_doms: int, first_id: int) -> bytes:
    """One summary slice of ``n_doms`` DOMs: the real file's records, new DOM ids."""
    frame = [bytes(f) for _, _, f in iter_daq_frames(data_path("daq/IO_SUM.dat"))][1]
    (n,) = struct.unpack_from("<i", frame, 30)
    records = np.frombuffer(frame, np.uint8, n * RECORD, HEADER).reshape(n, RECORD)
    out = np.tile(records, (n_doms // n + 1, 1))[:n_doms].copy()
    out[:, :4] = (np.arange(n_doms, dtype="<u4") + first_id).view(np.uint8).reshape(-1, 4)
    body = frame[4:30] + struct.pack("<i", n_doms) + out.tobytes()
    return struct.pack("<i", len(body) + 4) + body


def km3flow(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.Popen([sys.executable, "-m", "km3flow.cli.main", "-q", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int) -> None:
    import socket

    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get_state(port: int) -> dict:
    url = f"http://127.0.0.1:{port}/api/state?doms=false"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def clients(port: int, n: int, stop: threading.Event, delays: list[float],
            counts: list[int]) -> None:
    import aiohttp

    async def one(session, k: int) -> None:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws", max_msg_size=0) as ws:
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except asyncio.TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                update = json.loads(msg.data)
                delays.append(time.time() - update["time"])
                counts[k] += 1

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(one(session, k) for k in range(n)))

    asyncio.run(main())


def end_to_end(path: str, repeat: int, n_clients: int, expected: int) -> dict:
    """Run ligier, monitor, ``n_clients`` readers and the replay; rates and delays."""
    lport, hport = free_port(), free_port()
    ligier = km3flow("ligier", "--port", str(lport), "--queue-bytes", str(2**30),
                     "--memory-budget", str(2**31))
    wait_port(lport)
    monitor = km3flow("monitor", "--port", str(lport), "--http-port", str(hport))
    stop = threading.Event()
    delays: list[float] = []
    counts = [0] * n_clients
    try:
        wait_port(hport)
        while not get_state(hport)["connected"]:
            time.sleep(0.1)
        thread = threading.Thread(target=clients, args=(hport, n_clients, stop, delays, counts))
        thread.start()
        while len(get_state(hport)["clients"]) < n_clients:
            time.sleep(0.1)
        replay = km3flow("ch-replay", path, "--port", str(lport), "--repeat", str(repeat))
        # from the first record in to the last: polled every 0.1 s (counters only)
        while (first := get_state(hport)["dom_records"]) == 0:
            time.sleep(0.02)
        t0, cpu0 = time.perf_counter(), cpu_seconds(monitor.pid)
        last, last_change, cpu1 = first, t0, cpu0
        while True:
            time.sleep(0.1)
            records = get_state(hport)["dom_records"]
            if records != last:
                last, last_change, cpu1 = records, time.perf_counter(), cpu_seconds(monitor.pid)
            elif replay.poll() is not None and time.perf_counter() - last_change > 2:
                break
        wall, cpu = last_change - t0, cpu1 - cpu0
        state = get_state(hport)
        state["dom_records"] -= first
    finally:
        stop.set()
        for proc in (monitor, ligier):
            proc.terminate()
            proc.wait(20)
    thread.join(10)
    return {"records_timed": state["dom_records"], "slices": state["summaryslices"], "wall_s": wall,
            "records_sent": expected, "records_in": state["dom_records"] + first,
            "cpu_s": cpu, "per_wall_s": state["dom_records"] / wall,
            "per_cpu_s": state["dom_records"] / cpu, "updates_min": min(counts),
            "delay_median_ms": 1e3 * statistics.median(delays) if delays else float("nan"),
            "delay_max_ms": 1e3 * max(delays) if delays else float("nan")}


def in_process(frame: bytes, n_doms: int, reps: int, n: int = 100) -> dict[str, list[float]]:
    dtype = np.dtype([("dom_id", "<u4"), ("words", "<u4", (5,)), ("rates", "u1", (31,))])
    out: dict[str, list[float]] = {"bare frombuffer": [], "parse_frame": [],
                                   "parse_frame + ingest": []}
    state = MonitorState()
    for _ in range(reps):
        t = time.process_time()
        for _ in range(n):
            np.frombuffer(frame, dtype, n_doms, HEADER).copy()
        out["bare frombuffer"].append(n * n_doms / (time.process_time() - t))
        t = time.process_time()
        for _ in range(n):
            parse_frame(frame, path="bench")
        out["parse_frame"].append(n * n_doms / (time.process_time() - t))
        t = time.process_time()
        for _ in range(n):
            state.add_summaryslice(parse_frame(frame, path="bench")["Summaryslice"])
        out["parse_frame + ingest"].append(n * n_doms / (time.process_time() - t))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doms", type=int, default=4140, help="DOMs per slice (ARCA: 4140)")
    parser.add_argument("--frames", type=int, default=10, help="slices in the file")
    parser.add_argument("--repeat", type=int, default=60, help="times the file is sent")
    parser.add_argument("--clients", type=int, default=20, help="WebSocket clients")
    parser.add_argument("--reps", type=int, default=5, help="repetitions in process")
    args = parser.parse_args(argv)
    frames = [arca_frame(args.doms, 808_000_000) for _ in range(args.frames)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "IO_SUM_arca.dat")
        with open(path, "wb") as fh:
            fh.write(b"".join(frames))
        print(f"load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              f"{args.frames} x {args.repeat} slices of {args.doms} DOMs")
        rates = in_process(frames[0], args.doms, args.reps)
        base = statistics.median(rates["bare frombuffer"])
        print("in process, DOM records per CPU second (median, min, max; x bare frombuffer):")
        for name, values in rates.items():
            med = statistics.median(values)
            print(f"  {name:22s} {med:12,.0f} {min(values):12,.0f} {max(values):12,.0f} "
                  f"{med / base:6.3f}")
        result = end_to_end(path, args.repeat, args.clients,
                            args.doms * args.frames * args.repeat)
    print(f"end to end with {args.clients} WebSocket clients:")
    for key, value in result.items():
        print(f"  {key:16s} {value:,.1f}" if isinstance(value, float) else
              f"  {key:16s} {value:,}")


if __name__ == "__main__":
    main()
