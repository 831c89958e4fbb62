"""DAQ frames of real files streamed into a dispatcher; the CLIs and the live-monitor example."""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from km3flow.cli import ch_replay, ligier
from km3flow.controlhost.client import Client
from km3flow.controlhost.replay import iter_daq_frames, replay_file
from km3flow.exceptions import FormatError

# Frame lengths as KM3Pipe 11.0.0 reads them (DAQPump(...)["DAQPreamble"].length, computed
# in a separate venv); event hit counts from its DAQEvent (n_triggered_hits, n_snapshot_hits).
IO_EVT_LENGTHS = [5724, 1950, 516]
IO_SUM_LENGTHS = [1849, 3829, 3829]
IO_EVT_HITS = [(182, 239), (49, 101), (6, 35)]


def test_frames_of_real_files(testdata):
    frames = list(iter_daq_frames(testdata("daq/IO_EVT.dat")))
    assert [len(f) for _, _, f in frames] == IO_EVT_LENGTHS
    assert {t for _, t, _ in frames} == {10001}
    assert [o for o, _, _ in frames] == [0, 5724, 5724 + 1950]
    frames = list(iter_daq_frames(testdata("daq/IO_SUM.dat")))
    assert [len(f) for _, _, f in frames] == IO_SUM_LENGTHS
    assert {t for _, t, _ in frames} == {2001}


def test_frame_reader_fuzz(testdata):
    """Corrupted real files give frames or a FormatError naming file and byte, nothing else."""
    path = testdata("daq/IO_EVT.dat")
    data = Path(path).read_bytes()
    rng = random.Random(6)
    boundaries = {0, 5724, 7674, len(data)}
    for cut in list(range(64)) + rng.sample(range(len(data)), 200):
        try:
            frames = list(iter_daq_frames(path, data[:cut]))
        except FormatError as err:
            assert "IO_EVT.dat: at byte" in str(err)
            assert cut not in boundaries
        else:
            assert cut in boundaries and sum(len(f) for _, _, f in frames) == cut
    for _ in range(200):
        corrupt = bytearray(data)
        if rng.random() < 0.5:
            at = rng.choice([0, 1, 2, 3, 5724, 5725, 7674, 7677])
            corrupt[at] ^= 1 << rng.randrange(8)
        else:
            keep = rng.randrange(len(data))
            corrupt = corrupt[:keep] + bytearray(rng.randbytes(40))
        try:
            list(iter_daq_frames(path, bytes(corrupt)))
        except FormatError as err:
            assert "at byte" in str(err)


def test_replay_into_dispatcher(ligier, testdata):
    path = testdata("daq/IO_EVT.dat")
    frames = [bytes(f) for _, _, f in iter_daq_frames(path)]
    with Client(port=ligier.port) as sub:
        sub.subscribe("IO_EVT", mode="all")
        ligier.wait_for_subscribers("IO_EVT")
        assert replay_file(path, port=ligier.port, rate=500, repeat=2) == 6
        got = [sub.get_message(timeout=5) for _ in range(6)]
    assert [m.tag for m in got] == ["IO_EVT"] * 6
    assert [bytes(m.data) for m in got] == frames * 2


def test_replay_unknown_data_type_needs_a_tag(ligier, testdata, tmp_path):
    data = bytearray(Path(testdata("daq/IO_EVT.dat")).read_bytes())
    data[4:8] = (4242).to_bytes(4, "little")
    path = tmp_path / "odd.dat"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="unknown DAQ data type 4242"):
        replay_file(path, port=ligier.port)
    assert replay_file(path, port=ligier.port, tag="ODD") == 3


def _parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_ligier_cli_serves_and_stops_on_signals(testdata, stop_signal):
    code = ("import argparse, sys; from km3flow.cli import ligier; p = argparse.ArgumentParser(); "
            "ligier.add_arguments(p); sys.exit(ligier.run(p.parse_args(sys.argv[1:])))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "-c", code, "--port", "0"], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))
        with Client(port=port) as sub:
            sub.subscribe("IO_EVT", mode="all")
            args = _parse(ch_replay, [testdata("daq/IO_EVT.dat"), "--tag", "IO_EVT",
                                      "--rate", "1000", "--port", str(port)])
            for _ in range(100):  # the subscription reaches the dispatcher before the data
                if "subscribes to IO_EVT" in proc.stderr.readline():
                    break
            assert ch_replay.run(args) == 0
            sizes = [len(sub.get_message(timeout=5).data) for _ in range(3)]
        assert sizes == IO_EVT_LENGTHS
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert f"got {stop_signal.name}, stopping" in err and "stopped: 2 connects" in err


def test_cli_arguments():
    args = _parse(ligier, [])
    assert (args.host, args.port) == ("127.0.0.1", 5553)
    args = _parse(ch_replay, ["f.dat", "--tag", "IO_SUM", "--rate", "10"])
    assert (args.file, args.tag, args.rate, args.repeat) == ("f.dat", "IO_SUM", 10.0, 1)


def test_live_monitor_example(capsys):
    path = Path(__file__).parents[2] / "examples" / "live_monitor.py"
    spec = importlib.util.spec_from_file_location("live_monitor", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--rate", "0", "--repeat", "4", "--timeout", "0.5"])
    mean_triggered = sum(t for t, _ in IO_EVT_HITS) / 3
    mean_snapshot = sum(s for _, s in IO_EVT_HITS) / 3
    assert results["Monitor"] == {"events": 12, "mean_triggered_hits": mean_triggered,
                                  "mean_snapshot_hits": mean_snapshot}
    assert results["CHPump"]["parse_errors"] == 0
    out = capsys.readouterr().out
    assert "events/s" in out and "triggered" in out
