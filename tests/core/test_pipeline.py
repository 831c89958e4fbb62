"""The Pipeline: attach, conditions, parameters, services, errors, summary, config files."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import km3flow as kp
from km3flow.exceptions import ConfigError, ModuleError, ParameterError, ServiceNotFound

SUMMARY = re.compile(
    r"=====\n(\d+) cycles drained in \d+\.\d{6}s \(CPU \d+\.\d{6}s\)\. Memory peak: \d+\.\d\d MB\n"
    r"  wall  mean: \d+\.\d{6}s  medi: \d+\.\d{6}s  min: \d+\.\d{6}s  max: \d+\.\d{6}s  "
    r"std: \d+\.\d{6}s\n"
    r"  CPU   mean: \d+\.\d{6}s  medi: \d+\.\d{6}s  min: \d+\.\d{6}s  max: \d+\.\d{6}s  "
    r"std: \d+\.\d{6}s\n"
)
INIT = re.compile(r"Pipeline and module initialisation took \d+\.\d{3}s \(CPU \d+\.\d{3}s\)\.\n")


class Counter(kp.Pump):
    def configure(self):
        self.n = self.get("n", default=10)

    def __len__(self):
        return self.n

    def get_blob(self, index):
        return kp.Blob({"index": index})


def test_function_module_runs_n_cycles(capsys):
    calls = []

    def a_module(blob):
        calls.append(1)
        return blob

    pipe = kp.Pipeline()
    pipe.attach(a_module)
    result = pipe.drain(3)
    assert len(calls) == 3
    assert result == kp.Blob()
    out = capsys.readouterr().out
    assert INIT.match(out)
    m = SUMMARY.search(out)
    assert m and m.group(1) == "3"


def test_stages_in_order_and_finish_results(capsys):
    events = []

    class AModule(kp.Module):
        def configure(self):
            events.append("configure")

        def prepare(self):
            events.append("prepare")

        def process(self, blob):
            events.append("process")
            return blob

        def finish(self):
            events.append("finish")
            return {"done": True}

    pipe = kp.Pipeline()
    pipe.attach(AModule)
    assert events == ["configure"]
    result = pipe.drain(2)
    assert events == ["configure", "prepare", "process", "process", "finish"]
    assert result == {"AModule": {"done": True}}


def test_pump_ends_the_pipeline_and_len_and_getitem():
    seen = []
    pipe = kp.Pipeline()
    pipe.attach(Counter, n=4)
    pipe.attach(lambda blob: seen.append(blob["index"]) or blob)
    pipe.drain()
    assert seen == [0, 1, 2, 3]
    assert pipe.cycles == 4
    pump = Counter(n=5)
    assert len(pump) == 5 and pump[-1]["index"] == 4 and pump[2]["index"] == 2
    with pytest.raises(IndexError):
        pump[5]
    assert [b["index"] for b in pump] == [0, 1, 2, 3, 4]
    with Counter(n=1) as p:
        assert p.random_access


def test_drain_n_limits_a_pump():
    pipe = kp.Pipeline()
    pipe.attach(Counter, n=100)
    pipe.drain(7)
    assert pipe.cycles == 7


def test_every_runs_on_cycles_0_n_2n(capsys):
    class StatusBar(kp.Module):
        def configure(self):
            self.index = 0

        def process(self, blob):
            print(f"---- {self.index * self.every} ----")
            self.index += 1
            return blob

    pipe = kp.Pipeline()
    pipe.attach(StatusBar, every=50)
    pipe.drain(150)
    out = capsys.readouterr().out
    assert re.findall(r"---- \d+ ----", out) == ["---- 0 ----", "---- 50 ----", "---- 100 ----"]


def test_only_if_with_one_and_several_keys():
    ran = []

    def maybe(blob):
        if blob["i"] % 3 == 0:
            blob["x"] = 1
        if blob["i"] % 2 == 0:
            blob["y"] = 1
        return blob

    def count(tag):
        def f(blob):
            ran.append((tag, blob["i"]))
            return blob
        f.__name__ = tag
        return f

    pipe = kp.Pipeline()
    pipe.attach(Counter, n=7)
    pipe.attach(lambda b: kp.Blob({"i": b["index"]}), name="rename")
    pipe.attach(maybe)
    pipe.attach(count("x"), only_if="x")
    pipe.attach(count("xy"), only_if=["x", "y"])
    pipe.drain()
    assert [i for t, i in ran if t == "x"] == [0, 3, 6]
    assert [i for t, i in ran if t == "xy"] == [0, 6]


def test_none_drops_the_blob_for_the_rest_of_the_cycle():
    after = []
    pipe = kp.Pipeline()
    pipe.attach(Counter, n=6)
    pipe.attach(lambda b: b if b["index"] % 2 else None, name="filter")
    pipe.attach(lambda b: after.append(b["index"]) or b, name="after")
    pipe.drain()
    assert after == [1, 3, 5]
    assert pipe.cycles == 6


def test_dict_return_becomes_blob_and_other_types_raise_naming_the_module():
    types = []
    pipe = kp.Pipeline()
    pipe.attach(lambda b: {"a": 1}, name="gives_dict")
    pipe.attach(lambda b: types.append(type(b)) or b, name="check")
    pipe.drain(2)
    assert types == [kp.Blob, kp.Blob]

    pipe = kp.Pipeline()
    pipe.attach(lambda b: 42, name="bad_module")
    with pytest.raises(ModuleError, match="bad_module") as err:
        pipe.drain(1)
    assert isinstance(err.value.__cause__, TypeError)
    assert "returned int" in str(err.value)


def test_get_default_and_attach_parameter(capsys):
    class AModule(kp.Module):
        def configure(self):
            self.foo = self.get("foo", default=23)

        def process(self, blob):
            print(f"foo = {self.foo}")

    pipe = kp.Pipeline()
    pipe.attach(AModule)
    pipe.drain(1)
    pipe = kp.Pipeline()
    pipe.attach(AModule, foo=5)
    pipe.drain(1)
    out = capsys.readouterr().out
    assert "foo = 23" in out and "foo = 5" in out


def test_require_raises_the_talks_typeerror():
    class AModule(kp.Module):
        def configure(self):
            self.foo = self.require("foo")

    pipe = kp.Pipeline()
    with pytest.raises(TypeError) as err:
        pipe.attach(AModule)
    assert str(err.value) == f"{AModule} requires the parameter 'foo'."
    assert str(err.value).startswith("<class '")


def test_unknown_parameters_are_errors_with_a_suggestion():
    class AModule(kp.Module):
        def configure(self):
            self.foo = self.get("foo")

    with pytest.raises(ParameterError) as err:
        kp.Pipeline().attach(AModule, foo=1, fooo=2)
    assert str(err.value) == ("module 'AModule' got the unknown parameter 'fooo' "
                              "(did you mean 'foo'?); it takes: foo")
    assert (err.value.module, err.value.parameter) == ("AModule", "fooo")


def test_function_module_parameters():
    got = []

    def scale(blob, factor):
        got.append(factor)
        return blob

    pipe = kp.Pipeline()
    pipe.attach(scale, factor=3)
    pipe.drain(2)
    assert got == [3, 3]
    with pytest.raises(TypeError, match="no parameters"):
        kp.Pipeline().attach(scale, factr=3)


def test_several_instances_with_names_and_unique_default_names():
    class AModule(kp.Module):
        def finish(self):
            return self.name

    pipe = kp.Pipeline()
    pipe.attach(AModule)
    pipe.attach(AModule, name="Variation")
    pipe.attach(AModule)
    result = pipe.drain(1)
    assert list(result) == ["AModule", "Variation", "AModule_2"]
    assert pipe.modules[1].logger_name == "AModule.Variation"


def test_services_expose_and_use(capsys):
    class RandomService(kp.Module):
        def configure(self):
            self.random_state = np.random.RandomState(self.get("seed", default=23))
            self.expose(self.uniform, "uniform")

        def uniform(self):
            return self.random_state.uniform()

    class AModule(kp.Module):
        requires_services = ("uniform",)

        def process(self, blob):
            blob["u"] = self.services["uniform"]()
            return blob

    values = []
    pipe = kp.Pipeline()
    pipe.attach(RandomService)
    pipe.attach(AModule)
    pipe.attach(lambda b: values.append(b["u"]) or b, name="collect")
    pipe.drain(2)
    expected = np.random.RandomState(23).uniform(size=2)
    assert np.allclose(values, expected)


def test_missing_service_errors():
    class Needs(kp.Module):
        requires_services = ("calibration",)

    with pytest.raises(ServiceNotFound, match="'calibration'.*available services"):
        kp.Pipeline().attach(Needs)

    class AsksLate(kp.Module):
        def process(self, blob):
            return self.services["nope"]()

    pipe = kp.Pipeline()
    pipe.attach(AsksLate)
    with pytest.raises(ModuleError) as err:
        pipe.drain(1)
    assert ("no service named 'nope'; available services: drain_status, input_files, "
            "pipeline_description") in (
        str(err.value)
    )


class Recorder(kp.Module):
    finished = []

    def finish(self):
        Recorder.finished.append(self.name)


def test_exception_finishes_every_module_and_names_the_culprit():
    Recorder.finished = []

    def boom(blob):
        if blob["index"] == 2:
            raise ValueError("bad value")
        return blob

    pipe = kp.Pipeline()
    pipe.attach(Counter, n=10)
    pipe.attach(Recorder, name="before")
    pipe.attach(boom)
    pipe.attach(Recorder, name="after")
    with pytest.raises(ModuleError,
                       match=r"module 'boom' failed in cycle 2: ValueError: bad value"):
        pipe.drain()
    assert Recorder.finished == ["before", "after"]
    assert pipe.cycles == 2


def test_exception_in_finish_does_not_stop_other_finishes(capsys):
    Recorder.finished = []

    class BadFinish(kp.Module):
        def finish(self):
            raise OSError("disk full")

    pipe = kp.Pipeline()
    pipe.attach(BadFinish)
    pipe.attach(Recorder)
    with pytest.raises(ModuleError, match="BadFinish.*finish.*disk full"):
        pipe.drain(1)
    assert Recorder.finished == ["Recorder"]


def test_keyboard_interrupt_finishes_then_raises(capsys):
    Recorder.finished = []

    def interrupt(blob):
        if blob["index"] == 3:
            raise KeyboardInterrupt
        return blob

    pipe = kp.Pipeline()
    pipe.attach(Counter, n=10)
    pipe.attach(interrupt)
    pipe.attach(Recorder)
    with pytest.raises(KeyboardInterrupt):
        pipe.drain()
    assert Recorder.finished == ["Recorder"]
    assert pipe.cycles == 3 and pipe.interrupted and pipe.finished
    assert pipe.drain_status() == {"cycles": 3, "interrupted": True, "error": "KeyboardInterrupt: ",
                                   "complete": False}
    captured = capsys.readouterr()
    assert "interrupted after 3 cycles" in captured.err
    assert "3 cycles drained" in captured.out


def test_failing_prepare_still_finishes_every_module():
    Recorder.finished = []

    class BadPrepare(kp.Module):
        def prepare(self):
            raise RuntimeError("no calibration database")

    pipe = kp.Pipeline()
    pipe.attach(Recorder, name="first")
    pipe.attach(BadPrepare)
    pipe.attach(Recorder, name="last")
    with pytest.raises(ModuleError, match="BadPrepare.*prepare.*no calibration database"):
        pipe.drain(3)
    assert Recorder.finished == ["first", "last"]
    assert pipe.drain_status()["error"].startswith("ModuleError")


def test_interrupt_during_finish_still_finishes_the_others():
    Recorder.finished = []

    class SlowFinish(kp.Module):
        def finish(self):
            raise KeyboardInterrupt

    pipe = kp.Pipeline()
    pipe.attach(SlowFinish)
    pipe.attach(Recorder)
    with pytest.raises(KeyboardInterrupt):
        pipe.drain(2)
    assert Recorder.finished == ["Recorder"]


def test_sigint_in_a_real_process_runs_finish(tmp_path):
    script = tmp_path / "run.py"
    marker = tmp_path / "finished.txt"
    script.write_text(textwrap.dedent(f"""
        import itertools, time, km3flow as kp
        class Endless(kp.Pump):
            def blob_generator(self):
                for i in itertools.count():
                    yield kp.Blob(i=i)
        class Slow(kp.Module):
            def process(self, blob):
                time.sleep(0.01)
                return blob
            def finish(self):
                open({str(marker)!r}, "w").write("done")
        pipe = kp.Pipeline()
        pipe.attach(Endless)
        pipe.attach(Slow)
        print("started", flush=True)
        pipe.drain()
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "started"
    import time
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0  # the interrupt is raised again once every module finished
    assert "KeyboardInterrupt" in err
    assert marker.read_text() == "done"
    assert "cycles drained" in out


def test_drain_without_pump_or_cycle_count_is_an_error_not_an_endless_loop():
    ran = []
    pipe = kp.Pipeline()
    pipe.attach(lambda b: ran.append(1) or b, name="x")
    with pytest.raises(kp.exceptions.ConfigError, match="without a pump needs a cycle count"):
        pipe.drain()
    assert ran == []
    assert pipe.drain(2) == {}  # nothing ran, so the pipeline can still be drained
    assert ran == [1, 1]


def test_drained_pipeline_cannot_run_again():
    pipe = kp.Pipeline()
    pipe.attach(lambda b: b, name="x")
    pipe.drain(1)
    with pytest.raises(kp.exceptions.Km3flowError, match="drained and finished"):
        pipe.drain(1)


def test_timeit_reports_every_module(capsys):
    pipe = kp.Pipeline(timeit=True)
    pipe.attach(Counter, n=5)
    pipe.attach(lambda b: b, name="noop")
    pipe.drain()
    out = capsys.readouterr().out
    for name in ("Counter", "noop"):
        assert re.search(
            name + r" - process: \d+\.\d{3}s \(CPU \d+\.\d{3}s\) - finish: \d+\.\d{3}s "
            r"\(CPU \d+\.\d{3}s\)\n  wall  mean: .*\n  CPU   mean: .*\n", out)


def test_statistics_are_bounded_for_long_drains():
    pipe = kp.Pipeline()
    pipe.attach(lambda b: b, name="noop")
    pipe.drain(30000)
    rec = pipe.cycle_times
    assert rec.wall_stats.n == 30000
    assert rec.wall == []
    assert rec.wall_stats.min <= rec.wall_stats.median <= rec.wall_stats.max


def test_describe_text_and_json():
    pipe = kp.Pipeline()
    pipe.attach(Counter, n=3)
    pipe.attach(lambda b: b, name="noop", every=2, only_if="index")
    text = pipe.describe()
    assert text.splitlines()[0] == "Pipeline with 2 modules:"
    assert "0: Counter (" in text and "n=3" in text
    assert "1: noop" in text and "every=2" in text and "only_if=['index']" in text
    assert repr(pipe) == text
    data = json.loads(pipe.describe(fmt="json"))
    assert [m["name"] for m in data["modules"]] == ["Counter", "noop"]
    assert data["modules"][0]["params"] == {"n": 3}
    assert data["modules"][1]["kind"] == "function"
    assert json.loads(pipe.services["pipeline_description"]()) == data


def test_from_specs_rebuilds_an_equivalent_pipeline():
    pipe = kp.Pipeline()
    pipe.attach(Counter, n=3)
    pipe.attach(Recorder, name="rec", every=2)
    clone = kp.Pipeline.from_specs(pipe.specs)
    assert clone.describe() == pipe.describe()
    assert clone.modules[0] is not pipe.modules[0]


def test_input_files_service_lists_pump_filenames():
    class FilePump(Counter):
        def configure(self):
            self.n = 1
            self.filename = self.get("filename")

    pipe = kp.Pipeline()
    pipe.attach(FilePump, filename="a.dat")
    assert pipe.services["input_files"]() == ["a.dat"]
    assert pipe.services["n_cycles"]() == 1


def test_configfile_precedence_and_variation(tmp_path, capsys):
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text('[AModule]\nfoo = 23\n\n[Variation]\nfoo = "I am a variation of AModule"\n\n'
                   '[BModule]\nbar = [1, 1, 2, 3, 5]\n')

    class AModule(kp.Module):
        def configure(self):
            self.foo = self.get("foo")

        def process(self, blob):
            self.print(self.foo)
            return blob

    class BModule(kp.Module):
        def configure(self):
            self.bar = self.get("bar")

        def process(self, blob):
            self.print(self.bar)
            return blob

    pipe = kp.Pipeline(configfile=str(cfg))
    pipe.attach(AModule, foo=1)
    pipe.attach(BModule)
    pipe.attach(AModule, name="Variation")
    pipe.drain(2)
    captured = capsys.readouterr()
    assert ("WARNING ++ Pipeline: Keep in mind that the module configuration file has precedence"
            " over keyword arguments in the attach method!") in captured.err
    assert f"++ Pipeline: Reading module configuration from '{cfg}'" in captured.out
    body = captured.out.split("initialisation took")[1]
    assert body.count("++ AModule: 23\n") == 2
    assert body.count("++ BModule: [1, 1, 2, 3, 5]\n") == 2
    assert body.count("++ AModule.Variation: I am a variation of AModule\n") == 2


def test_configfile_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[AModule\nfoo = 1\n")
    with pytest.raises(ConfigError, match=r"file .*bad.toml: invalid TOML: .*line 1"):
        kp.Pipeline(configfile=bad)
    with pytest.raises(ConfigError, match="does not exist"):
        kp.Pipeline(configfile=tmp_path / "missing.toml")
    flat = tmp_path / "flat.toml"
    flat.write_text("foo = 1\n")
    with pytest.raises(ConfigError, match="top-level key 'foo'"):
        kp.Pipeline(configfile=flat)
    unused = tmp_path / "unused.toml"
    unused.write_text("[Nobody]\nx = 1\n")
    pipe = kp.Pipeline(configfile=unused)
    pipe.attach(lambda b: b, name="noop")
    pipe.drain(1)
    assert "section [Nobody] of" in capsys.readouterr().err


def test_bad_attach_arguments():
    with pytest.raises(ValueError, match="every"):
        kp.Pipeline().attach(lambda b: b, every=0)
    with pytest.raises(TypeError, match="cannot attach"):
        kp.Pipeline().attach(42)


def test_attach_a_module_instance():
    class AModule(kp.Module):
        def process(self, blob):
            blob["x"] = 1
            return blob

    seen = []
    pipe = kp.Pipeline()
    pipe.attach(AModule(name="inst"))
    pipe.attach(lambda b: seen.append(b["x"]) or b, name="c")
    pipe.drain(2)
    assert seen == [1, 1]


def test_describe_a_pipeline_holding_itself_as_a_parameter():
    class Holder(kp.Module):
        def configure(self):
            self.other = self.get("pipe")

    pipe = kp.Pipeline()
    pipe.attach(Holder, pipe=pipe)
    text = pipe.describe()
    assert "pipe='<km3flow.core.pipeline.Pipeline object>'" in text
    assert json.loads(pipe.describe(fmt="json"))["modules"][0]["params"]["pipe"] == (
        "<km3flow.core.pipeline.Pipeline object>")


class _Numbers(kp.Module):
    """A pump: blob i holds 'i'; sends ``signum`` to this process at pump time ``at``."""

    def configure(self):
        self.i = 0
        self.at = self.get("at", default=None)
        self.signum = self.get("signum", default=signal.SIGTERM)

    def process(self, blob):
        if self.i == self.at:
            os.kill(os.getpid(), self.signum)
        blob["i"] = self.i
        self.i += 1
        return blob


class _Collect(kp.Module):
    """A sink: records the blobs it got; sends signals in cycle ``at`` (after the pump)."""

    def configure(self):
        self.seen = []
        self.at = self.get("at", default=None)
        self.signals = self.get("signals", default=[signal.SIGTERM])

    def process(self, blob):
        if blob["i"] == self.at:
            for signum in self.signals:
                os.kill(os.getpid(), signum)
        self.seen.append(blob["i"])
        return blob


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_pump_completes_the_cycle_gh19(capsys, signum):
    pipe = kp.Pipeline()
    pipe.attach(_Numbers)
    sink = _Collect(at=7, signals=[signum])
    pipe.attach(sink)
    handler_before = signal.getsignal(signal.SIGTERM)  # `km3flow test` has its own
    with pytest.raises(KeyboardInterrupt) as info:
        pipe.drain(100)
    if signum == signal.SIGTERM:
        assert isinstance(info.value, kp.exceptions.Interrupted) and info.value.signum == 15
    else:
        assert type(info.value) is KeyboardInterrupt  # Ctrl-C stays Python's own
    assert sink.seen == list(range(8))  # cycle 7 was completed before stopping
    assert pipe.cycles == 8 == len(sink.seen)
    assert "8 cycles drained" in capsys.readouterr().out
    assert pipe.drain_status()["interrupted"] is True
    assert signal.getsignal(signal.SIGTERM) is handler_before  # handlers restored
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_in_the_pump_stops_at_once():
    pipe = kp.Pipeline()
    pipe.attach(_Numbers, at=5)
    sink = _Collect()
    pipe.attach(sink)
    with pytest.raises(kp.exceptions.Interrupted):
        pipe.drain(100)
    assert sink.seen == [0, 1, 2, 3, 4] and pipe.cycles == 5


def test_a_second_signal_stops_at_once():
    pipe = kp.Pipeline()
    pipe.attach(_Numbers)
    sink = _Collect(at=3, signals=[signal.SIGTERM, signal.SIGTERM])
    pipe.attach(sink)
    with pytest.raises(kp.exceptions.Interrupted):
        pipe.drain(100)
    assert sink.seen == [0, 1, 2] and pipe.cycles == 3  # cycle 3 was cut short


def test_a_pump_that_cannot_count_is_blamed_not_the_progress_bar_gh11():
    from km3flow.modules import ProgressBar

    class Uncountable(kp.Pump):
        def get_blob(self, index):
            return kp.Blob()

        def __len__(self):
            raise kp.exceptions.FormatError("cut short", path="x.dat", offset=12)

    pipe = kp.Pipeline()
    pipe.attach(Uncountable)
    pipe.attach(ProgressBar)
    with pytest.raises(kp.exceptions.ModuleError) as info:
        pipe.drain()
    assert str(info.value) == ("module 'Uncountable' failed counting its blobs: FormatError: "
                               "x.dat: at byte 12: cut short")
    assert info.value.module == "Uncountable"


def test_interrupted_knows_its_signal_and_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(kp.exceptions.Interrupted(signal.SIGTERM)))
    assert isinstance(err, KeyboardInterrupt) and err.signum == 15 and str(err) == "SIGTERM"


def test_summary_of_a_failed_drain_says_it_stopped(capsys):
    def boom(blob):
        if boom.n == 2:
            raise ValueError("bad blob")
        boom.n += 1
        return blob

    boom.n = 0
    pipe = kp.Pipeline()
    pipe.attach(boom)
    with pytest.raises(kp.exceptions.ModuleError):
        pipe.drain(5)
    out = capsys.readouterr().out
    assert "2 cycles drained (stopped by an error) in" in out
