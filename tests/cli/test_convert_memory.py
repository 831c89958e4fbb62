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


def _tiled_km3pipe_file(src: str, path, n_groups: int) -> None:
    """``src``'s /event_info and /group_info (one row per group) repeated to ``n_groups``
    groups with new group ids, with its root attributes and /raw_header."""
    import numpy as np
    import tables as tb

    filters = tb.Filters(complevel=1, complib="zlib", shuffle=True)
    with tb.open_file(src) as h5in, tb.open_file(str(path), "w") as h5out:
        h5in.root._v_attrs._f_copy(h5out.root)
        h5in.copy_node("/raw_header", h5out.root)
        for name in ("event_info", "group_info"):
            table = h5in.get_node("/" + name)
            rows = table.read()
            # the source's chunks, as a writer gives them (not sized by n_groups: PyTables'
            # read buffers grow with the chunks)
            out = h5out.create_table("/", name, rows.dtype, filters=filters,
                                     chunkshape=table.chunkshape)
            for start in range(0, n_groups, len(rows)):
                part = rows[: min(len(rows), n_groups - start)].copy()
                part["group_id"] = np.arange(start, start + len(part))
                out.append(part)


def test_convert_memory_does_not_grow_with_the_hdf5_input_gh16(testdata, tmp_path):
    # The pump's row maps once took ~70 bytes per group of the file (group ids and the
    # start and count of every group in every table) and whole group_id columns at the
    # first read: +80 MB or more between these inputs, whatever the number of events read.
    peaks = {}
    for n_groups in (200_000, 1_200_000):
        h5 = tmp_path / f"in{n_groups}.h5"
        _tiled_km3pipe_file(testdata("hdf5/atmospheric_muons_sample.h5"), h5, n_groups)
        out = tmp_path / f"out{n_groups}.h5"
        peaks[n_groups] = _peak_anon_mb([sys.executable, "-m", "km3flow.cli.main", "-q",
                                         "convert", str(h5), "-o", str(out), "--no-progress",
                                         "-n", "10000"])
        assert out.exists()
    assert peaks[1_200_000] - peaks[200_000] < 20, peaks
