"""Live monitoring on one machine: replay → dispatcher → CHPump pipeline.

A dispatcher (the Ligier stand-in) runs in a thread, ``ch-replay``'s engine streams the
events of a DAQ file into it at a chosen rate, and a pipeline reads them back with
``CHPump`` and prints event rates and hit multiplicities, as a shifter's monitor would.
``CHPump`` decodes the IO_EVT payloads with the DAQ readers (``Hits``, ``TriggeredHits``).

Run it as::

    python examples/live_monitor.py --rate 200 --repeat 100

or, as in the README, against a running ``km3flow ligier`` fed by ``km3flow ch-replay``
(giving ``--port`` means: use the dispatcher listening there)::

    km3flow ligier --port 5553 &
    km3flow ch-replay IO_EVT.dat --rate 10 --repeat 0 --port 5553 &
    python examples/live_monitor.py --port 5553
"""

from __future__ import annotations

import argparse
import threading
import time

from km3net_testdata import data_path

import km3flow as kp
from km3flow.controlhost.dispatcher import DispatcherThread
from km3flow.controlhost.pump import CHPump
from km3flow.controlhost.replay import replay_file


class Monitor(kp.Module):
    """Print the event rate and the mean hit multiplicities every ``interval`` seconds."""

    def configure(self) -> None:
        self.interval = self.get("interval", default=1.0)
        self.t0 = self.last = time.monotonic()
        self.n = self.n_total = 0
        self.triggered = self.triggered_total = 0
        self.snapshot = self.snapshot_total = 0

    def process(self, blob):
        self.n += 1
        self.n_total += 1
        n_triggered, n_snapshot = len(blob["TriggeredHits"]), len(blob["Hits"])
        self.triggered += n_triggered
        self.snapshot += n_snapshot
        self.triggered_total += n_triggered
        self.snapshot_total += n_snapshot
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.report(now)
        return blob

    def report(self, now: float) -> None:
        if self.n:
            self.print(f"{self.n / (now - self.last):8.1f} events/s   mean hits per event: "
                       f"{self.triggered / self.n:6.1f} triggered, "
                       f"{self.snapshot / self.n:6.1f} snapshot")
        self.last, self.n, self.triggered, self.snapshot = now, 0, 0, 0

    def finish(self):
        self.report(time.monotonic())
        n = max(self.n_total, 1)
        return {"events": self.n_total, "mean_triggered_hits": self.triggered_total / n,
                "mean_snapshot_hits": self.snapshot_total / n}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=data_path("daq/IO_EVT.dat"))
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--repeat", type=int, default=100, help="times to send the file")
    parser.add_argument("--port", type=int, default=None,
                        help="port of a running dispatcher to read from (default: start "
                             "one on a free port and feed it --file)")
    parser.add_argument("--no-local", action="store_true",
                        help="use a running dispatcher (on --port, default 5553)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="stop after this many seconds without data")
    args = parser.parse_args(argv)

    # An explicit --port names a dispatcher that runs already (the README's steps); without
    # one the example is self-contained: its own dispatcher and replay in threads.
    local = args.port is None and not args.no_local
    ligier = DispatcherThread(port=0).start() if local else None
    port = ligier.port if ligier is not None else (5553 if args.port is None else args.port)
    pipe = kp.Pipeline()
    pipe.attach(CHPump, port=port, tags="IO_EVT", timeout=args.timeout, max_queue=1000)
    pipe.attach(Monitor, interval=1.0)
    replay = None
    if ligier is not None:
        def feed() -> None:
            ligier.wait_for_subscribers("IO_EVT")  # the pump subscribes when it starts
            replay_file(args.file, port=port, rate=args.rate, repeat=args.repeat)

        replay = threading.Thread(target=feed, daemon=True)
        replay.start()
    try:
        results = pipe.drain()
    except KeyboardInterrupt:  # Ctrl-C: every module has finished; show what they returned
        results = pipe.finish_results
    finally:
        if replay is not None:
            replay.join(5)
        if ligier is not None:
            ligier.stop()
    return dict(results)


if __name__ == "__main__":
    print(main())
