"""Executors and task drains: drain(executor=/workers=), SerialExecutor, the registry."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import km3flow as kp
from km3flow.core.config import Parameter
from km3flow.core.executor import (
    Executor,
    SerialExecutor,
    executor_names,
    register_executor,
    resolve_executor,
    run_task,
)
from km3flow.exceptions import ConfigError, Km3flowError, WorkerError
from km3flow.io.files import FilePump

EVT = ["evt/KM3Sim.evt", "evt/example_numuCC.evt", "evt/example_numuNC.evt"]  # 10, 109, 1 events


class CountHits(kp.Module):
    """Counts events and MC hits; the results of several tasks add up via ``merge``."""

    def configure(self):
        self.n_events = 0
        self.n_hits = 0

    def process(self, blob):
        self.n_events += 1
        self.n_hits += len(blob["McHits"])
        return blob

    def finish(self):
        return {"n_events": self.n_events, "n_hits": self.n_hits}

    @classmethod
    def merge(cls, results):
        return {k: sum(r[k] for r in results) for k in ("n_events", "n_hits")}


class LineSink(kp.Module):
    """Writes one line per event; parts of a task drain are concatenated."""

    parallel_output = "filename"
    filename = Parameter(str, help="the output text file")

    def configure(self):
        self.lines = []

    def process(self, blob):
        self.lines.append(f"{os.path.basename(blob['Filename'])} {len(blob['McHits'])}\n")
        return blob

    def finish(self):
        with open(self.filename, "w") as fh:
            fh.writelines(self.lines)

    @classmethod
    def merge_outputs(cls, part_paths, final_path):
        with open(final_path, "w") as out:
            for path in part_paths:
                with open(path) as fh:
                    out.write(fh.read())


class FailOnNC(kp.Module):
    def process(self, blob):
        if "NC" in blob["Filename"]:
            raise ValueError("no neutral currents here")
        return blob


class Reversed:
    """A third-party executor: runs the tasks in reverse order, in this process."""

    description = "reversed order"
    n_workers = 1

    def __init__(self):
        self.order = []

    def run(self, tasks):
        reports = []
        for task in reversed(list(tasks)):
            self.order.append(task.index)
            reports.append(run_task(task, worker="rev"))
        return reports


def build(testdata, out, *extra):
    pipe = kp.Pipeline()
    pipe.attach(FilePump, filenames=[testdata(n) for n in EVT])
    for module in extra:
        pipe.attach(module)
    pipe.attach(CountHits)
    pipe.attach(LineSink, filename=str(out))
    return pipe


@pytest.fixture
def serial_result(testdata, tmp_path):
    out = tmp_path / "serial.txt"
    result = build(testdata, out).drain()
    return result["CountHits"], out.read_text()


def test_serial_executor_gives_the_plain_drains_result(testdata, tmp_path, serial_result,
                                                       capsys):
    out = tmp_path / "tasks.txt"
    pipe = build(testdata, out)
    result = pipe.drain(executor="serial")
    assert result["CountHits"] == serial_result[0]
    assert result["CountHits"]["n_events"] == 120
    assert out.read_text() == serial_result[1]
    assert not list(tmp_path.glob("tasks.txt.part-*"))
    # The pipeline took the drain over: state set through its own methods.
    assert pipe.finished and pipe.cycles == 120
    assert [t.input_files for t in pipe.parallel_summary.tasks] == [[testdata(n)] for n in EVT]
    assert "Draining 3 tasks over 3 input files with this process (serial)." in (
        capsys.readouterr().out)
    with pytest.raises(Km3flowError, match="drained and finished already"):
        pipe.drain(executor=SerialExecutor())


def test_a_third_party_executor_needs_no_registration(testdata, tmp_path, serial_result):
    executor = Reversed()
    assert isinstance(executor, Executor)
    out = tmp_path / "rev.txt"
    result = build(testdata, out).drain(executor=executor)
    assert executor.order == [2, 1, 0]
    # ordered=True (the default) merges the parts in input order whatever the completion.
    assert out.read_text() == serial_result[1]
    assert result["CountHits"] == serial_result[0]
    # ordered=False: in completion order, here the last file first.
    build(testdata, out).drain(executor=Reversed(), ordered=False, merge=True)
    serial = serial_result[1].splitlines()
    assert out.read_text().splitlines() == serial[-1:] + serial[10:-1] + serial[:10]


def test_a_failing_task_names_file_and_module(testdata, tmp_path):
    pipe = build(testdata, tmp_path / "x.txt", FailOnNC)
    with pytest.raises(WorkerError) as info:
        pipe.drain(executor="serial")
    message = str(info.value)
    assert "example_numuNC.evt" in message and "module 'FailOnNC' failed in cycle 0" in message
    # The serial executor stops at the first failure: the first two tasks completed.
    assert "2 of 3 tasks completed" in message
    assert isinstance(info.value.__cause__, ValueError)


def test_unknown_drain_keywords_are_type_errors_naming_them(testdata, tmp_path):
    pipe = build(testdata, tmp_path / "x.txt")
    with pytest.raises(TypeError, match="unexpected keyword argument 'cycle'"):
        pipe.drain(cycle=3)
    with pytest.raises(TypeError, match="'ordered', 'merge', which only apply to a drain "
                                        "with executor= or workers="):
        pipe.drain(ordered=False, merge=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'start_method'"):
        pipe.drain(workers=2, start_method="spawn")
    assert not pipe.finished


def test_resolving_executors(testdata):
    assert isinstance(resolve_executor("serial"), SerialExecutor)
    with pytest.raises(ConfigError, match="no executor named 'threads'; known: .*serial"):
        resolve_executor("threads")
    with pytest.raises(TypeError, match="executor must be an Executor .* not int"):
        resolve_executor(3)
    with pytest.raises(ConfigError, match="not both"):
        resolve_executor("serial", workers=2)
    pool = resolve_executor(workers=2)
    assert type(pool).__module__ == "km3flow.parallel.pool" and pool.n_workers == 2
    with pytest.raises(ConfigError, match="workers must be a positive integer, got 0"):
        resolve_executor(workers=0)
    register_executor("reversed", Reversed)
    assert isinstance(resolve_executor("reversed"), Reversed)
    assert "reversed" in executor_names()


def test_executors_from_entry_points(tmp_path, monkeypatch):
    """An installed package registers an executor through the km3flow.executors group."""
    (tmp_path / "myexec.py").write_text(textwrap.dedent("""
        class MyExecutor:
            description = "mine"
            n_workers = 1
            def run(self, tasks):
                return []
    """))
    dist = tmp_path / "myexec-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myexec\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[km3flow.executors]\nmine = myexec:MyExecutor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "mine" in executor_names()
    executor = resolve_executor("mine")
    assert type(executor).__name__ == "MyExecutor" and isinstance(executor, Executor)


def test_parallel_capabilities_are_declared_class_variables(testdata, tmp_path):
    assert kp.Pump.parallel_input is None and kp.Module.parallel_output is None
    assert FilePump.parallel_input == ("filenames", "filename")
    assert LineSink.can_merge_outputs() and not kp.Module.can_merge_outputs()

    class Unsplittable(kp.Pump):
        def configure(self):
            self.n = self.get("n", default=1)

    pipe = kp.Pipeline()
    pipe.attach(Unsplittable)
    with pytest.raises(ConfigError, match="does not say which parameter holds its input"):
        pipe.drain(executor="serial")

    class NoMerge(kp.Module):
        parallel_output = "filename"
        filename = Parameter(str)

    pipe = kp.Pipeline()
    pipe.attach(FilePump, filenames=[testdata(EVT[0])])
    pipe.attach(NoMerge, filename=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="NoMerge declares parallel_output but has no "
                                          "merge_outputs"):
        pipe.drain(executor="serial")


def test_input_files_come_from_the_declared_input_parameter(testdata):
    pipe = kp.Pipeline()
    pipe.attach(FilePump, filename=testdata(EVT[0]))
    assert pipe.input_files() == [testdata(EVT[0])]


def test_core_imports_nothing_of_the_higher_layers():
    """core/ never imports km3flow.parallel (or io, ml, ...), lazily or not."""
    core = pathlib.Path(kp.__file__).parent / "core"
    higher = ("parallel", "io", "ml", "controlhost", "cli", "dataclasses")
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module:
                assert node.module.split(".")[0] not in higher, (path.name, node.module)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith("km3flow."), (path.name, node.module)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("km3flow") for a in node.names), path.name
    code = ("import sys, km3flow.core as c; p = c.Pipeline(); p.attach(lambda b: b); "
            "p.drain(1); print(sorted(m for m in sys.modules if m.startswith('km3flow.par')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip().splitlines()[-1] == "[]"


class CtrlC(kp.Module):
    def process(self, blob):
        raise KeyboardInterrupt


def test_serial_executor_passes_ctrl_c_on_after_the_task_finished(testdata, tmp_path):
    finished = tmp_path / "finished"

    class Marker(kp.Module):
        def finish(self):
            finished.write_text("yes")

    pipe = build(testdata, tmp_path / "x.txt", Marker, CtrlC)
    with pytest.raises(KeyboardInterrupt, match="task 0 was interrupted"):
        pipe.drain(executor="serial")
    # The interrupted task finished its modules; no output was merged.
    assert finished.read_text() == "yes"
    assert not (tmp_path / "x.txt").exists()
    assert [p.name for p in tmp_path.glob("x.txt.part-*")] == ["x.txt.part-0"]
