"""`km3flow ligier` + `km3flow ch-replay` of real DAQ files feeding `km3flow monitor`."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest
from monitor_helpers import km3flow, wait_until

from km3flow.controlhost.replay import iter_daq_frames
from km3flow.io.daq import parse_frame
from km3flow.monitor.history import read_history


def _slices(path):
    return [parse_frame(f, path=str(path)) for _, _, f in iter_daq_frames(path)]


def _expected_doms(path) -> dict[int, tuple[float, bool, bool]]:
    """DOM id -> (summed rate, hrv, fifo) of the last slice holding it, from the raw words."""
    out = {}
    for frame in _slices(path):
        s = frame["Summaryslice"]
        for dom_id, rates, hrv, fifo in zip(s["dom_id"], s["rates"], s["hrv"], s["fifo"]):
            out[int(dom_id)] = (float(rates.sum()), bool(int(hrv) & 0x7FFFFFFF),
                                bool(int(fifo) & 0x7FFFFFFF))
    return out


def test_api_state_shows_the_replayed_files(live, testdata):
    mon = live()
    state = mon.get("/api/state")
    assert state["connected"] is True and state["summaryslices"] == 0 and state["doms"] == {}
    mon.replay(testdata("daq/IO_SUM.dat"))
    mon.replay(testdata("daq/IO_EVT.dat"))
    state = wait_until(lambda: (s := mon.get("/api/state"))["events"] == 3 and s,
                       what="3 events")
    expected = _expected_doms(testdata("daq/IO_SUM.dat"))
    assert state["summaryslices"] == 3
    assert state["n_doms"] == len(expected) == len(state["doms"])
    assert {int(k) for k in state["doms"]} == set(expected)
    for dom_id, (rate, hrv, fifo) in expected.items():
        dom = state["doms"][str(dom_id)]
        assert dom["rate_hz"] == pytest.approx(rate)
        assert dom["flags"]["hrv"] is hrv and dom["flags"]["fifo"] is fifo
    assert any(d["flags"]["hrv"] for d in state["doms"].values())  # the file has vetoes
    # without a detector DOMs are placed by sorted id, 18 per DU
    ids = sorted(expected)
    first, last = state["doms"][str(ids[0])], state["doms"][str(ids[-1])]
    assert (first["du"], first["floor"]) == (1, 1)
    assert (last["du"], last["floor"]) == ((len(ids) - 1) // 18 + 1, (len(ids) - 1) % 18 + 1)
    assert state["geometry"] == "dom ids sorted"
    events = _slices(testdata("daq/IO_EVT.dat"))
    latest = state["latest_event"]
    assert latest["frame_index"] == int(events[-1]["EventInfo"]["frame_index"][0])
    assert latest["n_hits"] == len(events[-1]["Hits"])
    assert latest["n_triggered_hits"] == len(events[-1]["TriggeredHits"])
    assert state["data_age_s"] is not None and state["data_age_s"] >= 0
    # one DOM's 31 PMT rates
    s = _slices(testdata("daq/IO_SUM.dat"))[-1]["Summaryslice"]
    dom = mon.get(f"/api/dom/{int(s['dom_id'][0])}")
    np.testing.assert_allclose(dom["pmt_rates_hz"], s["rates"][0])
    update = mon.get("/api/update")
    assert len(update["event"]["time"]) == len(events[-1]["Hits"])
    assert sum(update["event"]["triggered"]) == int(events[-1]["Hits"]["triggered"].sum())
    assert sum(v is not None for row in update["heatmap"]["rate_mhz"] for v in row) == len(ids)


def test_detector_places_doms(live, testdata):
    detx = testdata("detx/D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx")
    mon = live("--detector", str(detx))
    mon.replay(testdata("daq/IO_SUM.dat"))
    mon.replay(testdata("daq/IO_EVT.dat"))
    state = wait_until(lambda: (s := mon.get("/api/state"))["events"] == 3 and s,
                       what="3 events")
    from km3flow.io.detector import read_detector

    det = read_detector(detx)
    for dom_id, dom in state["doms"].items():
        row = det.get_dom(int(dom_id))
        assert (dom["du"], dom["floor"]) == (int(row["du"]), int(row["floor"]))
    event = mon.get("/api/update")["event"]
    assert event["z_is"] == "z (m)" and len(event["doms3d"]["x"]) == det.n_doms
    assert len(event["hits3d"]["z"]) == len(event["time"])


def _status(url: str, **kw) -> int:
    request = urllib.request.Request(url, **kw)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _ws_handshake(port: int, path: str) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    reply = sock.recv(4096)
    sock.close()
    return reply


def test_token_and_read_only(live, testdata):
    # another address than loopback needs a token
    proc = km3flow("monitor", "--http-host", "0.0.0.0", "--http-port", "0")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--token" in out
    mon = live(token="s3cret")
    base = mon.url
    assert _status(base + "/api/state") == 401
    assert _status(base + "/api/state?token=wrong") == 401
    assert _status(base + "/?token=s3cret") == 200
    assert _status(base + "/static/plotly.min.js") == 401
    assert _status(base + "/static/plotly.min.js",
                   headers={"Authorization": "Bearer s3cret"}) == 200
    assert _ws_handshake(mon.http_port, "/ws").startswith(b"HTTP/1.1 401")
    assert _ws_handshake(mon.http_port, "/ws?token=s3cret").startswith(b"HTTP/1.1 101")
    # read-only: nothing but GET
    assert _status(base + "/api/state?token=s3cret", method="POST", data=b"x") == 405
    # another site's page may not talk to us
    assert _status(base + "/api/state?token=s3cret",
                   headers={"Origin": "http://evil.example"}) == 403


def test_twenty_clients_one_never_reading(live, testdata, request):
    """A stalled browser drops its oldest updates; ingest and the other 19 go on."""
    import aiohttp

    mon = live("--interval", "0.05", "--client-queue", "4")
    path = testdata("daq/IO_SUM.dat")
    # the stalled client: a WebSocket handshake, then it never reads (small receive window)
    stalled = socket.socket()
    request.addfinalizer(stalled.close)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", mon.http_port))
    key = base64.b64encode(os.urandom(16)).decode()
    stalled.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{mon.http_port}\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())

    def stalled_client():
        clients = mon.get("/api/state")["clients"]
        return next((c for c in clients if c["dropped"] > 0), None)

    async def readers() -> tuple[list[int], list[int]]:
        seen = [0] * 19
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(f"{mon.url}/ws") for _ in range(19)]
            assert len(mon.get("/api/state")["clients"]) == 20
            replay = km3flow("ch-replay", str(path), "--port", str(mon.ligier_port),
                             "--repeat", "400", "--rate", "400")
            counts = []
            try:
                while replay.poll() is None:
                    for k, ws in enumerate(sockets):
                        msg = await ws.receive(timeout=10)
                        seen[k] = max(seen[k], msg.json()["summaryslices"])
                    counts.append(mon.get("/api/state")["summaryslices"])
                    await asyncio.sleep(0.05)
            finally:
                replay.communicate(timeout=60)
            # every reader got updates while the stalled one held its queue
            for ws in sockets:
                await ws.close()
        return seen, counts

    seen, counts = asyncio.run(readers())
    assert min(seen) > 0 and counts[-1] > counts[0]
    client = wait_until(stalled_client, what="the stalled client dropping updates")
    assert client["queued"] <= client["queue_size"] == 4
    before = client["sent"]
    state = wait_until(lambda: (s := mon.get("/api/state"))["summaryslices"] >= 1000 and s,
                       what="ingest to go on")
    assert state["summaryslices"] <= 1200
    later = wait_until(lambda: (c := stalled_client())["dropped"] > client["dropped"] and c,
                       what="more drops")
    assert later["sent"] == before
    assert later["queued"] <= 4
    stalled.close()


def test_history_file_restores_the_plots(live, testdata, tmp_path):
    history = tmp_path / "monitor.h5"
    mon = live("--history", str(history), "--checkpoint", "1")
    mon.replay(testdata("daq/IO_SUM.dat"))
    mon.replay(testdata("daq/IO_EVT.dat"))
    wait_until(lambda: mon.get("/api/state")["events"] == 3, what="3 events")
    # the seconds with the data are closed and checkpointed
    wait_until(lambda: history.exists() and read_history(history)[0]["events"].sum() == 3,
               what="a checkpoint with the 3 events")
    mon.close()
    trig, doms = read_history(history)
    assert trig["events"].sum() == 3
    expected = _expected_doms(testdata("daq/IO_SUM.dat"))
    assert set(doms["dom_id"].tolist()) == set(expected)
    assert np.all(np.diff(trig["time"]) > 0)
    # a new monitor with the same file shows the old seconds at once
    again = live("--history", str(history))
    update = again.get("/api/update")
    assert sum(update["triggers"]["event_rate_hz"]) == 3
    assert update["total_rate"]["rate_mhz"] and max(update["total_rate"]["rate_mhz"]) > 0
    # a DOM's rate history reaches back before the restart
    stopped_at = trig["time"].max()
    again.replay(testdata("daq/IO_SUM.dat"))
    wait_until(lambda: again.get("/api/state")["summaryslices"] == 3, what="3 slices")
    dom = again.get(f"/api/dom/{max(expected)}")
    old = [t for t in dom["history"]["time"] if t <= stopped_at]
    assert old and all(r > 0 for t, r in zip(dom["history"]["time"], dom["history"]["rate_hz"])
                       if t in old[-1:])
    again.close()
    trig2, _ = read_history(history)
    assert trig2["events"].sum() == 3 and len(trig2) >= len(trig)


def test_connection_state_follows_the_dispatcher(request):
    """No dispatcher yet: the page says so; once one listens the monitor connects."""
    import json

    from monitor_helpers import free_port, stop, wait_for_port

    lport, hport = free_port(), free_port()
    monitor = km3flow("monitor", "--port", str(lport), "--http-port", str(hport))
    request.addfinalizer(lambda: stop(monitor))
    wait_for_port(hport, monitor)

    def state():
        url = f"http://127.0.0.1:{hport}/api/state?doms=false"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    first = wait_until(lambda: (s := state())["connection"].startswith("connecting") and s,
                       what="a connection note")
    assert first["connected"] is False and f":{lport}" in first["connection"]
    assert first["data_age_s"] is None and "doms" in first and first["doms"] == {}
    ligier = km3flow("ligier", "--port", str(lport))
    request.addfinalizer(lambda: stop(ligier))
    wait_until(lambda: state()["connected"], what="the monitor to connect")
    stop(ligier)
    wait_until(lambda: not state()["connected"], what="the monitor to notice the loss")
