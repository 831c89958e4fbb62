"""Parallel draining in a local process pool: same output as the serial run, merged
statistics and finish() results, failing and killed workers, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import tables
from h5compare import assert_same_h5
from parallel_testmods import BrokenMergeSink, Crash, H5EventPump, Kill, TextSink

from km3flow.core import Pipeline
from km3flow.exceptions import ConfigError, Km3flowError, ModuleError
from km3flow.parallel import ParallelSummary, WorkerError, WorkerLost, part_path


def _lines(path):
    with open(path) as fh:
        return fh.read().splitlines()


def test_two_workers_write_what_the_serial_run_writes(h5files, build, tmp_path):
    files, n_events, n_hits = h5files
    serial = build(files, "serial").drain()
    pipe = build(files, "par", timeit=True)
    parallel = pipe.drain(workers=2)

    assert serial["CountHits"] == {"n_events": n_events, "n_hits": n_hits}
    # CountHits has a merge classmethod: the workers' results are summed.
    assert parallel["CountHits"] == serial["CountHits"]
    assert _lines(tmp_path / "par.txt") == _lines(tmp_path / "serial.txt")
    # The merged HDF5 file equals the serial one node by node, group_ids included.
    assert_same_h5(str(tmp_path / "par.h5"), str(tmp_path / "serial.h5"))
    with tables.open_file(tmp_path / "par.h5") as f:
        assert list(f.root.group_info.col("group_id")) == list(range(n_events))
        assert f.root.event_info.colindexed["group_id"]
    assert not [p for p in os.listdir(tmp_path) if ".part-" in p or "merging" in p]

    summary = pipe.parallel_summary
    assert isinstance(summary, ParallelSummary)
    assert summary.cycles == n_events == pipe.cycles
    assert len(summary.tasks) == len(files)
    assert [t.input_files for t in summary.tasks] == [[f] for f in files]
    assert 1 <= len(summary.workers) <= 2
    assert sum(w.cycles for w in summary.workers) == n_events
    assert sum(w.tasks for w in summary.workers) == len(files)
    assert all(w.peak_mb > 0 and w.cpu > 0 for w in summary.workers)
    # timeit statistics merged over the workers: one process() call per event.
    assert summary.modules["CountHits"].wall.n == n_events
    assert summary.cycle_wall.n == n_events
    assert "cycles drained in 6 tasks" in summary.text()


def test_finish_results_without_merge_come_as_a_list_in_task_order(h5files, tmp_path):
    files, _, _ = h5files
    pipe = Pipeline()
    pipe.attach(H5EventPump, filenames=files[:3])
    pipe.attach(_Last)
    result = pipe.drain(workers=2)
    assert result["_Last"] == [os.path.basename(f) for f in files[:3]]


class _Last(TextSink.__mro__[1]):  # a plain Module defined at module level (picklable)
    def process(self, blob):
        self.last = blob["filename"]
        return blob

    def finish(self):
        return self.last


def test_unordered_run_keeps_every_event(h5files, build, tmp_path):
    files, n_events, _ = h5files
    build(files, "serial", h5=False).drain()
    build(files, "par", h5=False).drain(workers=2, ordered=False, files_per_task=2)
    def strip(lines):
        return sorted(line.split(" ", 1)[1] for line in lines)

    par = _lines(tmp_path / "par.txt")
    assert strip(par) == strip(_lines(tmp_path / "serial.txt"))
    assert [int(line.split()[0]) for line in par] == list(range(n_events))


def test_worker_raising_mid_file_stops_the_run_and_names_it(h5files, build, tmp_path):
    files, _, _ = h5files
    bad = os.path.basename(files[1])
    pipe = build(files, "out", extra=[(Crash, {"crash_on": bad, "at": 3})])
    with pytest.raises(WorkerError) as info:
        pipe.drain(workers=2)
    err = info.value
    assert isinstance(err, ModuleError)
    assert err.module == "Crash" and err.cycle == 3
    assert err.input_files == [files[1]] and err.task == 1
    message = str(err)
    assert "module 'Crash'" in message and bad in message and err.worker in message
    assert "boom at event" in message and "RuntimeError" in err.remote_traceback
    assert isinstance(err.__cause__, RuntimeError)
    # Nothing at the final paths; the failed task's modules were finished, so its part
    # holds the 3 events before the failure and is a complete file.
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "out.h5").exists()
    assert len(_lines(part_path(str(tmp_path / "out.txt"), 1))) == 3
    with tables.open_file(part_path(str(tmp_path / "out.h5"), 1)) as f:
        assert f.root._v_attrs.format_version == b"5.1"
        assert f.root.event_info.nrows == 3
    for name in os.listdir(tmp_path):
        # a task still running when the run stopped keeps its part as ….part-K.partial
        assert re.fullmatch(r"out\.(txt|h5)\.part-\d+(\.partial)?", name), name


def test_sigkilled_worker_fails_the_run_clearly(h5files, build, tmp_path):
    files, _, _ = h5files
    bad = os.path.basename(files[2])
    pipe = build(files[:4], "out", extra=[(Kill, {"kill_on": bad})])
    with pytest.raises(WorkerLost) as info:
        pipe.drain(workers=2)
    message = str(info.value)
    print(message)
    assert bad in message and "(task 2)" in message
    # forkserver reports a status it could not read from its socket as 255 (seen under
    # heavy load); otherwise the signal is named
    assert "killed by SIGKILL" in message or "(exit code 255)" in message
    assert info.value.input_files == [files[2]]
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "out.h5").exists()
    assert not [n for n in os.listdir(tmp_path) if not re.fullmatch(r"out\.(txt|h5)\.part-\d+"
                                                                    r"(\.tmp)?", n)]


def test_failed_merge_leaves_the_parts_and_no_final_file(h5files, tmp_path):
    files, _, _ = h5files
    pipe = Pipeline()
    pipe.attach(H5EventPump, filenames=files[:2])
    pipe.attach(BrokenMergeSink, filename=str(tmp_path / "out.txt"))
    with pytest.raises(Km3flowError, match="disk full; the parts are left in place") as info:
        pipe.drain(workers=2)
    assert "out.txt.part-0" in str(info.value)
    assert sorted(os.listdir(tmp_path)) == ["out.txt.part-0", "out.txt.part-1"]
    assert len(_lines(tmp_path / "out.txt.part-1")) == 10


def test_parts_kept_as_numbered_files_without_merge(h5files, build, tmp_path):
    files, _, _ = h5files
    pipe = build(files[:3], "out", h5=False)
    pipe.drain(workers=2, merge=False)
    names = [f"out.{k:04d}.txt" for k in range(3)]
    assert sorted(os.listdir(tmp_path)) == names
    assert pipe.parallel_summary.outputs == {"TextSink": [str(tmp_path / n) for n in names]}
    assert [len(_lines(tmp_path / n)) for n in names] == [10, 10, 2]


def test_rerun_after_failure_replaces_stale_parts(h5files, build, tmp_path):
    files, _, _ = h5files
    stale = part_path(str(tmp_path / "out.txt"), 7)
    with open(stale, "w") as fh:
        fh.write("left over\n")
    build(files[:2], "out", h5=False).drain(workers=2)
    assert not os.path.exists(stale)
    assert len(_lines(tmp_path / "out.txt")) == 20


def test_pipelines_that_cannot_be_split_are_refused(h5files, tmp_path, testdata):
    files, _, _ = h5files
    pipe = Pipeline()
    pipe.attach(H5EventPump, filenames=files)
    with pytest.raises(ConfigError, match="cycles"):
        pipe.drain(5, workers=2)
    with pytest.raises(ConfigError, match="not both"):
        pipe.drain(workers=2, executor=object())
    pipe.attach(lambda blob: blob, name="anonymous")
    with pytest.raises(ConfigError, match="'anonymous' cannot be sent"):
        pipe.drain(workers=2)

    live = Pipeline()
    live.attach(H5EventPump(filenames=files))
    with pytest.raises(ConfigError, match="live instance"):
        live.drain(workers=2)

    no_output_merge = Pipeline()
    no_output_merge.attach(H5EventPump, filenames=files)
    no_output_merge.attach(_NoMerge, filename=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="merge_outputs"):
        no_output_merge.drain(workers=2)


class _NoMerge(TextSink.__mro__[1]):
    parallel_output = "filename"

    def configure(self):
        self.get("filename")


_CTRL_C_SCRIPT = """
import sys
sys.path[:0] = {paths!r}
from km3flow.core import Pipeline
from parallel_testmods import H5EventPump, Sleepy
if __name__ == "__main__":
    pipe = Pipeline()
    pipe.attach(H5EventPump, filenames={files!r})
    pipe.attach(Sleepy, piddir={piddir!r}, delay=0.2)
    try:
        pipe.drain(workers=2)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
"""


def test_ctrl_c_stops_all_workers_without_orphans(h5files, tmp_path):
    files, _, _ = h5files
    piddir = tmp_path / "pids"
    piddir.mkdir()
    script = tmp_path / "run.py"
    here = os.path.dirname(__file__)
    src = os.path.join(os.path.dirname(os.path.dirname(here)), "src")
    script.write_text(textwrap.dedent(_CTRL_C_SCRIPT.format(
        paths=[here, src], files=files * 4, piddir=str(piddir))))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(os.listdir(piddir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p.split(".")[0]) for p in os.listdir(piddir)]
    assert len(pids) >= 2, proc.communicate(timeout=30)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out
    for pid in pids:
        assert not _alive(pid), f"worker {pid} survived"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead too
        return fh.read().split(")")[-1].split()[0] != "Z"
