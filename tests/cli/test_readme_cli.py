"""The README's command lines, as a reader types them.

Plain shell blocks run in tests/test_docs.py (in the README's session, in order). Here: that
every ``km3flow`` line of the README is run by one of the two tests, the live-data steps with
real processes (dispatcher, replay, monitor, and the CHPump block) on a free port of
127.0.0.1 in place of the documented 5553, and the demo that ``./km3 demo`` runs.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from markdown_blocks import README, ROOT, blocks, compile_python, shell_commands

DOCUMENTED_PORT = "5553"


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    path = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                PYTHONPATH=path, PYTHONUNBUFFERED="1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the dispatcher exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


class _Lines:
    """Collect a process's output lines in a thread, to wait for a line without blocking."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, count: int = 1, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while sum(bool(re.search(pattern, x)) for x in self.lines) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"no {count}× {pattern!r} in:\n{''.join(self.lines)}"
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"output ended before {pattern!r}:\n{''.join(self.lines)}"
            self.lines.append(line)

    def rest(self) -> str:
        self._thread.join(30)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


def test_every_km3flow_line_of_the_readme_is_run():
    run_by_docs, live, set_aside = [], [], []
    for block in blocks(README):
        if block.lang != "bash":
            continue
        lines = [c for _, c in shell_commands(block)]
        target = {None: run_by_docs, "live": live, "skip": set_aside}[block.marker]
        target += lines
    assert not [c for c in set_aside if c.startswith("km3flow")], set_aside
    commands = {shlex.split(c)[1] for c in run_by_docs + live if c.startswith("km3flow")}
    # the README shows each of these commands at work (the table lists them all)
    assert commands >= {"convert", "info", "h5info", "detx", "ligier", "ch-replay", "bin",
                        "train"}


def test_readme_live_data_steps_in_the_order_shown(tmp_path):
    live = [b for b in blocks(README) if b.marker == "live"]
    shell = [b for b in live if b.lang == "bash"]
    python = [b for b in live if b.lang == "python"]
    assert len(shell) == 1 and len(python) == 1
    commands = [c for _, c in shell_commands(shell[0])]
    assert len(commands) == 3 and all(DOCUMENTED_PORT in c for c in commands)
    port = str(_free_port())
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    from km3net_testdata import data_path

    shutil.copy(data_path("daq/IO_EVT.dat"), tmp_path)  # "copied as above"
    env = _env()
    procs: list[subprocess.Popen] = []

    def start(command: str) -> subprocess.Popen:
        argv = shlex.split(command.replace(DOCUMENTED_PORT, port).rstrip("&"))
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        return proc

    try:
        ligier_cmd, replay_cmd, monitor_cmd = commands
        assert ligier_cmd.endswith("&") and replay_cmd.endswith("&")
        ligier = start(ligier_cmd)
        _wait_for_port(int(port), ligier)  # a reader sees it start before typing on
        replay = start(replay_cmd)
        monitor = start(monitor_cmd)
        monitor_out = _Lines(monitor)
        monitor_out.wait_for(r"events/s .* triggered", count=2)  # data flows, rate lines
        # the README's CHPump block, meanwhile, in a pipeline of one's own
        block = python[0]
        block.text = block.text.replace(DOCUMENTED_PORT, port)
        namespace: dict = {"__name__": "__docs__"}
        exec(compile_python(block), namespace)
        assert namespace["pipe"].cycles == 5
        # Ctrl-C ends the monitor, which prints what its modules returned
        monitor.send_signal(signal.SIGINT)
        assert monitor.wait(60) == 0
        out = monitor_out.rest()
        events = int(re.search(r"'Monitor': \{'events': (\d+)", out).group(1))
        assert events >= 6, out  # at 10 events/s, for the two rate lines at least
        assert "'parse_errors': 0" in out
        for proc in (replay, ligier):  # `kill %1 %2`
            assert proc.poll() is None, proc.stdout.read()
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            proc.stdout.close()


def test_the_demo_of_km3_demo_runs(tmp_path):
    # ./km3 demo is this script in the ./.venv it creates; the venv part is not tested here
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"),
                           "--outdir", str(tmp_path / "demo")], env=_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3. reading back with HDF5Pump" in proc.stdout
    assert (tmp_path / "demo" / "km3net_offline.h5").is_file()
    # a user runs it again: the demo replaces its own outputs
    again = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"),
                            "--outdir", str(tmp_path / "demo")], env=_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

