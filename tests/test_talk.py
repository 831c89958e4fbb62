"""The pipeline cells of the talk (PyGamma19, T. Gál), run as written with km3flow in place of
km3pipe, checking that they print what the talk shows (timing figures differ, the format not)."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

NUM = r"\d+\.\d+"
SUMMARY = (r"=====\n{n} cycles drained in \d+\.\d{{6}}s \(CPU \d+\.\d{{6}}s\)\. "
           r"Memory peak: \d+\.\d\d MB\n  wall  mean: .*\n  CPU   mean: .*\n")
INIT = r"Pipeline and module initialisation took \d\.\d{3}s \(CPU \d\.\d{3}s\)\.\n"


def run_cell(code: str, tmp_path) -> subprocess.CompletedProcess:
    prelude = "import km3flow as kp\nimport km3flow.modules as km\nimport numpy as np\n"
    # The cells run in tmp_path: hand on this interpreter's path (a relative PYTHONPATH
    # would not resolve there).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in sys.path))
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)


def test_version(tmp_path):
    out = run_cell("print(kp.version)", tmp_path).stdout.strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", out)


def test_basic_function_pipeline(tmp_path):
    proc = run_cell("""
        def a_module(blob):
            print("helo")
            return blob
        pipe = kp.Pipeline()
        pipe.attach(a_module)
        pipe.drain(3);
    """, tmp_path)
    assert re.fullmatch(INIT + "helo\nhelo\nhelo\n" + SUMMARY.format(n=3), proc.stdout)


def test_class_module_pipeline(tmp_path):
    proc = run_cell("""
        class AModule(kp.Module):
            def configure(self):
                print("Configuring myself...")
                self.foo = 1
            def process(self, blob):
                print(f"Foo = {self.foo}")
                self.foo += 1
                return blob
            def finish(self):
                print("I am done...")
        pipe = kp.Pipeline()
        pipe.attach(AModule)
        pipe.drain(3);
    """, tmp_path)
    assert re.fullmatch("Configuring myself...\n" + INIT + "Foo = 1\nFoo = 2\nFoo = 3\n"
                        "I am done...\n" + SUMMARY.format(n=3), proc.stdout)


def test_random_number_blob_passing_returns_empty_blob(tmp_path):
    proc = run_cell("""
        def a_module(blob):
            blob['random_number'] = np.random.rand()
            return blob
        def b_module(blob):
            print(blob['random_number'])
            return blob
        pipe = kp.Pipeline()
        pipe.attach(a_module)
        pipe.attach(b_module)
        print(repr(pipe.drain(3)))
    """, tmp_path)
    assert re.fullmatch(INIT + r"(0\.\d+\n){3}" + SUMMARY.format(n=3) + r"Blob\(\)\n",
                        proc.stdout)


def test_only_if(tmp_path):
    proc = run_cell("""
        np.random.seed(0)
        def a_module(blob):
            x = np.random.rand()
            if x > 0.8:
                blob['random_number'] = x
            return blob
        def b_module(blob):
            print(blob['random_number'])
            return blob
        pipe = kp.Pipeline()
        pipe.attach(a_module)
        pipe.attach(b_module, only_if='random_number')
        pipe.drain(10);
    """, tmp_path)
    import numpy

    numpy.random.seed(0)
    expected = [x for x in numpy.random.rand(10) if x > 0.8]
    printed = [float(v) for v in re.findall(r"^0\.\d+$", proc.stdout, flags=re.M)]
    assert printed == pytest.approx(expected) and len(expected) > 0


def test_require_error_message(tmp_path):
    proc = run_cell("""
        class AModule(kp.Module):
            def configure(self):
                self.foo = self.require('foo')
        pipe = kp.Pipeline()
        try:
            pipe.attach(AModule)
        except Exception as e:
            print(f"{e.__class__.__name__}: {e}")
    """, tmp_path)
    assert proc.stdout == (
        "ParameterError: <class '__main__.AModule'> requires the parameter 'foo'.\n")


def test_services_and_timeit(tmp_path):
    proc = run_cell("""
        import time
        class RandomService(kp.Module):
            def configure(self):
                seed = self.get('seed', default=23)
                self.random_state = np.random.RandomState(seed)
                self.expose(self.uniform, 'uniform')
                self.expose(self.rand, 'rand')
            def uniform(self): return self.random_state.uniform()
            def rand(self): return self.random_state.rand()
        class AModule(kp.Module):
            def process(self, blob):
                print(self.services['uniform'](), self.services['rand']())
                return blob
        def bottleneck(blob):
            time.sleep(0.01)
            return blob
        pipe = kp.Pipeline(timeit=True)
        pipe.attach(RandomService)
        pipe.attach(AModule)
        pipe.attach(bottleneck)
        pipe.drain(3);
    """, tmp_path)
    out = proc.stdout
    assert out.splitlines()[1].startswith("0.5172978838465893 0.9469626038148141")
    assert out.splitlines()[2] == "0.7654597593969069 0.2823958439671127"
    for name in ("RandomService", "AModule", "bottleneck"):
        assert re.search(name + r" - process: \d\.\d{3}s \(CPU \d\.\d{3}s\) - finish: "
                         r"\d\.\d{3}s \(CPU \d\.\d{3}s\)\n  wall  mean", out), name


def test_logging_in_a_module(tmp_path):
    proc = run_cell("""
        class AModule(kp.Module):
            def configure(self):
                self.log.info("configure called")
            def process(self, blob):
                self.print("processing blob!")
            def finish(self):
                self.print("Finishing")
        kp.logger.get_logger('AModule').setLevel('INFO')
        pipe = kp.Pipeline()
        pipe.attach(AModule)
        pipe.drain(2);
    """, tmp_path)
    assert proc.stderr == "INFO ++ AModule: configure called\n"
    assert re.fullmatch(INIT + r"\+\+ AModule: processing blob!\n\+\+ AModule: processing blob!\n"
                        r"\+\+ AModule: Finishing\n" + SUMMARY.format(n=2), proc.stdout)


def test_memory_observer_pipeline_builds(tmp_path):
    proc = run_cell("""
        class MemoryKiller(kp.Module):
            def configure(self):
                self.buffer = []
            def process(self, blob):
                self.buffer.append(np.random.rand(100000))
                return blob
            def finish(self):
                self.log.critical("All your memory are belong to us!")
        pipe = kp.Pipeline()
        pipe.attach(km.common.MemoryObserver, every=1000)
        pipe.attach(MemoryKiller)
        pipe.drain(2001);
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(re.findall(r"\+\+ MemoryObserver: Memory peak: \d+\.\d\d MB", proc.stdout)) == 3
    assert "CRITICAL ++ MemoryKiller: All your memory are belong to us!" in proc.stderr


def test_pipeline_toml(tmp_path):
    folder = tmp_path / "python-based-frameworks-for-km3net"
    folder.mkdir()
    (folder / "pipeline.toml").write_text(
        '[AModule]\nfoo = 23\n\n[Variation]\nfoo = "I am a variation of AModule"\n\n'
        '[BModule]\nbar = [1, 1, 2, 3, 5]\n')
    proc = run_cell("""
        class AModule(kp.Module):
            def configure(self):
                self.foo = self.get('foo')
            def process(self, blob):
                self.print(self.foo)
                return blob
        class BModule(kp.Module):
            def configure(self):
                self.bar = self.get('bar')
            def process(self, blob):
                self.print(self.bar)
                return blob
        pipe = kp.Pipeline(configfile="python-based-frameworks-for-km3net/pipeline.toml")
        pipe.attach(AModule)
        pipe.attach(BModule)
        pipe.attach(AModule, name='Variation')
        pipe.drain(2);
    """, tmp_path)
    assert proc.stderr == ("WARNING ++ Pipeline: Keep in mind that the module configuration file "
                           "has precedence over keyword arguments in the attach method!\n")
    cycle = ("\\+\\+ AModule: 23\n\\+\\+ BModule: \\[1, 1, 2, 3, 5\\]\n"
             "\\+\\+ AModule.Variation: I am a variation of AModule\n")
    assert re.fullmatch(
        "\\+\\+ Pipeline: Reading module configuration from "
        "'python-based-frameworks-for-km3net/pipeline.toml'\n" + INIT + cycle + cycle
        + SUMMARY.format(n=2), proc.stdout)


def test_table_cells(tmp_path):
    proc = run_cell("""
        tab = kp.Table(
            {'a': np.random.rand(5), 'b': True, 'c': [1, 1, 2, 3, 5]},
            h5loc = "/the_data", split_h5 = False, name = "The Awesome Data",
        )
        print(repr(tab))
        print((tab.h5loc, tab.split_h5, tab.name))
        print(tab)
        print(repr(np.array(tab).dtype))
        print((tab.c, tab['c']))
        print(repr(tab[2:]))
    """, tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0] == "The Awesome Data <class 'km3flow.dataclasses.Table'> (rows: 5)"
    assert lines[1] == "('/the_data', False, 'The Awesome Data')"
    assert lines[2] == "The Awesome Data <class 'km3flow.dataclasses.Table'>"
    assert lines[3] == "HDF5 location: /the_data (no split)"
    assert re.fullmatch(r"<f8 \(dtype: a\) = \[.*", lines[4])
    assert any(line == "|b1 (dtype: b) = [ True  True  True  True  True]" for line in lines)
    assert "<i8 (dtype: c) = [1 1 2 3 5]" in lines
    assert "dtype((numpy.record, [('a', '<f8'), ('b', '?'), ('c', '<i8')]))" in lines
    assert "(array([1, 1, 2, 3, 5]), array([1, 1, 2, 3, 5]))" in lines
    assert lines[-1] == "The Awesome Data <class 'km3flow.dataclasses.Table'> (rows: 3)"


def test_ndarray_cell(tmp_path):
    proc = run_cell("""
        arr = kp.NDArray(np.random.rand(2, 3, 4), h5loc='/the_array', name='The Array')
        print(repr(arr)[:9], arr.h5loc, arr.title, arr.shape)
    """, tmp_path)
    assert proc.stdout == "NDArray([ /the_array The Array (2, 3, 4)\n"


def test_combining_all_together_hdf5(tmp_path):
    proc = run_cell("""
        class ThePump(kp.Module):
            def configure(self):
                self.index = 1
            def process(self, blob):
                blob['Foo'] = kp.Table(
                    {'a': np.random.rand(self.index), 'b': np.arange(self.index)}, h5loc='/foo')
                self.index += 1
                return blob
        pipe = kp.Pipeline()
        pipe.attach(ThePump)
        pipe.attach(kp.io.HDF5Sink, filename='output.h5')
        pipe.drain(3);
        import pandas as pd
        df = pd.read_hdf('output.h5', '/foo')
        print(list(df.columns), list(df.b), list(df.group_id))
        def printer(blob):
            print(blob)
            return blob
        pipe = kp.Pipeline()
        pipe.attach(kp.io.HDF5Pump, filename='output.h5')
        pipe.attach(printer)
        pipe.drain();
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert re.match(INIT + r"\+\+ HDF5Sink: HDF5 file written to: output.h5\n"
                    + SUMMARY.format(n=3), out)
    assert "['a', 'b', 'group_id'] [0, 0, 1, 0, 1, 2] [0, 1, 1, 2, 2, 2]" in out
    assert "++ HDF5Pump: Opening output.h5\n" in out
    for rows in (1, 2, 3):
        assert ("Blob (2 entries):\n"
                f"  'Foo'       => Foo <class 'km3flow.dataclasses.Table'> (rows: {rows})\n"
                "  'GroupInfo' => GroupInfo <class 'km3flow.dataclasses.Table'> (rows: 1)\n"
                ) in out
    import tables

    with tables.open_file(tmp_path / "output.h5") as f:
        assert f.root._v_title == "KM3NeT"
        assert f.root.foo.title == "Generic Table" and f.root.group_info.title == "Group Info"
        assert f.root.foo.nrows == 6 and f.root.group_info.nrows == 3
        flt = f.root.foo.filters
        assert (flt.fletcher32, flt.shuffle, flt.complib, flt.complevel) == (True, True, "zlib", 5)
