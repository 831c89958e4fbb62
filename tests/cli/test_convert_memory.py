"""`km3flow convert` memory is bounded by its chunks, not by the input size (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "src")


def _rss_anon_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _peak_anon_mb(argv: list[str]) -> float:
    """Run argv; the peak of its anonymous resident memory (heap, arrays; not file maps)."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_anon_mb(proc.pid))
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    _, err = proc.communicate()
    done.set()
    thread.join()
    assert proc.returncode == 0, err.decode()[-2000:]
    return peak[0]


def test_convert_memory_does_not_grow_with_the_daq_input_gh16(testdata, tmp_path):
    with open(testdata("daq/IO_EVT.dat"), "rb") as fh:
        unit = fh.read()  # 3 events, 8 kB
    peaks = {}
    # both above the size at which the sink's 16 MiB buffer fills (~12 MB of DAQ input)
    for mb in (30, 90):
        daq = tmp_path / f"in{mb}.dat"
        daq.write_bytes(unit * (mb * 10**6 // len(unit)))
        out = tmp_path / f"out{mb}.h5"
        peaks[mb] = _peak_anon_mb([sys.executable, "-m", "km3flow.cli.main", "-q", "convert",
                                   str(daq), "-o", str(out), "--no-progress"])
        assert out.exists()
    # A whole-file copy would add 60 MB, and PyTables' default chunk caches (16 MiB for
    # each of the 16 datasets) grew by ~80 MB between these sizes; the chunks and buffers
    # of the run are the same for both.
    assert peaks[90] - peaks[30] < 20, peaks
