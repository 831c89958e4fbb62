"""The format registry: its contract, cheap look-ups, and formats from installed packages."""

import os
import subprocess
import sys
import textwrap

import pytest

import km3flow as kp
from km3flow.cli.main import main
from km3flow.exceptions import ConfigError, FormatError
from km3flow.io import formats as registry
from km3flow.io.detect import detect_format, open_pump
from km3flow.io.formats import FormatSpec, builtin_formats, formats, get_format

BUILTIN = builtin_formats()


@pytest.mark.parametrize("spec", BUILTIN, ids=[s.name for s in BUILTIN])
def test_builtin_format_declares_a_loadable_reader(spec, format_samples, testdata):
    assert spec.description and spec.name == spec.name.lower()
    assert get_format(spec.name) is spec
    if spec.pump is None:
        assert spec.family == "detector"
        return
    cls = spec.load_pump()
    assert cls is getattr(kp.io, spec.pump_name)  # exported from km3flow.io
    assert spec.pump_name in kp.io.__all__ and spec.pump_name in dir(kp.io)
    declared = cls.parallel_input  # per_file and the reader's declaration agree
    if spec.per_file:  # a parallel drain splits the files of the declared input parameter
        assert spec.input in ((declared,) if isinstance(declared, str) else declared)
    else:
        assert declared is None
    with cls(**{spec.input: testdata(format_samples[spec.name][0])}) as pump:
        assert next(iter(pump))  # the input parameter is the one the reader takes


def test_builtin_names_and_order_are_unique():
    assert len({s.name for s in BUILTIN}) == len(BUILTIN)
    assert [s.name for s in formats()] == [s.name for s in BUILTIN]  # nothing else installed
    assert [s.order for s in BUILTIN] == sorted(s.order for s in BUILTIN)


def test_unknown_format_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="no format named 'nope'; known: hdf5, offline"):
        get_format("nope")


def test_sniffing_imports_neither_uproot_nor_pytables(format_samples, testdata):
    """Detecting every non-ROOT sample and listing km3flow.io leaves the heavy readers out."""
    files = [testdata(p) for name, paths in format_samples.items()
             if get_format(name).family != "root" for p in paths]
    code = textwrap.dedent(f"""
        import sys
        import km3flow.io as io
        from km3flow.io.detect import detect_format
        formats = [detect_format(f) for f in {files!r}]
        names = io.__all__ + dir(io)
        print(sorted(set(formats)), [m for m in ("uproot", "tables", "torch") if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    detected, heavy = out.stdout.strip().rsplit("] [", 1)
    assert heavy == "]"
    assert set(eval(detected + "]")) == {s.name for s in BUILTIN if s.family != "root"}


PLUGIN = '''
"""A third-party format in one file: its FormatSpec and its reader."""
import numpy as np

import km3flow as kp
from km3flow.dataclasses import Table
from km3flow.io.formats import FormatSpec

MAGIC = b"MYFMT\\n"


def sniff(head, path):
    return head.startswith(MAGIC)


class MyPump(kp.Pump):
    parallel_input = "path"
    path = kp.Parameter(str, help="the file")

    def configure(self):
        with open(self.path, "rb") as f:
            self.values = [float(x) for x in f.read()[len(MAGIC):].split()]

    def __len__(self):
        return len(self.values)

    def get_blob(self, index):
        table = Table.from_dict({"x": np.array([self.values[index]])}, h5loc="/my", name="My")
        return kp.Blob({"My": table})


FORMAT = FormatSpec("myfmt", sniff, pump="myfmt:MyPump", input="path", order=5,
                    description="my format file")
'''


def install_plugin(tmp_path, monkeypatch, entry="myfmt = myfmt:FORMAT", code=PLUGIN):
    """A package with an entry point in km3flow.formats, installed on sys.path."""
    (tmp_path / "myfmt.py").write_text(code)
    dist = tmp_path / "myfmt-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myfmt\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[km3flow.formats]\n{entry}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "myfmt", raising=False)


def test_a_format_from_an_installed_package(tmp_path, monkeypatch, testdata, capsys):
    mine = tmp_path / "data.my"
    mine.write_bytes(b"MYFMT\n1.5 2.5 3.5\n")
    with pytest.raises(FormatError, match="not a KM3NeT file"):
        detect_format(mine)
    (tmp_path / "site").mkdir()
    install_plugin(tmp_path / "site", monkeypatch)
    assert detect_format(mine) == "myfmt"
    assert [s.name for s in formats()][0] == "myfmt"  # order=5: asked first
    assert detect_format(testdata("daq/IO_EVT.dat")) == "daq"  # the others still work
    with open_pump(mine) as pump:
        assert [float(b["My"].x[0]) for b in pump] == [1.5, 2.5, 3.5]
    # FilePump passes the file as the reader's declared input parameter ("path")
    chained = kp.io.FilePump(filenames=[str(mine), testdata("daq/IO_EVT.dat")])
    assert len(chained) == 3 + 3
    assert main(["info", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "format: myfmt" in out and "My: 3 rows" in out
    monkeypatch.undo()
    with pytest.raises(FormatError, match="not a KM3NeT file"):
        detect_format(mine)


def test_a_broken_plugin_is_named(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, entry="bad = myfmt:NOTHING")
    with pytest.raises(ConfigError, match="entry point 'bad = myfmt:NOTHING' in group "
                                          "'km3flow.formats' cannot be loaded"):
        formats()


def test_a_plugin_that_is_no_format_spec(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, entry="odd = myfmt:sniff")
    with pytest.raises(ConfigError, match="is a function, expected a km3flow.io.formats."
                                          "FormatSpec"):
        formats()


def test_a_plugin_cannot_take_a_builtin_name(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, code=PLUGIN.replace('FormatSpec("myfmt"',
                                                               'FormatSpec("daq"'))
    with pytest.raises(ConfigError, match="two formats are named 'daq'"):
        detect_format(__file__)


def test_register_format_at_run_time(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", {})
    path = tmp_path / "x.zzz"
    path.write_bytes(b"zzz")
    spec = FormatSpec("zzz", lambda head, p: p.endswith(".zzz"), description="zzz file")
    registry.register_format(spec)
    assert detect_format(path) == "zzz"
    with pytest.raises(FormatError, match="a zzz file, which holds no events to pump"):
        open_pump(path)
    with pytest.raises(ConfigError, match="a format named 'zzz' is registered already"):
        registry.register_format(spec)


def test_old_places_stay_reachable_as_attributes():
    """km3flow.io.online moved to km3flow.io.root.online; users' attribute paths still work."""
    import km3flow.io.root.online as online

    assert kp.io.online is online and kp.io.OnlinePump is online.OnlinePump
    assert kp.io.TMCHPump.__module__ == "km3flow.io.daq.monitoring"
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchPump'"):
        kp.io.NoSuchPump  # noqa: B018
