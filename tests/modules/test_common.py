import re

import pytest

import km3flow as kp
import km3flow.modules as km


class Numbers(kp.Pump):
    def configure(self):
        self.n = self.get("n", default=10)

    def __len__(self):
        return self.n

    def get_blob(self, index):
        return kp.Blob({"i": index, "a": 1, "b": 2})


def test_memory_observer_as_in_the_talk(capsys):
    pipe = kp.Pipeline()
    pipe.attach(km.common.MemoryObserver, every=2)
    result = pipe.drain(4)
    out = capsys.readouterr().out
    assert len(re.findall(r"\+\+ MemoryObserver: Memory peak: \d+\.\d\d MB", out)) == 2
    assert result["MemoryObserver"]["peak_mb"] > 1


def test_statusbar_counts_cycles(capsys):
    pipe = kp.Pipeline()
    pipe.attach(km.StatusBar, every=3)
    result = pipe.drain(7)
    out = capsys.readouterr().out
    assert re.findall(r"\[ Blob +(\d+) \]", out) == ["0", "3", "6"]
    assert result["StatusBar"] == {"printed_up_to_cycle": 9}


def test_keep_and_delete():
    got = []
    pipe = kp.Pipeline()
    pipe.attach(Numbers, n=2)
    pipe.attach(km.Keep, keys=["i", "a", "missing"])
    pipe.attach(km.Delete, keys="a")
    pipe.attach(lambda b: got.append(dict(b)) or b, name="c")
    pipe.drain()
    assert got == [{"i": 0}, {"i": 1}]
    with pytest.raises(TypeError, match="requires the parameter 'keys'"):
        kp.Pipeline().attach(km.Keep)


def test_dump_prints_blobs(capsys):
    pipe = kp.Pipeline()
    pipe.attach(Numbers, n=1)
    pipe.attach(km.Dump, keys=["i"])
    pipe.attach(km.Dump, full=True, name="full")
    pipe.drain()
    out = capsys.readouterr().out
    assert "Blob (1 entries):\n  'i' => 0\n" in out
    assert "++ Dump.full: b:\n2\n" in out


def test_siphon_collects_volume_blobs():
    got = []
    pipe = kp.Pipeline()
    pipe.attach(Numbers, n=7)
    pipe.attach(km.Siphon, volume=3, flush=True)
    pipe.attach(lambda b: got.append([x["i"] for x in b["Siphon"]]) or b, name="c")
    pipe.drain()
    assert got == [[0, 1, 2], [3, 4, 5]]


def test_progressbar_takes_the_pump_length(capsys):
    pipe = kp.Pipeline()
    pipe.attach(Numbers, n=25)
    pipe.attach(km.ProgressBar)
    result = pipe.drain()
    assert result["ProgressBar"] == {"cycles": 25}
    assert "25/25" in capsys.readouterr().err
