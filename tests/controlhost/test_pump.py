"""CHPump and CHSink in pipelines, against a dispatcher on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ch_helpers import wait_until

import km3flow as kp
from km3flow.controlhost.protocol import Prefix
from km3flow.controlhost.pump import CHPump, CHSink
from km3flow.exceptions import FormatError, ModuleError


def _first_word(data) -> dict:
    text = bytes(data).decode()
    if not text:
        raise FormatError("empty message", path="test message", offset=0)
    return {"Word": text.split()[0]}


def test_blobs_carry_prefix_tag_raw_data_and_parsed_data(ligier, clients):
    pump = CHPump(port=ligier.port, tags="MSG, IO_TSL1, RAW", timeout=5,
                  parsers={"MSG": _first_word, "IO_TS*": lambda d: {"Slice": len(d)}})
    pump.prepare()
    it = iter(pump)
    ligier.wait_for_subscribers("RAW")
    pub = clients(ligier.port).connect()
    pub.put_message("MSG", "hello world")
    pub.put_message("IO_TSL1", b"\x01\x02\x03")
    pub.put_message("RAW", b"raw")
    pub.put_message("MSG", b"")  # the parser refuses it: logged, counted, raw data kept
    blobs = [next(it) for _ in range(4)]
    assert isinstance(blobs[0]["CHPrefix"], Prefix)
    assert blobs[0]["CHPrefix"].tag == "MSG" and blobs[0]["CHPrefix"].length == 11
    assert blobs[0]["CHTag"] == "MSG" and blobs[0]["CHData"] == b"hello world"
    assert blobs[0]["Word"] == "hello"
    assert blobs[1]["Slice"] == 3
    assert blobs[2]["CHData"] == b"raw" and set(blobs[2]) == {"CHPrefix", "CHTag", "CHData"}
    assert "Word" not in blobs[3] and blobs[3]["CHData"] == b""
    stats = pump.finish()
    assert stats == {"messages": 4, "dropped": 0, "reconnects": 0, "parse_errors": 1}


class Collect(kp.Module):
    def configure(self):
        self.seen = []
        self.finished = False

    def process(self, blob):
        self.seen.append(bytes(blob["CHData"]))
        return blob

    def finish(self):
        self.finished = True
        return {"seen": len(self.seen)}


def _publish_when_subscribed(ligier, port, tag, payloads):
    import threading

    from km3flow.controlhost.client import Client

    def run():
        ligier.wait_for_subscribers(tag)
        with Client(port=port) as pub:
            for p in payloads:
                pub.put_message(tag, p)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_drain_n_stops_and_finishes_every_module(ligier):
    pipe = kp.Pipeline()
    pipe.attach(CHPump, port=ligier.port, tags="D", timeout=10)
    pipe.attach(Collect)
    thread = _publish_when_subscribed(ligier, ligier.port, "D", [b"%d" % i for i in range(10)])
    results = pipe.drain(5)
    thread.join()
    assert results["Collect"] == {"seen": 5}
    assert results["CHPump"]["messages"] == 5
    assert pipe.modules[1].finished
    wait_until(lambda: ligier.subscribers("D") == 0, what="the pump to disconnect")


def test_no_data_timeout_stops_the_pipeline(ligier):
    pipe = kp.Pipeline()
    pipe.attach(CHPump, port=ligier.port, tags="QUIET", timeout=0.3)
    pipe.attach(Collect)
    thread = _publish_when_subscribed(ligier, ligier.port, "QUIET", [b"a", b"b"])
    results = pipe.drain()
    thread.join()
    assert results["Collect"] == {"seen": 2}


def test_any_mode_drops_oldest_when_the_pipeline_is_slow(ligier, clients):
    pump = CHPump(port=ligier.port, tags="Q", timeout=5, max_queue=5)
    pump.prepare()
    it = iter(pump)
    thread = _publish_when_subscribed(ligier, ligier.port, "Q", [b"%d" % i for i in range(100)])
    thread.join()
    wait_until(lambda: pump._client.received == 100, what="the reader to get everything")
    rest = [bytes(next(it)["CHData"]) for _ in range(5)]
    assert rest == [b"95", b"96", b"97", b"98", b"99"]
    assert pump.dropped == 95
    pump.finish()


def test_all_mode_waits_instead_of_dropping(ligier):
    pump = CHPump(port=ligier.port, tags="Q", timeout=5, max_queue=3, subscription_mode="all")
    it = iter(pump)
    thread = _publish_when_subscribed(ligier, ligier.port, "Q", [b"%d" % i for i in range(200)])
    got = [bytes(next(it)["CHData"]) for _ in range(200)]
    thread.join()
    assert got == [b"%d" % i for i in range(200)]
    assert pump.finish()["dropped"] == 0


def test_dispatcher_restart_while_pump_connected(make_ligier, clients):
    first = make_ligier()
    port = first.port
    pump = CHPump(port=port, tags="R", timeout=10, reconnect_initial=0.02, reconnect_max=0.2)
    pump.prepare()
    it = iter(pump)
    _publish_when_subscribed(first, port, "R", [b"before"]).join()
    assert next(it)["CHData"] == b"before"
    first.stop()
    second = make_ligier(port=port)
    second.wait_for_subscribers("R")  # the pump reconnected and subscribed again
    _publish_when_subscribed(second, port, "R", [b"after1", b"after2"]).join()
    assert [next(it)["CHData"] for _ in range(2)] == [b"after1", b"after2"]
    stats = pump.finish()
    assert stats["reconnects"] == 1 and stats["messages"] == 3


def test_parse_error_can_raise(ligier):
    pipe = kp.Pipeline()
    pipe.attach(CHPump, port=ligier.port, tags="MSG", timeout=5, on_parse_error="raise",
                parsers={"MSG": _first_word})
    thread = _publish_when_subscribed(ligier, ligier.port, "MSG", [b""])
    with pytest.raises(ModuleError) as info:
        pipe.drain()
    thread.join()
    assert isinstance(info.value.__cause__, FormatError)


def test_chsink_publishes_and_mirrors(make_ligier, clients):
    source, target = make_ligier(), make_ligier()
    watcher = clients(target.port)
    watcher.subscribe("IO_EVT, OUT", mode="all")
    target.wait_for_subscribers("OUT")

    # a pipeline mirroring one dispatcher into another (KM3Pipe's ligiermirror)
    mirror = kp.Pipeline()
    mirror.attach(CHPump, port=source.port, tags="IO_EVT", timeout=0.5)
    mirror.attach(CHSink, port=target.port)
    thread = _publish_when_subscribed(source, source.port, "IO_EVT", [b"e1", b"e2"])
    assert mirror.drain()["CHSink"] == {"sent": 2}
    thread.join()
    assert [(m.tag, m.data) for m in (watcher.get_message(timeout=5) for _ in range(2))] == [
        ("IO_EVT", b"e1"), ("IO_EVT", b"e2")]

    def numbers(blob):
        blob["Text"] = f"n={blob['i']}"
        return blob

    class Count(kp.Pump):
        def __len__(self):
            return 3

        def get_blob(self, index):
            return kp.Blob({"i": index})

    pipe = kp.Pipeline()
    pipe.attach(Count)
    pipe.attach(numbers)
    pipe.attach(CHSink, port=target.port, tag="OUT", key="Text")
    pipe.drain()
    assert [watcher.get_message(timeout=5).data for _ in range(3)] == [b"n=0", b"n=1", b"n=2"]


def test_ctrl_c_stops_a_live_pipeline_and_finishes_modules(ligier):
    script = textwrap.dedent(f"""
        import km3flow as kp
        from km3flow.controlhost.pump import CHPump

        class Finish(kp.Module):
            def finish(self):
                print("FINISH RAN", flush=True)

        pipe = kp.Pipeline()
        pipe.attach(CHPump, port={ligier.port}, tags="LIVE")
        pipe.attach(Finish)
        try:
            pipe.drain()
        except KeyboardInterrupt:  # raised again once every module has finished
            print(pipe.finish_results, flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        ligier.wait_for_subscribers("LIVE", timeout=30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "FINISH RAN" in out
    assert "'CHPump' => {'messages': 0, 'dropped': 0" in out


def test_daq_payloads_are_parsed_by_default(ligier, testdata, clients):
    from km3flow.controlhost.replay import replay_file

    pump = CHPump(port=ligier.port, tags="IO_EVT, IO_SUM, IO_TSL1, MSG", timeout=5,
                  max_queue=100, subscription_mode="all")
    pump.prepare()
    it = iter(pump)
    ligier.wait_for_subscribers("MSG")
    for name in ("IO_EVT.dat", "IO_SUM.dat", "IO_TSL1_1003.dat"):
        replay_file(testdata(f"daq/{name}"), port=ligier.port)
    pub = clients(ligier.port).connect()
    pub.put_message("MSG", "DataFilter: run 6760 started")
    pub.put_message("IO_EVT", b"\x10\x00\x00\x00\x11\x27\x00\x00" + bytes(8))  # too short
    blobs = [next(it) for _ in range(3 + 3 + 10 + 2)]
    stats = pump.finish()
    events, slices, timeslices = blobs[:3], blobs[3:6], blobs[6:16]
    # hit counts as KM3Pipe 11.0.0 reads them (DAQEvent.n_snapshot_hits/n_triggered_hits)
    assert [(len(b["Hits"]), len(b["TriggeredHits"])) for b in events] == [
        (239, 182), (101, 49), (35, 6)]
    assert all(b["CHTag"] == "IO_EVT" and "EventInfo" in b for b in events)
    assert all("SummarysliceInfo" in b and "Summaryslice" in b for b in slices)
    assert all(b["CHTag"] == "IO_TSL1" and "TimesliceHits" in b for b in timeslices)
    assert blobs[16]["CHMessage"] == "DataFilter: run 6760 started"
    assert "EventInfo" not in blobs[17] and len(blobs[17]["CHData"]) == 16
    assert stats["parse_errors"] == 1 and stats["messages"] == 18


def test_monitoring_packets_are_parsed_by_default(ligier, testdata):
    """IO_MONIT.dat replayed through a dispatcher: one TMCH packet per message."""
    from km3flow.controlhost.replay import replay_file
    from km3flow.io.daq import read_monitoring

    pump = CHPump(port=ligier.port, tags="IO_MONIT", timeout=5, subscription_mode="all")
    pump.prepare()
    it = iter(pump)
    ligier.wait_for_subscribers("IO_MONIT")
    assert replay_file(testdata("daq/IO_MONIT.dat"), port=ligier.port) == 6
    blobs = [next(it) for _ in range(6)]
    stats = pump.finish()
    assert stats["parse_errors"] == 0
    assert all(b["CHTag"] == "IO_MONIT" and len(b["CHData"]) == 244 for b in blobs)
    expected = read_monitoring(testdata("daq/IO_MONIT.dat"))
    for i, blob in enumerate(blobs):
        mon = blob["TMCHData"]
        assert mon.h5loc == "/monitoring" and len(mon) == 1
        for name in expected.dtype.names:
            np.testing.assert_array_equal(mon[name][0], expected[name][i], err_msg=name)
    assert blobs[0]["TMCHData"].dom_id[0] == 806472270
    assert blobs[0]["TMCHData"].temp[0] == 32.35
    assert [b["TMCHData"].nanoseconds[0] for b in blobs[:2]] == [500000000, 600000000]
