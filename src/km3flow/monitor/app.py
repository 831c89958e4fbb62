"""The monitor's web server (aiohttp) and the process that runs it with the live pipeline.

One process, two threads: the pipeline (CHPump → :class:`~km3flow.monitor.modules.MonitorModule`)
drains in a background thread into a :class:`~km3flow.monitor.state.MonitorState`; the asyncio
loop in the main thread serves

``/``
    the page (``static/index.html`` and ``static/monitor.js``; plotly.js from the installed
    ``plotly`` package, so nothing comes from the internet);
``/api/state``
    DOM rates, DU/floor, flags and counters as JSON (:meth:`MonitorState.api_state`;
    ``?doms=false`` leaves the DOMs out);
``/api/update``
    what the page draws (:meth:`MonitorState.page_update`);
``/api/dom/<dom_id>``
    one DOM's 31 PMT rates, flags and rate history;
``/ws``
    a WebSocket that pushes ``/api/update`` every ``interval`` seconds.

Every GET only reads; there are no other methods. Each WebSocket client has a queue of at most
``client_queue`` updates: when its browser (or network) is slow, the oldest queued update is
dropped and the count is sent with the next update, so a stalled client costs a bounded amount
of memory and never slows the ingest. Binding another address than loopback needs a token,
checked on every request and WebSocket (``?token=``, ``Authorization: Bearer`` or the cookie
set when the page was opened with ``?token=``).
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.util
import ipaddress
import json
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ConfigError, OptionalDependencyMissing
from .state import MonitorState

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
#: Kernel send buffer of each WebSocket (bytes).
SEND_BUFFER = 128 * 1024
TOKEN_COOKIE = "km3flow_monitor_token"
_MISSING_PLOTLY = ("'plotly' is needed for the monitor page but is not installed; install it "
                   "with: pip install 'km3flow[monitor]'")
_STATIC_TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css"}


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled in the installed ``plotly`` Python package.

    Raises
    ------
    OptionalDependencyMissing
        plotly is not installed (``pip install km3flow[monitor]``).
    """
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise OptionalDependencyMissing(_MISSING_PLOTLY)
    for location in spec.submodule_search_locations:
        path = Path(location) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise OptionalDependencyMissing(_MISSING_PLOTLY + " (its plotly.min.js is missing)")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(eq=False)
class _Client:
    """One WebSocket client: its bounded queue of updates and how many were dropped."""

    peer: str
    queue: deque[str]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    sent: int = 0


class MonitorServer:
    """The web side of the monitor: routes, token check and WebSocket broadcast.

    Parameters
    ----------
    state
        The monitor state the pages show.
    token
        Required on every request when given (``None``: no check; only sensible on loopback).
    interval
        Seconds between WebSocket updates (default 0.5, so the page refreshes at 2 Hz).
    client_queue
        Updates queued per WebSocket client before the oldest is dropped.
    """

    def __init__(self, state: MonitorState, token: str | None = None, interval: float = 0.5,
                 client_queue: int = 4) -> None:
        if client_queue < 1:
            raise ConfigError(f"client_queue must be at least 1, got {client_queue}")
        self.state = state
        self.token = token
        self.interval = float(interval)
        self.client_queue = int(client_queue)
        self.clients: set[_Client] = set()
        self.updates_built = 0
        self._latest: str | None = None  # the last update sent, for a client that connects
        self._plotly = plotly_js_path()

    # -- the aiohttp application -------------------------------------------------------------
    def make_app(self) -> Any:
        """The aiohttp ``Application`` with every route and the token check."""
        from aiohttp import web

        app = web.Application(middlewares=[self._check_token])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/plotly.min.js", self._plotly_js)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/state", self._api_state)
        app.router.add_get("/api/update", self._api_update)
        app.router.add_get("/api/dom/{dom_id}", self._api_dom)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/favicon.ico", self._favicon)
        app.on_startup.append(self._start_broadcast)
        app.on_shutdown.append(self._stop_broadcast)
        return app

    def _token_ok(self, request: Any) -> bool:
        if self.token is None:
            return True
        given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE)
        auth = request.headers.get("Authorization", "")
        if not given and auth.startswith("Bearer "):
            given = auth[7:]
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    @property
    def _check_token(self) -> Any:
        from aiohttp import web

        @web.middleware
        async def middleware(request: Any, handler: Any) -> Any:
            if not self._token_ok(request):
                raise web.HTTPUnauthorized(
                    text="km3flow monitor: a token is needed (open /?token=...)")
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                # another site's page talking to us (cross-site WebSocket or fetch)
                raise web.HTTPForbidden(text=f"km3flow monitor: origin {origin} refused")
            response = await handler(request)
            if self.token is not None and "token" in request.query:
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
            return response

        return middleware

    async def _favicon(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(status=204)

    async def _index(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def _plotly_js(self, request: Any) -> Any:
        from aiohttp import web

        return web.FileResponse(self._plotly, headers={"Cache-Control": "max-age=86400"})

    async def _static(self, request: Any) -> Any:
        from aiohttp import web

        name = request.match_info["name"]
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes(),
                            content_type=_STATIC_TYPES.get(path.suffix, "text/plain"),
                            headers={"Cache-Control": "no-store"})

    async def _api_state(self, request: Any) -> Any:
        from aiohttp import web

        with_doms = request.query.get("doms", "true").lower() not in ("0", "false", "no")
        state = self.state.api_state(with_doms=with_doms)
        state["clients"] = self.client_stats()
        return web.json_response(state, dumps=_dumps)

    async def _api_update(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(self.state.page_update(), dumps=_dumps)

    async def _api_dom(self, request: Any) -> Any:
        from aiohttp import web

        try:
            dom_id = int(request.match_info["dom_id"])
        except ValueError:
            raise web.HTTPBadRequest(text="a DOM id is a number") from None
        dom = self.state.dom(dom_id)
        if dom is None:
            raise web.HTTPNotFound(text=f"no DOM {dom_id} in the data")
        return web.json_response(dom, dumps=_dumps)

    def client_stats(self) -> list[dict[str, Any]]:
        """Per WebSocket client: queued, sent and dropped updates."""
        return [{"peer": c.peer, "queued": len(c.queue), "sent": c.sent, "dropped": c.dropped,
                 "queue_size": self.client_queue} for c in list(self.clients)]

    # -- WebSockets --------------------------------------------------------------------------
    async def _websocket(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(heartbeat=30.0)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            # a fixed kernel send buffer: without it Linux grows it to megabytes for a
            # client that does not read, memory our own bounded queue is meant to cap
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        await ws.prepare(request)
        client = _Client(str(request.remote), deque(maxlen=self.client_queue))
        self.clients.add(client)
        client.queue.append(self._latest or _dumps(self.state.page_update()))
        client.wake.set()
        sender = asyncio.ensure_future(self._send_loop(ws, client))
        try:
            async for msg in ws:  # the page sends nothing; this notices the close
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(client)
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - client gone
                pass
        return ws

    async def _send_loop(self, ws: Any, client: _Client) -> None:
        while not ws.closed:
            await client.wake.wait()
            client.wake.clear()
            while client.queue:
                shared = client.queue.popleft()
                head = json.dumps({"dropped": client.dropped, "queue_size": self.client_queue})
                # the shared document is serialised once for all clients; prefix our counters
                await ws.send_str('{"client":' + head + "," + shared[1:])
                client.sent += 1

    async def _broadcast(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if self.clients:
                try:
                    text = _dumps(self.state.page_update())
                except Exception as err:  # noqa: BLE001 - a bug must not stop the updates
                    log.exception("cannot build the page update: %s", err)
                    await asyncio.sleep(self.interval)
                    continue
                self._latest = text
                self.updates_built += 1
                for client in list(self.clients):
                    if len(client.queue) == client.queue.maxlen:
                        client.dropped += 1  # deque(maxlen) drops the oldest
                    client.queue.append(text)
                    client.wake.set()
            else:
                self.state.tick()
            await asyncio.sleep(max(0.05, self.interval - (loop.time() - started)))

    async def _start_broadcast(self, app: Any) -> None:
        self._task = asyncio.ensure_future(self._broadcast())

    async def _stop_broadcast(self, app: Any) -> None:
        self._task.cancel()
        for client in list(self.clients):
            client.wake.set()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class LivePipeline:
    """CHPump → MonitorModule draining in a background thread, plus the history writer.

    Parameters
    ----------
    state
        Where the data go.
    host, port
        The dispatcher.
    tags
        Tags subscribed ("any" mode: the dispatcher drops data for us rather than wait).
    history
        A :class:`~km3flow.monitor.history.HistoryWriter`, or None.
    """

    def __init__(self, state: MonitorState, host: str, port: int,
                 tags: str = "IO_SUM, IO_EVT, MSG", history: Any = None) -> None:
        from ..controlhost.pump import CHPump
        from ..core import Pipeline
        from .modules import MonitorModule

        self.state = state
        self.history = history
        self.pump = CHPump(host=host, port=port, tags=tags, max_queue=1000,
                           name="MonitorPump")
        self.pipeline = Pipeline()
        self.pipeline.attach(self.pump)
        self.pipeline.attach(MonitorModule, state=state)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="monitor-pipeline",
                                        daemon=True)
        self._watch = threading.Thread(target=self._watch_connection, name="monitor-watch",
                                       daemon=True)
        self._stop = threading.Event()
        self.where = f"{host}:{port}"
        if history is not None:
            state.on_second.append(self._write_history)

    def _write_history(self, row: dict[str, Any], ids: Any, rates: Any) -> None:
        try:
            self.history.write(row, ids, rates)
        except Exception as err:  # noqa: BLE001 - the monitor goes on without a history
            log.error("history file %s: %s; no more history is written", self.history.path, err)
            self.state.on_second.remove(self._write_history)

    def start(self) -> LivePipeline:
        """Start draining and watching the connection."""
        self._thread.start()
        self._watch.start()
        return self

    def _drain(self) -> None:
        try:
            self.pipeline.drain()
        except BaseException as err:  # noqa: BLE001 - shown on the page and in the log
            self.error = err
            log.error("the monitor pipeline stopped: %s", err)
            self.state.set_connected(False, f"pipeline stopped: {err}")

    def _watch_connection(self) -> None:
        while not self._stop.wait(0.25):
            client = self.pump._client
            connected = client is not None and client.connected
            if connected:
                note = f"connected to {self.where}"
            else:
                note = f"connecting to {self.where} (reconnects so far: {self.pump.reconnects})"
            self.state.set_connected(connected, note)
            self.state.tick()

    def stop(self) -> None:
        """Stop the pump (every module finishes) and close the history file."""
        self._stop.set()
        self.pump.close()
        self._thread.join(10)
        if self.history is not None:
            with self.state.lock:  # no more seconds are queued while the writer finishes
                self.history.close()
            if self.history.rows_dropped:
                log.error("history file %s: %d seconds were not written (the disk was too "
                          "slow)", self.history.path, self.history.rows_dropped)


def serve(state: MonitorState, pipeline: LivePipeline | None, http_host: str, http_port: int,
          token: str | None, interval: float = 0.5, client_queue: int = 4,
          ready: threading.Event | None = None) -> None:
    """Run the web server until interrupted; the pipeline is stopped on the way out.

    Raises
    ------
    ConfigError
        ``http_host`` is not a loopback address and no token is given.
    """
    if not is_loopback(http_host) and not token:
        raise ConfigError(f"binding {http_host} makes the monitor reachable from other "
                          "machines: give --token (checked on every request)")
    from aiohttp import web

    server = MonitorServer(state, token=token, interval=interval, client_queue=client_queue)

    async def main() -> None:
        runner = web.AppRunner(server.make_app(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, http_host, http_port)
            await site.start()
            port = runner.addresses[0][1] if runner.addresses else http_port
            url = f"http://{http_host}:{port}/" + (f"?token={token}" if token else "")
            log.warning("monitor page at %s", url)
            if ready is not None:
                ready.set()
            while True:
                await asyncio.sleep(3600)
        finally:
            await runner.cleanup()

    if pipeline is not None:
        pipeline.start()
    try:
        asyncio.run(main())
    finally:
        if pipeline is not None:
            pipeline.stop()
        state.set_connected(False, "monitor stopped")


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on ``host:port`` (tests, the demo)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


__all__ = ["LivePipeline", "MonitorServer", "is_loopback", "plotly_js_path", "serve",
           "wait_for_port"]
