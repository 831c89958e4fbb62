"""Processes of the monitor tests: `km3flow ligier`, `km3flow monitor`, `km3flow ch-replay`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def km3flow(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([sys.executable, "-m", "km3flow.cli.main", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}: "
                                 f"{proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_until(up, timeout, f"port {port}")


def stop(proc: subprocess.Popen) -> str:
    """SIGINT the process (as Ctrl-C), wait, and return its output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is None or proc.stdout.closed:
        return ""
    with proc.stdout:
        return proc.stdout.read()


class Live:
    """A ligier and a monitor on free 127.0.0.1 ports; ``replay(file)`` feeds the ligier."""

    def __init__(self, *monitor_args: str, token: str | None = None) -> None:
        self.ligier_port = free_port()
        self.http_port = free_port()
        self.token = token
        self.procs: list[subprocess.Popen] = []
        self.ligier = km3flow("ligier", "--port", str(self.ligier_port))
        self.procs.append(self.ligier)
        wait_for_port(self.ligier_port, self.ligier)
        args = ["monitor", "--port", str(self.ligier_port), "--http-port", str(self.http_port),
                *monitor_args]
        if token:
            args += ["--token", token]
        self.monitor = km3flow(*args)
        self.procs.append(self.monitor)
        wait_for_port(self.http_port, self.monitor)
        # the pump subscribes once it runs: wait until the page says it is connected
        wait_until(lambda: self.get("/api/state")["connected"], what="monitor connected")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def get(self, path: str, token: str | None = None):
        token = token or self.token
        sep = "&" if "?" in path else "?"
        url = self.url + path + (f"{sep}token={token}" if token else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def replay(self, path: str | Path, *args: str) -> None:
        proc = km3flow("ch-replay", str(path), "--port", str(self.ligier_port), *args)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out

    def close(self) -> list[str]:
        return [stop(p) for p in reversed(self.procs)]
