"""Live monitoring demo in one command: ligier + replayed DAQ data + `km3flow monitor`.

Starts ``km3flow ligier``, ``km3flow monitor`` (with the ORCA detector file of
km3net-testdata, so DOMs sit at their DU/floor and the event display is 3D) and replays the
testdata ``IO_SUM.dat`` (one summary slice per second) and ``IO_EVT.dat`` (5 events per
second) in a loop, plus a MSG line now and then. Open the printed address in a browser;
Ctrl-C stops everything::

    python examples/live_demo.py                 # http://127.0.0.1:8080/
    python examples/live_demo.py --seconds 20 --screenshot monitor.png

``--screenshot`` saves a picture of the page from a headless Chromium (Debian's
``chromium`` with Playwright for Python) after ``--seconds``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

from km3net_testdata import data_path

from km3flow.controlhost.client import Client

DETECTOR = "detx/D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def km3flow(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "km3flow.cli.main", *args])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def screenshot(url: str, path: str) -> None:
    import shutil
    import tempfile

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=FLAGS, headless=True, viewport={"width": 1400, "height": 1400})
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("window.km3 && window.km3.updates > 3", timeout=60000)
        # show one DOM's PMT rates too
        page.evaluate("showDom(window.km3.last.heatmap.dom_ids.flat().find(d => d !== null))")
        page.wait_for_function("document.getElementById('pmt').dataset.dom", timeout=30000)
        time.sleep(1)
        page.screenshot(path=path, full_page=True)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, default=8080, help="port of the page")
    parser.add_argument("--ligier-port", type=int, default=0,
                        help="dispatcher port (default: a free one)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop after this long (default: run until Ctrl-C)")
    parser.add_argument("--screenshot", default=None, metavar="PNG",
                        help="save a screenshot of the page after --seconds (default 15)")
    args = parser.parse_args(argv)
    if args.screenshot and args.seconds is None:
        args.seconds = 15.0
    lport = args.ligier_port or free_port()
    procs = [km3flow("ligier", "--port", str(lport))]
    try:
        wait_for_port(lport)
        procs.append(km3flow("monitor", "--port", str(lport), "--http-port",
                             str(args.http_port), "--detector", data_path(DETECTOR)))
        wait_for_port(args.http_port)
        procs.append(km3flow("ch-replay", data_path("daq/IO_SUM.dat"), "--port", str(lport),
                             "--rate", "1", "--repeat", "0"))
        procs.append(km3flow("ch-replay", data_path("daq/IO_EVT.dat"), "--port", str(lport),
                             "--rate", "5", "--repeat", "0"))
        url = f"http://127.0.0.1:{args.http_port}/"
        print(f"live_demo: open {url} (Ctrl-C stops)", flush=True)
        started = time.monotonic()
        with Client("127.0.0.1", lport) as messages:
            n = 0
            while args.seconds is None or time.monotonic() - started < args.seconds:
                if n % 5 == 0:
                    messages.put_message("MSG", f"live_demo: replaying IO_SUM.dat and "
                                                f"IO_EVT.dat, {time.monotonic() - started:.0f} s")
                n += 1
                time.sleep(1)
        if args.screenshot:
            screenshot(url, args.screenshot)
            print(f"live_demo: screenshot in {os.path.abspath(args.screenshot)}")
    except KeyboardInterrupt:
        pass
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
